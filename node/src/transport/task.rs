//! The task that owns the swarm: it takes [`Command`]s from the handles, drives the swarm's
//! events (`task_events.rs`), and the timers of relay reservations and directory renewals.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
    time::Duration,
};

use futures::StreamExt;
use libp2p::{
    multiaddr::Protocol,
    swarm::{
        dial_opts::{DialOpts, PeerCondition},
        ConnectionId, DialError,
    },
    Multiaddr, PeerId, Swarm,
};
use tokio::sync::{mpsc, oneshot};

use super::denied::DeniedInbound;
use super::handle::SharedAddrs;
use super::{
    behaviour::Behaviour,
    command::Command,
    config::NodeError,
    dht::DhtLookups,
    directory::Directory,
    reachability::Reachability,
    reservations::{RelayAction, Reservations},
};

/// How long a stopping node keeps running so its directory unregistrations reach the relays.
const SHUTDOWN_LINGER: Duration = Duration::from_millis(300);

/// The task that owns the swarm.
pub(super) struct NodeTask {
    pub(super) swarm: Swarm<Behaviour>,
    pub(super) commands: mpsc::Receiver<Command>,
    pub(super) listen_addrs: SharedAddrs,
    pub(super) connected: Arc<RwLock<HashSet<PeerId>>>,
    /// Callers waiting for a dial in progress.
    pub(super) dial_waiters: HashMap<PeerId, Vec<oneshot::Sender<Result<(), NodeError>>>>,
    /// Callers waiting for mDNS to find a peer they have no address for.
    pub(super) awaiting_discovery: HashMap<PeerId, Vec<oneshot::Sender<Result<(), NodeError>>>>,
    /// Addresses learned on the LAN.
    pub(super) discovered: HashMap<PeerId, Vec<Multiaddr>>,
    pub(super) connection_counts: HashMap<PeerId, usize>,
    pub(super) reservations: Reservations,
    /// Each peer's open connections and whether each is relayed.
    pub(super) paths: HashMap<PeerId, Vec<(ConnectionId, bool)>>,
    /// Peers that answered identify on an open connection.
    pub(super) identified: HashSet<PeerId>,
    pub(super) identify_waiters: HashMap<PeerId, Vec<oneshot::Sender<Result<(), NodeError>>>>,
    /// Callers waiting for a relayed connection to be upgraded to a direct one.
    pub(super) direct_waiters: HashMap<PeerId, Vec<oneshot::Sender<bool>>>,
    /// Dials in progress, per peer (ours, the relay client's, DCUtR's).
    pub(super) outstanding_dials: HashMap<PeerId, HashSet<ConnectionId>>,
    /// Our registrations in relays' directories, and look-ups in flight.
    pub(super) directory: Directory,
    /// Look-ups in the relays' DHT in flight.
    pub(super) dht: DhtLookups,
    pub(super) reachability: Arc<RwLock<Reachability>>,
    /// Set by a shutdown: when the node stops, and who waits for it.
    pub(super) stopping: Option<(tokio::time::Instant, oneshot::Sender<()>)>,
    /// Inbound connections refused by the caps, for the log.
    pub(super) denied: DeniedInbound,
}

impl NodeTask {
    pub(super) async fn run(mut self) {
        loop {
            let retry_at = self.reservations.next_retry();
            let register_at = self.directory.next_due();
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    // Every handle is gone: nobody can use this node any more.
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_event(event),
                _ = sleep_until_some(retry_at) => {
                    let actions = self.reservations.due(tokio::time::Instant::now());
                    self.apply(actions);
                }
                _ = sleep_until_some(register_at) => self.register_due(),
                _ = sleep_until_some(self.stopping.as_ref().map(|(at, _)| *at)) => break,
            }
        }
        if let Some((_, reply)) = self.stopping.take() {
            let _ = reply.send(());
        }
        tracing::debug!("node stopped");
    }

    pub(super) fn apply(&mut self, actions: Vec<RelayAction>) {
        for action in actions {
            match action {
                RelayAction::Dial(addr) => {
                    let Some(Protocol::P2p(relay)) = addr.iter().last() else {
                        continue;
                    };
                    if self.swarm.is_connected(&relay) {
                        // Already connected (and identified): go straight to the reservation.
                        let next = self.reservations.on_identified(&relay);
                        self.apply(next);
                        continue;
                    }
                    if let Err(e) = self.swarm.dial(addr) {
                        self.reservations.on_dial_failed(&relay, e.to_string());
                    }
                }
                RelayAction::Listen(circuit) => match self.swarm.listen_on(circuit.clone()) {
                    Ok(id) => self.reservations.on_listening(&circuit, id),
                    Err(e) => {
                        if let Some(Protocol::P2p(relay)) =
                            circuit.iter().find(|p| matches!(p, Protocol::P2p(_)))
                        {
                            self.reservations.on_dial_failed(&relay, e.to_string());
                        }
                    }
                },
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Connect {
                peer,
                addrs,
                alongside,
                reply,
            } => self.connect(peer, addrs, alongside, reply),
            Command::Discover {
                relay,
                namespace,
                reply,
            } => self.directory.discover(
                &mut self.swarm.behaviour_mut().rendezvous,
                relay,
                namespace,
                reply,
            ),
            Command::ConnectionCount { peer, reply } => {
                let _ = reply.send(self.connection_counts.get(&peer).copied().unwrap_or(0));
            }
            Command::Identified { peer, addrs, reply } => {
                self.connect_identified(peer, addrs, reply)
            }
            Command::FindRelays {
                via,
                address,
                reply,
            } => self
                .dht
                .find_relays(&mut self.swarm.behaviour_mut().kad, via, &address, reply),
            Command::Shutdown { reply } => self.begin_shutdown(reply),
            Command::AwaitDirect { peer, reply } => {
                let paths = self.paths.get(&peer);
                if paths.is_some_and(|p| p.iter().any(|(_, relayed)| !relayed)) {
                    let _ = reply.send(true);
                } else if paths.is_none_or(|p| p.is_empty()) {
                    let _ = reply.send(false);
                } else {
                    let waiters = self.direct_waiters.entry(peer).or_default();
                    // Callers that gave up leave closed senders behind.
                    waiters.retain(|w| !w.is_closed());
                    waiters.push(reply);
                }
            }
        }
    }

    /// Leaves every relay's directory and closes the circuit listeners (which ends the
    /// reservations), then stops the node shortly after, once those messages had time to
    /// leave; dropping the swarm then closes every connection.
    fn begin_shutdown(&mut self, reply: oneshot::Sender<()>) {
        let relays = self.reservations.relay_peers();
        for relay in &relays {
            if self.swarm.is_connected(relay) {
                self.directory
                    .unregister(&mut self.swarm.behaviour_mut().rendezvous, *relay);
            }
        }
        for listener in self.reservations.take_listeners() {
            self.swarm.remove_listener(listener);
        }
        let linger = if relays.is_empty() {
            Duration::ZERO
        } else {
            SHUTDOWN_LINGER
        };
        self.stopping = Some((tokio::time::Instant::now() + linger, reply));
    }

    /// Renews registrations that are due, on relays still connected.
    fn register_due(&mut self) {
        for relay in self.directory.due(tokio::time::Instant::now()) {
            if self.swarm.is_connected(&relay) {
                self.directory.register(
                    &mut self.swarm.behaviour_mut().rendezvous,
                    &mut self.reservations,
                    relay,
                );
            } else {
                self.directory.forget(&relay);
            }
        }
    }

    fn connect_identified(
        &mut self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        reply: oneshot::Sender<Result<(), NodeError>>,
    ) {
        if self.identified.contains(&peer) {
            let _ = reply.send(Ok(()));
            return;
        }
        let waiters = self.identify_waiters.entry(peer).or_default();
        waiters.retain(|w| !w.is_closed());
        waiters.push(reply);
        if self.swarm.is_connected(&peer) {
            // Identify runs on every new connection; its answer is on the way.
            return;
        }
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        match self.swarm.dial(opts) {
            Ok(()) | Err(DialError::DialPeerConditionFalse(_)) => {}
            Err(e) => {
                for waiter in self.identify_waiters.remove(&peer).unwrap_or_default() {
                    let _ = waiter.send(Err(NodeError::Dial {
                        peer,
                        reason: e.to_string(),
                    }));
                }
            }
        }
    }

    fn connect(
        &mut self,
        peer: PeerId,
        mut addrs: Vec<Multiaddr>,
        alongside: bool,
        reply: oneshot::Sender<Result<(), NodeError>>,
    ) {
        if self.swarm.is_connected(&peer) {
            let _ = reply.send(Ok(()));
            return;
        }
        if let Some(found) = self.discovered.get(&peer) {
            addrs.extend(found.iter().cloned());
        }
        if addrs.is_empty() {
            if self.swarm.behaviour().mdns.is_enabled() {
                self.awaiting_discovery.entry(peer).or_default().push(reply);
            } else {
                let _ = reply.send(Err(NodeError::NoAddress(peer)));
            }
            return;
        }
        self.dial(peer, addrs, alongside, reply);
    }

    pub(super) fn dial(
        &mut self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        alongside: bool,
        reply: oneshot::Sender<Result<(), NodeError>>,
    ) {
        let condition = if alongside {
            PeerCondition::Disconnected
        } else {
            PeerCondition::DisconnectedAndNotDialing
        };
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(condition)
            .build();
        match self.swarm.dial(opts) {
            // Already dialing: wait for that attempt.
            Ok(()) | Err(DialError::DialPeerConditionFalse(_)) => {
                self.dial_waiters.entry(peer).or_default().push(reply);
            }
            Err(e) => {
                let _ = reply.send(Err(NodeError::Dial {
                    peer,
                    reason: e.to_string(),
                }));
            }
        }
    }
}

impl NodeTask {
    pub(super) fn dial_done(&mut self, peer: &PeerId, connection: ConnectionId) {
        if let Some(dials) = self.outstanding_dials.get_mut(peer) {
            dials.remove(&connection);
            if dials.is_empty() {
                self.outstanding_dials.remove(peer);
            }
        }
    }
}

/// Completes at `at`, or never when there is nothing to wait for.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
