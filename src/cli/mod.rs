//! Argument parsing and dispatch to one module per subcommand. Exit codes scripts can rely on:
//! 0 success, 1 the agent answered with an error, 2 usage or connection errors.

mod bench;
mod bench_mcp;
mod bench_relay;
mod call;
mod gateway;
mod health;
mod host;
mod keys;
mod mcp;
mod sessions;
mod target;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "agenthost", version, about = "Put an AI agent on the network")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or show the identity key.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Host the demo agent or any command as an agent.
    Host(host::HostArgs),
    /// Print the effective settings of `host` (same flags), each with where it came from.
    Config(host::HostArgs),
    /// Check an HTTP health URL: exit 0 on 200 (for container health checks).
    Health(health::HealthArgs),
    /// Call an agent by its address.
    Call(call::CallArgs),
    /// Serve MCP on stdio, the agent at an address as the one tool (for MCP clients).
    Mcp(mcp::McpArgs),
    /// Show one of your sessions on an agent (JSON).
    Session(sessions::SessionArgs),
    /// List your sessions on an agent, newest first (JSON).
    Sessions(sessions::SessionsArgs),
    /// Cancel your running turn of a session (JSON).
    Cancel(sessions::SessionArgs),
    /// Serve HTTP and WebSocket in front of any agent on the network (/agents/<address>/...).
    Gateway(gateway::GatewayArgs),
    /// Run a circuit relay v2 server and agent directory (same as `agenthost-relay`).
    Relay(agenthost_relay::RelayArgs),
    /// Measure throughput and latency.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Exit code for usage and connection errors.
pub(crate) const EXIT_USAGE: u8 = 2;

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    // libp2p's own info lines (peer id, mDNS interfaces) repeat what the banner says.
    match cli.command {
        // `host` installs its logger once its settings (log format and filter) are known.
        Command::Host(_) => {}
        Command::Relay(_) | Command::Gateway(_) => {
            agenthost::init_logging(Default::default(), None, agenthost::SERVICE_LOG_FILTER);
        }
        _ => {
            agenthost::init_logging(Default::default(), None, "warn");
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Keys(cmd) => keys::run(cmd),
            Command::Host(args) => host::run(args).await,
            Command::Config(args) => host::config(args),
            Command::Health(args) => health::run(args).await,
            Command::Call(args) => call::run(args).await,
            Command::Mcp(args) => mcp::run(args).await,
            Command::Session(args) => sessions::session(args).await,
            Command::Sessions(args) => sessions::sessions(args).await,
            Command::Cancel(args) => sessions::cancel(args).await,
            Command::Relay(args) => agenthost_relay::run(args).await,
            Command::Gateway(args) => gateway::run(args).await,
            Command::Bench(cmd) => bench::run(cmd).await,
        }
    })
}

/// Prints `error: …` with its causes and returns the usage exit code.
pub(crate) fn fail(error: impl Into<anyhow::Error>) -> ExitCode {
    eprintln!("error: {:#}", error.into());
    ExitCode::from(EXIT_USAGE)
}
