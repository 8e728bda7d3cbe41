//! `Relay::start`: load the key, build the swarm, listen, announce, serve HTTP, run.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use prometheus_client::registry::Registry;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::behaviour::{RelayBehaviour, RelayBehaviourEvent};
use crate::config::RelayConfig;
use crate::dht::{self, PeerRelays, Servers};
use crate::error::StartError;
use crate::events::EventTracker;
use crate::http::{router, HttpState};
use crate::metrics::RelayMetrics;
use crate::transport::with_peer_id;

/// How long listeners get to report their addresses at start.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// After each wildcard listener (0.0.0.0, ::) reported its first address, how long to wait for
/// the other interfaces' addresses, so the printed list is complete.
const WILDCARD_SETTLE: Duration = Duration::from_millis(300);
/// How long open connections get to close cleanly at shutdown.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The relay server: [`Relay::start`] runs one and returns its [`RunningRelay`].
pub struct Relay;

/// A started relay. Dropping it stops the relay too, without waiting.
pub struct RunningRelay {
    peer_id: PeerId,
    listen_addrs: Vec<Multiaddr>,
    external_addrs: Vec<Multiaddr>,
    metrics_addr: Option<SocketAddr>,
    key_created: bool,
    shutdown: Option<oneshot::Sender<()>>,
    swarm_task: Option<JoinHandle<()>>,
    http: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Relay {
    /// Starts a relay; returns once it listens on every address and serves HTTP.
    pub async fn start(config: RelayConfig) -> Result<RunningRelay, StartError> {
        config.validate()?;
        let access = config.access.parse()?;
        let (key, key_created) = agenthost_identity::load_or_create_key(&config.key_file)?;
        if key_created {
            tracing::info!(path = %config.key_file.display(), "created relay key");
        }
        let peer_id = key.peer_id();

        let metrics = RelayMetrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut swarm = crate::swarm::build(
            key.to_libp2p_keypair(),
            &config,
            access,
            &metrics,
            &mut registry,
        )?;
        let mut tracker = EventTracker::new(metrics.clone());

        let (bound, listeners) = listen(&mut swarm, &config.listen, &mut tracker).await?;

        // libp2p's relay only relays (and only puts addresses in reservations) once it has a
        // confirmed external address, so confirm the announced ones right away.
        let announce = if config.announce.is_empty() {
            tracing::warn!("no announce addresses configured; announcing the listen addresses");
            bound.clone()
        } else {
            config.announce.clone()
        };
        for addr in &announce {
            swarm.add_external_address(addr.clone());
        }

        let http = match config.metrics_addr {
            Some(addr) => {
                let state = HttpState {
                    registry: Arc::new(registry),
                    metrics: metrics.clone(),
                    peer_id,
                };
                Some(serve_http(addr, state).await?)
            }
            None => None,
        };

        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let running = Running {
            swarm,
            tracker,
            listeners,
            auto_announce: config.announce.is_empty(),
            peer_relays: PeerRelays::new(&config.peers),
            servers: Servers::new(&config.peers),
        };
        let swarm_task = tokio::spawn(running.run(shutdown_rx));

        Ok(RunningRelay {
            peer_id,
            listen_addrs: bound.iter().map(|a| with_peer_id(a, peer_id)).collect(),
            external_addrs: announce.iter().map(|a| with_peer_id(a, peer_id)).collect(),
            metrics_addr: http.as_ref().map(|(addr, _, _)| *addr),
            key_created,
            shutdown: Some(shutdown_tx),
            swarm_task: Some(swarm_task),
            http: http.map(|(_, tx, task)| (tx, task)),
        })
    }
}

impl RunningRelay {
    /// The relay's PeerId, from its key file.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The addresses actually bound, each ending in `/p2p/<relay PeerId>`.
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen_addrs
    }

    /// The announced (confirmed external) addresses, each ending in `/p2p/<relay PeerId>`.
    pub fn external_addrs(&self) -> &[Multiaddr] {
        &self.external_addrs
    }

    /// Every address a client may use: announced ones first, then the bound ones, no repeats.
    pub fn relay_addrs(&self) -> Vec<Multiaddr> {
        let mut seen = HashSet::new();
        self.external_addrs
            .iter()
            .chain(&self.listen_addrs)
            .filter(|a| seen.insert((*a).clone()))
            .cloned()
            .collect()
    }

    /// Where `/metrics` and `/health` are served, if anywhere.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Whether this start created the key file.
    pub fn key_created(&self) -> bool {
        self.key_created
    }

    /// Stops listening, closes connections (briefly waiting for them), stops HTTP.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.swarm_task.take() {
            let _ = task.await;
        }
        if let Some((tx, task)) = self.http.take() {
            let _ = tx.send(());
            let _ = task.await;
        }
    }
}

impl Drop for RunningRelay {
    fn drop(&mut self) {
        // Senders dropped here end both tasks; a relay never outlives its handle.
        if let Some(task) = &self.swarm_task {
            task.abort();
        }
        if let Some((_, task)) = &self.http {
            task.abort();
        }
    }
}

/// Listens on every address and waits until each listener reported at least one address.
async fn listen(
    swarm: &mut Swarm<RelayBehaviour>,
    addrs: &[Multiaddr],
    tracker: &mut EventTracker,
) -> Result<(Vec<Multiaddr>, Vec<ListenerId>), StartError> {
    let mut pending: Vec<(ListenerId, Multiaddr)> = Vec::new();
    for addr in addrs {
        let id = swarm
            .listen_on(addr.clone())
            .map_err(|e| StartError::listen(addr, e))?;
        pending.push((id, addr.clone()));
    }
    let ids: Vec<ListenerId> = pending.iter().map(|(id, _)| *id).collect();
    let mut bound = Vec::new();
    let wait = async {
        while !pending.is_empty() {
            let event = swarm.select_next_some().await;
            match &event {
                SwarmEvent::NewListenAddr {
                    listener_id,
                    address,
                } => {
                    bound.push(address.clone());
                    pending.retain(|(id, _)| id != listener_id);
                }
                SwarmEvent::ListenerClosed { listener_id, .. }
                | SwarmEvent::ListenerError { listener_id, .. } => {
                    if let Some((_, addr)) = pending.iter().find(|(id, _)| id == listener_id) {
                        return Err(StartError::Listen {
                            addr: addr.clone(),
                            reason: format!("{event:?}"),
                        });
                    }
                }
                _ => {}
            }
            tracker.handle(event);
        }
        Ok(())
    };
    match tokio::time::timeout(LISTEN_TIMEOUT, wait).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(StartError::ListenTimeout(addrs.to_vec())),
    }
    if addrs.iter().any(is_wildcard) {
        let settle = async {
            loop {
                let event = swarm.select_next_some().await;
                if let SwarmEvent::NewListenAddr { address, .. } = &event {
                    bound.push(address.clone());
                }
                tracker.handle(event);
            }
        };
        let _ = tokio::time::timeout(WILDCARD_SETTLE, settle).await;
    }
    Ok((bound, ids))
}

fn is_wildcard(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}

async fn serve_http(
    addr: SocketAddr,
    state: HttpState,
) -> Result<(SocketAddr, oneshot::Sender<()>, JoinHandle<()>), StartError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Metrics { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| StartError::Metrics { addr, source })?;
    let (tx, rx) = oneshot::channel::<()>();
    let app = router(state);
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = rx.await;
        });
        if let Err(e) = server.await {
            tracing::warn!(error = %e, "metrics server stopped");
        }
    });
    tracing::info!(addr = %local, "serving /metrics and /health");
    Ok((local, tx, task))
}

/// The relay's event loop and what it needs.
struct Running {
    swarm: Swarm<RelayBehaviour>,
    tracker: EventTracker,
    listeners: Vec<ListenerId>,
    /// No announce addresses configured: listen addresses are the external ones, so follow
    /// them as interfaces come and go.
    auto_announce: bool,
    /// Other relays of the DHT, from the config.
    peer_relays: PeerRelays,
    /// Other relays of the DHT, configured or found; only they may announce agents here.
    servers: Servers,
}

impl Running {
    /// Runs until shutdown is asked for (or the handle is dropped), then closes cleanly.
    async fn run(mut self, mut shutdown: oneshot::Receiver<()>) {
        let has_peers = !self.peer_relays.is_empty();
        let mut peer_check = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                event = self.swarm.select_next_some() => self.handle(event),
                _ = tokio::time::sleep_until(peer_check), if has_peers => {
                    peer_check = tokio::time::Instant::now() + self.peer_relays.connect(&mut self.swarm);
                }
            }
        }
        tracing::info!("relay shutting down");
        // Stop accepting first, then close what is open and give the closes a moment to go out.
        for id in std::mem::take(&mut self.listeners) {
            self.swarm.remove_listener(id);
        }
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        let drain = async {
            while self.swarm.network_info().num_peers() > 0 {
                let event = self.swarm.select_next_some().await;
                self.tracker.handle(event);
            }
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
    }

    fn handle(&mut self, event: SwarmEvent<RelayBehaviourEvent>) {
        if self.auto_announce {
            match &event {
                SwarmEvent::NewListenAddr { address, .. } => {
                    self.swarm.add_external_address(address.clone());
                }
                SwarmEvent::ExpiredListenAddr { address, .. } => {
                    self.swarm.remove_external_address(address);
                }
                _ => {}
            }
        }
        match &event {
            SwarmEvent::Behaviour(RelayBehaviourEvent::Directory(e)) => {
                dht::on_directory(&mut self.swarm.behaviour_mut().kad, e)
            }
            SwarmEvent::Behaviour(RelayBehaviourEvent::Identify(e)) => self
                .servers
                .on_identify(&mut self.swarm.behaviour_mut().kad, e),
            SwarmEvent::Behaviour(RelayBehaviourEvent::Kad(e)) => self
                .servers
                .on_inbound(&mut self.swarm.behaviour_mut().kad, e),
            _ => {}
        }
        self.tracker.handle(event);
    }
}
