//! `agenthost-relay`: runs the relay until SIGINT or SIGTERM.

use std::process::ExitCode;

use agenthost_relay::RelayArgs;
use clap::Parser;

/// Circuit relay v2 server and agent directory for agenthost.
#[derive(Debug, Parser)]
#[command(name = "agenthost-relay", version)]
struct Cli {
    #[command(flatten)]
    args: RelayArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let cli = Cli::parse();
    agenthost_relay::run(cli.args).await
}
