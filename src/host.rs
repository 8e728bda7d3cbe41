//! [`Host`]: the builder that puts an agent on the network, and [`host`], its one-call form.

use std::{path::PathBuf, sync::Arc};

use agenthost_identity::{load_or_create_key, AgentKey, DEFAULT_KEY_FILE};
use agenthost_node::{
    serve, Agent, AgentService, Dispatcher, HostIdentity, Multiaddr, Node, NodeConfig, PeerId,
    ServerConfig, WorkerLimits,
};
use anyhow::Context as _;
use tokio::task::JoinHandle;

/// Hosts `agent` with every default: the key in `.agenthost/keys/agent.key` (created on first
/// run), TCP and QUIC on all interfaces, mDNS on. Runs until Ctrl-C or SIGTERM.
pub async fn host<A: Agent>(agent: A) -> anyhow::Result<()> {
    Host::new(agent).run().await
}

enum KeySource {
    File(PathBuf),
    Key(AgentKey),
}

/// Every setting of a hosted agent: `Host::new(agent).workers(4).listen(addr).run().await`.
pub struct Host<A: Agent> {
    agent: A,
    key: KeySource,
    listen: Option<Vec<Multiaddr>>,
    limits: WorkerLimits,
    mdns: bool,
    server: ServerConfig,
}

impl<A: Agent> Host<A> {
    pub fn new(agent: A) -> Self {
        Host {
            agent,
            key: KeySource::File(DEFAULT_KEY_FILE.into()),
            listen: None,
            limits: WorkerLimits::default(),
            mdns: true,
            server: ServerConfig::default(),
        }
    }

    /// The key file holding the agent's identity (created if missing).
    pub fn key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key = KeySource::File(path.into());
        self
    }

    /// Uses this key instead of a key file.
    pub fn key(mut self, key: AgentKey) -> Self {
        self.key = KeySource::Key(key);
        self
    }

    /// Adds a listen address; the first call replaces the default (TCP and QUIC, any port).
    pub fn listen(mut self, addr: Multiaddr) -> Self {
        self.listen.get_or_insert_with(Vec::new).push(addr);
        self
    }

    /// Runs executing at once (default 16).
    pub fn workers(mut self, workers: usize) -> Self {
        self.limits.workers = workers.max(1);
        self
    }

    /// Admitted runs waiting for a worker; beyond it callers get `overloaded` (default 128).
    pub fn queue(mut self, queue: usize) -> Self {
        self.limits.queue = queue;
        self
    }

    /// LAN announcement and discovery by mDNS (default on).
    pub fn mdns(mut self, enabled: bool) -> Self {
        self.mdns = enabled;
        self
    }

    /// Largest request frame accepted (default 16 MiB).
    pub fn max_frame_bytes(mut self, bytes: usize) -> Self {
        self.server.max_frame_bytes = bytes;
        self
    }

    /// Starts the node and the server and returns once the agent is reachable.
    pub async fn start(self) -> anyhow::Result<RunningHost> {
        let (key, key_file, created) = match self.key {
            KeySource::Key(key) => (key, None, false),
            KeySource::File(path) => {
                let (key, created) = load_or_create_key(&path)
                    .with_context(|| format!("loading the agent key {}", path.display()))?;
                (key, Some(path), created)
            }
        };
        let mut config = NodeConfig::new(key.clone());
        config.listen = self.listen.unwrap_or_else(NodeConfig::default_listen);
        config.mdns = self.mdns;
        config.serve = true;
        let mut node = Node::start(config).await?;
        let incoming = node
            .take_incoming()
            .context("the node was started without inbound streams")?;
        let identity = HostIdentity {
            address: key.address(),
            peer_id: key.peer_id(),
        };
        let dispatcher = Dispatcher::new(
            self.agent,
            identity,
            self.limits,
            node.handle().shared_listen_addrs(),
        );
        let name = dispatcher.info().name.clone();
        let service: Arc<dyn AgentService> = Arc::new(dispatcher);
        let server = serve(incoming, Arc::clone(&service), self.server);
        Ok(RunningHost {
            name,
            key,
            key_file,
            key_created: created,
            limits: self.limits,
            node,
            service,
            server,
        })
    }

    /// Starts, prints the banner, and serves until Ctrl-C or SIGTERM.
    pub async fn run(self) -> anyhow::Result<()> {
        let running = self.start().await?;
        println!("{}", running.banner());
        shutdown_signal().await;
        println!("Shutting down");
        running.shutdown().await;
        Ok(())
    }
}

/// A hosted agent, reachable until [`RunningHost::shutdown`] or drop.
pub struct RunningHost {
    name: String,
    key: AgentKey,
    key_file: Option<PathBuf>,
    key_created: bool,
    limits: WorkerLimits,
    node: Node,
    service: Arc<dyn AgentService>,
    server: JoinHandle<()>,
}

impl RunningHost {
    pub fn address(&self) -> agenthost_identity::Address {
        self.key.address()
    }

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

    /// The in-process service: requests without a network hop (the gateway uses this).
    pub fn service(&self) -> Arc<dyn AgentService> {
        Arc::clone(&self.service)
    }

    /// The start-up banner: one `key: value` line per fact, so scripts can read it.
    pub fn banner(&self) -> String {
        let mut lines = vec![format!(
            "agenthost {} hosting \"{}\"",
            env!("CARGO_PKG_VERSION"),
            self.name
        )];
        lines.push(format!("address: {}", self.address()));
        lines.push(format!("peer_id: {}", self.peer_id()));
        if let Some(path) = &self.key_file {
            let note = if self.key_created { " (new)" } else { "" };
            lines.push(format!("key_file: {}{note}", path.display()));
        }
        for addr in self.listen_addrs() {
            lines.push(format!("listen: {addr}"));
        }
        lines.push(format!(
            "workers: {} (queue {})",
            self.limits.workers, self.limits.queue
        ));
        lines.push("Waiting for requests (Ctrl-C to stop)".into());
        lines.join("\n")
    }

    /// Stops serving: no new streams are accepted and the node's connections close.
    pub async fn shutdown(self) {
        self.server.abort();
        let _ = self.server.await;
        drop(self.node);
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
