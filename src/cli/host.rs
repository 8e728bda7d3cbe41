//! `agenthost host [--demo | -- CMD ARGS...]`.

use std::{path::PathBuf, process::ExitCode};

use agenthost::{CommandAgent, DemoAgent, Host, Multiaddr, Trust, DEFAULT_DATA_DIR};
use clap::Args;

#[derive(Args)]
pub struct HostArgs {
    /// The agent's key file (created on first run). Default: <data-dir>/keys/agent.key.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Folder for the key, session database, access lists and uploads.
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Who may call: open, careful, strict, a policy text, or a policy file.
    #[arg(long, default_value = "careful", value_parser = parse_trust)]
    trust: Trust,
    /// Whitelist file (one address per line). Default: <data-dir>/whitelist.txt.
    #[arg(long, value_name = "FILE")]
    whitelist: Option<PathBuf>,
    /// Blacklist file (one address per line). Default: <data-dir>/blacklist.txt.
    #[arg(long, value_name = "FILE")]
    blacklist: Option<PathBuf>,
    /// How long results stay fetchable by session id.
    #[arg(long, value_name = "SECONDS", default_value_t = 86_400)]
    result_ttl: u64,
    /// Largest attached file, in MB.
    #[arg(long, value_name = "MB", default_value_t = 10.0)]
    max_file_size: f64,
    /// Most files (and most images) per request.
    #[arg(long, value_name = "N", default_value_t = 10)]
    max_files_per_request: usize,
    /// Requests per minute allowed to each caller (admins exempt); burst of the same size.
    #[arg(long, value_name = "PER_MINUTE")]
    rate_limit: Option<u32>,
    /// Listen multiaddr (repeatable). Default: TCP and QUIC on every interface, any port.
    #[arg(long = "listen", value_name = "MULTIADDR")]
    listen: Vec<Multiaddr>,
    /// A relay to hold a reservation on (full multiaddr ending in /p2p/<relay>; repeatable).
    #[arg(long = "relay", value_name = "MULTIADDR")]
    relay: Vec<Multiaddr>,
    /// Agent runs executing at once.
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// Requests waiting for a worker before new ones are refused as overloaded.
    #[arg(long, default_value_t = 128)]
    queue: usize,
    /// HTTP port of the gateway (POST /input, /sessions, /ws, /docs...); 0 picks a free one.
    #[arg(long, default_value_t = agenthost::DEFAULT_HTTP_PORT)]
    port: u16,
    /// Interface the HTTP gateway binds; 127.0.0.1 keeps it to this machine.
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    http_bind: std::net::IpAddr,
    /// No HTTP gateway: reachable over P2P only.
    #[arg(long, conflicts_with_all = ["port", "http_bind"])]
    no_http: bool,
    /// Seconds between WebSocket PINGs (WIRE.md says 30; shorter for tests).
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, hide = true)]
    ws_ping_interval: f64,
    /// Disable LAN discovery (mDNS).
    #[arg(long)]
    no_mdns: bool,
    /// Host the built-in demo agent (answers `echo: <prompt>`, streamed word by word).
    #[arg(long, conflicts_with = "command")]
    demo: bool,
    /// Per-request timeout of a hosted command, in seconds.
    #[arg(long, default_value_t = 300)]
    command_timeout: u64,
    /// The command to host: one process per request (see docs/command-agent.md).
    #[arg(last = true, value_name = "CMD ARGS")]
    command: Vec<String>,
}

pub async fn run(args: HostArgs) -> ExitCode {
    let result = if args.demo {
        configure(Host::new(DemoAgent), &args).run().await
    } else if let Some((program, rest)) = args.command.split_first() {
        let agent = CommandAgent::new(program, rest.to_vec())
            .timeout(std::time::Duration::from_secs(args.command_timeout));
        configure(Host::new(agent), &args).run().await
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

fn parse_trust(s: &str) -> Result<Trust, String> {
    Trust::parse(s).map_err(|e| e.to_string())
}

fn configure<A: agenthost::Agent>(host: Host<A>, args: &HostArgs) -> Host<A> {
    let mut host = host
        .data_dir(&args.data_dir)
        .trust(args.trust.clone())
        .result_ttl(std::time::Duration::from_secs(args.result_ttl))
        .max_file_size_mb(args.max_file_size)
        .max_files_per_request(args.max_files_per_request)
        .workers(args.workers)
        .queue(args.queue)
        .mdns(!args.no_mdns)
        .http_port(args.port)
        .http_bind(args.http_bind)
        .http(!args.no_http)
        .ws_ping_interval(std::time::Duration::from_secs_f64(
            args.ws_ping_interval.clamp(0.01, 86_400.0),
        ));
    for addr in &args.listen {
        host = host.listen(addr.clone());
    }
    for addr in &args.relay {
        host = host.relay(addr.clone());
    }
    if let Some(path) = &args.key_file {
        host = host.key_file(path);
    }
    if let Some(path) = &args.whitelist {
        host = host.whitelist_file(path);
    }
    if let Some(path) = &args.blacklist {
        host = host.blacklist_file(path);
    }
    if let Some(per_minute) = args.rate_limit {
        host = host.rate_limit(per_minute, per_minute.max(1));
    }
    host
}
