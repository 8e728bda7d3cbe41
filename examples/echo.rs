//! The quick start: an echo agent on the network in one call.
//!
//!     cargo run --example echo
//!
//! The banner prints the agent's address and listen addresses; call it with
//! `agenthost call <address> "hi" --addr <listen address>`.

use agenthost::{agent_fn, host, Input};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    host(agent_fn("echo", |input: Input| async move {
        Ok(format!("you said: {}", input.prompt))
    }))
    .await
}
