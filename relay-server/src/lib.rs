//! agenthost-relay: the relay that makes agents behind NATs reachable.
//!
//! A circuit relay v2 server with limits fit for long streaming agent sessions, an access list,
//! a directory of agents (rendezvous, namespace = agent address), identify, ping and an AutoNAT
//! v2 server — only standard libp2p protocols, so peers of any libp2p implementation can use
//! it. It identifies itself with an agenthost key file.
//!
//! Layout, one concept per file:
//! - `config/`: [`RelayConfig`], the TOML file, defaults and validation (errors name the key),
//!   with its tables: `limits.rs` (relay limits → `relay::Config`), `access.rs` (allow/deny
//!   lists and trusted peers, enforced as libp2p rate limiters) and `directory.rs`;
//! - `dht.rs`: Kademlia between relays (which relay lists which agent);
//! - `behaviour.rs`: the protocols; `swarm.rs`: transports (TCP, QUIC) and the swarm;
//!   `transport.rs`: which addresses those transports can listen on;
//! - `relay.rs`: [`Relay::start`] → [`RunningRelay`] (listen, announce, run, shut down);
//! - `events.rs`: swarm events → metrics and logs; `metrics.rs`: the Prometheus registry;
//!   `http.rs`: `/metrics` and `/health`;
//! - `cli.rs`: the command-line flags ([`RelayArgs`]) and `run.rs`: [`run`], start, print,
//!   serve until a signal — both shared by the `agenthost-relay` binary and the
//!   `agenthost relay` subcommand;
//! - `error.rs`: why a configuration was refused ([`ConfigError`]) or a start failed.

#![warn(missing_docs)]

mod behaviour;
mod cli;
mod config;
mod dht;
mod error;
mod events;
mod http;
mod metrics;
mod relay;
mod run;
mod swarm;
mod transport;

pub use agenthost_identity::AgentKey;
pub use cli::{MetricsAddr, RelayArgs};
pub use config::{
    AccessConfig, AccessList, DirectoryConfig, LimitsConfig, RateConfig, RelayConfig,
    DEFAULT_RELAY_KEY_FILE,
};
pub use error::{ConfigError, StartError};
pub use relay::{Relay, RunningRelay};
pub use run::{run, EXIT_CONFIG};
