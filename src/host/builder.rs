//! The setters of [`Host`]. Each writes its [`Settings`] key and marks it set in code, the
//! layer under `agenthost.toml`, `AGENTHOST_*` and flags.

use std::{net::IpAddr, path::PathBuf, sync::Arc, time::Duration};

use agenthost_identity::{Address, AgentKey};
use agenthost_node::{
    trust::{PolicyJudge, Trust},
    Agent, Multiaddr,
};

use super::Host;
use crate::{settings::Settings, LogFormat};

impl<A: Agent> Host<A> {
    /// Lays `agenthost.toml` (the working directory's, or `$AGENTHOST_CONFIG`) and the
    /// `AGENTHOST_*` environment variables over the settings made in code so far: the author's
    /// values are the defaults an operator can override without rebuilding.
    pub fn load_settings(mut self) -> anyhow::Result<Self> {
        self.settings.read_file(None)?;
        self.settings.read_env(|var| std::env::var(var).ok())?;
        Ok(self)
    }

    /// Lays every setting of `settings` that was set somewhere (file, environment or flag)
    /// over this host's; those left at their defaults keep what the code set.
    pub fn settings(mut self, settings: &Settings) -> anyhow::Result<Self> {
        settings.lay_over(&mut self.settings)?;
        Ok(self)
    }

    /// Sets one key in code: `change` writes the value, the key is marked [`Source::Code`].
    ///
    /// [`Source::Code`]: crate::settings::Source::Code
    fn set(mut self, key: &'static str, change: impl FnOnce(&mut Settings)) -> Self {
        change(&mut self.settings);
        self.settings.set_in_code(key);
        self
    }

    /// The agent's name in /info, the banner and the page, instead of the agent's own.
    pub fn name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.set("name", |s| s.name = Some(name))
    }

    /// After SIGTERM/SIGINT (or a reload), how long runs in flight may finish before they are
    /// cancelled and recorded `interrupted` (default 30 s).
    pub fn grace_period(self, grace: Duration) -> Self {
        self.set("grace_period", |s| s.grace_period = grace)
    }

    /// Watches the working directory and, when files change, lets the runs in flight finish
    /// within the grace period (then interrupts them); new runs start from the changed files.
    /// Meant for `agenthost host --reload -- CMD`; Rust agents rebuild with cargo-watch.
    pub fn reload(self, enabled: bool) -> Self {
        self.set("reload", |s| s.reload = enabled)
    }

    /// Log lines as text (default) or JSON; [`Host::run`] installs the logger unless the
    /// program already has one.
    pub fn log_format(self, format: LogFormat) -> Self {
        self.set("log_format", |s| s.log_format = format)
    }

    /// A `RUST_LOG`-style filter for [`Host::run`]'s logger (default `$RUST_LOG`, else `info`).
    pub fn log_filter(self, filter: impl Into<String>) -> Self {
        let filter = filter.into();
        self.set("log", |s| s.log = Some(filter))
    }

    /// How long an HTTP client has to send a request's headers, on a new connection and
    /// between requests (default 10 s); then the connection is closed.
    pub fn http_header_timeout(self, timeout: Duration) -> Self {
        self.set("http_header_timeout", |s| {
            s.http_header_timeout = timeout.max(Duration::from_millis(10))
        })
    }

    /// HTTP connections held at once (default 2048), and from one address (default 256;
    /// trusted proxies are not counted). One more is answered 503 and closed.
    pub fn http_max_connections(self, total: usize, per_ip: usize) -> Self {
        self.set("http_max_connections", |s| {
            s.http_max_connections = total.max(1)
        })
        .set("http_max_per_ip", |s| s.http_max_per_ip = per_ip.max(1))
    }

    /// Caps on inbound P2P connections (default 128 in handshake, 1024 established, 8 per
    /// peer); one over is dropped before its handshake completes.
    pub fn p2p_inbound_limits(self, limits: agenthost_node::InboundLimits) -> Self {
        self.set("p2p_max_pending", |s| {
            s.p2p_inbound.pending = limits.pending.max(1)
        })
        .set("p2p_max_incoming", |s| {
            s.p2p_inbound.established = limits.established.max(1)
        })
        .set("p2p_max_per_peer", |s| {
            s.p2p_inbound.per_peer = limits.per_peer.max(1)
        })
    }

    /// WebSockets open at once (default 1024), and the MiB all live WebSocket turns keep for
    /// rejoining clients together (default 256).
    pub fn ws_limits(self, max_connections: usize, replay_budget_mb: usize) -> Self {
        self.set("ws_max_connections", |s| {
            s.ws_max_connections = max_connections.max(1)
        })
        .set("ws_replay_budget_mb", |s| {
            s.ws_replay_budget_mb = replay_budget_mb.max(1)
        })
    }

    /// How often WebSocket clients get `{"type":"PING"}` (default 30 s).
    pub fn ws_ping_interval(self, every: Duration) -> Self {
        self.set("ws_ping_interval", |s| {
            s.ws_ping_interval = every.max(Duration::from_millis(10))
        })
    }

    /// The HTTP port of the embedded gateway (default 8000; 0 picks a free one).
    pub fn http_port(self, port: u16) -> Self {
        self.set("port", |s| s.port = port)
    }

    /// The interface the HTTP gateway binds (default 0.0.0.0, every interface; `127.0.0.1`
    /// keeps it to this machine).
    pub fn http_bind(self, ip: IpAddr) -> Self {
        self.set("http_bind", |s| s.http_bind = ip)
    }

    /// Serves HTTP, WebSocket and /docs (default on); off leaves the agent P2P only.
    pub fn http(self, enabled: bool) -> Self {
        self.set("http", |s| s.http = enabled)
    }

    /// Reverse proxies (nginx, Caddy) whose `X-Forwarded-For` names the HTTP client. Without
    /// them a proxy on this machine makes every client look local to `careful` trust.
    pub fn trusted_proxies(self, proxies: Vec<IpAddr>) -> Self {
        self.set("trusted_proxies", |s| s.trusted_proxies = proxies)
    }

    /// `Host` values `/mcp` accepts, against DNS rebinding (`*`: any). Default: loopback
    /// names; list the names clients use to reach the agent when it is served beyond this
    /// machine.
    pub fn mcp_allowed_hosts(self, hosts: Vec<String>) -> Self {
        self.set("mcp_allowed_hosts", |s| s.mcp_allowed_hosts = hosts)
    }

    /// Browser `Origin`s `/mcp` accepts (`*`: any). Default: pages from this machine.
    pub fn mcp_allowed_origins(self, origins: Vec<String>) -> Self {
        self.set("mcp_allowed_origins", |s| s.mcp_allowed_origins = origins)
    }

    /// The key file holding the agent's identity (created if missing); default
    /// `<data_dir>/keys/agent.key`.
    pub fn key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key = None;
        let path = path.into();
        self.set("key_file", |s| s.key_file = Some(path))
    }

    /// Uses this key instead of a key file.
    pub fn key(mut self, key: AgentKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The folder for the key, the session database, access lists and uploads
    /// (default `.agenthost`).
    pub fn data_dir(self, dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        self.set("data_dir", |s| s.data_dir = dir)
    }

    /// Adds a listen address; the first call replaces the default (TCP and QUIC, any port).
    pub fn listen(self, addr: Multiaddr) -> Self {
        self.set("listen", |s| s.listen.push(addr))
    }

    /// Holds a reservation on this relay (a full multiaddr ending in `/p2p/<relay>`), so the
    /// agent is reachable through it from anywhere; repeat for more relays. Kept up with
    /// capped exponential backoff after any loss.
    pub fn relay(self, addr: Multiaddr) -> Self {
        self.set("relays", |s| s.relays.push(addr))
    }

    /// Runs executing at once (default 16).
    pub fn workers(self, workers: usize) -> Self {
        self.set("workers", |s| s.workers = workers.max(1))
    }

    /// Admitted runs waiting for a worker; beyond it callers get `overloaded` (default 128).
    pub fn queue(self, queue: usize) -> Self {
        self.set("queue", |s| s.queue = queue)
    }

    /// LAN announcement and discovery by mDNS (default on).
    pub fn mdns(self, enabled: bool) -> Self {
        self.set("mdns", |s| s.mdns = enabled)
    }

    /// Largest request frame accepted (default 16 MiB).
    pub fn max_frame_bytes(mut self, bytes: usize) -> Self {
        self.server.max_frame_bytes = bytes;
        self
    }

    /// Who may call: `Trust::Open`, `Careful` (default), `Strict`, a `Policy` text, or `Custom`.
    pub fn trust(self, trust: Trust) -> Self {
        self.set("trust", |s| {
            s.trust_spec = trust.name().to_owned();
            s.trust = trust;
        })
    }

    /// Always admits this caller (unless blacklisted). Adds to `<data_dir>/whitelist.txt`'s list.
    pub fn whitelist(self, address: Address) -> Self {
        self.set("whitelist", |s| s.whitelist.push(address))
    }

    /// Always refuses this caller. Adds to `<data_dir>/blacklist.txt`'s list.
    pub fn blacklist(self, address: Address) -> Self {
        self.set("blacklist", |s| s.blacklist.push(address))
    }

    /// Reads the whitelist from this file instead of `<data_dir>/whitelist.txt`.
    pub fn whitelist_file(self, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        self.set("whitelist_file", |s| s.whitelist_file = Some(path))
    }

    /// Reads the blacklist from this file instead of `<data_dir>/blacklist.txt`.
    pub fn blacklist_file(self, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        self.set("blacklist_file", |s| s.blacklist_file = Some(path))
    }

    /// How long results stay fetchable by session id (default 24 h).
    pub fn result_ttl(self, ttl: Duration) -> Self {
        self.set("result_ttl", |s| s.result_ttl = ttl)
    }

    /// Largest attached file, in MB (default 10).
    pub fn max_file_size_mb(self, mb: f64) -> Self {
        self.set("max_file_size", |s| s.max_file_size = mb)
    }

    /// Most files (and most images) in one request (default 10).
    pub fn max_files_per_request(self, count: usize) -> Self {
        self.set("max_files_per_request", |s| s.max_files_per_request = count)
    }

    /// Per-caller rate limit for admitted callers (admins exempt); default none.
    pub fn rate_limit(mut self, per_minute: u32, burst: u32) -> Self {
        self.rate_limit_burst = Some(burst);
        self.set("rate_limit", |s| s.rate_limit = Some(per_minute))
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
}

#[cfg(test)]
mod tests {
    use std::{path::Path, time::Duration};

    use agenthost_node::DemoAgent;

    use crate::settings::{Settings, Source};

    use super::Host;

    #[test]
    fn code_is_the_layer_under_file_and_environment() {
        let mut operator = Settings::default();
        operator
            .read_toml("workers = 8", Path::new("agenthost.toml"))
            .unwrap();
        operator
            .read_env(|var| (var == "AGENTHOST_QUEUE").then(|| "7".to_owned()))
            .unwrap();
        let host = Host::new(DemoAgent)
            .workers(4)
            .queue(64)
            .result_ttl(Duration::from_secs(60))
            .settings(&operator)
            .unwrap();
        let s = &host.settings;
        // Set in code and by the operator: the operator's value, and where it came from.
        assert_eq!(s.workers, 8);
        assert_eq!(s.source("workers"), Source::File("agenthost.toml".into()));
        assert_eq!(s.queue, 7);
        assert_eq!(s.source("queue"), Source::Env("AGENTHOST_QUEUE"));
        // Set in code only: the code's value.
        assert_eq!(s.result_ttl, Duration::from_secs(60));
        assert_eq!(s.source("result_ttl"), Source::Code);
        // Set nowhere: the default.
        assert_eq!(s.port, crate::DEFAULT_HTTP_PORT);
        assert_eq!(s.source("port"), Source::Default);
    }
}
