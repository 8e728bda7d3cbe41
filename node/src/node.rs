//! [`Node`]: one libp2p swarm, owned by one task. Everything else talks to that task through a
//! [`NodeHandle`] with typed commands, and opens or accepts request streams through the
//! [`StreamControl`] it hands out.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
    time::Duration,
};

use agenthost_identity::{Address, AgentKey};
use futures::StreamExt;
use libp2p::{
    autonat,
    core::{transport::ListenerId, ConnectedPoint},
    dcutr, identify, mdns,
    multiaddr::Protocol,
    noise, relay,
    swarm::{
        dial_opts::{DialOpts, PeerCondition},
        ConnectionId, DialError, SwarmEvent,
    },
    tcp, yamux, Multiaddr, PeerId, Swarm, SwarmBuilder,
};
use tokio::sync::{mpsc, oneshot};

use crate::{
    behaviour::{Behaviour, BehaviourEvent},
    dht::{DhtLookups, FoundRelay},
    directory::{Directory, PeerRecordAddrs},
    door::SharedAddrs,
    reservations::{RelayAction, RelayStatus, Reservations, SharedRelayStatus},
    stream::{AgentStreams, InboundStreams, StreamControl, INBOUND_QUEUE},
};

/// How a node is set up.
#[derive(Debug, Clone)]
pub struct NodeConfig {
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
}

impl NodeConfig {
    pub fn new(key: AgentKey) -> Self {
        NodeConfig {
            key,
            listen: Vec::new(),
            mdns: true,
            serve: false,
            relays: Vec::new(),
            idle_timeout: Duration::from_secs(120),
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
    #[error("could not build the libp2p transport: {0}")]
    Transport(String),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error("no known address for {0}: pass one (e.g. --addr), or make it discoverable")]
    NoAddress(PeerId),
    #[error("dialing {peer} failed: {reason}")]
    Dial { peer: PeerId, reason: String },
    #[error("timed out reaching {0}")]
    Timeout(PeerId),
    #[error("the node has stopped")]
    Stopped,
    #[error("invalid relay: {0}")]
    Relay(String),
}

/// A running libp2p peer.
pub struct Node {
    handle: NodeHandle,
    control: StreamControl,
    incoming: Option<InboundStreams>,
}

impl Node {
    /// Builds the swarm, starts listening and waits until every listener is bound, so the
    /// addresses it reports are real (ports resolved).
    pub async fn start(config: NodeConfig) -> Result<Node, NodeError> {
        let keypair = config.key.to_libp2p_keypair();
        let (streams, control, incoming) = AgentStreams::new(config.serve);
        let reservations = Reservations::new(&config.relays).map_err(NodeError::Relay)?;
        let mut swarm = SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                // Nagle would hold back small frames waiting for an ACK: latency for nothing.
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| NodeError::Transport(e.to_string()))?
            .with_quic()
            .with_dns()
            .map_err(|e| NodeError::Transport(e.to_string()))?
            .with_relay_client(noise::Config::new, yamux::Config::default)
            .map_err(|e| NodeError::Transport(e.to_string()))?
            .with_behaviour(|key, relay_client| {
                // Only agents need to learn which of their addresses others can dial.
                Behaviour::new(key, config.mdns, config.serve, streams, relay_client)
            })
            .map_err(|e| NodeError::Transport(e.to_string()))?
            .with_swarm_config(|c| {
                c.with_idle_connection_timeout(config.idle_timeout)
                    // Bursts of concurrent requests negotiate many streams at once; the default
                    // of 128 would drop the excess before our own overload handling sees it.
                    .with_max_negotiating_inbound_streams(INBOUND_QUEUE)
            })
            .build();

        let listen_addrs: SharedAddrs = Arc::new(RwLock::new(Vec::new()));
        // A caller listens only so its connections leave from a known port (hole punching);
        // it reports no addresses, so it need not wait for every interface's.
        bind_listeners(&mut swarm, &config.listen, &listen_addrs, config.serve).await?;

        let (commands, command_rx) = mpsc::channel(256);
        let connected = Arc::new(RwLock::new(HashSet::new()));
        let reachability = Arc::new(RwLock::new(Reachability::default()));
        let handle = NodeHandle {
            peer_id: *swarm.local_peer_id(),
            address: config.key.address(),
            commands,
            listen_addrs: Arc::clone(&listen_addrs),
            connected: Arc::clone(&connected),
            relays: reservations.shared(),
            reachability: Arc::clone(&reachability),
        };
        let task = NodeTask {
            reachability,
            swarm,
            commands: command_rx,
            listen_addrs,
            connected,
            dial_waiters: HashMap::new(),
            awaiting_discovery: HashMap::new(),
            discovered: HashMap::new(),
            connection_counts: HashMap::new(),
            reservations,
            paths: HashMap::new(),
            identified: HashSet::new(),
            identify_waiters: HashMap::new(),
            direct_waiters: HashMap::new(),
            outstanding_dials: HashMap::new(),
            directory: Directory::new(&config.key.address()).map_err(NodeError::Relay)?,
            dht: DhtLookups::default(),
            stopping: None,
        };
        tokio::spawn(task.run());
        Ok(Node {
            handle,
            control,
            incoming,
        })
    }

    pub fn handle(&self) -> &NodeHandle {
        &self.handle
    }

    /// A control to open request streams from this node.
    pub fn control(&self) -> StreamControl {
        self.control.clone()
    }

    /// The inbound request streams, once, for the server (`None` unless `serve` was set).
    pub fn take_incoming(&mut self) -> Option<InboundStreams> {
        self.incoming.take()
    }
}

/// Listens on each address and waits for each listener's first address (or its failure).
async fn bind_listeners(
    swarm: &mut Swarm<Behaviour>,
    listen: &[Multiaddr],
    listen_addrs: &SharedAddrs,
    settle: bool,
) -> Result<(), NodeError> {
    let mut pending: HashMap<ListenerId, Multiaddr> = HashMap::new();
    for addr in listen {
        let id = swarm
            .listen_on(addr.clone())
            .map_err(|e| NodeError::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
        pending.insert(id, addr.clone());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !pending.is_empty() {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
            .await
            .map_err(|_| NodeError::Listen {
                addr: pending
                    .values()
                    .next()
                    .cloned()
                    .unwrap_or(Multiaddr::empty()),
                reason: "no listen address within 10 s".into(),
            })?;
        match event {
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                pending.remove(&listener_id);
                write(listen_addrs).push(address);
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                if let Some(addr) = pending.remove(&listener_id) {
                    let reason = match reason {
                        Err(e) => e.to_string(),
                        Ok(()) => "closed".into(),
                    };
                    return Err(NodeError::Listen { addr, reason });
                }
            }
            SwarmEvent::ListenerError { listener_id, error } => {
                if let Some(addr) = pending.remove(&listener_id) {
                    return Err(NodeError::Listen {
                        addr,
                        reason: error.to_string(),
                    });
                }
            }
            _ => {}
        }
    }
    // A wildcard listener reports one address per interface, not all at once: collect the
    // ones that follow right away so the first report is complete.
    let wildcard = listen.iter().any(|a| {
        a.iter().any(|p| {
            matches!(p, Protocol::Ip4(ip) if ip.is_unspecified())
                || matches!(p, Protocol::Ip6(ip) if ip.is_unspecified())
        })
    });
    if !wildcard || !settle {
        return Ok(());
    }
    let settle = tokio::time::Instant::now() + Duration::from_millis(100);
    while let Ok(event) = tokio::time::timeout_at(settle, swarm.select_next_some()).await {
        if let SwarmEvent::NewListenAddr { address, .. } = event {
            write(listen_addrs).push(address);
        }
    }
    Ok(())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

enum Command {
    Connect {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        /// Dial even while another dial to the peer is in progress.
        alongside: bool,
        reply: oneshot::Sender<Result<(), NodeError>>,
    },
    Discover {
        relay: PeerId,
        namespace: String,
        reply: oneshot::Sender<Result<Vec<PeerRecordAddrs>, NodeError>>,
    },
    ConnectionCount {
        peer: PeerId,
        reply: oneshot::Sender<usize>,
    },
    Identified {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        reply: oneshot::Sender<Result<(), NodeError>>,
    },
    AwaitDirect {
        peer: PeerId,
        reply: oneshot::Sender<bool>,
    },
    FindRelays {
        via: Vec<(PeerId, Multiaddr)>,
        address: Address,
        reply: oneshot::Sender<Result<Vec<FoundRelay>, NodeError>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// How long a stopping node keeps running so its directory unregistrations reach the relays.
const SHUTDOWN_LINGER: Duration = Duration::from_millis(300);

/// A cheap, cloneable handle to a running [`Node`]. The node stops when every handle and the
/// node itself are dropped.
#[derive(Clone)]
pub struct NodeHandle {
    peer_id: PeerId,
    address: Address,
    commands: mpsc::Sender<Command>,
    listen_addrs: SharedAddrs,
    connected: Arc<RwLock<HashSet<PeerId>>>,
    relays: SharedRelayStatus,
    reachability: Arc<RwLock<Reachability>>,
}

/// Whether this node's own addresses can be dialed from outside, as AutoNAT v2 servers (the
/// relays) found by dialing them back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reachability {
    /// Addresses a server reached.
    pub confirmed: Vec<Multiaddr>,
    /// Addresses a server tried and could not reach.
    pub refuted: Vec<Multiaddr>,
}

/// What [`Reachability`] amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Some address was reached from outside.
    Public,
    /// Tried, none reached: callers come through relays.
    Private,
    /// No AutoNAT server has answered yet.
    Unknown,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Public => "public",
            Verdict::Private => "private",
            Verdict::Unknown => "unknown",
        })
    }
}

impl Reachability {
    pub fn verdict(&self) -> Verdict {
        if !self.confirmed.is_empty() {
            Verdict::Public
        } else if !self.refuted.is_empty() {
            Verdict::Private
        } else {
            Verdict::Unknown
        }
    }
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

    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

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

/// The task that owns the swarm.
struct NodeTask {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    listen_addrs: SharedAddrs,
    connected: Arc<RwLock<HashSet<PeerId>>>,
    /// Callers waiting for a dial in progress.
    dial_waiters: HashMap<PeerId, Vec<oneshot::Sender<Result<(), NodeError>>>>,
    /// Callers waiting for mDNS to find a peer they have no address for.
    awaiting_discovery: HashMap<PeerId, Vec<oneshot::Sender<Result<(), NodeError>>>>,
    /// Addresses learned on the LAN.
    discovered: HashMap<PeerId, Vec<Multiaddr>>,
    connection_counts: HashMap<PeerId, usize>,
    reservations: Reservations,
    /// Each peer's open connections and whether each is relayed.
    paths: HashMap<PeerId, Vec<(ConnectionId, bool)>>,
    /// Peers that answered identify on an open connection.
    identified: HashSet<PeerId>,
    identify_waiters: HashMap<PeerId, Vec<oneshot::Sender<Result<(), NodeError>>>>,
    /// Callers waiting for a relayed connection to be upgraded to a direct one.
    direct_waiters: HashMap<PeerId, Vec<oneshot::Sender<bool>>>,
    /// Dials in progress, per peer (ours, the relay client's, DCUtR's).
    outstanding_dials: HashMap<PeerId, HashSet<ConnectionId>>,
    /// Our registrations in relays' directories, and look-ups in flight.
    directory: Directory,
    /// Look-ups in the relays' DHT in flight.
    dht: DhtLookups,
    reachability: Arc<RwLock<Reachability>>,
    /// Set by a shutdown: when the node stops, and who waits for it.
    stopping: Option<(tokio::time::Instant, oneshot::Sender<()>)>,
}

impl NodeTask {
    async fn run(mut self) {
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

    fn apply(&mut self, actions: Vec<RelayAction>) {
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

    fn dial(
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

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let mut addrs = write(&self.listen_addrs);
                if !addrs.contains(&address) {
                    addrs.push(address);
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                write(&self.listen_addrs).retain(|a| a != &address);
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                write(&self.listen_addrs).retain(|a| !addresses.contains(a));
                let reason = match reason {
                    Ok(()) => "the relay closed the reservation".to_owned(),
                    Err(e) => e.to_string(),
                };
                self.reservations.on_listener_closed(listener_id, reason);
            }
            SwarmEvent::Behaviour(BehaviourEvent::RelayClient(
                relay::client::Event::ReservationReqAccepted { relay_peer_id, .. },
            )) => {
                self.reservations.on_reserved(&relay_peer_id);
                // The relayed address is now a confirmed external address: (re-)register it
                // (a restarted relay has forgotten us; a renewal refreshes the record).
                self.directory.register(
                    &mut self.swarm.behaviour_mut().rendezvous,
                    &mut self.reservations,
                    relay_peer_id,
                );
            }
            SwarmEvent::Behaviour(BehaviourEvent::Rendezvous(event)) => {
                self.directory.on_event(&mut self.reservations, event)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self
                .dht
                .on_event(&mut self.swarm.behaviour_mut().kad, event),
            SwarmEvent::Behaviour(BehaviourEvent::Autonat(autonat::v2::client::Event {
                tested_addr,
                server,
                result,
                ..
            })) => {
                let mut reach = write(&self.reachability);
                let before = reach.verdict();
                match result {
                    Ok(()) => {
                        tracing::info!(addr = %tested_addr, %server, "address reachable from outside (AutoNAT)");
                        reach.refuted.retain(|a| a != &tested_addr);
                        if !reach.confirmed.contains(&tested_addr) {
                            reach.confirmed.push(tested_addr);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(addr = %tested_addr, %server, error = %e, "address not reachable from outside (AutoNAT)");
                        reach.confirmed.retain(|a| a != &tested_addr);
                        if !reach.refuted.contains(&tested_addr) {
                            reach.refuted.push(tested_addr);
                        }
                    }
                }
                if reach.verdict() != before {
                    tracing::info!(reachability = %reach.verdict(), confirmed = ?reach.confirmed, "reachability changed (AutoNAT)");
                }
            }
            SwarmEvent::Dialing {
                peer_id: Some(peer),
                connection_id,
            } => {
                self.outstanding_dials
                    .entry(peer)
                    .or_default()
                    .insert(connection_id);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                self.dial_done(&peer_id, connection_id);
                let relayed = endpoint.is_relayed();
                self.paths
                    .entry(peer_id)
                    .or_default()
                    .push((connection_id, relayed));
                if !relayed {
                    for waiter in self.direct_waiters.remove(&peer_id).unwrap_or_default() {
                        let _ = waiter.send(true);
                    }
                }
                self.connection_counts
                    .insert(peer_id, num_established.get() as usize);
                write(&self.connected).insert(peer_id);
                let remote = match &endpoint {
                    ConnectedPoint::Dialer { address, .. } => address,
                    ConnectedPoint::Listener { send_back_addr, .. } => send_back_addr,
                };
                tracing::debug!(%peer_id, %remote, "connection established");
                for waiter in self.dial_waiters.remove(&peer_id).unwrap_or_default() {
                    let _ = waiter.send(Ok(()));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                cause,
                ..
            } => {
                tracing::debug!(%peer_id, ?cause, "connection closed");
                if let Some(paths) = self.paths.get_mut(&peer_id) {
                    paths.retain(|(id, _)| *id != connection_id);
                    if paths.is_empty() {
                        self.paths.remove(&peer_id);
                    }
                }
                if num_established == 0 {
                    self.identified.remove(&peer_id);
                    for waiter in self.identify_waiters.remove(&peer_id).unwrap_or_default() {
                        let _ = waiter.send(Err(NodeError::Dial {
                            peer: peer_id,
                            reason: "the connection closed before identify".into(),
                        }));
                    }
                    self.directory
                        .on_disconnected(&mut self.reservations, &peer_id);
                    for waiter in self.direct_waiters.remove(&peer_id).unwrap_or_default() {
                        let _ = waiter.send(false);
                    }
                    self.connection_counts.remove(&peer_id);
                    write(&self.connected).remove(&peer_id);
                    self.reservations.on_disconnected(&peer_id);
                } else {
                    self.connection_counts
                        .insert(peer_id, num_established as usize);
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                connection_id,
                error,
            } => {
                tracing::debug!(%peer, %error, "dial failed");
                self.dial_done(&peer, connection_id);
                if self.reservations.is_relay(&peer) && !self.swarm.is_connected(&peer) {
                    self.reservations.on_dial_failed(&peer, error.to_string());
                }
                // Another dial (a fallback, say) may still succeed: wait for it.
                let dialing = self.outstanding_dials.contains_key(&peer);
                if !self.swarm.is_connected(&peer) && !dialing {
                    let waiters = self
                        .dial_waiters
                        .remove(&peer)
                        .unwrap_or_default()
                        .into_iter()
                        .chain(self.identify_waiters.remove(&peer).unwrap_or_default());
                    for waiter in waiters {
                        let _ = waiter.send(Err(NodeError::Dial {
                            peer,
                            reason: error.to_string(),
                        }));
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    tracing::debug!(%peer, %addr, "discovered on the LAN");
                    let known = self.discovered.entry(peer).or_default();
                    if !known.contains(&addr) {
                        known.push(addr);
                    }
                }
                let ready: Vec<PeerId> = self
                    .awaiting_discovery
                    .keys()
                    .filter(|p| self.discovered.contains_key(p))
                    .copied()
                    .collect();
                for peer in ready {
                    let addrs = self.discovered.get(&peer).cloned().unwrap_or_default();
                    for waiter in self.awaiting_discovery.remove(&peer).unwrap_or_default() {
                        self.dial(peer, addrs.clone(), false, waiter);
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Expired(gone))) => {
                for (peer, addr) in gone {
                    if let Some(known) = self.discovered.get_mut(&peer) {
                        known.retain(|a| a != &addr);
                        if known.is_empty() {
                            self.discovered.remove(&peer);
                        }
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                tracing::trace!(%peer_id, agent = %info.agent_version, observed = %info.observed_addr, "identified");
                self.identified.insert(peer_id);
                for waiter in self.identify_waiters.remove(&peer_id).unwrap_or_default() {
                    let _ = waiter.send(Ok(()));
                }
                if self.reservations.is_relay(&peer_id) {
                    let actions = self.reservations.on_identified(&peer_id);
                    self.apply(actions);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(dcutr::Event {
                remote_peer_id,
                result,
            })) => match result {
                Ok(_) => {
                    tracing::info!(peer = %remote_peer_id, "hole punch succeeded: direct connection")
                }
                Err(error) => {
                    tracing::info!(peer = %remote_peer_id, %error, "hole punch failed; staying on the relay");
                    for waiter in self
                        .direct_waiters
                        .remove(&remote_peer_id)
                        .unwrap_or_default()
                    {
                        let _ = waiter.send(false);
                    }
                }
            },
            _ => {}
        }
    }
}

impl NodeTask {
    fn dial_done(&mut self, peer: &PeerId, connection: ConnectionId) {
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
