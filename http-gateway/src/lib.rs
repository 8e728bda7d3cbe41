//! agenthost-gateway: the HTTP and WebSocket side of an agent (WIRE.md §3–4).
//!
//! A [`Gateway`] is an axum router over an [`AgentService`]: the in-process dispatcher of a
//! local agent (embedded, routes at `/`), or any agent on the network reached over libp2p
//! (standalone, routes under `/agents/{address}/`). Every route becomes one agent request.
//! The files follow a request's path:
//! - `listener/`: where connections enter: hyper's HTTP/1.1 server with a header read
//!   timeout and caps on connections in total and per client address (`slots.rs`);
//! - `server.rs`: where every request enters. [`Gateway`] builds the state, mounts each
//!   front-end, adds `/metrics` and the JSON 404/405, and wraps the router once in `layers/`;
//! - `layers/`, around every request: `cors.rs` (CORS where it applies) and `metrics.rs`
//!   (requests counted and timed by route; `GET /metrics` in Prometheus format);
//! - `connectonion/`: the front-end of ConnectOnion's HTTP+WS API, its route table in
//!   `mod.rs`, a file per route: `input.rs`, `sessions.rs`, `info.rs`, `index.rs`, `docs.rs`;
//!   `openapi.rs` + `schemas.rs`: `/openapi.json`, built from the handlers' annotations;
//! - `connectonion/ws/`: `/ws` (simple and authenticated forms, SEAL), its session
//!   (`session/`) run in the agent's own process: here when embedded, and on a standalone
//!   gateway carried to the agent over a P2P socket stream (`tunnel.rs`); `live_turns.rs`
//!   keeps each turn's frames for rejoining clients and never lets a slow socket slow the
//!   agent;
//! - `mcp/`: the front-end of the Model Context Protocol (`/mcp`, on rmcp): the agent as one
//!   tool, and [`McpBridge`], the same server on stdio in front of an agent reached over P2P;
//! - shared by every front-end: `background.rs` (the tasks that outlive a request, tracked
//!   and ended with the gateway), `config.rs` ([`GatewayConfig`]), `state.rs` (the router's
//!   state and the `FromRef` sub-states handlers take), `target.rs` (which agent a request is
//!   for: the local one, or a remote one behind the allow/deny lists), `remote.rs`
//!   ([`RemoteAgent`] over the node's client), `client_addr.rs` (the client's address through
//!   trusted reverse proxies), `signed_headers.rs` (`X-Co-*` headers into the envelope the
//!   agent verifies, so the signer is checked end to end), `error.rs` (agent error codes to
//!   HTTP statuses, JSON bodies for every error).

#![warn(missing_docs)]

mod background;
mod client_addr;
mod config;
mod connectonion;
mod error;
mod layers;
mod listener;
mod mcp;
mod remote;
mod server;
mod signed_headers;
mod state;
mod target;

pub use agenthost_node::AgentService;
pub use config::{
    GatewayConfig, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_IP, DEFAULT_MCP_ALLOWED_HOSTS, DEFAULT_MCP_ALLOWED_ORIGINS,
    DEFAULT_WS_MAX_CONNECTIONS, DEFAULT_WS_REPLAY_BUDGET_MB,
};
pub use error::{status_of, ApiError};
pub use mcp::{McpBridge, McpBridgeError};
pub use remote::RemoteAgent;
pub use server::Gateway;
pub use target::{AccessLists, RemoteAgents};
