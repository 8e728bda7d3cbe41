//! ConnectOnion's HTTP+WebSocket API (WIRE.md §3–4), the gateway's front-end for
//! ConnectOnion's clients and SDKs: `routes.rs` (the HTTP routes), `signed_get.rs` (`X-Co-*`
//! headers into the envelope the agent verifies), `openapi.rs` + `schemas.rs` (the document
//! of `/openapi.json`), `ws/` (the `/ws` sockets).

pub(crate) mod openapi;
pub(crate) mod routes;
pub(crate) mod schemas;
mod signed_get;
pub(crate) mod ws;
