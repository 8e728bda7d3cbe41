//! The protocols every agenthost peer speaks, composed into one libp2p behaviour.

use libp2p::{
    autonat, connection_limits, dcutr, identify, kad, mdns, ping, relay, rendezvous,
    swarm::{behaviour::toggle::Toggle, NetworkBehaviour},
};

use crate::{stream::AgentStreams, wire::IDENTIFY_PROTOCOL_VERSION};

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    /// Caps on inbound connections (`InboundLimits`), before their handshake.
    pub limits: connection_limits::Behaviour,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    /// Off when disabled, or when the host has no multicast-capable interface.
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// `/agenthost/agent/1` request streams.
    pub streams: AgentStreams,
    /// Circuit relay v2 client: reservations on relays, and dialing through them.
    pub relay_client: relay::client::Behaviour,
    /// Direct connection upgrade through relay: hole punching over a relayed connection, with
    /// the addresses others observed us at (identify) as candidates.
    pub dcutr: dcutr::Behaviour,
    /// Registers our peer record in relays' directories, and looks others up there.
    pub rendezvous: rendezvous::client::Behaviour,
    /// AutoNAT v2 client (agents only): asks servers (our relays) to dial our candidate
    /// addresses back; the ones that work become confirmed external addresses, so they go into
    /// the peer record we register.
    pub autonat: Toggle<autonat::v2::client::Behaviour>,
    /// Kademlia client of the relays' DHT: which relay lists an agent our relays do not.
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
}

impl Behaviour {
    pub(super) fn new(
        key: &libp2p::identity::Keypair,
        enable_mdns: bool,
        enable_autonat: bool,
        streams: AgentStreams,
        relay_client: relay::client::Behaviour,
        limits: connection_limits::ConnectionLimits,
    ) -> Self {
        let peer_id = key.public().to_peer_id();
        let mdns = if enable_mdns {
            match mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id) {
                Ok(mdns) => Some(mdns),
                Err(e) => {
                    tracing::warn!(error = %e, "mDNS unavailable; LAN discovery disabled");
                    None
                }
            }
        } else {
            None
        };
        Behaviour {
            limits: connection_limits::Behaviour::new(limits),
            identify: identify::Behaviour::new(
                identify::Config::new(IDENTIFY_PROTOCOL_VERSION.to_owned(), key.public())
                    .with_agent_version(format!("agenthost/{}", env!("CARGO_PKG_VERSION"))),
            ),
            ping: ping::Behaviour::default(),
            mdns: mdns.into(),
            streams,
            relay_client,
            dcutr: dcutr::Behaviour::new(peer_id),
            rendezvous: rendezvous::client::Behaviour::new(key.clone()),
            autonat: enable_autonat
                .then(autonat::v2::client::Behaviour::default)
                .into(),
            kad: super::dht::behaviour(peer_id),
        }
    }
}
