//! Hosting with a trust setting: only the callers you name may use the agent.
//!
//!     cargo run --example trust_policy -- 0x<address of a caller you trust>...
//!
//! The agent runs `strict`: a caller is admitted only if it proves one of the given addresses —
//! a libp2p peer with that key, or an HTTP request signed by it (WIRE.md §2, with `to` set to
//! this agent's address) — or it is an admin (the agent's own key, `admins.txt`). Everyone else
//! gets 403 `forbidden`. More addresses can go in `.agenthost/whitelist.txt`, re-read while the
//! agent runs.
//!
//! With `--policy "TEXT"` the rule is a natural-language policy instead of `strict`, e.g.
//! `--policy "Only callers who sign their requests may use this agent"`, judged per caller by
//! the OpenAI-compatible model named by `AGENTHOST_LLM_URL` (`AGENTHOST_LLM_MODEL`,
//! `AGENTHOST_LLM_API_KEY`); the model sees facts about the caller, never the prompt. The
//! addresses given are still admitted without asking it.
//!
//! This is `Host`, the builder behind `agenthost::host`, with settings chosen in code.

use agenthost::{agent_fn, Address, Host, Input, Trust};
use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut trust = Trust::Strict;
    let mut trusted = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--policy" {
            let text = args.next().context("--policy needs the policy text")?;
            trust = Trust::Policy(text);
        } else {
            trusted.push(Address::parse(&arg).with_context(|| format!("bad address {arg}"))?);
        }
    }

    let agent = agent_fn("members-only", |input: Input| async move {
        Ok(format!("welcome, member. you said: {}", input.prompt))
    });
    let host = trusted
        .into_iter()
        .fold(Host::new(agent).trust(trust), Host::whitelist);
    // The settings in code are defaults: `agenthost.toml` and `AGENTHOST_*` (port, data folder,
    // even `AGENTHOST_TRUST`) still apply on top, as with `agenthost::host`.
    host.load_settings()?.run().await
}
