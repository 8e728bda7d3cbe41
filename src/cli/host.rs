//! `agenthost host [--demo | -- CMD ARGS...]` and `agenthost config` (the same flags, printing
//! the effective settings and where each came from).
//!
//! Flags are read as text and parsed by [`Settings`], the same parser as the file and the
//! environment, so a bad value reads the same wherever it was written.

use std::{path::PathBuf, process::ExitCode};

use agenthost::{settings::CONFIG_FILE, Agent, CommandAgent, DemoAgent, Host, Settings};
use clap::Args;

#[derive(Args)]
pub(super) struct HostArgs {
    /// Settings file (default: ./agenthost.toml if present; also $AGENTHOST_CONFIG).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The agent's name in /info, the banner and /docs (default: the agent's own).
    #[arg(long)]
    name: Option<String>,
    /// Who may call: open, careful (default), strict, a policy text, or a policy file.
    #[arg(long)]
    trust: Option<String>,
    /// Always admit this address (repeatable), besides <data-dir>/whitelist.txt.
    #[arg(long, value_name = "ADDRESS")]
    whitelist: Vec<String>,
    /// Always refuse this address (repeatable), besides <data-dir>/blacklist.txt.
    #[arg(long, value_name = "ADDRESS")]
    blacklist: Vec<String>,
    /// Whitelist file, one address per line (default <data-dir>/whitelist.txt).
    #[arg(long, value_name = "FILE")]
    whitelist_file: Option<String>,
    /// Blacklist file, one address per line (default <data-dir>/blacklist.txt).
    #[arg(long, value_name = "FILE")]
    blacklist_file: Option<String>,
    /// HTTP port of the gateway (default 8000); 0 picks a free one.
    #[arg(long, value_name = "N")]
    port: Option<String>,
    /// Interface the HTTP gateway binds (default 0.0.0.0); 127.0.0.1 keeps it to this machine.
    #[arg(long, value_name = "IP")]
    http_bind: Option<String>,
    /// No HTTP gateway: reachable over P2P only.
    #[arg(long)]
    no_http: bool,
    /// A reverse proxy whose X-Forwarded-For names the client (repeatable), e.g. 127.0.0.1
    /// for nginx on this machine.
    #[arg(long = "trusted-proxy", value_name = "IP")]
    trusted_proxy: Vec<String>,
    /// How long an HTTP client has to send a request's headers (default 10 s).
    #[arg(long, value_name = "DURATION")]
    http_header_timeout: Option<String>,
    /// HTTP connections held at once (default 2048); one more gets 503.
    #[arg(long, value_name = "N")]
    http_max_connections: Option<String>,
    /// HTTP connections from one address (default 256; trusted proxies are not counted).
    #[arg(long, value_name = "N")]
    http_max_per_ip: Option<String>,
    /// Inbound P2P connections in their handshake at once (default 128).
    #[arg(long, value_name = "N")]
    p2p_max_pending: Option<String>,
    /// Inbound P2P connections established at once (default 1024).
    #[arg(long, value_name = "N")]
    p2p_max_incoming: Option<String>,
    /// P2P connections with one peer at once (default 8).
    #[arg(long, value_name = "N")]
    p2p_max_per_peer: Option<String>,
    /// WebSockets open at once (default 1024); one more gets 503.
    #[arg(long, value_name = "N")]
    ws_max_connections: Option<String>,
    /// MiB all live WebSocket turns keep for rejoining clients (default 256).
    #[arg(long, value_name = "MIB")]
    ws_replay_budget_mb: Option<String>,
    /// A Host header /mcp accepts (repeatable; `*`: any); default: loopback names only.
    #[arg(long = "mcp-allowed-host", value_name = "HOST")]
    mcp_allowed_host: Vec<String>,
    /// A browser Origin /mcp accepts (repeatable; `*`: any); default: loopback origins only.
    #[arg(long = "mcp-allowed-origin", value_name = "ORIGIN")]
    mcp_allowed_origin: Vec<String>,
    /// Agent runs executing at once (default 16).
    #[arg(long, value_name = "N")]
    workers: Option<String>,
    /// Runs waiting for a worker before new ones are refused as overloaded (default 128).
    #[arg(long, value_name = "N")]
    queue: Option<String>,
    /// How long results stay fetchable: seconds or 30m, 24h... (default 24h).
    #[arg(long, value_name = "DURATION")]
    result_ttl: Option<String>,
    /// A relay to hold a reservation on (multiaddr ending in /p2p/<relay>; repeatable);
    /// `none` clears relays set in the file or environment.
    #[arg(long = "relay", value_name = "MULTIADDR")]
    relay: Vec<String>,
    /// Retire runs in flight and use the new files when files in the working directory change.
    #[arg(long)]
    reload: bool,
    /// Listen multiaddr (repeatable). Default: TCP and QUIC on every interface, any port.
    #[arg(long, value_name = "MULTIADDR")]
    listen: Vec<String>,
    /// Disable LAN discovery (mDNS).
    #[arg(long)]
    no_mdns: bool,
    /// Folder for the key, session database, access lists and uploads (default .agenthost).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<String>,
    /// The agent's key file, created on first run (default <data-dir>/keys/agent.key).
    #[arg(long, value_name = "FILE")]
    key_file: Option<String>,
    /// Largest attached file, in MB (default 10).
    #[arg(long, value_name = "MB")]
    max_file_size: Option<String>,
    /// Most files (and most images) per request (default 10).
    #[arg(long, value_name = "N")]
    max_files_per_request: Option<String>,
    /// Requests per minute allowed to each caller, admins exempt (default none).
    #[arg(long, value_name = "PER_MINUTE")]
    rate_limit: Option<String>,
    /// Per-request timeout of a hosted command (default 300 s).
    #[arg(long, value_name = "DURATION")]
    command_timeout: Option<String>,
    /// On SIGTERM/SIGINT or a reload, how long runs may finish before being interrupted
    /// (default 30 s).
    #[arg(long, value_name = "DURATION")]
    grace_period: Option<String>,
    /// Seconds between WebSocket PINGs (WIRE.md says 30; shorter for tests).
    #[arg(long, value_name = "DURATION", hide = true)]
    ws_ping_interval: Option<String>,
    /// Log lines as text (default) or json.
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
    /// Log filter, RUST_LOG syntax (default $RUST_LOG, else info).
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,
    /// Host the built-in demo agent (answers `echo: <prompt>`, streamed word by word).
    #[arg(long, conflicts_with = "command")]
    demo: bool,
    /// The command to host: one process per request (see docs/command-agent.md).
    #[arg(last = true, value_name = "CMD ARGS")]
    command: Vec<String>,
}

impl HostArgs {
    /// The flags given, as (setting key, text) pairs in the order the settings apply them.
    fn flags(&self) -> Vec<(&'static str, String)> {
        let mut flags = Vec::new();
        let mut one = |key: &'static str, value: &Option<String>| {
            if let Some(v) = value {
                flags.push((key, v.clone()));
            }
        };
        one("name", &self.name);
        one("trust", &self.trust);
        one("whitelist_file", &self.whitelist_file);
        one("blacklist_file", &self.blacklist_file);
        one("port", &self.port);
        one("http_bind", &self.http_bind);
        one("workers", &self.workers);
        one("queue", &self.queue);
        one("result_ttl", &self.result_ttl);
        one("data_dir", &self.data_dir);
        one("key_file", &self.key_file);
        one("max_file_size", &self.max_file_size);
        one("max_files_per_request", &self.max_files_per_request);
        one("rate_limit", &self.rate_limit);
        one("command_timeout", &self.command_timeout);
        one("grace_period", &self.grace_period);
        one("ws_ping_interval", &self.ws_ping_interval);
        one("http_header_timeout", &self.http_header_timeout);
        one("http_max_connections", &self.http_max_connections);
        one("p2p_max_pending", &self.p2p_max_pending);
        one("ws_max_connections", &self.ws_max_connections);
        one("ws_replay_budget_mb", &self.ws_replay_budget_mb);
        one("p2p_max_incoming", &self.p2p_max_incoming);
        one("p2p_max_per_peer", &self.p2p_max_per_peer);
        one("http_max_per_ip", &self.http_max_per_ip);
        one("log_format", &self.log_format);
        one("log", &self.log);
        // Repeated flags make one list, replacing the file's or environment's list.
        for (key, values) in [
            ("whitelist", &self.whitelist),
            ("blacklist", &self.blacklist),
            ("relays", &self.relay),
            ("listen", &self.listen),
            ("trusted_proxies", &self.trusted_proxy),
            ("mcp_allowed_hosts", &self.mcp_allowed_host),
            ("mcp_allowed_origins", &self.mcp_allowed_origin),
        ] {
            if !values.is_empty() {
                flags.push((key, values.join(",")));
            }
        }
        for (key, on, value) in [
            ("http", self.no_http, "false"),
            ("mdns", self.no_mdns, "false"),
            ("reload", self.reload, "true"),
        ] {
            if on {
                flags.push((key, value.into()));
            }
        }
        flags
    }

    fn settings(&self) -> anyhow::Result<Settings> {
        Ok(Settings::load(self.config.as_deref(), &self.flags())?)
    }
}

/// Runs `host` with the settings read from flags, environment and file.
async fn serve<A: Agent>(host: Host<A>, settings: &Settings) -> anyhow::Result<()> {
    host.settings(settings)?.run().await
}

pub(super) async fn run(args: HostArgs) -> ExitCode {
    let settings = match args.settings() {
        Ok(settings) => settings,
        Err(e) => return super::fail(e),
    };
    let result = if args.demo {
        serve(Host::new(DemoAgent), &settings).await
    } else if let Some((program, rest)) = args.command.split_first() {
        let agent = CommandAgent::new(program, rest.to_vec()).timeout(settings.command_timeout);
        serve(Host::new(agent), &settings).await
    } else {
        return super::fail(anyhow::anyhow!(
            "nothing to host: pass --demo, or a command after `--` (agenthost host -- python3 agent.py)"
        ));
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(e),
    }
}

/// `agenthost config [host flags]`: the effective settings, `key = value  (source)`.
pub(super) fn config(args: HostArgs) -> ExitCode {
    let settings = match args.settings() {
        Ok(settings) => settings,
        Err(e) => return super::fail(e),
    };
    match &settings.config_file {
        Some(path) => println!("# settings file: {}", path.display()),
        None => {
            println!("# settings file: none ({CONFIG_FILE} not found in the working directory)")
        }
    }
    for line in settings.lines() {
        println!("{line}");
    }
    ExitCode::SUCCESS
}
