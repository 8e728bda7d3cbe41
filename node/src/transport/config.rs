//! How a node is set up ([`NodeConfig`]) and why it could not start or reach a peer
//! ([`NodeError`]).

use std::time::Duration;

use agenthost_identity::AgentKey;
use libp2p::{Multiaddr, PeerId};

/// How a node is set up.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The node's identity key: its PeerId and agent address derive from it.
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
    /// Caps on connections other peers open to this node, checked by libp2p before the
    /// handshake completes; connections this node dials are not capped.
    pub inbound: InboundLimits,
}

/// Caps on inbound P2P connections; one over is dropped at once and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundLimits {
    /// Inbound connections still in their handshake (Noise, Yamux) at once.
    pub pending: u32,
    /// Inbound connections established at once.
    pub established: u32,
    /// Connections with one peer at once, either way (a caller needs one or two: direct and
    /// relayed while a hole punch runs).
    pub per_peer: u32,
}

impl Default for InboundLimits {
    /// 128 in handshake, 1,024 established, 8 per peer: a small VPS's share of descriptors.
    fn default() -> Self {
        InboundLimits {
            pending: 128,
            established: 1024,
            per_peer: 8,
        }
    }
}

impl InboundLimits {
    /// As libp2p's `connection_limits` behaviour takes them.
    pub(crate) fn to_libp2p(self) -> libp2p::connection_limits::ConnectionLimits {
        libp2p::connection_limits::ConnectionLimits::default()
            .with_max_pending_incoming(Some(self.pending))
            .with_max_established_incoming(Some(self.established))
            .with_max_established_per_peer(Some(self.per_peer))
    }
}

impl NodeConfig {
    /// A dial-only config for `key`: no listeners, mDNS on, not serving, no relays, 120 s idle
    /// timeout.
    pub fn new(key: AgentKey) -> Self {
        NodeConfig {
            key,
            listen: Vec::new(),
            mdns: true,
            serve: false,
            relays: Vec::new(),
            idle_timeout: Duration::from_secs(120),
            inbound: InboundLimits::default(),
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
    /// Building the libp2p transport (TCP, QUIC, DNS, relay client) or the behaviours failed.
    #[error("could not build the libp2p transport: {0}")]
    Transport(String),
    /// A listen address could not be bound, or no listener reported an address within 10 s.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address that could not be listened on.
        addr: Multiaddr,
        /// The listener's error, or why it closed.
        reason: String,
    },
    /// No address of the peer was given or is known, and mDNS (the LAN look-up) is off.
    #[error("no known address for {0}: pass one (e.g. --addr), or make it discoverable")]
    NoAddress(PeerId),
    /// Every dial to the peer failed, or its connection closed before identify.
    #[error("dialing {peer} failed: {reason}")]
    Dial {
        /// The peer that was dialed.
        peer: PeerId,
        /// libp2p's dial error, or the connection closing before identify.
        reason: String,
    },
    /// The peer (or relay) did not answer within the caller's timeout.
    #[error("timed out reaching {0}")]
    Timeout(PeerId),
    /// The node's task has ended, so commands to it go unanswered.
    #[error("the node has stopped")]
    Stopped,
    /// A relay address lacks `/p2p/<relay>`, or a relay's directory or DHT look-up failed.
    #[error("invalid relay: {0}")]
    Relay(String),
}
