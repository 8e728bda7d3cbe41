//! The quick start: an echo agent on the network in one call.
//!
//!     cargo run --example echo
//!
//! The banner prints the agent's address, its listen addresses and its HTTP URL. Call it over
//! HTTP (`curl -s http://127.0.0.1:8000/input -d '{"prompt":"hi"}'`), over P2P with
//! `agenthost call <address> "hi" --addr <listen address>`, or with the `client` example.
//! `agenthost.toml` and the `AGENTHOST_*` variables configure it, e.g. `AGENTHOST_PORT=9000`
//! moves the HTTP port (0 picks a free one).

use agenthost::{agent_fn, host, Input};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    host(agent_fn("echo", |input: Input| async move {
        Ok(format!("you said: {}", input.prompt))
    }))
    .await
}
