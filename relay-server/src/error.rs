//! Why a relay could not start.

use libp2p::{Multiaddr, TransportError};

use crate::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("relay key file: {0}")]
    Key(#[from] agenthost_identity::KeyFileError),
    #[error("building the transport: {0}")]
    Transport(String),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error("listening on {0:?} produced no address in time")]
    ListenTimeout(Vec<Multiaddr>),
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        addr: std::net::SocketAddr,
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
