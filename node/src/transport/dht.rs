//! The relays' Kademlia DHT, from a caller's side (Kademlia client mode: we ask, never answer).
//!
//! A relay that lists an agent in its directory announces itself as a provider of the key
//! [`agent_key`] (the UTF-8 bytes of the agent's `0x…` address). A caller whose relays do not
//! list the agent asks them for the providers of that key, then for each provider relay's
//! addresses (a Kademlia peer look-up), and dials the circuit through it.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use agenthost_identity::Address;
use libp2p::{kad, Multiaddr, PeerId, StreamProtocol};
use tokio::sync::oneshot;

use super::config::NodeError;

/// The relays' DHT, as the relay server speaks it.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new(agenthost_identity::DHT_PROTOCOL);

/// Bound on one Kademlia query.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The DHT key under which relays announce that they list the agent `address`.
pub(super) fn agent_key(address: &Address) -> kad::RecordKey {
    kad::RecordKey::new(&address.dht_key())
}

/// A relay found in the DHT: its PeerId and addresses (without `/p2p/<relay>`).
pub type FoundRelay = (PeerId, Vec<Multiaddr>);

pub(crate) type RelaysReply = oneshot::Sender<Result<Vec<FoundRelay>, NodeError>>;

pub(crate) fn behaviour(local: PeerId) -> kad::Behaviour<kad::store::MemoryStore> {
    let mut config = kad::Config::new(KAD_PROTOCOL);
    config
        .set_query_timeout(QUERY_TIMEOUT)
        // We look things up when asked; no background traffic.
        .set_periodic_bootstrap_interval(None)
        .set_provider_publication_interval(None)
        .set_publication_interval(None)
        .set_replication_interval(None);
    let mut kad = kad::Behaviour::with_config(local, kad::store::MemoryStore::new(local), config);
    kad.set_mode(Some(kad::Mode::Client));
    kad
}

/// One "which relays list this agent" look-up.
struct Lookup {
    /// Skipped as providers: the agent itself and relays the caller already uses.
    skip: HashSet<PeerId>,
    providers: HashSet<PeerId>,
    found: Vec<FoundRelay>,
    /// Address look-ups still running.
    pending: usize,
    reply: Option<RelaysReply>,
}

enum Stage {
    Providers(u64),
    Addresses(u64, PeerId),
}

#[derive(Default)]
pub(crate) struct DhtLookups {
    next: u64,
    lookups: HashMap<u64, Lookup>,
    queries: HashMap<kad::QueryId, Stage>,
}

impl DhtLookups {
    /// Asks the DHT, through `via` (relays we know), which relays list `address`.
    pub(super) fn find_relays(
        &mut self,
        kad: &mut kad::Behaviour<kad::store::MemoryStore>,
        via: Vec<(PeerId, Multiaddr)>,
        address: &Address,
        reply: RelaysReply,
    ) {
        let mut skip: HashSet<PeerId> = via.iter().map(|(peer, _)| *peer).collect();
        skip.insert(address.to_peer_id());
        for (peer, addr) in via {
            kad.add_address(&peer, addr);
        }
        let id = self.next;
        self.next += 1;
        let query = kad.get_providers(agent_key(address));
        self.queries.insert(query, Stage::Providers(id));
        self.lookups.insert(
            id,
            Lookup {
                skip,
                providers: HashSet::new(),
                found: Vec::new(),
                pending: 0,
                reply: Some(reply),
            },
        );
    }

    pub(super) fn on_event(
        &mut self,
        kad: &mut kad::Behaviour<kad::store::MemoryStore>,
        event: kad::Event,
    ) {
        let kad::Event::OutboundQueryProgressed {
            id, result, step, ..
        } = event
        else {
            return;
        };
        match (self.queries.get(&id), result) {
            (Some(Stage::Providers(lookup)), kad::QueryResult::GetProviders(result)) => {
                let lookup_id = *lookup;
                let Some(lookup) = self.lookups.get_mut(&lookup_id) else {
                    return;
                };
                match result {
                    Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) => {
                        let new: Vec<PeerId> = providers
                            .into_iter()
                            .filter(|p| !lookup.skip.contains(p))
                            .collect();
                        if !new.is_empty() {
                            lookup.providers.extend(new);
                            // Enough to dial: do not walk the rest of the DHT.
                            if let Some(mut query) = kad.query_mut(&id) {
                                query.finish();
                            }
                        }
                    }
                    Ok(kad::GetProvidersOk::FinishedWithNoAdditionalRecord { .. }) => {}
                    Err(e) => tracing::debug!(error = %e, "provider look-up failed"),
                }
                if step.last {
                    self.queries.remove(&id);
                    let providers: Vec<PeerId> = lookup.providers.iter().copied().collect();
                    for provider in providers {
                        let query = kad.get_closest_peers(provider);
                        self.queries
                            .insert(query, Stage::Addresses(lookup_id, provider));
                        lookup.pending += 1;
                    }
                    self.finish_if_done(lookup_id);
                }
            }
            (
                Some(Stage::Addresses(lookup, provider)),
                kad::QueryResult::GetClosestPeers(result),
            ) => {
                let (lookup_id, provider) = (*lookup, *provider);
                let peers = match result {
                    Ok(ok) => ok.peers,
                    Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                };
                if let Some(lookup) = self.lookups.get_mut(&lookup_id) {
                    if let Some(info) = peers.into_iter().find(|p| p.peer_id == provider) {
                        if !info.addrs.is_empty() {
                            lookup.found.push((provider, info.addrs));
                        }
                    }
                    if step.last {
                        lookup.pending = lookup.pending.saturating_sub(1);
                    }
                }
                if step.last {
                    self.queries.remove(&id);
                    self.finish_if_done(lookup_id);
                }
            }
            _ => {}
        }
    }

    fn finish_if_done(&mut self, lookup_id: u64) {
        if self.lookups.get(&lookup_id).is_some_and(|l| l.pending == 0) {
            if let Some(mut lookup) = self.lookups.remove(&lookup_id) {
                if let Some(reply) = lookup.reply.take() {
                    let _ = reply.send(Ok(lookup.found));
                }
            }
        }
    }
}
