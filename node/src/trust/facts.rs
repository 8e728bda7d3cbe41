//! What trust sees of a request: who is calling and how the request arrived — never the
//! prompt or any other content.

use std::net::SocketAddr;

use agenthost_identity::Address;
use serde_json::json;

/// How a request reached the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arrival {
    /// A libp2p stream; `relayed` when it runs over a circuit relay rather than a direct
    /// connection.
    P2p {
        /// The stream runs over a circuit relay rather than a direct connection.
        relayed: bool,
    },
    /// HTTP or WebSocket through the gateway; `loopback` when the client connected from the
    /// local machine.
    Http {
        /// The client connected from the local machine.
        loopback: bool,
    },
    /// A call from code in the same process: no network hop.
    InProcess,
}

impl Arrival {
    /// The name given to a policy judge: `"p2p"`, `"http"` or `"in_process"`.
    pub fn name(&self) -> &'static str {
        match self {
            Arrival::P2p { .. } => "p2p",
            Arrival::Http { .. } => "http",
            Arrival::InProcess => "in_process",
        }
    }

    /// Whether the caller is on this machine: in-process, or HTTP from loopback. `careful`
    /// admits anonymous callers only from here (the operator).
    pub fn is_local(&self) -> bool {
        matches!(self, Arrival::InProcess | Arrival::Http { loopback: true })
    }
}

/// What trust sees of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerFacts {
    /// Verified identity: the libp2p peer's key or the signed envelope's signer.
    /// `None` = anonymous (so is a libp2p peer whose key is not ed25519: it has no address).
    pub address: Option<Address>,
    /// The identity came from a verified signed envelope (rather than the libp2p connection).
    pub signed: bool,
    /// How the request arrived: P2P (direct or relayed), HTTP/WS, or in-process.
    pub transport: Arrival,
    /// Remote host or address, for logs and as the rate-limit key of anonymous callers.
    pub remote: Option<String>,
}

impl CallerFacts {
    /// An anonymous call from code in this process.
    pub fn in_process() -> Self {
        CallerFacts {
            address: None,
            signed: false,
            transport: Arrival::InProcess,
            remote: None,
        }
    }

    /// An unsigned (anonymous) HTTP or WebSocket call.
    pub fn anonymous_http(loopback: bool, remote: Option<String>) -> Self {
        CallerFacts {
            address: None,
            signed: false,
            transport: Arrival::Http { loopback },
            remote,
        }
    }

    /// A libp2p peer, identified by its Noise-authenticated key.
    pub fn peer(address: Address, relayed: bool, remote: Option<String>) -> Self {
        CallerFacts {
            address: Some(address),
            signed: false,
            transport: Arrival::P2p { relayed },
            remote,
        }
    }

    /// A caller identified by a verified signed envelope, over any transport.
    pub fn signed(address: Address, transport: Arrival, remote: Option<String>) -> Self {
        CallerFacts {
            address: Some(address),
            signed: true,
            transport,
            remote,
        }
    }

    /// The facts as a policy judge receives them (see [`crate::trust::PolicyJudge`]).
    pub fn to_judge_json(&self, times_seen: u64) -> serde_json::Value {
        let (relayed, loopback) = match self.transport {
            Arrival::P2p { relayed } => (relayed, false),
            Arrival::Http { loopback } => (false, loopback),
            Arrival::InProcess => (false, false),
        };
        json!({
            "caller": self.address.map(|address| address.to_string()),
            "signed": self.signed,
            "transport": self.transport.name(),
            "relayed": relayed,
            "loopback": loopback,
            "times_seen": times_seen,
        })
    }

    /// Who this caller is for per-caller state (rate limits, verdict cache, request counts).
    pub(crate) fn key(&self) -> CallerKey {
        match self.address {
            Some(address) => CallerKey::Address(address),
            None => CallerKey::Host(self.remote.as_deref().map(remote_host).unwrap_or_default()),
        }
    }

    /// For logs: the short address, or `anonymous (<remote>)`.
    pub(crate) fn describe(&self) -> String {
        match (&self.address, &self.remote) {
            (Some(address), _) => address.short(),
            (None, Some(remote)) => format!("anonymous ({remote})"),
            (None, None) => "anonymous".to_string(),
        }
    }
}

/// The key of per-caller state: the verified address, or for anonymous callers the remote host
/// (empty when unknown, e.g. in-process: all such callers share one key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum CallerKey {
    Address(Address),
    Host(String),
}

/// The host part of a remote address: `1.2.3.4:5678` and `[::1]:80` lose their port, so one
/// anonymous host is one caller whatever port it connects from. Anything else (a multiaddr, a
/// bare host) is kept as given.
fn remote_host(remote: &str) -> String {
    match remote.parse::<SocketAddr>() {
        Ok(socket) => socket.ip().to_string(),
        Err(_) => remote.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_host_drops_the_port_only_from_socket_addresses() {
        assert_eq!(remote_host("10.0.0.7:4242"), "10.0.0.7");
        assert_eq!(remote_host("[::1]:80"), "::1");
        assert_eq!(remote_host("10.0.0.7"), "10.0.0.7");
        assert_eq!(
            remote_host("/ip4/10.0.0.7/tcp/4001"),
            "/ip4/10.0.0.7/tcp/4001"
        );
    }

    #[test]
    fn judge_json_has_exactly_the_documented_fields() {
        let address = Address::from_bytes([7; 32]);
        let facts = CallerFacts::peer(address, true, Some("/ip4/1.2.3.4".into()));
        assert_eq!(
            facts.to_judge_json(3),
            json!({
                "caller": address.to_string(),
                "signed": false,
                "transport": "p2p",
                "relayed": true,
                "loopback": false,
                "times_seen": 3,
            })
        );
        let anonymous = CallerFacts::anonymous_http(true, None).to_judge_json(1);
        assert_eq!(anonymous["caller"], serde_json::Value::Null);
        assert_eq!(anonymous["transport"], "http");
        assert_eq!(anonymous["loopback"], true);
    }
}
