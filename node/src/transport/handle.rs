//! [`NodeHandle`]: a cheap, cloneable handle to the swarm task. Reads of what the task keeps
//! current (listen addresses, connected peers, relays, reachability) take no round trip; the
//! rest are [`Command`]s with a reply channel and a timeout.

use std::{
    collections::HashSet,
    sync::{Arc, RwLock},
    time::Duration,
};

use agenthost_identity::Address;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use super::{
    command::Command,
    config::NodeError,
    dht::FoundRelay,
    directory::PeerRecordAddrs,
    lock::read,
    reachability::Reachability,
    reservations::{RelayStatus, SharedRelayStatus},
};

/// Addresses the node listens on, kept current by the swarm task and read by INFO.
pub type SharedAddrs = Arc<RwLock<Vec<Multiaddr>>>;

/// A cheap, cloneable handle to a running [`Node`](super::Node). The node stops when every handle and the
/// node itself are dropped.
#[derive(Clone)]
pub struct NodeHandle {
    pub(super) peer_id: PeerId,
    pub(super) address: Address,
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) listen_addrs: SharedAddrs,
    pub(super) connected: Arc<RwLock<HashSet<PeerId>>>,
    pub(super) relays: SharedRelayStatus,
    pub(super) reachability: Arc<RwLock<Reachability>>,
}

impl NodeHandle {
    /// Each configured relay and how its reservation stands.
    pub fn relay_status(&self) -> Vec<RelayStatus> {
        read(&self.relays).clone()
    }

    /// The live list behind [`NodeHandle::relay_status`].
    pub fn shared_relay_status(&self) -> SharedRelayStatus {
        Arc::clone(&self.relays)
    }

    /// This node's libp2p PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// This node's agent address, derived from its key.
    pub fn address(&self) -> Address {
        self.address
    }

    /// What AutoNAT found out about this node's addresses so far.
    pub fn reachability(&self) -> Reachability {
        read(&self.reachability).clone()
    }

    /// Stops the node: leaves the relays' directories, gives up the reservations, closes every
    /// connection. Other handles see every later request fail.
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self
            .commands
            .send(Command::Shutdown { reply })
            .await
            .is_ok()
        {
            let _ = tokio::time::timeout(Duration::from_secs(5), done).await;
        }
    }

    /// The addresses the node listens on (kept current as interfaces come and go).
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        read(&self.listen_addrs).clone()
    }

    /// The live list behind [`NodeHandle::listen_addrs`], for readers that outlive a call.
    pub fn shared_listen_addrs(&self) -> SharedAddrs {
        Arc::clone(&self.listen_addrs)
    }

    /// Whether at least one connection to `peer` is open. Lock-free of the swarm task.
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        read(&self.connected).contains(peer)
    }

    /// Makes sure a connection to `peer` is open, dialing `addrs` (plus any address learned by
    /// mDNS) if needed, and waiting for LAN discovery when no address is known.
    pub async fn connect(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        timeout: Duration,
    ) -> Result<(), NodeError> {
        self.dial(peer, addrs, false, timeout).await
    }

    /// Like [`NodeHandle::connect`], but dials `addrs` even while an earlier dial to `peer` is
    /// still in progress (a fallback started before the first attempt gave up). The first
    /// connection to come up answers both.
    pub async fn connect_alongside(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        timeout: Duration,
    ) -> Result<(), NodeError> {
        self.dial(peer, addrs, true, timeout).await
    }

    async fn dial(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        alongside: bool,
        timeout: Duration,
    ) -> Result<(), NodeError> {
        if self.is_connected(&peer) {
            return Ok(());
        }
        self.ask(
            |reply| Command::Connect {
                peer,
                addrs,
                alongside,
                reply,
            },
            timeout,
            || NodeError::Timeout(peer),
        )
        .await
    }

    /// Looks `namespace` up in the directory (rendezvous server) of `relay`, which must be
    /// connected: the signed peer records registered there, each verified by libp2p.
    pub async fn discover(
        &self,
        relay: PeerId,
        namespace: String,
        timeout: Duration,
    ) -> Result<Vec<PeerRecordAddrs>, NodeError> {
        self.ask(
            |reply| Command::Discover {
                relay,
                namespace,
                reply,
            },
            timeout,
            || NodeError::Timeout(relay),
        )
        .await
    }

    /// Sends the node task a command carrying a reply channel and waits for the answer, at
    /// most `timeout` (then `timed_out()`).
    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, NodeError>>) -> Command,
        timeout: Duration,
        timed_out: impl FnOnce() -> NodeError,
    ) -> Result<T, NodeError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| NodeError::Stopped)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(NodeError::Stopped),
            Err(_) => Err(timed_out()),
        }
    }

    /// Asks the relays' DHT, through the relays `via` (PeerId and address), which other relays
    /// list the agent `address` in their directories: their PeerIds and addresses.
    pub async fn find_relays(
        &self,
        via: Vec<(PeerId, Multiaddr)>,
        address: Address,
        timeout: Duration,
    ) -> Result<Vec<FoundRelay>, NodeError> {
        self.ask(
            |reply| Command::FindRelays {
                via,
                address,
                reply,
            },
            timeout,
            || {
                NodeError::Relay(format!(
                    "no answer from the relays' DHT about {address} within {timeout:?}"
                ))
            },
        )
        .await
    }

    /// Connects to `peer` (dialing `addrs` unless connected) and waits until it has answered
    /// identify, so the address it observed us at is known. Callers do this with a relay before
    /// dialing through it: the hole punch that may follow needs that address as a candidate.
    pub async fn connect_identified(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        timeout: Duration,
    ) -> Result<(), NodeError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Identified { peer, addrs, reply })
            .await
            .map_err(|_| NodeError::Stopped)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(NodeError::Stopped),
            Err(_) => Err(NodeError::Timeout(peer)),
        }
    }

    /// Whether a direct (not relayed) connection to `peer` is open now, or opens within
    /// `within` — the hole punch (DCUtR) after a relayed connection. `false` at once when there
    /// is no connection to `peer` at all.
    pub async fn await_direct(&self, peer: PeerId, within: Duration) -> bool {
        let (reply, rx) = oneshot::channel();
        if self
            .commands
            .send(Command::AwaitDirect { peer, reply })
            .await
            .is_err()
        {
            return false;
        }
        matches!(tokio::time::timeout(within, rx).await, Ok(Ok(true)))
    }

    /// Open connections to `peer` (for tests and diagnostics).
    pub async fn connection_count(&self, peer: PeerId) -> Result<usize, NodeError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::ConnectionCount { peer, reply })
            .await
            .map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)
    }
}
