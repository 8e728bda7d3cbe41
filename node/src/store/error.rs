//! Errors of the session store.

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

/// The store could not do what was asked. Every message names what failed.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot create the session store directory or file {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot open the session store database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("cannot put the session store database {path} in WAL mode (journal_mode is {mode:?})")]
    NotWal { path: PathBuf, mode: String },

    #[error("session store database {path} was written by a newer agenthost (schema version {found}, this build knows up to {supported})")]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error("session store: {what} failed: {source}")]
    Sqlite {
        what: &'static str,
        #[source]
        source: rusqlite::Error,
    },

    #[error("session store: stored record {session_id:?} is unreadable: {detail}")]
    Corrupt { session_id: String, detail: String },

    #[error("session store: no session {0:?}")]
    NotFound(String),

    #[error("session store: invalid argument: {0}")]
    InvalidArgument(String),

    #[error("session store: cannot serialize the conversation object: {0}")]
    Serialize(#[source] serde_json::Error),

    #[error("session store: the writer thread is gone ({0}); the store must be reopened")]
    WriterGone(&'static str),

    #[error("session store: the writer did not answer within {0:?}")]
    WriterTimeout(Duration),

    #[error("session store: cannot start a thread: {0}")]
    SpawnThread(#[source] std::io::Error),

    #[error("session store: a lock was poisoned by a panic ({0})")]
    Poisoned(&'static str),

    #[error("session store: a blocking read task failed: {0}")]
    ReadTask(String),
}

impl StoreError {
    pub(crate) fn sqlite(what: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
        move |source| StoreError::Sqlite { what, source }
    }
}

/// Why a turn could not start ([`SessionStore::begin`](crate::store::SessionStore::begin)).
#[derive(Debug, Error)]
pub enum BeginError {
    /// A turn of this session is already running (HTTP 409).
    #[error("session is busy: a turn is already running")]
    Busy,

    /// The session belongs to another caller (HTTP 404, never revealing that it exists).
    #[error("session belongs to another caller")]
    Foreign,

    #[error(transparent)]
    Store(#[from] StoreError),
}
