//! Why a key file could not be loaded or created.
//!
//! Every variant names the path: the operator has to go and look at the file,
//! and "No such file or directory" alone does not say which one.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// A key file problem. `Missing` and `Exists` are separate variants because
/// callers act on them (create on first start; refuse to overwrite).
#[derive(Debug, Error)]
pub enum KeyFileError {
    #[error("key file {} does not exist", path.display())]
    Missing { path: PathBuf },

    #[error("key file {} already exists; refusing to overwrite it", path.display())]
    Exists { path: PathBuf },

    #[error(
        "key file {} is {size} bytes; expected exactly 32 (a raw ed25519 seed)",
        path.display()
    )]
    WrongSize { path: PathBuf, size: u64 },

    #[error("key file {} is not a regular file", path.display())]
    NotAFile { path: PathBuf },

    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What we were doing, e.g. "read key file".
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl KeyFileError {
    /// Wraps an I/O error with what we were doing and where.
    pub(super) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        KeyFileError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
