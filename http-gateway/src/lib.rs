//! agenthost-gateway: the HTTP and WebSocket side of an agent.
//!
//! Not built yet (its own issue): an axum router that turns `POST /input`, `GET /sessions`,
//! `GET /health`, `GET /info`, `/ws` and `/docs` into requests to an
//! [`AgentService`](agenthost_node::AgentService) — the in-process dispatcher of a local agent,
//! or a remote agent reached over libp2p. The trait it will be written against already exists
//! in `agenthost-node`, and this crate re-exports it so the dependency direction is fixed now.

pub use agenthost_node::AgentService;
