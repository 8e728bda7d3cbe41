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
    /// Loading found no file at `path`.
    #[error("key file {} does not exist", path.display())]
    Missing {
        /// The key file's path.
        path: PathBuf,
    },

    /// Creating a key found `path` already taken; the file is left untouched.
    #[error("key file {} already exists; refusing to overwrite it", path.display())]
    Exists {
        /// The key file's path.
        path: PathBuf,
    },

    /// The file is not exactly 32 bytes long (a raw ed25519 seed).
    #[error(
        "key file {} is {size} bytes; expected exactly 32 (a raw ed25519 seed)",
        path.display()
    )]
    WrongSize {
        /// The key file's path.
        path: PathBuf,
        /// Its actual size in bytes.
        size: u64,
    },

    /// `path` exists but is not a regular file (e.g. a directory).
    #[error("key file {} is not a regular file", path.display())]
    NotAFile {
        /// The key file's path.
        path: PathBuf,
    },

    /// Any other I/O failure while reading or writing the key file or its folder.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What we were doing, e.g. "read key file".
        action: &'static str,
        /// The file or folder being worked on.
        path: PathBuf,
        /// The underlying I/O error.
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
