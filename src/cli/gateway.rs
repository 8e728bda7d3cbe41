//! `agenthost gateway`: a standalone HTTP/WebSocket gateway in front of any agent on the
//! network, under `/agents/{address}/…`, reached over libp2p (directly, by mDNS, or through
//! relays).

use std::{net::IpAddr, path::PathBuf, process::ExitCode};

use agenthost::{
    gateway::{AccessLists, Gateway, GatewayConfig, RemoteAgents},
    identity,
    node::NodeConfig,
    Address, AgentKey, Client, Multiaddr,
};
use clap::Args;

#[derive(Args)]
pub(super) struct GatewayArgs {
    /// HTTP port; 0 picks a free one.
    #[arg(long, default_value_t = agenthost::DEFAULT_HTTP_PORT)]
    port: u16,
    /// Interface to bind; 127.0.0.1 keeps it to this machine.
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    http_bind: IpAddr,
    /// A relay agents are reserved on (full multiaddr ending in /p2p/<relay>; repeatable):
    /// agents are dialed through it.
    #[arg(long = "relay", value_name = "MULTIADDR")]
    relay: Vec<Multiaddr>,
    /// Serve only these agents (repeatable); default: any agent.
    #[arg(long = "allow", value_name = "ADDRESS", value_parser = parse_address)]
    allow: Vec<Address>,
    /// Never serve this agent, nor forward requests signed by this address (repeatable).
    #[arg(long = "deny", value_name = "ADDRESS", value_parser = parse_address)]
    deny: Vec<Address>,
    /// The gateway's own libp2p identity (agents see it as the carrying peer); default: a
    /// fresh one each start.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Disable LAN discovery of agents (mDNS).
    #[arg(long)]
    no_mdns: bool,
    /// A reverse proxy whose X-Forwarded-For names the client (repeatable).
    #[arg(long = "trusted-proxy", value_name = "IP")]
    trusted_proxy: Vec<IpAddr>,
    /// How long a client has to send a request's headers, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = agenthost::gateway::DEFAULT_HEADER_READ_TIMEOUT.as_secs_f64())]
    http_header_timeout: f64,
    /// Connections held at once; one more gets 503.
    #[arg(long, value_name = "N", default_value_t = agenthost::gateway::DEFAULT_MAX_CONNECTIONS)]
    http_max_connections: usize,
    /// Connections from one address (trusted proxies are not counted).
    #[arg(long, value_name = "N", default_value_t = agenthost::gateway::DEFAULT_MAX_CONNECTIONS_PER_IP)]
    http_max_per_ip: usize,
    /// A Host header the MCP endpoints accept (repeatable; `*`: any); default: loopback names.
    /// List the names clients use to reach this gateway.
    #[arg(long = "mcp-allowed-host", value_name = "HOST")]
    mcp_allowed_host: Vec<String>,
    /// A browser Origin the MCP endpoints accept (repeatable; `*`: any); default: loopback.
    #[arg(long = "mcp-allowed-origin", value_name = "ORIGIN")]
    mcp_allowed_origin: Vec<String>,
}

/// The connection limits and the MCP Host and Origin lists given on the command line.
fn mcp_config(args: &GatewayArgs, mut config: GatewayConfig) -> GatewayConfig {
    config.header_read_timeout =
        std::time::Duration::try_from_secs_f64(args.http_header_timeout.max(0.01))
            .unwrap_or(config.header_read_timeout);
    config.max_connections = args.http_max_connections.max(1);
    config.max_connections_per_ip = args.http_max_per_ip.max(1);
    if !args.mcp_allowed_host.is_empty() {
        config.mcp_allowed_hosts = args.mcp_allowed_host.clone();
    }
    if !args.mcp_allowed_origin.is_empty() {
        config.mcp_allowed_origins = args.mcp_allowed_origin.clone();
    }
    config
}

fn parse_address(s: &str) -> Result<Address, String> {
    Address::parse(s).map_err(|e| e.to_string())
}

pub(super) async fn run(args: GatewayArgs) -> ExitCode {
    match serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(e),
    }
}

async fn serve(args: GatewayArgs) -> anyhow::Result<()> {
    let key = match &args.key_file {
        Some(path) => identity::load_or_create_key(path)?.0,
        None => AgentKey::generate(),
    };
    let peer_id = key.peer_id();
    let mut config = NodeConfig::new(key);
    config.mdns = !args.no_mdns;
    let client = Client::start(config).await?;
    let lists = AccessLists {
        allow: args.allow.iter().copied().collect(),
        deny: args.deny.iter().copied().collect(),
    };
    let gateway = Gateway::remote(
        RemoteAgents::new(client, args.relay.clone(), lists),
        mcp_config(
            &args,
            GatewayConfig {
                trusted_proxies: args.trusted_proxy.clone(),
                ..GatewayConfig::default()
            },
        ),
    );
    let bind = std::net::SocketAddr::new(args.http_bind, args.port);
    let listener = tokio::net::TcpListener::bind(bind).await.map_err(|e| {
        anyhow::anyhow!("binding the HTTP port {bind}: {e} (choose another with --port)")
    })?;
    let addr = listener.local_addr()?;
    let host = if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    };
    println!("agenthost {} gateway", env!("CARGO_PKG_VERSION"));
    println!("peer_id: {peer_id}");
    println!("http: http://{host} (bound to {addr})");
    println!("routes: http://{host}/agents/<address>/{{input,sessions,health,info,docs,ws}}");
    for relay in &args.relay {
        println!("relay: {relay}");
    }
    println!("Waiting for requests (Ctrl-C to stop)");
    gateway
        .serve(listener, agenthost::shutdown_signal())
        .await
        .map_err(Into::into)
}
