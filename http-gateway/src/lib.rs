//! agenthost-gateway: the HTTP and WebSocket side of an agent (WIRE.md §3–4).
//!
//! A [`Gateway`] (`server.rs`) is an axum router over an
//! [`AgentService`]: the in-process dispatcher of a local agent
//! (embedded, routes at `/`), or any agent on the network reached over libp2p (standalone,
//! routes under `/agents/{address}/`; `remote.rs`, `target.rs` with its allow/deny lists).
//! Every route becomes one agent request:
//! - `connectonion/`: ConnectOnion's API, its route table in `mod.rs`: `input.rs`
//!   (`POST /input`), `sessions.rs`, `info.rs` (`GET /health`, `GET /info`), `index.rs`
//!   (`GET /`, `GET /api/agents/{address}`), `docs.rs`; `signed_get.rs` turns `X-Co-*`
//!   headers into the envelope the agent verifies, so the signer is checked end to end;
//!   `openapi.rs` + `schemas.rs`: `/openapi.json`, built from the handlers' annotations;
//! - `connectonion/ws/`: `/ws` (simple and authenticated forms, SEAL), its session run in the
//!   agent's own process: here when embedded, and on a standalone gateway carried to the agent
//!   over a P2P socket stream (`tunnel.rs`); `live_turns.rs` keeps each turn's frames for
//!   rejoining clients and never lets a slow socket slow the agent;
//! - `error.rs`: agent error codes to HTTP statuses, JSON bodies for every error;
//!   `client_addr.rs`: the client's address through trusted reverse proxies;
//! - `layers/`, once around the whole router: `cors.rs` (CORS where it applies) and
//!   `metrics.rs` (requests counted by route; `/metrics` in Prometheus format).

#![warn(missing_docs)]

mod client_addr;
mod connectonion;
mod error;
mod layers;
mod remote;
mod server;
mod state;
mod target;

pub use agenthost_node::AgentService;
pub use error::{status_of, ApiError};
pub use remote::RemoteAgent;
pub use server::Gateway;
pub use state::GatewayConfig;
pub use target::{AccessLists, RemoteAgents};
