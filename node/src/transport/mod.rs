//! The transport: one libp2p swarm and what it does for the agent and its callers.
//! - `node.rs`: [`Node`], the swarm built and bound (TCP + QUIC, Noise, Yamux, DNS, the relay
//!   client), and its one task started;
//! - `config.rs`: [`NodeConfig`] and [`NodeError`];
//! - `handle.rs` + `command.rs`: [`NodeHandle`], how everything else talks to that task;
//! - `task.rs` + `task_events.rs`: the task owning the swarm, its commands and its events;
//! - `behaviour.rs`: the composed swarm behaviour (identify, ping, mDNS, relay client, DCUtR,
//!   AutoNAT, rendezvous, Kademlia client, and the request streams of `crate::stream`);
//! - `reservations.rs`: circuit relay reservations, re-made with capped backoff;
//! - `directory.rs`: registrations in the relays' directories, and look-ups there;
//! - `dht.rs`: look-ups in the relays' Kademlia DHT;
//! - `reachability.rs`: what AutoNAT found out about our own addresses.

mod behaviour;
mod command;
mod config;
mod denied;
mod dht;
mod directory;
mod handle;
mod lock;
mod node;
mod reachability;
mod reservations;
mod task;
mod task_events;

pub use config::{InboundLimits, NodeConfig, NodeError};
pub use dht::{FoundRelay, KAD_PROTOCOL};
pub use directory::PeerRecordAddrs;
pub use handle::{NodeHandle, SharedAddrs};
pub use node::Node;
pub use reachability::{NatStatus, Reachability};
pub use reservations::{RelayState, RelayStatus, SharedRelayStatus};
