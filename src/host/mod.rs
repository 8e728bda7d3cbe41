//! [`Host`]: the builder that puts an agent on the network, and [`host`], its one-call form.
//!
//! - `builder.rs`: the setters. Each writes one [`Settings`] key, marked as set in code, so
//!   `agenthost.toml`, `AGENTHOST_*` variables and flags lay over the author's values with the
//!   same parsers and no copying per key; a new setting is a [`Settings`] entry and a setter;
//! - `start.rs`: [`Host::start`] (key, trust, store, node, door, gateway) and [`Host::run`];
//! - `running.rs`: [`RunningHost`], what a started host answers, and its graceful shutdown;
//! - `banner.rs`: the start-up banner;
//! - `signal.rs`: [`shutdown_signal`].

use std::{sync::Arc, time::Duration};

use agenthost_identity::AgentKey;
use agenthost_node::{trust::PolicyJudge, Agent, ServerConfig};

use crate::settings::Settings;

mod banner;
mod builder;
mod running;
mod signal;
mod start;

pub use running::RunningHost;
pub use signal::shutdown_signal;

/// Hosts `agent` with every default: the key in `.agenthost/keys/agent.key` (created on first
/// run), TCP and QUIC on all interfaces, mDNS on, trust `careful`, results kept 24 h.
/// Runs until Ctrl-C or SIGTERM.
///
/// `agenthost.toml` (in the working directory) and `AGENTHOST_*` environment variables apply
/// (see [`Host::load_settings`]), so `AGENTHOST_PORT=9000 cargo run` moves the HTTP port.
///
/// ```no_run
/// use agenthost::{agent_fn, Input};
///
/// #[tokio::main]
/// async fn main() -> anyhow::Result<()> {
///     let echo = agent_fn("echo", |input: Input| async move { Ok(format!("echo: {}", input.prompt)) });
///     agenthost::host(echo).await
/// }
/// ```
pub async fn host<A: Agent>(agent: A) -> anyhow::Result<()> {
    Host::new(agent).load_settings()?.run().await
}

/// Every setting of a hosted agent: `Host::new(agent).trust(Trust::Strict).workers(4).run()`.
///
/// ```no_run
/// use std::time::Duration;
/// use agenthost::{agent_fn, Host, Input, Trust};
///
/// # async fn run() -> anyhow::Result<()> {
/// let echo = agent_fn("echo", |input: Input| async move { Ok(input.prompt) });
/// Host::new(echo)
///     .trust(Trust::Strict)
///     .workers(4)
///     .result_ttl(Duration::from_secs(3600))
///     .http_port(8080)
///     .load_settings()? // agenthost.toml and AGENTHOST_* may still override
///     .run()
///     .await
/// # }
/// ```
pub struct Host<A: Agent> {
    agent: A,
    /// Every setting; the ones set in code are marked [`Source::Code`](crate::settings::Source).
    settings: Settings,
    /// A key given in code; otherwise the key file of the settings.
    key: Option<AgentKey>,
    /// The burst of a rate limit set in code; a limit from the settings bursts to its rate.
    rate_limit_burst: Option<u32>,
    judge: Option<Arc<dyn PolicyJudge>>,
    policy_cache_ttl: Duration,
    server: ServerConfig,
}

/// How long a policy decision about one caller is reused unless told otherwise.
const DEFAULT_POLICY_CACHE_TTL: Duration = Duration::from_secs(600);

impl<A: Agent> Host<A> {
    /// A host for `agent` with every default; the setters change them.
    pub fn new(agent: A) -> Self {
        Host {
            agent,
            settings: Settings::default(),
            key: None,
            rate_limit_burst: None,
            judge: None,
            policy_cache_ttl: DEFAULT_POLICY_CACHE_TTL,
            server: ServerConfig::default(),
        }
    }
}
