//! Relays' directories (rendezvous servers), from a node's side: an agent registers its signed
//! peer record in each relay's directory under its own address (the namespace), renews it
//! before it expires and retries failures with capped backoff; a caller looks an address up.
//!
//! The record holds the node's confirmed external addresses: the relayed address (confirmed by
//! the relay client when the relay accepts the reservation) and any direct address AutoNAT
//! confirmed. libp2p's rendezvous client re-registers by itself when those change.

use std::{collections::HashMap, time::Duration};

use agenthost_identity::Address;
use libp2p::{rendezvous, Multiaddr, PeerId};
use tokio::{sync::oneshot, time::Instant};

use super::{
    config::NodeError,
    reservations::{backoff, Reservations},
};

/// Registrations are renewed when this fraction of their TTL is gone.
const REFRESH_AT: f64 = 0.75;

/// How long a registration sent without an answer yet waits before it is sent again.
const ANSWER_WAIT: Duration = Duration::from_secs(60);

/// One signed peer record found in a directory: whose it is, and its addresses.
#[derive(Debug, Clone)]
pub struct PeerRecordAddrs {
    /// The peer that signed the record.
    pub peer: PeerId,
    /// The addresses the peer registered in the record, verified by libp2p.
    pub addrs: Vec<Multiaddr>,
}

pub(crate) type DiscoverReply = oneshot::Sender<Result<Vec<PeerRecordAddrs>, NodeError>>;

/// Our registration in one relay's directory.
struct Registration {
    due: Instant,
    failures: u32,
}

pub(crate) struct Directory {
    /// Our namespace: our own address.
    namespace: rendezvous::Namespace,
    /// Per relay: when to (re-)register, and failures in a row.
    registrations: HashMap<PeerId, Registration>,
    /// Look-ups in flight, per relay, with the namespace each asked for.
    waiters: HashMap<PeerId, Vec<(String, DiscoverReply)>>,
}

impl Directory {
    pub(super) fn new(address: &Address) -> Result<Self, String> {
        Ok(Directory {
            namespace: rendezvous::Namespace::new(address.to_string())
                .map_err(|e| e.to_string())?,
            registrations: HashMap::new(),
            waiters: HashMap::new(),
        })
    }

    /// The next moment a registration is due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.registrations.values().map(|r| r.due).min()
    }

    /// Relays whose registration is due now; each is put off until its answer comes.
    pub(super) fn due(&mut self, now: Instant) -> Vec<PeerId> {
        let mut due = Vec::new();
        for (relay, r) in &mut self.registrations {
            if r.due <= now {
                r.due = now + ANSWER_WAIT;
                due.push(*relay);
            }
        }
        due
    }

    /// Drops the schedule of a relay we are no longer connected to: the next accepted
    /// reservation registers again.
    pub(super) fn forget(&mut self, relay: &PeerId) {
        self.registrations.remove(relay);
    }

    /// Removes our record from `relay`'s directory (on shutdown: callers stop finding a gone
    /// agent there at once instead of after the record's TTL).
    pub(super) fn unregister(&mut self, client: &mut rendezvous::client::Behaviour, relay: PeerId) {
        client.unregister(self.namespace.clone(), relay);
        self.registrations.remove(&relay);
    }

    /// Registers our record in `relay`'s directory.
    pub(super) fn register(
        &mut self,
        client: &mut rendezvous::client::Behaviour,
        reservations: &mut Reservations,
        relay: PeerId,
    ) {
        if let Err(e) = client.register(self.namespace.clone(), relay, None) {
            self.failed(reservations, relay, e.to_string());
        }
    }

    fn failed(&mut self, reservations: &mut Reservations, relay: PeerId, reason: String) {
        let entry = self
            .registrations
            .entry(relay)
            .or_insert_with(|| Registration {
                due: Instant::now(),
                failures: 0,
            });
        entry.failures = entry.failures.saturating_add(1);
        let delay = backoff(entry.failures);
        entry.due = Instant::now() + delay;
        tracing::warn!(%relay, %reason, retry_in = ?delay, "registering in the relay's directory failed");
        reservations.set_listed(&relay, false);
    }

    /// Asks `relay`'s directory for the records under `namespace`.
    pub(super) fn discover(
        &mut self,
        client: &mut rendezvous::client::Behaviour,
        relay: PeerId,
        namespace: String,
        reply: DiscoverReply,
    ) {
        let ns = match rendezvous::Namespace::new(namespace.clone()) {
            Ok(ns) => ns,
            Err(e) => {
                let _ = reply.send(Err(NodeError::Relay(e.to_string())));
                return;
            }
        };
        client.discover(Some(ns), None, None, relay);
        let waiters = self.waiters.entry(relay).or_default();
        // Callers that gave up leave closed senders behind.
        waiters.retain(|(_, w)| !w.is_closed());
        waiters.push((namespace, reply));
    }

    /// The last connection to `relay` closed: look-ups fail, and we are no longer listed.
    pub(super) fn on_disconnected(&mut self, reservations: &mut Reservations, relay: &PeerId) {
        reservations.set_listed(relay, false);
        for (_, reply) in self.waiters.remove(relay).unwrap_or_default() {
            let _ = reply.send(Err(NodeError::Relay(
                "connection to the relay closed".into(),
            )));
        }
    }

    /// The look-ups `relay` answered: those asking for `namespace` (all, if it is unknown).
    fn take_waiters(
        &mut self,
        relay: PeerId,
        namespace: Option<String>,
    ) -> Vec<(String, DiscoverReply)> {
        let waiters = self.waiters.remove(&relay).unwrap_or_default();
        let (answered, waiting): (Vec<_>, Vec<_>) = waiters
            .into_iter()
            .partition(|(ns, _)| namespace.as_ref().is_none_or(|asked| asked == ns));
        if !waiting.is_empty() {
            self.waiters.insert(relay, waiting);
        }
        answered
    }

    pub(super) fn on_event(
        &mut self,
        reservations: &mut Reservations,
        event: rendezvous::client::Event,
    ) {
        match event {
            rendezvous::client::Event::Registered {
                rendezvous_node,
                ttl,
                ..
            } => {
                let refresh = Duration::from_secs(ttl.max(1)).mul_f64(REFRESH_AT);
                tracing::info!(relay = %rendezvous_node, ttl, "listed in the relay's directory");
                self.registrations.insert(
                    rendezvous_node,
                    Registration {
                        due: Instant::now() + refresh,
                        failures: 0,
                    },
                );
                reservations.set_listed(&rendezvous_node, true);
            }
            rendezvous::client::Event::RegisterFailed {
                rendezvous_node,
                error,
                ..
            } => self.failed(reservations, rendezvous_node, format!("{error:?}")),
            rendezvous::client::Event::Discovered {
                rendezvous_node,
                registrations,
                cookie,
            } => {
                // The cookie names the namespace asked for: it answers those look-ups only.
                let asked = cookie.namespace().map(|ns| ns.to_string());
                for (namespace, reply) in self.take_waiters(rendezvous_node, asked) {
                    let found = registrations
                        .iter()
                        .filter(|r| r.namespace.to_string() == namespace)
                        .map(|r| PeerRecordAddrs {
                            peer: r.record.peer_id(),
                            addrs: r.record.addresses().to_vec(),
                        })
                        .collect();
                    let _ = reply.send(Ok(found));
                }
            }
            rendezvous::client::Event::DiscoverFailed {
                rendezvous_node,
                namespace,
                error,
            } => {
                let asked = namespace.map(|ns| ns.to_string());
                for (_, reply) in self.take_waiters(rendezvous_node, asked) {
                    let _ = reply.send(Err(NodeError::Relay(format!(
                        "directory look-up refused: {error:?}"
                    ))));
                }
            }
            rendezvous::client::Event::Expired { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use agenthost_identity::AgentKey;
    use libp2p::{core::PeerRecord, rendezvous::Cookie};

    use super::*;

    #[test]
    fn an_answer_goes_to_the_look_ups_of_its_namespace_only() {
        let me = AgentKey::generate();
        let mut directory = Directory::new(&me.address()).unwrap();
        let mut client = rendezvous::client::Behaviour::new(me.to_libp2p_keypair());
        let mut reservations = Reservations::new(&[]).unwrap();
        let relay = AgentKey::generate().peer_id();
        let (a, b) = (AgentKey::generate(), AgentKey::generate());
        let (reply_a, mut rx_a) = oneshot::channel();
        let (reply_b, mut rx_b) = oneshot::channel();
        directory.discover(&mut client, relay, a.address().to_string(), reply_a);
        directory.discover(&mut client, relay, b.address().to_string(), reply_b);

        let b_ns = rendezvous::Namespace::new(b.address().to_string()).unwrap();
        let addr: Multiaddr = "/ip4/198.51.100.7/tcp/4001".parse().unwrap();
        let record = PeerRecord::new(&b.to_libp2p_keypair(), vec![addr.clone()]).unwrap();
        directory.on_event(
            &mut reservations,
            rendezvous::client::Event::Discovered {
                rendezvous_node: relay,
                registrations: vec![rendezvous::Registration {
                    namespace: b_ns.clone(),
                    record,
                    ttl: 7200,
                }],
                cookie: Cookie::for_namespace(b_ns),
            },
        );
        let found = rx_b.try_recv().unwrap().unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].peer, b.peer_id());
        assert_eq!(found[0].addrs, vec![addr]);
        // A's look-up is still waiting for its own answer.
        assert!(rx_a.try_recv().is_err());
        directory.on_disconnected(&mut reservations, &relay);
        assert!(rx_a.try_recv().unwrap().is_err());
    }

    #[test]
    fn a_refused_registration_is_retried_with_backoff() {
        let me = AgentKey::generate();
        let mut directory = Directory::new(&me.address()).unwrap();
        let mut client = rendezvous::client::Behaviour::new(me.to_libp2p_keypair());
        let mut reservations = Reservations::new(&[]).unwrap();
        let relay = AgentKey::generate().peer_id();
        // No external address yet: the registration cannot even be sent.
        directory.register(&mut client, &mut reservations, relay);
        let first = directory.next_due().unwrap();
        assert!(first > Instant::now() + Duration::from_millis(900));
        assert!(directory.due(Instant::now()).is_empty());
        assert_eq!(directory.due(first), vec![relay]);
        directory.register(&mut client, &mut reservations, relay);
        let second = directory.next_due().unwrap();
        assert!(second - Instant::now() > Duration::from_millis(1900));
    }
}
