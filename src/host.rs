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
    PeerId, ServerConfig, Verdict, WorkerLimits,
};
use anyhow::Context as _;

use crate::settings::{LogFormat, Settings, DEFAULT_GRACE_PERIOD};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Hosts `agent` with every default: the key in `.agenthost/keys/agent.key` (created on first
/// run), TCP and QUIC on all interfaces, mDNS on, trust `careful`, results kept 24 h.
/// Runs until Ctrl-C or SIGTERM.
///
/// `agenthost.toml` (in the working directory) and `AGENTHOST_*` environment variables apply
/// (see [`Host::load_settings`]), so `AGENTHOST_PORT=9000 cargo run` moves the HTTP port.
pub async fn host<A: Agent>(agent: A) -> anyhow::Result<()> {
    Host::new(agent).load_settings()?.run().await
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
    /// Replaces the agent's own name when set.
    name: Option<String>,
    grace_period: Duration,
    reload: bool,
    log_format: LogFormat,
    log_filter: Option<String>,
    config_file: Option<PathBuf>,
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
            name: None,
            grace_period: DEFAULT_GRACE_PERIOD,
            reload: false,
            log_format: LogFormat::Text,
            log_filter: None,
            config_file: None,
        }
    }

    /// Lays `agenthost.toml` (the working directory's, or `$AGENTHOST_CONFIG`) and the
    /// `AGENTHOST_*` environment variables over the settings made in code so far: the author's
    /// values are the defaults an operator can override without rebuilding.
    pub fn load_settings(self) -> anyhow::Result<Self> {
        let settings = Settings::load(None, &[])?;
        Ok(self.settings(&settings))
    }

    /// Applies every setting of `settings` that was set somewhere (file, environment or flag);
    /// those left at their defaults keep what the code set.
    pub fn settings(mut self, s: &Settings) -> Self {
        let set = |key: &str| s.is_set(key);
        if set("name") {
            self.name = s.name.clone();
        }
        if set("trust") {
            self.trust = s.trust.clone();
        }
        if set("whitelist") {
            self.whitelist = s.whitelist.clone();
        }
        if set("blacklist") {
            self.blacklist = s.blacklist.clone();
        }
        if set("whitelist_file") {
            self.whitelist_file = s.whitelist_file.clone();
        }
        if set("blacklist_file") {
            self.blacklist_file = s.blacklist_file.clone();
        }
        if set("http_bind") {
            self = self.http_bind(s.http_bind);
        }
        if set("port") {
            self = self.http_port(s.port);
        }
        if set("http") {
            self = self.http(s.http);
        }
        if set("trusted_proxies") {
            self = self.trusted_proxies(s.trusted_proxies.clone());
        }
        if set("workers") {
            self = self.workers(s.workers);
        }
        if set("queue") {
            self = self.queue(s.queue);
        }
        if set("result_ttl") {
            self.result_ttl = s.result_ttl;
        }
        if set("relays") {
            self.relays = s.relays.clone();
        }
        if set("reload") {
            self.reload = s.reload;
        }
        if set("listen") {
            self.listen = (!s.listen.is_empty()).then(|| s.listen.clone());
        }
        if set("mdns") {
            self.mdns = s.mdns;
        }
        if set("data_dir") {
            self.data_dir = s.data_dir.clone();
        }
        if let (true, Some(path)) = (set("key_file"), &s.key_file) {
            self.key = Some(KeySource::File(path.clone()));
        }
        if set("max_file_size") {
            self = self.max_file_size_mb(s.max_file_size);
        }
        if set("max_files_per_request") {
            self = self.max_files_per_request(s.max_files_per_request);
        }
        if set("rate_limit") {
            self.rate_limit = s.rate_limit.map(|per_minute| RateLimit {
                per_minute,
                burst: per_minute.max(1),
            });
        }
        if set("grace_period") {
            self.grace_period = s.grace_period;
        }
        if set("ws_ping_interval") {
            self = self.ws_ping_interval(s.ws_ping_interval);
        }
        if set("log_format") {
            self.log_format = s.log_format;
        }
        if set("log") {
            self.log_filter = s.log.clone();
        }
        if s.config_file.is_some() {
            self.config_file = s.config_file.clone();
        }
        self
    }

    /// The agent's name in /info, the banner and the page, instead of the agent's own.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// After SIGTERM/SIGINT (or a reload), how long runs in flight may finish before they are
    /// cancelled and recorded `interrupted` (default 30 s).
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace_period = grace;
        self
    }

    /// Watches the working directory and, when files change, lets the runs in flight finish
    /// within the grace period (then interrupts them); new runs start from the changed files.
    /// Meant for `agenthost host --reload -- CMD`; Rust agents rebuild with cargo-watch.
    pub fn reload(mut self, enabled: bool) -> Self {
        self.reload = enabled;
        self
    }

    /// Log lines as text (default) or JSON; [`Host::run`] installs the logger unless the
    /// program already has one.
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.log_format = format;
        self
    }

    /// A `RUST_LOG`-style filter for [`Host::run`]'s logger (default `$RUST_LOG`, else `info`).
    pub fn log_filter(mut self, filter: impl Into<String>) -> Self {
        self.log_filter = Some(filter.into());
        self
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

    /// Reverse proxies (nginx, Caddy) whose `X-Forwarded-For` names the HTTP client. Without
    /// them a proxy on this machine makes every client look local to `careful` trust.
    pub fn trusted_proxies(mut self, proxies: Vec<IpAddr>) -> Self {
        self.gateway.trusted_proxies = proxies;
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
        let dispatcher = match self.name {
            Some(name) => dispatcher.with_name(name),
            None => dispatcher,
        };
        let name = dispatcher.info().name.clone();
        let service: Arc<dyn AgentService> = Arc::new(dispatcher);
        // Built even without an HTTP port: it also serves the sockets standalone gateways
        // carry here over P2P (their sessions run in the agent's process).
        let gateway = Gateway::local(
            key.clone(),
            Arc::clone(&service),
            GatewayConfig {
                max_body_bytes,
                ..self.gateway
            },
        );
        let server = serve(
            incoming,
            Arc::clone(&service),
            Some(gateway.peer_sockets()),
            self.server,
        );
        let http_stop = CancellationToken::new();
        let tasks = vec![server, sweeper];
        let mut http_task = None;
        let http_addr = match http_listener {
            Some(listener) => {
                let addr = listener.local_addr()?;
                let stop = http_stop.clone();
                http_task = Some(tokio::spawn(async move {
                    if let Err(e) = gateway.serve(listener, stop.cancelled_owned()).await {
                        tracing::error!(error = %e, "the HTTP gateway stopped");
                    }
                }));
                Some(addr)
            }
            None => None,
        };
        let reloader = if self.reload {
            let cwd = std::env::current_dir().context("reading the working directory")?;
            Some(crate::reload::spawn_reloader(
                cwd,
                data_dir.clone(),
                Arc::clone(&service),
                self.grace_period,
            )?)
        } else {
            None
        };
        Ok(RunningHost {
            name,
            key,
            key_file,
            key_created: created,
            limits: self.limits,
            trust: trust_name,
            data_dir,
            config_file: self.config_file,
            grace_period: self.grace_period,
            reload: self.reload,
            node,
            service,
            http_addr,
            http_stop,
            http_task,
            reloader,
            tasks,
        })
    }

    /// Installs the logger (unless the program has one), starts, prints the banner, serves
    /// until SIGTERM or Ctrl-C, then shuts down gracefully ([`RunningHost::shutdown`]).
    pub async fn run(self) -> anyhow::Result<()> {
        crate::init_logging(
            self.log_format,
            self.log_filter.as_deref(),
            crate::SERVICE_LOG_FILTER,
        );
        let running = self.start().await?;
        running.settle(BANNER_SETTLE).await;
        println!("{}", running.banner());
        shutdown_signal().await;
        println!(
            "Shutting down: runs in flight may finish within {} s (Ctrl-C again to interrupt them now)",
            running.grace_period.as_secs_f64()
        );
        let report = running.shutdown_or_interrupt().await;
        println!(
            "Stopped: {} run(s) finished, {} interrupted",
            report.finished, report.interrupted
        );
        Ok(())
    }
}

/// How long the banner waits for relays to answer, so it can say how each stands.
const BANNER_SETTLE: Duration = Duration::from_secs(3);

/// How long the HTTP server gets to send the last responses after the runs are retired.
const HTTP_LINGER: Duration = Duration::from_secs(2);

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
    config_file: Option<PathBuf>,
    grace_period: Duration,
    reload: bool,
    node: Node,
    service: Arc<dyn AgentService>,
    http_addr: Option<SocketAddr>,
    http_stop: CancellationToken,
    http_task: Option<JoinHandle<()>>,
    reloader: Option<JoinHandle<()>>,
    /// The P2P stream server and the store sweeper, stopped on shutdown.
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
            let mark = if relay.state == agenthost_node::RelayState::Reserved {
                "✓"
            } else {
                "✗"
            };
            let listed = if relay.listed { ", listed" } else { "" };
            lines.push(format!(
                "relay: {mark} {} ({}{listed})",
                relay.relay, relay.state
            ));
        }
        let reach = self.node.handle().reachability();
        let how = match reach.verdict() {
            Verdict::Public => format!(
                "public (AutoNAT reached {})",
                reach
                    .confirmed
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Verdict::Private => {
                "private (AutoNAT reached no address; callers come through relays)".into()
            }
            Verdict::Unknown if self.node.handle().relay_status().is_empty() => {
                "unknown (no relay to ask: reachable on this network; add --relay to be reachable from anywhere)".into()
            }
            Verdict::Unknown => "unknown (AutoNAT has not answered yet; changes are logged)".into(),
        };
        lines.push(format!("reachability: {how}"));
        if let Some(url) = self.http_url() {
            let bind = self.http_addr.map(|a| a.to_string()).unwrap_or_default();
            lines.push(format!("http: {url} (bound to {bind})"));
            lines.push(format!("docs: {url}/docs"));
            lines.push(
                "routes: POST /input, GET /sessions, GET /sessions/{id}, GET /health, GET /info, \
                 GET /ws (WebSocket), GET /docs, GET /openapi.json, GET /metrics"
                    .into(),
            );
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
                "try: {} call {} hello --addr {listen}",
                cli_command(),
                self.address()
            ));
        }
        lines.push(format!("trust: {}", self.trust));
        if let Some(path) = &self.config_file {
            lines.push(format!("config: {}", path.display()));
        }
        lines.push(format!("data_dir: {}", self.data_dir.display()));
        if self.reload {
            lines.push(
                "reload: on (file changes retire runs in flight; new runs use the new files)"
                    .into(),
            );
        }
        lines.push(format!(
            "workers: {} (queue {})",
            self.limits.workers, self.limits.queue
        ));
        lines.push("Waiting for requests (Ctrl-C to stop)".into());
        lines.join("\n")
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
            if relays_settled && handle.reachability().verdict() != Verdict::Unknown {
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
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
        self.node.handle().shutdown().await;
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

/// How the banner names the `agenthost` CLI so its `try:` line runs as printed: `agenthost` when
/// that is what `PATH` finds, else the full path of this executable when it is the CLI (as
/// under `cargo run`), else `agenthost` (a Rust program hosting its own agent).
fn cli_command() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "agenthost".into();
    };
    if exe.file_stem() != Some("agenthost".as_ref()) {
        return "agenthost".into();
    }
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            let candidate = dir.join(exe.file_name().unwrap_or_default());
            candidate.canonicalize().ok() == exe.canonicalize().ok()
        })
    });
    if on_path {
        "agenthost".into()
    } else {
        exe.display().to_string()
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
