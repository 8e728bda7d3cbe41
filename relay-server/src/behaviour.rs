//! The relay's protocols, all standard libp2p so peers of any implementation can use them.

use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    allow_block_list, autonat, connection_limits, identify, kad, ping, relay, rendezvous,
};

/// Protocol version announced by identify (the libp2p default, for interoperability).
pub(crate) const IDENTIFY_PROTOCOL: &str = "/ipfs/id/1.0.0";

/// Every protocol the relay serves, combined into one swarm behaviour.
#[derive(NetworkBehaviour)]
pub(crate) struct RelayBehaviour {
    /// Refuses connections from `access.blocked` peers before anything else sees them.
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// Caps connections so a flood cannot grow memory without bound.
    pub limits: connection_limits::Behaviour,
    /// Circuit relay v2, server side (HOP and STOP).
    pub relay: relay::Behaviour,
    /// Tells clients their observed address, which they need to hole punch.
    pub identify: identify::Behaviour,
    /// Answers and sends pings, so either side can tell the connection is alive.
    pub ping: ping::Behaviour,
    /// AutoNAT v2 server: dials clients back so they learn whether they are reachable.
    pub autonat: autonat::v2::server::Behaviour,
    /// The directory of agents (namespace = agent address).
    pub directory: rendezvous::server::Behaviour,
    /// Kademlia (server mode) between relays: provider records say which relay lists an agent.
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
}
