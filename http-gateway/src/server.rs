//! [`Gateway`]: the router (routes, WebSocket, /docs, /openapi.json, /metrics; CORS, body
//! limit, JSON 404/405) and serving it.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Instant};

use agenthost_identity::AgentKey;
use agenthost_node::{AgentService, SocketService};
use axum::{
    extract::{DefaultBodyLimit, State},
    routing::get,
    Json, Router, ServiceExt,
};
use serde_json::json;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use utoipa::OpenApi;
use utoipa_axum::{
    router::{OpenApiRouter, UtoipaMethodRouter},
    routes,
};

use crate::{
    connectonion::{
        openapi::{declare_address_param, ApiDoc},
        routes,
        ws::{self, live_turns::LiveTurns, PeerSockets},
    },
    error::{no_route, wrong_method},
    layers::{
        cors::{GatewayCors, GatewayCorsService},
        metrics::{self, Metrics},
    },
    state::{GatewayConfig, GatewayState, Shared},
    target::{Agents, LocalAgent, RemoteAgents},
};

/// The service a gateway serves: the router inside CORS and metrics.
type App = GatewayCorsService<metrics::Track<Router>>;

/// An HTTP gateway in front of one local agent or of any agent on the network.
pub struct Gateway {
    state: GatewayState,
}

impl Gateway {
    /// Fronts the agent of this process (no network hop): routes at `/`. The agent's key
    /// seals sockets (SEAL); checking signatures stays with `service`, the agent's door.
    pub fn local(key: AgentKey, service: Arc<dyn AgentService>, config: GatewayConfig) -> Self {
        let agent = LocalAgent {
            address: key.address(),
            service,
            key,
        };
        Gateway::new(Agents::Local(agent), config)
    }

    /// Fronts any agent reachable over libp2p: routes under `/agents/{address}/`.
    pub fn remote(agents: RemoteAgents, config: GatewayConfig) -> Self {
        Gateway::new(Agents::Remote(agents), config)
    }

    fn new(agents: Agents, config: GatewayConfig) -> Self {
        Gateway {
            state: GatewayState::new(Shared {
                agents: Arc::new(agents),
                live: Arc::new(LiveTurns::new(config.ws_lag_frames)),
                config,
                metrics: Arc::new(Metrics::new()),
                started: Instant::now(),
            }),
        }
    }

    /// The sockets standalone gateways carry to this (local) agent over P2P, served with the
    /// same sessions and live turns as this gateway's own `/ws`. For the node's P2P server.
    pub fn peer_sockets(&self) -> Arc<dyn SocketService> {
        Arc::new(PeerSockets::new(self.state.clone()))
    }

    /// The gateway as one service: CORS and metrics around the router (state applied).
    fn app(&self) -> App {
        // Around the whole router, once: `Router::layer` would box every route once more, and
        // axum clones a route's box on every request.
        ServiceBuilder::new()
            .layer(GatewayCors)
            .layer(metrics::TrackLayer::new(Arc::clone(&self.state.metrics)))
            .service(self.router())
    }

    /// The routes, state applied; their templates are announced to the metrics.
    fn router(&self) -> Router {
        let state = self.state.clone();
        let body_limit = DefaultBodyLimit::max(state.config.max_body_bytes);
        let (router, mut doc) = match &*state.agents {
            Agents::Local { .. } => agent_routes(body_limit)
                .routes(routes!(routes::get_index))
                .routes(routes!(routes::discover_agent))
                .split_for_parts(),
            Agents::Remote(_) => OpenApiRouter::with_openapi(ApiDoc::openapi())
                .nest("/agents/{address}", agent_routes(body_limit))
                .routes(routes!(routes::get_index))
                .routes(routes!(routes::discover_agent))
                .routes(routes!(gateway_health))
                .split_for_parts(),
        };
        let router = match &*state.agents {
            Agents::Local { .. } => router,
            Agents::Remote(_) => router.route("/ws/input", get(ws::ws_routed)),
        };
        // Every route template, for the metrics to label requests with: the documented ones
        // and the few that are not (WebSockets, the document itself, the metrics).
        let websockets: &[&str] = match &*state.agents {
            Agents::Local { .. } => &["/ws"],
            Agents::Remote(_) => &["/agents/{address}/ws", "/ws/input"],
        };
        state.metrics.announce(
            doc.paths
                .paths
                .keys()
                .map(String::as_str)
                .chain(websockets.iter().copied())
                .chain(["/openapi.json", "/metrics"]),
        );
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
            .with_state(state)
    }

    /// Serves on `listener` until `shutdown` completes, then lets open requests finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = self.app();
        axum::serve(
            listener,
            ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<SocketAddr>(
                app,
            ),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}

/// The routes of one agent: at `/` on an embedded gateway, under `/agents/{address}` on a
/// standalone one.
fn agent_routes(body_limit: DefaultBodyLimit) -> OpenApiRouter<GatewayState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(reads_body(routes!(routes::post_input), body_limit))
        .routes(routes!(routes::get_sessions))
        .routes(routes!(routes::get_session))
        .routes(reads_body(routes!(routes::cancel_session), body_limit))
        .routes(routes!(routes::get_health))
        .routes(routes!(routes::get_info))
        .routes(routes!(routes::get_docs))
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

/// The standalone gateway's own liveness.
#[utoipa::path(
    get, path = "/health",
    responses((status = 200, description = "the gateway is up", body = crate::connectonion::schemas::HealthBody))
)]
async fn gateway_health(State(state): State<GatewayState>) -> Json<serde_json::Value> {
    Json(json!({
        "status": "healthy",
        "agent": null,
        "gateway": true,
        "uptime": state.started.elapsed().as_secs(),
    }))
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use agenthost_node::{Caller, ErrorCode, Reply, Request};
    use axum::{
        body::{to_bytes, Body, Bytes},
        extract::ConnectInfo,
        http::{self, StatusCode},
    };
    use tower::ServiceExt;

    use super::*;

    /// Answers everything with an error: these tests look at routing, not at the agent.
    struct Unavailable;

    impl AgentService for Unavailable {
        fn call(&self, _request: Request, _caller: Caller) -> Reply {
            Reply::error(ErrorCode::Unavailable, "not running")
        }
    }

    async fn get(app: &App, path: &str) -> (StatusCode, Bytes) {
        let mut request = http::Request::get(path).body(Body::empty()).unwrap();
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        (
            status,
            to_bytes(response.into_body(), usize::MAX).await.unwrap(),
        )
    }

    #[tokio::test]
    async fn every_request_is_labelled_with_the_route_that_served_it() {
        let key = AgentKey::generate();
        let address = key.address();
        let gateway = Gateway::local(key, Arc::new(Unavailable), GatewayConfig::default());
        let app = gateway.app();
        let (status, doc) = get(&app, "/openapi.json").await;
        assert_eq!(status, StatusCode::OK);
        let doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        let mut templates: Vec<String> =
            doc["paths"].as_object().unwrap().keys().cloned().collect();
        templates.extend(["/ws", "/openapi.json", "/metrics"].map(String::from));
        for template in &templates {
            let path = template
                .replace("{id}", "s1")
                .replace("{address}", &address.to_string());
            get(&app, &path).await;
        }
        assert_eq!(get(&app, "/no/such/route").await.0, StatusCode::NOT_FOUND);

        let text = gateway.state.metrics.encode();
        // Only the unknown path went unmatched: every route's template was announced.
        assert!(
            text.contains(r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#),
            "{text}"
        );
        for template in templates.iter().map(String::as_str).chain(["unmatched"]) {
            assert!(
                text.contains(&format!("route=\"{template}\"")),
                "{template} not counted:\n{text}"
            );
        }
    }
}
