//! Why a relay could not start.

use libp2p::{Multiaddr, TransportError};

use std::path::PathBuf;

/// Why [`Relay::start`](crate::Relay::start) failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration (file, flags or access list) is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The relay's key file could not be loaded or created.
    #[error("relay key file: {0}")]
    Key(#[from] agenthost_identity::KeyFileError),
    /// The swarm could not be built (TCP, DNS or the behaviours).
    #[error("building the transport: {0}")]
    Transport(String),
    /// A listen address was refused, or its listener failed before reporting an address.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The configured listen address.
        addr: Multiaddr,
        /// What libp2p reported.
        reason: String,
    },
    /// Some listener reported no address within 10 s; holds every listen address.
    #[error("listening on {0:?} produced no address in time")]
    ListenTimeout(Vec<Multiaddr>),
    /// The `/metrics` and `/health` HTTP server could not bind its address.
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        /// The configured `metrics_addr`.
        addr: std::net::SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl StartError {
    pub(crate) fn listen<E: std::fmt::Display>(addr: &Multiaddr, e: TransportError<E>) -> Self {
        StartError::Listen {
            addr: addr.clone(),
            reason: e.to_string(),
        }
    }
}

/// A config that could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// Path of the config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TOML syntax, unknown key or wrong type; `key` is the path to it.
    #[error("config key `{key}`: {message}")]
    Parse {
        /// Path of the bad key, e.g. `limits.max_circuits`, or `(syntax)`, `(top level)`.
        key: String,
        /// What the TOML parser or deserializer said.
        message: String,
    },
    /// A well-formed value that is out of range.
    #[error("config key `{key}`: {reason}")]
    Invalid {
        /// Path of the bad key, e.g. `listen[1]` or `limits.max_circuits`.
        key: String,
        /// What is wrong with the value, e.g. "must be at least 1".
        reason: String,
    },
}

impl ConfigError {
    /// A [`ConfigError::Invalid`] for `key` (its path, as `limits.max_circuits`).
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// The key the error is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Parse { key, .. } | ConfigError::Invalid { key, .. } => Some(key),
        }
    }
}
