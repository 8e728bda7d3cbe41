//! `agenthost mcp <ADDRESS>`: an MCP server on stdin/stdout whose one tool is the agent at
//! ADDRESS, reached over P2P (given addresses, the LAN, or relays). An MCP client that starts
//! local commands gets a remote agent, behind any NAT, as a local tool (docs/mcp.md).
//! Stdout carries the protocol only; logs go to stderr.

use std::{process::ExitCode, time::Duration};

use agenthost::gateway::McpBridge;
use clap::Args;

use super::target::Target;

#[derive(Args)]
pub(super) struct McpArgs {
    #[command(flatten)]
    target: Target,
    /// End a tool call as failed when the agent has not answered within this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    timeout: u64,
}

pub(super) async fn run(args: McpArgs) -> ExitCode {
    let connection = match args.target.connect().await {
        Ok(connection) => connection,
        Err(e) => return super::fail(e),
    };
    tracing::info!(agent = %connection.address(), "serving MCP on stdio");
    match McpBridge::new(connection, Duration::from_secs(args.timeout))
        .serve_stdio()
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(e),
    }
}
