//! Kademlia between relays: which relay lists which agent, with no central registry.
//!
//! Relays run libp2p's Kademlia in server mode on their own DHT (protocol
//! [`KAD_PROTOCOL`], so they never mix with the public IPFS DHT) and join it through the relays
//! configured as `peers`. When an agent registers in this relay's directory under its own
//! address, the relay announces itself as a *provider* of the key [`agent_key`] (the UTF-8
//! bytes of the agent's `0x…` address); when the registration ends it stops. A caller that
//! knows any relay of the DHT asks it (as a Kademlia client) for the providers of that key,
//! then for the provider relay's addresses (a Kademlia peer look-up), and dials
//! `<provider relay>/p2p-circuit/p2p/<agent>` — whose Noise handshake proves the agent's key,
//! so a false provider record can only waste a dial, never impersonate an agent.

use std::collections::HashSet;
use std::time::Duration;

use agenthost_identity::Address;
use libp2p::{
    identify, kad, kad::store::RecordStore, multiaddr::Protocol, rendezvous, swarm::DialError,
    Multiaddr, PeerId, StreamProtocol, Swarm,
};

use crate::behaviour::RelayBehaviour;
use crate::config::DirectoryConfig;

/// The relays' DHT. Agents' nodes speak the same protocol name as Kademlia clients.
pub(crate) const KAD_PROTOCOL: StreamProtocol =
    StreamProtocol::new(agenthost_identity::DHT_PROTOCOL);

/// How long another node keeps our provider record without hearing it again.
const PROVIDER_TTL: Duration = Duration::from_secs(3 * 60 * 60);
/// How often we announce the agents we list again (and on every directory renewal).
const PROVIDER_REPUBLISH: Duration = Duration::from_secs(60 * 60);
/// Retrying configured peers that are not connected: from 1 s, doubling, up to this.
const MAX_PEER_RETRY: Duration = Duration::from_secs(60);
/// Other relays (DHT servers) remembered as allowed to announce agents.
const MAX_KNOWN_SERVERS: usize = 10_000;

/// The DHT key under which relays announce that they list the agent `address`.
pub(crate) fn agent_key(address: &Address) -> kad::RecordKey {
    kad::RecordKey::new(&address.dht_key())
}

/// The PeerId at the end of a full multiaddr (`…/p2p/<id>`).
pub(crate) fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last() {
        Some(Protocol::P2p(id)) => Some(id),
        _ => None,
    }
}

/// The relay's Kademlia behaviour, in server mode, its memory bounded by `[directory]`.
pub(crate) fn behaviour(
    local: PeerId,
    directory: &DirectoryConfig,
) -> kad::Behaviour<kad::store::MemoryStore> {
    let store = kad::store::MemoryStore::with_config(
        local,
        kad::store::MemoryStoreConfig {
            max_provided_keys: directory.max_dht_keys,
            ..kad::store::MemoryStoreConfig::default()
        },
    );
    let mut config = kad::Config::new(KAD_PROTOCOL);
    config
        .set_provider_record_ttl(Some(PROVIDER_TTL))
        .set_provider_publication_interval(Some(PROVIDER_REPUBLISH))
        .set_query_timeout(Duration::from_secs(30))
        // Inbound records are ours to judge (see `Servers::on_inbound`): provider records only
        // from other relays, value records never (the DHT uses none).
        .set_record_filtering(kad::StoreInserts::FilterBoth);
    let mut kad = kad::Behaviour::with_config(local, store, config);
    // A relay is publicly reachable by definition: answer DHT requests from the start rather
    // than waiting for an external address to be confirmed.
    kad.set_mode(Some(kad::Mode::Server));
    kad
}

/// The configured peer relays, kept in the routing table and connected with capped backoff.
pub(crate) struct PeerRelays {
    peers: Vec<(PeerId, Multiaddr)>,
    retry: Duration,
}

impl PeerRelays {
    /// The configured peers; entries not ending in `/p2p/<relay PeerId>` are skipped.
    pub(crate) fn new(peers: &[Multiaddr]) -> PeerRelays {
        let peers = peers
            .iter()
            .filter_map(|addr| {
                let peer = peer_of(addr)?;
                let mut base = addr.clone();
                base.pop();
                Some((peer, base))
            })
            .collect();
        PeerRelays {
            peers,
            retry: Duration::from_secs(1),
        }
    }

    /// Whether no peer relay is configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Puts every configured peer that is not connected back in the routing table and dials
    /// it; bootstraps when any was missing. Returns how long to wait before checking again:
    /// 1 s doubling up to a minute while some peer is missing, reset once all are connected.
    pub(crate) fn connect(&mut self, swarm: &mut Swarm<RelayBehaviour>) -> Duration {
        let mut missing = false;
        for (peer, addr) in &self.peers {
            if swarm.is_connected(peer) {
                continue;
            }
            missing = true;
            swarm.behaviour_mut().kad.add_address(peer, addr.clone());
            let full = addr.clone().with(Protocol::P2p(*peer));
            match swarm.dial(full) {
                Ok(()) | Err(DialError::DialPeerConditionFalse(_)) => {}
                Err(e) => tracing::warn!(%peer, error = %e, "cannot dial peer relay"),
            }
        }
        if missing {
            // Learns the rest of the DHT through whichever peer answers.
            let _ = swarm.behaviour_mut().kad.bootstrap();
            let wait = self.retry;
            self.retry = (self.retry * 2).min(MAX_PEER_RETRY);
            wait
        } else {
            self.retry = Duration::from_secs(1);
            MAX_PEER_RETRY
        }
    }
}

/// Announces or withdraws this relay as the provider of the agents in its directory.
pub(crate) fn on_directory(
    kad: &mut kad::Behaviour<kad::store::MemoryStore>,
    event: &rendezvous::server::Event,
) {
    match event {
        rendezvous::server::Event::PeerRegistered { peer, registration } => {
            // Only an agent listed under its own address: a peer cannot make this relay
            // announce somebody else.
            let Some(address) = own_address(peer, &registration.namespace) else {
                return;
            };
            if let Err(e) = kad.start_providing(agent_key(&address)) {
                tracing::warn!(%address, error = %e, "cannot announce the agent in the DHT");
            }
        }
        rendezvous::server::Event::PeerUnregistered { peer, namespace } => {
            if let Some(address) = own_address(peer, namespace) {
                kad.stop_providing(&agent_key(&address));
            }
        }
        rendezvous::server::Event::RegistrationExpired(registration) => {
            if let Some(address) =
                own_address(&registration.record.peer_id(), &registration.namespace)
            {
                kad.stop_providing(&agent_key(&address));
            }
        }
        _ => {}
    }
}

/// The address `namespace` names, when it is `peer`'s own.
fn own_address(peer: &PeerId, namespace: &rendezvous::Namespace) -> Option<Address> {
    let address = Address::parse(&namespace.to_string()).ok()?;
    (address.to_peer_id() == *peer).then_some(address)
}

/// The other relays we know of: those configured as peers, and those whose identify says they
/// serve our DHT. Only they may announce agents here, so an agent or caller (a Kademlia
/// client) cannot fill this relay's provider store.
pub(crate) struct Servers {
    known: HashSet<PeerId>,
}

impl Servers {
    /// Starts with the configured peer relays as the only known servers.
    pub(crate) fn new(peers: &[Multiaddr]) -> Servers {
        Servers {
            known: peers.iter().filter_map(peer_of).collect(),
        }
    }

    /// Another relay told us its addresses: it joins our routing table if it speaks our DHT.
    pub(crate) fn on_identify(
        &mut self,
        kad: &mut kad::Behaviour<kad::store::MemoryStore>,
        event: &identify::Event,
    ) {
        if let identify::Event::Received { peer_id, info, .. } = event {
            if info.protocols.contains(&KAD_PROTOCOL) {
                if self.known.len() < MAX_KNOWN_SERVERS {
                    self.known.insert(*peer_id);
                }
                for addr in &info.listen_addrs {
                    kad.add_address(peer_id, addr.clone());
                }
            }
        }
    }

    /// An inbound record (kad filters nothing itself with `StoreInserts::FilterBoth`).
    pub(crate) fn on_inbound(
        &self,
        kad: &mut kad::Behaviour<kad::store::MemoryStore>,
        event: &kad::Event,
    ) {
        let kad::Event::InboundRequest {
            request:
                kad::InboundRequest::AddProvider {
                    record: Some(record),
                },
        } = event
        else {
            return;
        };
        // libp2p already checked that the provider is the peer that sent the record.
        if !self.known.contains(&record.provider) {
            tracing::debug!(peer = %record.provider, "provider record from a peer that is not a relay: ignored");
            return;
        }
        if let Err(e) = kad.store_mut().add_provider(record.clone()) {
            tracing::warn!(peer = %record.provider, error = %e, "provider record not stored");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_other_relays_may_announce_agents_here() {
        let local = agenthost_identity::AgentKey::generate().peer_id();
        let relay = agenthost_identity::AgentKey::generate().peer_id();
        let stranger = agenthost_identity::AgentKey::generate().peer_id();
        let relay_addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/4001/p2p/{relay}")
            .parse()
            .unwrap();
        let mut kad = behaviour(local, &DirectoryConfig::default());
        let servers = Servers::new(&[relay_addr]);
        let key = agent_key(&agenthost_identity::AgentKey::generate().address());
        for provider in [stranger, relay] {
            let event = kad::Event::InboundRequest {
                request: kad::InboundRequest::AddProvider {
                    record: Some(kad::ProviderRecord::new(key.clone(), provider, Vec::new())),
                },
            };
            servers.on_inbound(&mut kad, &event);
        }
        let stored: Vec<PeerId> = kad
            .store_mut()
            .providers(&key)
            .into_iter()
            .map(|r| r.provider)
            .collect();
        assert_eq!(stored, vec![relay]);
    }

    #[test]
    fn only_an_agents_own_address_is_announced() {
        let agent = agenthost_identity::AgentKey::generate();
        let other = agenthost_identity::AgentKey::generate();
        let ns = rendezvous::Namespace::new(agent.address().to_string()).unwrap();
        assert_eq!(own_address(&agent.peer_id(), &ns), Some(agent.address()));
        assert_eq!(own_address(&other.peer_id(), &ns), None);
        let junk = rendezvous::Namespace::new("not-an-address".to_string()).unwrap();
        assert_eq!(own_address(&agent.peer_id(), &junk), None);
        assert_eq!(
            agent_key(&agent.address()).as_ref(),
            agent.address().to_string().as_bytes()
        );
    }
}
