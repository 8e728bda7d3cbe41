//! agenthost-relay: the relay that makes agents behind NATs reachable.
//!
//! A circuit relay v2 server with limits fit for long streaming agent sessions, an access list,
//! a directory of agents (rendezvous, namespace = agent address), identify, ping and an AutoNAT
//! v2 server — only standard libp2p protocols, so peers of any libp2p implementation can use
//! it. It identifies itself with an agenthost key file.
//!
//! Layout, one concept per file:
//! - [`config`]: `RelayConfig`, the TOML file, defaults and validation (errors name the key);
//!   its tables live in [`limits`] (relay limits → `relay::Config`), [`access`] (allow/deny
//!   lists and trusted peers, enforced as libp2p rate limiters) and [`directory`].
//! - [`dht`]: Kademlia between relays (which relay lists which agent);
//! - [`behaviour`]: the protocols; [`swarm`]: transports (TCP, QUIC) and the swarm;
//!   [`transport`]: which addresses those transports can listen on.
//! - [`relay`]: `Relay::start` → `RunningRelay` (listen, announce, run, shut down).
//! - [`events`]: swarm events → metrics and logs; [`metrics`]: the Prometheus registry;
//!   [`http`]: `/metrics` and `/health`.
//! - [`cli`]: the command-line flags and [`run`](mod@run): start, print, serve until a signal —
//!   both shared by the `agenthost-relay` binary and the `agenthost relay` subcommand;
//!   [`error`]: why a start failed.

pub mod access;
pub mod behaviour;
pub mod cli;
pub mod config;
pub mod dht;
pub mod directory;
pub mod error;
pub mod events;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod relay;
pub mod run;
pub mod swarm;
pub mod transport;

pub use access::{AccessConfig, AccessList};
pub use agenthost_identity::AgentKey;
pub use config::{ConfigError, RelayConfig, DEFAULT_RELAY_KEY_FILE};
pub use directory::DirectoryConfig;
pub use error::StartError;
pub use limits::{LimitsConfig, RateConfig};
pub use relay::{Relay, RunningRelay};
pub use run::{run, EXIT_CONFIG};
