//! Who is calling: the identity a request arrived with, and how it arrived.

use std::fmt;

use agenthost_identity::Address;
use libp2p::PeerId;

use crate::trust::{Arrival, CallerFacts};

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The authenticated peer: the Noise-authenticated remote for P2P callers, or the signer of
    /// a verified envelope.
    pub peer_id: Option<PeerId>,
    /// The caller's address. `None` when anonymous, or when a P2P peer uses a key type other
    /// than ed25519 (other libp2p implementations may).
    pub address: Option<Address>,
    /// The identity comes from a verified signed envelope.
    pub signed: bool,
    /// The peer that carried a signed request for its signer (a gateway), if any.
    pub via: Option<PeerId>,
    /// How the request arrived: P2P (direct or relayed), HTTP/WS, or in-process.
    pub transport: Arrival,
    /// Arrival-level origin for logs (a multiaddr or an HTTP remote address).
    pub remote: Option<String>,
}

impl Caller {
    /// A caller authenticated by its libp2p connection.
    pub fn peer(peer_id: PeerId, relayed: bool, remote: Option<String>) -> Self {
        Caller {
            address: Address::from_peer_id(&peer_id).ok(),
            peer_id: Some(peer_id),
            signed: false,
            via: None,
            transport: Arrival::P2p { relayed },
            remote,
        }
    }

    /// A caller with no identity (yet): an unsigned HTTP request, or a request made in-process.
    pub fn anonymous(transport: Arrival, remote: Option<String>) -> Self {
        Caller {
            peer_id: None,
            address: None,
            signed: false,
            via: None,
            transport,
            remote,
        }
    }

    /// The operator calling from inside the host's own process.
    pub fn in_process() -> Self {
        Caller::anonymous(Arrival::InProcess, None)
    }

    /// The same request, now attributed to the verified signer of its envelope.
    pub fn signed_by(self, signer: Address) -> Self {
        Caller {
            peer_id: Some(signer.to_peer_id()),
            address: Some(signer),
            signed: true,
            via: self.peer_id.filter(|p| *p != signer.to_peer_id()),
            transport: self.transport,
            remote: self.remote,
        }
    }

    /// Whether the caller has no identity at all: neither a PeerId nor an address.
    pub fn is_anonymous(&self) -> bool {
        self.peer_id.is_none() && self.address.is_none()
    }

    /// The operator's own machine: in-process, or HTTP from loopback.
    pub fn is_local(&self) -> bool {
        matches!(
            self.transport,
            Arrival::InProcess | Arrival::Http { loopback: true }
        )
    }

    /// The identity that owns the sessions this caller starts: the `0x` address, else the
    /// PeerId, else `None` (anonymous).
    pub fn owner(&self) -> Option<String> {
        match (&self.address, &self.peer_id) {
            (Some(address), _) => Some(address.to_string()),
            (None, Some(peer)) => Some(peer.to_string()),
            (None, None) => None,
        }
    }

    /// What trust may know of this request (never its content).
    pub fn facts(&self) -> CallerFacts {
        CallerFacts {
            address: self.address,
            signed: self.signed,
            transport: self.transport,
            remote: self.remote.clone(),
        }
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.address, &self.peer_id) {
            (Some(address), _) => write!(f, "{}", address.short())?,
            (None, Some(peer)) => write!(f, "{peer}")?,
            (None, None) => f.write_str("anonymous")?,
        }
        if let Some(via) = &self.via {
            write!(f, " via {via}")?;
        }
        Ok(())
    }
}
