//! [`Gateway`]: the router (routes, WebSocket, /docs, /openapi.json, /metrics; CORS, body
//! limit, JSON 404/405) and serving it.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Instant};

use agenthost_identity::{Address, MemoryReplayLedger};
use agenthost_node::AgentService;
use axum::{
    extract::{DefaultBodyLimit, State},
    routing::get,
    Json, Router,
};
use serde_json::json;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    cors::GatewayCors,
    error::{no_route, wrong_method},
    live_turns::LiveTurns,
    metrics::{self, Metrics},
    openapi::{declare_address_param, ApiDoc},
    routes,
    state::{GatewayConfig, GatewayState, Shared},
    target::{Agents, RemoteAgents},
    ws,
};

/// An HTTP gateway in front of one local agent or of any agent on the network.
pub struct Gateway {
    state: GatewayState,
}

impl Gateway {
    /// Fronts the agent of this process (no network hop): routes at `/`.
    pub fn local(address: Address, service: Arc<dyn AgentService>, config: GatewayConfig) -> Self {
        Gateway::new(Agents::Local { address, service }, config)
    }

    /// Fronts any agent reachable over libp2p: routes under `/agents/{address}/`.
    pub fn remote(agents: RemoteAgents, config: GatewayConfig) -> Self {
        Gateway::new(Agents::Remote(agents), config)
    }

    fn new(agents: Agents, config: GatewayConfig) -> Self {
        Gateway {
            state: GatewayState::new(Shared {
                agents: Arc::new(agents),
                live: Arc::new(LiveTurns::new(config.ws_lag_frames, config.replay_window)),
                config,
                metrics: Metrics::new(),
                connect_ledger: MemoryReplayLedger::new(),
                started: Instant::now(),
            }),
        }
    }

    /// The complete router, state applied.
    pub fn router(&self) -> Router {
        let state = self.state.clone();
        let (router, mut doc) = match &*state.agents {
            Agents::Local { .. } => agent_routes()
                .routes(routes!(routes::discover_agent))
                .split_for_parts(),
            Agents::Remote(_) => OpenApiRouter::with_openapi(ApiDoc::openapi())
                .nest("/agents/{address}", agent_routes())
                .routes(routes!(routes::discover_agent))
                .routes(routes!(gateway_health))
                .split_for_parts(),
        };
        let router = match &*state.agents {
            Agents::Local { .. } => router,
            Agents::Remote(_) => router.route("/ws/input", get(ws::ws_routed)),
        };
        declare_address_param(&mut doc);
        let doc = Arc::new(doc);
        router
            .route(
                "/openapi.json",
                get(move || {
                    let doc = Arc::clone(&doc);
                    async move { Json(doc.as_ref().clone()) }
                }),
            )
            .route("/metrics", get(metrics::get_metrics))
            .fallback(no_route)
            .method_not_allowed_fallback(wrong_method)
            // One `layer` call for the whole stack (outermost first): each `Router::layer`
            // boxes every route once more, and each box is cloned on every request.
            .layer(
                ServiceBuilder::new()
                    .layer(GatewayCors::new())
                    .layer(metrics::TrackLayer::new(state.clone()))
                    .layer(DefaultBodyLimit::max(state.config.max_body_bytes)),
            )
            .with_state(state)
    }

    /// Serves on `listener` until `shutdown` completes, then lets open requests finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = self.router();
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}

/// The routes of one agent: at `/` on an embedded gateway, under `/agents/{address}` on a
/// standalone one.
fn agent_routes() -> OpenApiRouter<GatewayState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(routes::post_input))
        .routes(routes!(routes::get_sessions))
        .routes(routes!(routes::get_session))
        .routes(routes!(routes::cancel_session))
        .routes(routes!(routes::get_health))
        .routes(routes!(routes::get_info))
        .routes(routes!(routes::get_docs))
        .route("/ws", get(ws::ws_agent))
}

/// The standalone gateway's own liveness.
#[utoipa::path(
    get, path = "/health",
    responses((status = 200, description = "the gateway is up", body = crate::schemas::HealthBody))
)]
async fn gateway_health(State(state): State<GatewayState>) -> Json<serde_json::Value> {
    Json(json!({
        "status": "healthy",
        "agent": null,
        "gateway": true,
        "uptime": state.started.elapsed().as_secs(),
    }))
}
