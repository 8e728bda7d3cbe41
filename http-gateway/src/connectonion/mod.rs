//! ConnectOnion's HTTP+WebSocket API (WIRE.md §3–4), the gateway's front-end for
//! ConnectOnion's clients and SDKs. This file is its route table; each route's handler:
//! - `input.rs`: `POST /input`; `sessions.rs`: `GET /sessions`, `GET /sessions/{id}`,
//!   `POST /sessions/{id}/cancel`; `info.rs`: `GET /health`, `GET /info` (and a standalone
//!   gateway's own `GET /health`); `index.rs`: `GET /`, `GET /api/agents/{address}`;
//!   `docs.rs`: `GET /docs`; `ws/`: `/ws` (and a standalone gateway's `/ws/input`);
//! - what they share: `request.rs` (what a handler reads of the request), `reply.rs` (the agent's reply
//!   into the response body);
//! - `openapi.rs` + `schemas.rs`: the document of `GET /openapi.json`, built from the
//!   handlers' own annotations, so it cannot drift from the routes.

mod docs;
mod index;
mod info;
mod input;
mod openapi;
mod reply;
mod request;
pub(crate) mod schemas;
mod sessions;
pub(crate) mod ws;

use std::sync::Arc;

use axum::{extract::DefaultBodyLimit, routing::get, Json, Router};
use utoipa::{openapi::OpenApi as OpenApiDoc, OpenApi};
use utoipa_axum::{
    router::{OpenApiRouter, UtoipaMethodRouter},
    routes,
};

pub(crate) use ws::PeerSockets;

use crate::{state::GatewayState, target::Agents};
use openapi::{declare_address_param, ApiDoc};

/// ConnectOnion's API as one gateway serves it: its routes, and the OpenAPI document built
/// from their annotations.
pub(crate) struct ConnectOnion {
    router: Router<GatewayState>,
    doc: OpenApiDoc,
    /// The routes the document does not describe: the WebSockets.
    websockets: &'static [&'static str],
}

impl ConnectOnion {
    /// The routes of `agents`: one local agent's at `/`, or any agent's under
    /// `/agents/{address}`; request bodies up to `max_body_bytes`.
    pub(crate) fn new(agents: &Agents, max_body_bytes: usize) -> Self {
        let body_limit = DefaultBodyLimit::max(max_body_bytes);
        let (router, doc) = match agents {
            Agents::Local { .. } => agent_routes(body_limit)
                .routes(routes!(index::get_index))
                .routes(routes!(index::discover_agent))
                .split_for_parts(),
            Agents::Remote(_) => OpenApiRouter::with_openapi(ApiDoc::openapi())
                .nest("/agents/{address}", agent_routes(body_limit))
                .routes(routes!(index::get_index))
                .routes(routes!(index::discover_agent))
                .routes(routes!(info::gateway_health))
                .split_for_parts(),
        };
        let router = match agents {
            Agents::Local { .. } => router,
            Agents::Remote(_) => router.route("/ws/input", get(ws::ws_routed)),
        };
        let websockets: &'static [&'static str] = match agents {
            Agents::Local { .. } => &["/ws"],
            Agents::Remote(_) => &["/agents/{address}/ws", "/ws/input"],
        };
        ConnectOnion {
            router,
            doc,
            websockets,
        }
    }

    /// Every route template, for the metrics to label requests with: the documented ones and
    /// the few that are not (WebSockets, the document itself).
    pub(crate) fn templates(&self) -> impl Iterator<Item = &str> {
        self.doc
            .paths
            .paths
            .keys()
            .map(String::as_str)
            .chain(self.websockets.iter().copied())
            .chain(["/openapi.json"])
    }

    /// The routes, `GET /openapi.json` included.
    pub(crate) fn into_router(self) -> Router<GatewayState> {
        let ConnectOnion {
            router, mut doc, ..
        } = self;
        declare_address_param(&mut doc);
        let doc = Arc::new(doc);
        router.route(
            "/openapi.json",
            get(move || {
                let doc = Arc::clone(&doc);
                async move { Json(doc.as_ref().clone()) }
            }),
        )
    }
}

/// The routes of one agent: at `/` on an embedded gateway, under `/agents/{address}` on a
/// standalone one.
fn agent_routes(body_limit: DefaultBodyLimit) -> OpenApiRouter<GatewayState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(reads_body(routes!(input::post_input), body_limit))
        .routes(routes!(sessions::get_sessions))
        .routes(routes!(sessions::get_session))
        .routes(reads_body(routes!(sessions::cancel_session), body_limit))
        .routes(routes!(info::get_health))
        .routes(routes!(info::get_info))
        .routes(routes!(docs::get_docs))
        .route("/ws", get(ws::ws_agent))
}

/// A route that reads its request body, limited to `limit` (over it: 413). Only these routes
/// carry the limit: on every route it would be one more step for each GET.
fn reads_body(
    (schemas, paths, route): UtoipaMethodRouter<GatewayState>,
    limit: DefaultBodyLimit,
) -> UtoipaMethodRouter<GatewayState> {
    (schemas, paths, route.layer(limit))
}
