//! [`RunningHost`]: a started host, what it answers about itself, and its graceful shutdown.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use agenthost_identity::AgentKey;
use agenthost_node::{
    AgentService, Multiaddr, NatStatus, Node, PeerId, StreamServer, WorkerLimits,
};
use tokio::task::JoinHandle;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::shutdown_signal;

/// How long the HTTP server gets to send the last responses after the runs are retired.
const HTTP_LINGER: Duration = Duration::from_secs(2);

/// A hosted agent, reachable until [`RunningHost::shutdown`] or drop.
pub struct RunningHost {
    pub(super) name: String,
    pub(super) key: AgentKey,
    pub(super) key_file: Option<PathBuf>,
    pub(super) key_created: bool,
    pub(super) limits: WorkerLimits,
    pub(super) trust: String,
    pub(super) data_dir: PathBuf,
    pub(super) config_file: Option<PathBuf>,
    pub(super) grace_period: Duration,
    pub(super) reload: bool,
    pub(super) node: Node,
    pub(super) service: Arc<dyn AgentService>,
    pub(super) http_addr: Option<SocketAddr>,
    pub(super) http_stop: CancellationToken,
    pub(super) http_task: Option<JoinHandle<()>>,
    pub(super) reloader: Option<JoinHandle<()>>,
    /// The P2P stream server and every stream task it runs; taken on shutdown.
    pub(super) server: Option<StreamServer>,
    /// Deletes expired records until shutdown.
    pub(super) sweeper: JoinHandle<()>,
    /// The host's own tasks (HTTP, the reloader), awaited on shutdown.
    pub(super) tasks: TaskTracker,
}

impl RunningHost {
    /// The agent's address: `0x` and its ed25519 public key in hex.
    pub fn address(&self) -> agenthost_identity::Address {
        self.key.address()
    }

    /// The agent's libp2p PeerId, the same key as its address.
    pub fn peer_id(&self) -> PeerId {
        self.key.peer_id()
    }

    /// Full listen multiaddrs, ending in `/p2p/<PeerId>`: what a caller dials.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.node
            .handle()
            .listen_addrs()
            .into_iter()
            .map(|a| a.with_p2p(self.peer_id()).unwrap_or_else(|a| a))
            .collect()
    }

    /// Where the HTTP gateway listens (`None` without HTTP).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The HTTP base URL a client on this machine uses (`http://127.0.0.1:8000`).
    pub fn http_url(&self) -> Option<String> {
        self.http_addr.map(|addr| {
            let ip = if addr.ip().is_unspecified() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                addr.ip()
            };
            format!("http://{}", SocketAddr::new(ip, addr.port()))
        })
    }

    /// Each relay and how its reservation stands.
    pub fn relay_status(&self) -> Vec<agenthost_node::RelayStatus> {
        self.node.handle().relay_status()
    }

    /// The in-process service: requests without a network hop (the gateway uses this).
    pub fn service(&self) -> Arc<dyn AgentService> {
        Arc::clone(&self.service)
    }

    /// Waits up to `limit` for every relay to be reserved or failing and for AutoNAT's first
    /// answer, so the banner can say how the agent is reachable. Returns at once without relays.
    pub async fn settle(&self, limit: Duration) {
        let handle = self.node.handle();
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            let relays = handle.relay_status();
            if relays.is_empty() {
                return;
            }
            let relays_settled = relays.iter().all(|r| {
                matches!(
                    r.state,
                    agenthost_node::RelayState::Reserved
                        | agenthost_node::RelayState::Retrying { .. }
                )
            });
            if relays_settled && handle.reachability().status() != NatStatus::Unknown {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Graceful shutdown: stops taking new runs (callers get `unavailable`, 503), lets the runs
    /// in flight finish within the grace period and interrupts the rest (recorded
    /// `interrupted`), then stops HTTP, leaves the relays (directory records and reservations),
    /// and closes the session store, which commits everything queued.
    pub async fn shutdown(self) -> agenthost_node::RetireReport {
        let grace = self.grace_period;
        self.shutdown_within(grace, std::future::pending()).await
    }

    /// [`RunningHost::shutdown`], cut short by a second Ctrl-C or SIGTERM: the runs still in
    /// flight are interrupted at once.
    pub async fn shutdown_or_interrupt(self) -> agenthost_node::RetireReport {
        let grace = self.grace_period;
        self.shutdown_within(grace, shutdown_signal()).await
    }

    async fn shutdown_within(
        mut self,
        grace: Duration,
        hurry: impl std::future::Future<Output = ()>,
    ) -> agenthost_node::RetireReport {
        if let Some(reloader) = self.reloader.take() {
            reloader.abort();
        }
        let drain = self.service.drain(grace);
        tokio::pin!(drain);
        let report = tokio::select! {
            report = &mut drain => report,
            () = hurry => {
                tracing::warn!("second signal: interrupting the runs in flight now");
                self.service.drain(Duration::ZERO).await;
                drain.await
            }
        };
        self.http_stop.cancel();
        if let Some(mut http) = self.http_task.take() {
            // Open WebSockets keep a graceful HTTP shutdown waiting; they get a moment to
            // receive their last frames, then are dropped.
            if tokio::time::timeout(HTTP_LINGER, &mut http).await.is_err() {
                tracing::debug!("closing the HTTP connections still open");
                http.abort();
                let _ = http.await;
            }
        }
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        self.sweeper.abort();
        let _ = (&mut self.sweeper).await;
        self.node.handle().shutdown().await;
        self.tasks.close();
        self.tasks.wait().await;
        // Every retired turn awaited its own commit before leaving, so the store holds every
        // outcome now; dropping the last reference also checkpoints and closes it.
        drop(self.service);
        drop(self.node);
        tracing::info!(
            finished = report.finished,
            interrupted = report.interrupted,
            "shut down"
        );
        report
    }
}
