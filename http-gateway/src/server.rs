//! [`Gateway`]: where every request enters. It builds the state the handlers share, mounts
//! the front-ends (ConnectOnion's API: `connectonion/`), adds `/metrics` and the JSON 404/405,
//! wraps the whole router once in the layers (`layers/`: CORS, metrics) and serves it.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use agenthost_identity::AgentKey;
use agenthost_node::{AgentService, SocketService};
use axum::{routing::get, Router};
use tokio::net::TcpListener;
use tower::ServiceBuilder;

use crate::{
    background::Background,
    config::GatewayConfig,
    connectonion::{ws::Sockets, ConnectOnion, PeerSockets},
    error::{no_route, wrong_method},
    layers::{
        cors::{GatewayCors, GatewayCorsService},
        metrics::{self, Metrics},
    },
    listener::{self, Caps, Limits},
    mcp::Mcp,
    state::{GatewayState, Shared},
    target::{Agents, LocalAgent, RemoteAgents},
};

/// How long a stopping gateway lets its background tasks (a forwarded reply, a WebSocket
/// turn's pump) finish after its last request: the agent's own shutdown has drained its runs
/// by then, so what is left is frames in flight.
const BACKGROUND_GRACE: Duration = Duration::from_secs(2);

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
        let agents = Arc::new(agents);
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::new());
        // One set of background tasks per gateway: the remote agents' forwarded replies and
        // the WebSocket turns' pumps end with it.
        let background = match agents.as_ref() {
            Agents::Remote(remote) => remote.background().clone(),
            Agents::Local(_) => Background::default(),
        };
        let sockets = Sockets::new(
            Arc::clone(&agents),
            Arc::clone(&config),
            Arc::clone(&metrics),
            background.clone(),
        );
        Gateway {
            state: GatewayState::new(Shared {
                agents,
                config,
                metrics,
                sockets,
                started: Instant::now(),
                background,
            }),
        }
    }

    /// The sockets standalone gateways carry to this (local) agent over P2P, served with the
    /// same sessions and live turns as this gateway's own `/ws`. For the node's P2P server.
    pub fn peer_sockets(&self) -> Arc<dyn SocketService> {
        Arc::new(PeerSockets::new(self.state.sockets.clone()))
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

    /// The routes of every front-end, state applied; their templates are announced to the
    /// metrics.
    fn router(&self) -> Router {
        let state = self.state.clone();
        let connectonion = ConnectOnion::new(&state.agents, state.config.max_body_bytes);
        let mcp = Mcp::new(&state.agents, &state.config, state.background.stop_token());
        // Every route template, for the metrics to label requests with: the front-ends' and
        // the metrics' own.
        state.metrics.announce(
            connectonion
                .templates()
                .chain(mcp.templates())
                .chain(["/metrics"]),
        );
        connectonion
            .into_router()
            .merge(mcp.into_router())
            .route("/metrics", get(metrics::get_metrics))
            .fallback(no_route)
            .method_not_allowed_fallback(wrong_method)
            .with_state(state)
    }

    /// Serves on `listener` until `shutdown` completes, then lets open requests finish, and
    /// the background tasks (forwarded replies, WebSocket turns) within 2 s.
    /// Dropping the returned future stops the background tasks at once.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let background = self.state.background.clone();
        let _stop_background = background.stop_on_drop();
        let config = &self.state.config;
        let limits = Limits {
            header_read_timeout: config.header_read_timeout,
            caps: Caps {
                total: config.max_connections.max(1),
                per_ip: config.max_connections_per_ip.max(1),
                exempt: config.trusted_proxies.clone(),
            },
        };
        let metrics = Arc::clone(&self.state.metrics);
        let served = listener::serve(listener, self.app(), limits, metrics, shutdown).await;
        let stopped = background.shut_down(BACKGROUND_GRACE).await;
        if stopped > 0 {
            tracing::warn!(
                stopped,
                "gateway stopped: background tasks still running were ended"
            );
        }
        served
    }
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
