//! How a node is set up ([`NodeConfig`]) and why it could not start or reach a peer
//! ([`NodeError`]).

use std::time::Duration;

use agenthost_identity::AgentKey;
use libp2p::{Multiaddr, PeerId};

/// How a node is set up.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub key: AgentKey,
    /// Addresses to listen on; empty for a dial-only client.
    pub listen: Vec<Multiaddr>,
    /// Announce and discover peers on the LAN.
    pub mdns: bool,
    /// Accept `/agenthost/agent/1` requests (hosts do; pure callers do not).
    pub serve: bool,
    /// Relays to hold reservations on, as full multiaddrs ending in `/p2p/<relay>`.
    pub relays: Vec<Multiaddr>,
    /// How long an unused connection stays open (libp2p's default of 10 s makes connections to
    /// agents churn between calls).
    pub idle_timeout: Duration,
}

impl NodeConfig {
    pub fn new(key: AgentKey) -> Self {
        NodeConfig {
            key,
            listen: Vec::new(),
            mdns: true,
            serve: false,
            relays: Vec::new(),
            idle_timeout: Duration::from_secs(120),
        }
    }

    /// TCP and QUIC on all IPv4 interfaces, ports chosen by the OS.
    pub fn default_listen() -> Vec<Multiaddr> {
        vec![
            "/ip4/0.0.0.0/tcp/0".parse().expect("valid multiaddr"),
            "/ip4/0.0.0.0/udp/0/quic-v1"
                .parse()
                .expect("valid multiaddr"),
        ]
    }
}

/// Why a node could not start or a peer could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("could not build the libp2p transport: {0}")]
    Transport(String),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error("no known address for {0}: pass one (e.g. --addr), or make it discoverable")]
    NoAddress(PeerId),
    #[error("dialing {peer} failed: {reason}")]
    Dial { peer: PeerId, reason: String },
    #[error("timed out reaching {0}")]
    Timeout(PeerId),
    #[error("the node has stopped")]
    Stopped,
    #[error("invalid relay: {0}")]
    Relay(String),
}
