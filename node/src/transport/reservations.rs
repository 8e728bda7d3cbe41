//! Relay reservations an agent keeps so it is reachable through each configured relay: dial
//! the relay, wait for identify (the relay must know how it sees us), listen on
//! `<relay>/p2p-circuit`, and after any loss — relay restart, refused renewal, network change —
//! start over with capped exponential backoff and jitter (1 s doubling to 30 s; loud after
//! 5 failures in a row). libp2p retries nothing by itself (docs/decisions/0011-relay-reservations.md).

use std::{
    fmt,
    sync::{Arc, RwLock},
    time::Duration,
};

use libp2p::{core::transport::ListenerId, multiaddr::Protocol, Multiaddr, PeerId};
use tokio::time::Instant;

use crate::wire::circuit_through;

/// First retry delay after a failure.
const BACKOFF_START: Duration = Duration::from_secs(1);
/// Retry delays stop growing here.
const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Failures in a row after which every further one is logged as an error.
const LOUD_AFTER: u32 = 5;

/// Where a reservation stands, as the banner and INFO show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayState {
    /// Dialing the relay or waiting for its answer.
    Connecting,
    /// Connected; asking for a reservation.
    Reserving,
    /// Reachable through this relay.
    Reserved,
    /// Lost or refused; retrying after a delay.
    Retrying {
        /// Why the last attempt failed or the reservation was lost.
        reason: String,
        /// Failed attempts in a row; more than 5 are logged as errors.
        failures: u32,
    },
}

impl fmt::Display for RelayState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelayState::Connecting => f.write_str("connecting"),
            RelayState::Reserving => f.write_str("reserving"),
            RelayState::Reserved => f.write_str("reserved"),
            RelayState::Retrying { reason, failures } => {
                write!(f, "retrying ({failures} failures; last: {reason})")
            }
        }
    }
}

/// One relay's address and state, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayStatus {
    /// The relay's full multiaddr (ending in `/p2p/<relay>`).
    pub relay: Multiaddr,
    /// Where the reservation on this relay stands.
    pub state: RelayState,
    /// Our signed peer record is registered in this relay's directory under our address.
    pub listed: bool,
}

/// The states of every relay, kept current by the node.
pub type SharedRelayStatus = Arc<RwLock<Vec<RelayStatus>>>;

/// What the node should do next for a relay.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RelayAction {
    Dial(Multiaddr),
    Listen(Multiaddr),
}

struct Reservation {
    addr: Multiaddr,
    peer: PeerId,
    state: RelayState,
    listener: Option<ListenerId>,
    failures: u32,
    retry_at: Option<Instant>,
    listed: bool,
}

/// The reservation state machines of one node.
pub(crate) struct Reservations {
    relays: Vec<Reservation>,
    shared: SharedRelayStatus,
}

impl Reservations {
    /// Relays given as full multiaddrs; one without `/p2p/<id>` is refused.
    pub(super) fn new(relays: &[Multiaddr]) -> Result<Self, String> {
        let mut list = Vec::new();
        for addr in relays {
            let Some(Protocol::P2p(peer)) = addr.iter().last() else {
                return Err(format!(
                    "relay address {addr} must end in /p2p/<relay PeerId>"
                ));
            };
            list.push(Reservation {
                addr: addr.clone(),
                peer,
                state: RelayState::Connecting,
                listener: None,
                failures: 0,
                // Start at once.
                retry_at: Some(Instant::now()),
                listed: false,
            });
        }
        let reservations = Reservations {
            relays: list,
            shared: Arc::new(RwLock::new(Vec::new())),
        };
        reservations.publish();
        Ok(reservations)
    }

    pub(super) fn shared(&self) -> SharedRelayStatus {
        Arc::clone(&self.shared)
    }

    /// Every configured relay's PeerId.
    pub(super) fn relay_peers(&self) -> Vec<PeerId> {
        self.relays.iter().map(|r| r.peer).collect()
    }

    /// The circuit listeners, forgotten here so a shutdown can close them without this list
    /// scheduling a new reservation; the relays are marked as given up.
    pub(super) fn take_listeners(&mut self) -> Vec<ListenerId> {
        let mut listeners = Vec::new();
        for relay in &mut self.relays {
            relay.retry_at = None;
            listeners.extend(relay.listener.take());
        }
        self.publish();
        listeners
    }

    pub(super) fn is_relay(&self, peer: &PeerId) -> bool {
        self.relays.iter().any(|r| &r.peer == peer)
    }

    /// The next moment a retry is due.
    pub(super) fn next_retry(&self) -> Option<Instant> {
        self.relays.iter().filter_map(|r| r.retry_at).min()
    }

    /// Dials for every relay whose retry is due.
    pub(super) fn due(&mut self, now: Instant) -> Vec<RelayAction> {
        let mut actions = Vec::new();
        for r in &mut self.relays {
            if r.retry_at.is_some_and(|at| at <= now) {
                r.retry_at = None;
                if !matches!(r.state, RelayState::Retrying { .. }) {
                    r.state = RelayState::Connecting;
                }
                actions.push(RelayAction::Dial(r.addr.clone()));
            }
        }
        self.publish();
        actions
    }

    /// The relay identified itself: time to ask for the reservation.
    pub(super) fn on_identified(&mut self, peer: &PeerId) -> Vec<RelayAction> {
        let mut actions = Vec::new();
        for r in self.relays.iter_mut().filter(|r| &r.peer == peer) {
            if r.listener.is_none() && r.retry_at.is_none() {
                r.state = RelayState::Reserving;
                actions.push(RelayAction::Listen(circuit_through(&r.addr)));
            }
        }
        self.publish();
        actions
    }

    /// The node started listening on `<relay>/p2p-circuit` as `listener`.
    pub(super) fn on_listening(&mut self, relay_circuit: &Multiaddr, listener: ListenerId) {
        if let Some(r) = self
            .relays
            .iter_mut()
            .find(|r| circuit_through(&r.addr) == *relay_circuit)
        {
            r.listener = Some(listener);
        }
    }

    pub(super) fn on_reserved(&mut self, peer: &PeerId) {
        for r in self.relays.iter_mut().filter(|r| &r.peer == peer) {
            if r.failures > 0 {
                tracing::info!(relay = %r.addr, "relay reservation restored");
            } else {
                tracing::info!(relay = %r.addr, "relay reservation accepted");
            }
            r.state = RelayState::Reserved;
            r.failures = 0;
        }
        self.publish();
    }

    /// A circuit listener closed: the reservation is gone.
    pub(super) fn on_listener_closed(&mut self, listener: ListenerId, reason: String) {
        let index = self
            .relays
            .iter()
            .position(|r| r.listener == Some(listener));
        if let Some(i) = index {
            self.relays[i].listener = None;
            self.fail(i, reason);
        }
    }

    /// Dialing the relay failed.
    pub(super) fn on_dial_failed(&mut self, peer: &PeerId, reason: String) {
        let index = self
            .relays
            .iter()
            .position(|r| &r.peer == peer && r.listener.is_none() && r.retry_at.is_none());
        if let Some(i) = index {
            self.fail(i, reason);
        }
    }

    /// The last connection to the relay closed; its circuit listener closes with it (and is
    /// handled there). Without a listener yet, this is a failure of its own.
    pub(super) fn on_disconnected(&mut self, peer: &PeerId) {
        let index = self
            .relays
            .iter()
            .position(|r| &r.peer == peer && r.listener.is_none() && r.retry_at.is_none());
        if let Some(i) = index {
            self.fail(i, "connection to the relay closed".into());
        }
    }

    /// Whether our record is in `peer`'s directory.
    pub(super) fn set_listed(&mut self, peer: &PeerId, listed: bool) {
        let mut changed = false;
        for r in self.relays.iter_mut().filter(|r| &r.peer == peer) {
            changed |= r.listed != listed;
            r.listed = listed;
        }
        if changed {
            self.publish();
        }
    }

    fn fail(&mut self, index: usize, reason: String) {
        let r = &mut self.relays[index];
        r.listed = false;
        r.failures = r.failures.saturating_add(1);
        let delay = backoff(r.failures);
        if r.failures > LOUD_AFTER {
            tracing::error!(relay = %r.addr, failures = r.failures, %reason, retry_in = ?delay,
                "relay still unreachable: the agent cannot be reached through it");
        } else {
            tracing::warn!(relay = %r.addr, failures = r.failures, %reason, retry_in = ?delay,
                "relay reservation lost; retrying");
        }
        r.state = RelayState::Retrying {
            reason,
            failures: r.failures,
        };
        r.retry_at = Some(Instant::now() + delay);
        self.publish();
    }

    fn publish(&self) {
        let statuses = self
            .relays
            .iter()
            .map(|r| RelayStatus {
                relay: r.addr.clone(),
                state: r.state.clone(),
                listed: r.listed,
            })
            .collect();
        *self.shared.write().unwrap_or_else(|e| e.into_inner()) = statuses;
    }
}

/// 1 s doubling to 30 s, with up to 25 % jitter so agents behind one relay do not retry in
/// lockstep after it restarts.
pub(crate) fn backoff(failures: u32) -> Duration {
    let exp = BACKOFF_START.saturating_mul(1u32 << failures.saturating_sub(1).min(5));
    let base = exp.min(BACKOFF_CAP);
    let jitter = base.mul_f64(rand::random::<f64>() * 0.25);
    base + jitter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_and_caps_at_thirty() {
        let lows: Vec<u64> = (1..=8).map(|n| backoff(n).as_millis() as u64).collect();
        for (n, ms) in lows.iter().enumerate() {
            let base = (1000u64 << n.min(5)).min(30_000);
            assert!(
                *ms >= base && *ms <= base + base / 4,
                "failure {}: {ms} ms",
                n + 1
            );
        }
    }

    #[test]
    fn a_relay_without_peer_id_is_refused() {
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        assert!(Reservations::new(&[addr]).is_err());
    }
}
