//! [`Host`]: the builder that puts an agent on the network, and [`host`], its one-call form.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use agenthost_gateway::{Gateway, GatewayConfig};
use agenthost_identity::{load_or_create_key, Address, AgentKey};
use agenthost_node::{
    inputs::InputLimits,
    llm::{LlmConfig, LlmJudge},
    serve,
    store::SessionStore,
    trust::{Gatekeeper, PolicyJudge, RateLimit, Trust, TrustConfig},
    Agent, AgentService, Dispatcher, DispatcherConfig, HostIdentity, Multiaddr, Node, NodeConfig,
    PeerId, ServerConfig, WorkerLimits,
};
use anyhow::Context as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Hosts `agent` with every default: the key in `.agenthost/keys/agent.key` (created on first
/// run), TCP and QUIC on all interfaces, mDNS on, trust `careful`, results kept 24 h.
/// Runs until Ctrl-C or SIGTERM.
pub async fn host<A: Agent>(agent: A) -> anyhow::Result<()> {
    Host::new(agent).run().await
}

enum KeySource {
    File(PathBuf),
    Key(AgentKey),
}

/// Every setting of a hosted agent: `Host::new(agent).trust(Trust::Strict).workers(4).run()`.
pub struct Host<A: Agent> {
    agent: A,
    key: Option<KeySource>,
    listen: Option<Vec<Multiaddr>>,
    relays: Vec<Multiaddr>,
    limits: WorkerLimits,
    mdns: bool,
    server: ServerConfig,
    data_dir: PathBuf,
    trust: Trust,
    whitelist: Vec<Address>,
    blacklist: Vec<Address>,
    whitelist_file: Option<PathBuf>,
    blacklist_file: Option<PathBuf>,
    result_ttl: Duration,
    input_limits: InputLimits,
    rate_limit: Option<RateLimit>,
    judge: Option<Arc<dyn PolicyJudge>>,
    policy_cache_ttl: Duration,
    /// Where the HTTP gateway listens; `None` without HTTP.
    http: Option<SocketAddr>,
    gateway: GatewayConfig,
}

/// The HTTP port of a hosted agent unless told otherwise.
pub const DEFAULT_HTTP_PORT: u16 = 8000;

/// Where everything an agent keeps lives, unless [`Host::data_dir`] says otherwise.
pub const DEFAULT_DATA_DIR: &str = ".agenthost";

/// How long results stay fetchable by default: 24 hours.
pub const DEFAULT_RESULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);

impl<A: Agent> Host<A> {
    pub fn new(agent: A) -> Self {
        Host {
            agent,
            key: None,
            listen: None,
            relays: Vec::new(),
            limits: WorkerLimits::default(),
            mdns: true,
            server: ServerConfig::default(),
            data_dir: DEFAULT_DATA_DIR.into(),
            trust: Trust::Careful,
            whitelist: Vec::new(),
            blacklist: Vec::new(),
            whitelist_file: None,
            blacklist_file: None,
            result_ttl: DEFAULT_RESULT_TTL,
            input_limits: InputLimits::default(),
            rate_limit: None,
            judge: None,
            policy_cache_ttl: Duration::from_secs(600),
            http: Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                DEFAULT_HTTP_PORT,
            )),
            gateway: GatewayConfig::default(),
        }
    }

    /// How often WebSocket clients get `{"type":"PING"}` (default 30 s).
    pub fn ws_ping_interval(mut self, every: Duration) -> Self {
        self.gateway.ws_ping_interval = every.max(Duration::from_millis(10));
        self
    }

    /// The HTTP port of the embedded gateway (default 8000; 0 picks a free one).
    pub fn http_port(mut self, port: u16) -> Self {
        let ip = self
            .http
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
        self.http = Some(SocketAddr::new(ip, port));
        self
    }

    /// The interface the HTTP gateway binds (default 0.0.0.0, every interface; `127.0.0.1`
    /// keeps it to this machine).
    pub fn http_bind(mut self, ip: IpAddr) -> Self {
        let port = self.http.map_or(DEFAULT_HTTP_PORT, |a| a.port());
        self.http = Some(SocketAddr::new(ip, port));
        self
    }

    /// Serves HTTP, WebSocket and /docs (default on); off leaves the agent P2P only.
    pub fn http(mut self, enabled: bool) -> Self {
        self.http = match (enabled, self.http) {
            (false, _) => None,
            (true, Some(addr)) => Some(addr),
            (true, None) => Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                DEFAULT_HTTP_PORT,
            )),
        };
        self
    }

    /// The key file holding the agent's identity (created if missing); default
    /// `<data_dir>/keys/agent.key`.
    pub fn key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key = Some(KeySource::File(path.into()));
        self
    }

    /// Uses this key instead of a key file.
    pub fn key(mut self, key: AgentKey) -> Self {
        self.key = Some(KeySource::Key(key));
        self
    }

    /// The folder for the key, the session database, access lists and uploads
    /// (default `.agenthost`).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = dir.into();
        self
    }

    /// Adds a listen address; the first call replaces the default (TCP and QUIC, any port).
    pub fn listen(mut self, addr: Multiaddr) -> Self {
        self.listen.get_or_insert_with(Vec::new).push(addr);
        self
    }

    /// Holds a reservation on this relay (a full multiaddr ending in `/p2p/<relay>`), so the
    /// agent is reachable through it from anywhere; repeat for more relays. Kept up with
    /// capped exponential backoff after any loss.
    pub fn relay(mut self, addr: Multiaddr) -> Self {
        self.relays.push(addr);
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

    /// Who may call: `Trust::Open`, `Careful` (default), `Strict`, a `Policy` text, or `Custom`.
    pub fn trust(mut self, trust: Trust) -> Self {
        self.trust = trust;
        self
    }

    /// Always admits this caller (unless blacklisted). Adds to `<data_dir>/whitelist.txt`'s list.
    pub fn whitelist(mut self, address: Address) -> Self {
        self.whitelist.push(address);
        self
    }

    /// Always refuses this caller. Adds to `<data_dir>/blacklist.txt`'s list.
    pub fn blacklist(mut self, address: Address) -> Self {
        self.blacklist.push(address);
        self
    }

    /// Reads the whitelist from this file instead of `<data_dir>/whitelist.txt`.
    pub fn whitelist_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.whitelist_file = Some(path.into());
        self
    }

    /// Reads the blacklist from this file instead of `<data_dir>/blacklist.txt`.
    pub fn blacklist_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.blacklist_file = Some(path.into());
        self
    }

    /// How long results stay fetchable by session id (default 24 h).
    pub fn result_ttl(mut self, ttl: Duration) -> Self {
        self.result_ttl = ttl;
        self
    }

    /// Largest attached file, in MB (default 10).
    pub fn max_file_size_mb(mut self, mb: f64) -> Self {
        self.input_limits = InputLimits::from_mb(mb, self.input_limits.max_files_per_request);
        self
    }

    /// Most files (and most images) in one request (default 10).
    pub fn max_files_per_request(mut self, count: usize) -> Self {
        self.input_limits.max_files_per_request = count;
        self
    }

    /// Per-caller rate limit for admitted callers (admins exempt); default none.
    pub fn rate_limit(mut self, per_minute: u32, burst: u32) -> Self {
        self.rate_limit = Some(RateLimit { per_minute, burst });
        self
    }

    /// The judge of a `Trust::Policy`; default: the OpenAI-compatible LLM named by
    /// `AGENTHOST_LLM_URL`, `AGENTHOST_LLM_MODEL` and `AGENTHOST_LLM_API_KEY`.
    pub fn policy_judge(mut self, judge: Arc<dyn PolicyJudge>) -> Self {
        self.judge = Some(judge);
        self
    }

    /// How long a policy decision about one caller is reused (default 10 min).
    pub fn policy_cache_ttl(mut self, ttl: Duration) -> Self {
        self.policy_cache_ttl = ttl;
        self
    }

    /// Starts the node and the server and returns once the agent is reachable.
    pub async fn start(self) -> anyhow::Result<RunningHost> {
        let data_dir = self.data_dir;
        let (key, key_file, created) = match self.key {
            Some(KeySource::Key(key)) => (key, None, false),
            source => {
                let path = match source {
                    Some(KeySource::File(path)) => path,
                    _ => data_dir.join("keys").join("agent.key"),
                };
                let (key, created) = load_or_create_key(&path)
                    .with_context(|| format!("loading the agent key {}", path.display()))?;
                (key, Some(path), created)
            }
        };

        let judge = match (&self.trust, self.judge) {
            (_, Some(judge)) => Some(judge),
            (Trust::Policy(_), None) => match LlmConfig::from_env() {
                Some(llm) => Some(Arc::new(
                    LlmJudge::from_config(llm).context("configuring the policy's LLM")?,
                ) as Arc<dyn PolicyJudge>),
                None => {
                    tracing::error!(
                        "trust is a policy but no LLM is configured (AGENTHOST_LLM_URL): \
                         every caller outside the lists will be refused"
                    );
                    None
                }
            },
            _ => None,
        };
        let trust_name = self.trust.name().to_owned();
        let mut trust = TrustConfig::new(self.trust, key.address()).with_data_dir(&data_dir);
        trust.whitelist = self.whitelist;
        trust.blacklist = self.blacklist;
        if let Some(path) = self.whitelist_file {
            trust.whitelist_file = Some(path);
        }
        if let Some(path) = self.blacklist_file {
            trust.blacklist_file = Some(path);
        }
        trust.judge = judge;
        trust.policy_cache_ttl = self.policy_cache_ttl;
        trust.rate_limit = self.rate_limit;
        let gatekeeper = Arc::new(Gatekeeper::new(trust).context("configuring trust")?);

        let store_path = data_dir.join("sessions.db");
        let store = SessionStore::open(&store_path, self.result_ttl)
            .with_context(|| format!("opening the session store {}", store_path.display()))?;
        let sweeper = store.spawn_sweeper(SWEEP_EVERY.min(self.result_ttl));
        // Bound before anything starts, so a taken port is a clear start-up error.
        let http_listener = match self.http {
            Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.with_context(|| {
                format!("binding the HTTP port {addr} (choose another with --port, or --no-http)")
            })?),
            None => None,
        };
        let max_body_bytes = self.input_limits.max_request_bytes();

        let mut config = NodeConfig::new(key.clone());
        config.listen = self.listen.unwrap_or_else(NodeConfig::default_listen);
        config.mdns = self.mdns;
        config.serve = true;
        config.relays = self.relays;
        let mut node = Node::start(config).await?;
        let incoming = node
            .take_incoming()
            .context("the node was started without inbound streams")?;
        let dispatcher = Dispatcher::new(
            self.agent,
            DispatcherConfig {
                identity: HostIdentity {
                    address: key.address(),
                    peer_id: key.peer_id(),
                },
                limits: self.limits,
                listen_addrs: node.handle().shared_listen_addrs(),
                relays: node.handle().shared_relay_status(),
                gatekeeper,
                store,
                input_limits: self.input_limits,
                data_dir: data_dir.clone(),
            },
        );
        let name = dispatcher.info().name.clone();
        let service: Arc<dyn AgentService> = Arc::new(dispatcher);
        let server = serve(incoming, Arc::clone(&service), self.server);
        let http_stop = CancellationToken::new();
        let mut tasks = vec![server, sweeper];
        let http_addr = match http_listener {
            Some(listener) => {
                let addr = listener.local_addr()?;
                let gateway = Gateway::local(
                    key.address(),
                    Arc::clone(&service),
                    GatewayConfig {
                        max_body_bytes,
                        ..self.gateway
                    },
                );
                let stop = http_stop.clone();
                tasks.push(tokio::spawn(async move {
                    if let Err(e) = gateway.serve(listener, stop.cancelled_owned()).await {
                        tracing::error!(error = %e, "the HTTP gateway stopped");
                    }
                }));
                Some(addr)
            }
            None => None,
        };
        Ok(RunningHost {
            name,
            key,
            key_file,
            key_created: created,
            limits: self.limits,
            trust: trust_name,
            data_dir,
            node,
            service,
            http_addr,
            http_stop,
            tasks,
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

/// How often expired results are swept (at most; a shorter TTL sweeps as often as it expires).
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// A hosted agent, reachable until [`RunningHost::shutdown`] or drop.
pub struct RunningHost {
    name: String,
    key: AgentKey,
    key_file: Option<PathBuf>,
    key_created: bool,
    limits: WorkerLimits,
    trust: String,
    data_dir: PathBuf,
    node: Node,
    service: Arc<dyn AgentService>,
    http_addr: Option<SocketAddr>,
    http_stop: CancellationToken,
    /// The stream server, the store sweeper and the HTTP gateway, stopped on shutdown.
    tasks: Vec<JoinHandle<()>>,
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
        for relay in self.node.handle().relay_status() {
            lines.push(format!("relay: {} ({})", relay.relay, relay.state));
        }
        if let Some(url) = self.http_url() {
            let bind = self.http_addr.map(|a| a.to_string()).unwrap_or_default();
            lines.push(format!("http: {url} (bound to {bind})"));
            lines.push(format!("docs: {url}/docs"));
            lines.push(format!(
                "try: curl -s {url}/input -H 'content-type: application/json' -d '{{\"prompt\":\"hello\"}}'"
            ));
            lines.push(format!(
                "try: (echo '{{\"type\":\"INPUT\",\"prompt\":\"hello\"}}'; sleep 1) | websocat {}/ws",
                url.replacen("http://", "ws://", 1)
            ));
        }
        if let Some(listen) = self
            .listen_addrs()
            .into_iter()
            .find(|a| a.to_string().starts_with("/ip4/127.0.0.1/tcp/"))
        {
            lines.push(format!(
                "try: agenthost call {} hello --addr {listen}",
                self.address()
            ));
        }
        lines.push(format!("trust: {}", self.trust));
        lines.push(format!("data_dir: {}", self.data_dir.display()));
        lines.push(format!(
            "workers: {} (queue {})",
            self.limits.workers, self.limits.queue
        ));
        lines.push("Waiting for requests (Ctrl-C to stop)".into());
        lines.join("\n")
    }

    /// Stops serving: no new streams are accepted and the node's connections close.
    pub async fn shutdown(self) {
        self.http_stop.cancel();
        for task in self.tasks {
            task.abort();
            let _ = task.await;
        }
        drop(self.node);
    }
}

/// Completes on Ctrl-C or SIGTERM: what a hosted agent (and the gateway and relay commands)
/// wait for before shutting down.
pub async fn shutdown_signal() {
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
