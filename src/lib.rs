//! agenthost: put an AI agent on the network.
//!
//! `agenthost::host(agent)` makes an agent a libp2p peer whose address is its ed25519 key; any
//! peer that knows the address can call it with [`connect`]. This facade ties the crates
//! together:
//! - [`host`] and the [`Host`] builder (`host/`): its setters write the code layer of the
//!   settings, `start.rs` builds and starts the node, door and gateway, `running.rs` is the
//!   started host and its shutdown, `banner.rs` what it prints;
//! - [`Settings`] (`settings/`): every setting from code, `agenthost.toml`, `AGENTHOST_*`
//!   variables and flags, with where each value came from; [`init_logging`] (`logging.rs`);
//! - `reload.rs`: `--reload`'s file watcher, which retires runs of changed files;
//! - [`connect`] (`connect.rs`): call an agent by its address;
//! - re-exports of the pieces an author needs: [`Agent`], [`agent_fn`], [`Context`],
//!   [`CommandAgent`] from `agenthost-node`, and keys and addresses from `agenthost-identity`.
//!
//! The `agenthost` binary (`src/main.rs`, `src/cli/`) is a thin CLI over this library.

#![warn(missing_docs)]

// README's Rust blocks are compiled as doc tests, so the README cannot show code that does not
// build.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod connect;
#[cfg(feature = "host")]
mod host;
mod logging;
#[cfg(feature = "host")]
mod reload;
#[cfg(feature = "host")]
pub mod settings;

pub use connect::{connect, connect_with};
#[cfg(feature = "host")]
pub use host::{host, shutdown_signal, Host, RunningHost};

pub use logging::{init_logging, LogFormat, SERVICE_LOG_FILTER};
#[cfg(feature = "host")]
pub use settings::{Settings, DEFAULT_DATA_DIR, DEFAULT_HTTP_PORT, DEFAULT_RESULT_TTL};

pub use agenthost_gateway as gateway;

pub use agenthost_identity as identity;
pub use agenthost_identity::{Address, AgentKey, DEFAULT_KEY_FILE};
pub use agenthost_node as node;
pub use agenthost_node::trust::{PolicyJudge, Trust, TrustPolicy};
#[cfg(feature = "host")]
pub use agenthost_node::{
    agent_fn, agent_fn_with_context, Agent, AgentError, AgentInfo, CommandAgent, Context,
    DemoAgent, Input, Output,
};
pub use agenthost_node::{
    AgentConnection, Caller, Client, ClientError, ErrorFrame, Frame, Multiaddr, OutputFrame,
    PeerId, RelayState, RelayStatus, Reply, Request, Session,
};
