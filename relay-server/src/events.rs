//! Turns swarm events into metrics and logs.
//!
//! Active reservations and circuits are counted per peer here rather than by blind
//! increment/decrement: libp2p can report a circuit closed from both of its connections, and a
//! gauge must not drift below the truth.

use std::collections::HashMap;

use libp2p::swarm::SwarmEvent;
use libp2p::{relay, rendezvous, PeerId};

use crate::behaviour::RelayBehaviourEvent;
use crate::metrics::RelayMetrics;

/// Turns swarm events into metrics and logs; counts active reservations and circuits per peer.
pub(crate) struct EventTracker {
    metrics: RelayMetrics,
    reservations: HashMap<PeerId, i64>,
    circuits: HashMap<(PeerId, PeerId), i64>,
}

impl EventTracker {
    /// A tracker updating `metrics`, with nothing active yet.
    pub(crate) fn new(metrics: RelayMetrics) -> EventTracker {
        EventTracker {
            metrics,
            reservations: HashMap::new(),
            circuits: HashMap::new(),
        }
    }

    /// Updates the metrics and logs for one swarm event.
    pub(crate) fn handle(&mut self, event: SwarmEvent<RelayBehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(RelayBehaviourEvent::Relay(e)) => self.relay(e),
            SwarmEvent::Behaviour(RelayBehaviourEvent::Directory(e)) => self.directory(e),
            SwarmEvent::Behaviour(RelayBehaviourEvent::Kad(e)) => match e {
                libp2p::kad::Event::RoutingUpdated { peer, .. } => {
                    tracing::info!(%peer, "relay joined the DHT routing table")
                }
                other => tracing::debug!(event = ?other, "dht event"),
            },
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                self.metrics.connections_established.inc();
                self.metrics.connections_active.inc();
                tracing::debug!(%peer_id, addr = %endpoint.get_remote_address(), "connected");
            }
            SwarmEvent::ConnectionClosed { peer_id, cause, .. } => {
                self.metrics.connections_active.dec();
                tracing::debug!(%peer_id, ?cause, "disconnected");
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
            }
            SwarmEvent::ListenerError { error, .. } => {
                tracing::warn!(%error, "listener error");
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                tracing::debug!(%error, "incoming connection failed");
            }
            _ => {}
        }
    }

    fn relay(&mut self, event: relay::Event) {
        let m = &self.metrics;
        match event {
            relay::Event::ReservationReqAccepted {
                src_peer_id,
                renewed,
            } => {
                if renewed {
                    m.reservations_renewed.inc();
                } else {
                    m.reservations_accepted.inc();
                    m.reservations_active.inc();
                    *self.reservations.entry(src_peer_id).or_default() += 1;
                }
                tracing::info!(peer = %src_peer_id, renewed, "reservation accepted");
            }
            relay::Event::ReservationReqDenied {
                src_peer_id,
                status,
            } => {
                m.reservations_denied.inc();
                tracing::info!(peer = %src_peer_id, ?status, "reservation denied");
            }
            relay::Event::ReservationClosed { src_peer_id }
            | relay::Event::ReservationTimedOut { src_peer_id } => {
                // libp2p-relay reports this for every closed connection, reserved or not.
                if take_one(&mut self.reservations, src_peer_id) {
                    m.reservations_active.dec();
                    tracing::info!(peer = %src_peer_id, "reservation ended");
                }
            }
            relay::Event::CircuitReqAccepted {
                src_peer_id,
                dst_peer_id,
            } => {
                m.circuits_accepted.inc();
                m.circuits_active.inc();
                *self.circuits.entry((src_peer_id, dst_peer_id)).or_default() += 1;
                tracing::info!(src = %src_peer_id, dst = %dst_peer_id, "circuit opened");
            }
            relay::Event::CircuitReqDenied {
                src_peer_id,
                dst_peer_id,
                status,
            } => {
                m.circuits_denied.inc();
                tracing::info!(src = %src_peer_id, dst = %dst_peer_id, ?status, "circuit denied");
            }
            relay::Event::CircuitClosed {
                src_peer_id,
                dst_peer_id,
                error,
            } => {
                if take_one(&mut self.circuits, (src_peer_id, dst_peer_id)) {
                    m.circuits_closed.inc();
                    m.circuits_active.dec();
                }
                tracing::info!(src = %src_peer_id, dst = %dst_peer_id, ?error, "circuit closed");
            }
            relay::Event::StatusChanged { status } => {
                tracing::info!(?status, "relay advertisement status");
            }
            #[allow(deprecated)]
            other => tracing::debug!(event = ?other, "relay event"),
        }
    }

    fn directory(&mut self, event: rendezvous::server::Event) {
        match event {
            rendezvous::server::Event::PeerRegistered { peer, registration } => {
                self.metrics.directory_registrations.inc();
                tracing::info!(%peer, namespace = %registration.namespace, "registered in directory");
            }
            rendezvous::server::Event::DiscoverServed { .. } => {
                self.metrics.directory_discoveries.inc();
            }
            other => tracing::debug!(event = ?other, "directory event"),
        }
    }
}

/// Decrements `key`'s count; false when there was nothing to decrement.
fn take_one<K: std::hash::Hash + Eq>(map: &mut HashMap<K, i64>, key: K) -> bool {
    match map.get_mut(&key) {
        Some(n) if *n > 1 => {
            *n -= 1;
            true
        }
        Some(_) => {
            map.remove(&key);
            true
        }
        None => false,
    }
}
