//! Who is calling: the identity a request arrived with.

use std::fmt;

use agenthost_identity::Address;
use libp2p::PeerId;

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The Noise-authenticated peer the request came from (None for in-process or HTTP callers).
    pub peer_id: Option<PeerId>,
    /// The caller's address: the peer's key for P2P callers. `None` when anonymous, or when the
    /// peer uses a key type other than ed25519 (other libp2p implementations may).
    pub address: Option<Address>,
    /// Transport-level origin for logs (`/ip4/.../tcp/...` or an HTTP remote address).
    pub remote: Option<String>,
}

impl Caller {
    /// A caller authenticated by the libp2p connection.
    pub fn peer(peer_id: PeerId, remote: Option<String>) -> Self {
        Caller {
            address: Address::from_peer_id(&peer_id).ok(),
            peer_id: Some(peer_id),
            remote,
        }
    }

    /// A caller with no identity (an unsigned in-process or HTTP request).
    pub fn anonymous(remote: Option<String>) -> Self {
        Caller {
            peer_id: None,
            address: None,
            remote,
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.peer_id.is_none() && self.address.is_none()
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.address, &self.peer_id) {
            (Some(address), _) => write!(f, "{}", address.short()),
            (None, Some(peer)) => write!(f, "{peer}"),
            (None, None) => f.write_str("anonymous"),
        }
    }
}
