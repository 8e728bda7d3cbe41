//! Errors of the session store.

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

/// The store could not do what was asked. Every message names what failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database's folder or file could not be created.
    #[error("cannot create the session store directory or file {path}: {source}")]
    CreateDir {
        /// The folder or file that could not be created.
        path: PathBuf,
        /// The file-system error.
        #[source]
        source: std::io::Error,
    },

    /// SQLite could not open the database or set up a connection to it.
    #[error("cannot open the session store database {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// SQLite would not switch the database to WAL journal mode.
    #[error("cannot put the session store database {path} in WAL mode (journal_mode is {mode:?})")]
    NotWal {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite reports instead of `wal`.
        mode: String,
    },

    /// The database's schema version is newer than this build knows.
    #[error("session store database {path} was written by a newer agenthost (schema version {found}, this build knows up to {supported})")]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The schema version stored in the database (`user_version`).
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },

    /// A SQLite statement or transaction failed.
    #[error("session store: {what} failed: {source}")]
    Sqlite {
        /// What the store was doing, e.g. `reading the schema version`.
        what: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// A stored record does not parse: unknown status, negative duration, or a non-JSON
    /// conversation object.
    #[error("session store: stored record {session_id:?} is unreadable: {detail}")]
    Corrupt {
        /// The session id of the unreadable record.
        session_id: String,
        /// What is wrong with the record.
        detail: String,
    },

    /// No record exists for the session id given (e.g. to `finish`).
    #[error("session store: no session {0:?}")]
    NotFound(String),

    /// An argument is unusable (an empty session id, `running` as a final status), or an
    /// internal invariant broke.
    #[error("session store: invalid argument: {0}")]
    InvalidArgument(String),

    /// The conversation object to store could not be serialized to JSON.
    #[error("session store: cannot serialize the conversation object: {0}")]
    Serialize(#[source] serde_json::Error),

    /// The writer thread has stopped or the store is closing; says at which point.
    #[error("session store: the writer thread is gone ({0}); the store must be reopened")]
    WriterGone(&'static str),

    /// The writer thread did not answer a sweep batch in time (60 s).
    #[error("session store: the writer did not answer within {0:?}")]
    WriterTimeout(Duration),

    /// The writer or checkpointer thread could not be started.
    #[error("session store: cannot start a thread: {0}")]
    SpawnThread(#[source] std::io::Error),

    /// A panic poisoned a lock; says which (the read pool).
    #[error("session store: a lock was poisoned by a panic ({0})")]
    Poisoned(&'static str),

    /// A read could not run on the blocking pool: the pool is closed, or the task panicked.
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

    /// The store failed while starting the turn.
    #[error(transparent)]
    Store(#[from] StoreError),
}
