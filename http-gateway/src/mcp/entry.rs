//! The MCP route, `/mcp` on an embedded gateway and `/agents/{address}/mcp` on a standalone
//! one, in front of rmcp's streamable HTTP service. Before rmcp reads a request, this says
//! which agent it is for (404/403 as for every route), and who calls: the client's address
//! (through trusted proxies), and, when it carries `X-Co-*` headers, their signature, bound to
//! the body by its SHA-256, which the agent verifies when a `tools/call` reaches its door
//! (WIRE.md §2.6). rmcp checks Host and Origin (DNS rebinding), the body limit (413), the
//! protocol version and the session.

use std::{convert::Infallible, sync::Arc};

use axum::{
    body::{Body, Bytes},
    extract::Request,
    http::{request::Parts, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::any,
    Router,
};
use http_body_util::combinators::BoxBody;
use rmcp::transport::streamable_http_server::{
    session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService,
};
use tokio_util::sync::CancellationToken;

use super::{
    server::{AgentTools, Shared},
    upstream::{Route, Upstream},
};
use crate::{
    client_addr::{http_caller, ClientAddr},
    config::GatewayConfig,
    error::ApiError,
    signed_headers::{claimed_signer, signed_fields},
    state::GatewayState,
    target::{Agents, TargetAgent},
};

type Service = StreamableHttpService<AgentTools, LocalSessionManager>;

/// How long an answered call's events stay for a client to resume its broken stream.
const COMPLETED_CALLS_KEPT: std::time::Duration = std::time::Duration::from_secs(10);

/// The MCP front-end of a gateway.
pub(crate) struct Mcp {
    service: Arc<Service>,
    path: &'static str,
    max_body_bytes: usize,
}

impl Mcp {
    /// The endpoint for `agents`; `stop` ends its sessions when the gateway stops.
    pub(crate) fn new(agents: &Agents, config: &GatewayConfig, stop: CancellationToken) -> Self {
        let shared = Shared::new(config.request_timeout);
        let mut rmcp_config = StreamableHttpServerConfig::default()
            .with_cancellation_token(stop)
            .with_max_request_body_bytes(config.max_body_bytes);
        rmcp_config = if config.mcp_allowed_hosts.iter().any(|h| h == "*") {
            rmcp_config.disable_allowed_hosts()
        } else {
            rmcp_config.with_allowed_hosts(config.mcp_allowed_hosts.clone())
        };
        rmcp_config = if config.mcp_allowed_origins.iter().any(|o| o == "*") {
            rmcp_config.disable_allowed_origins()
        } else {
            rmcp_config
                .with_allowed_origins(config.mcp_allowed_origins.clone())
                .enforce_origin_validation()
        };
        let mut sessions = LocalSessionManager::default();
        // rmcp keeps each answered call's SSE events for a client whose stream broke to resume
        // (Last-Event-ID), 60 s by default: at thousands of calls a second that held ~200 MB
        // (measured, BENCHMARKS.md). Resumes come within the SSE retry interval (3 s).
        sessions.session_config.completed_cache_ttl = COMPLETED_CALLS_KEPT;
        let service = StreamableHttpService::new(
            move || Ok(AgentTools::per_request(Arc::clone(&shared))),
            Arc::new(sessions),
            rmcp_config,
        );
        let path = match agents {
            Agents::Local(_) => "/mcp",
            Agents::Remote(_) => "/agents/{address}/mcp",
        };
        Mcp {
            service: Arc::new(service),
            path,
            max_body_bytes: config.max_body_bytes,
        }
    }

    /// The route templates, for the metrics.
    pub(crate) fn templates(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.path)
    }

    /// The route.
    pub(crate) fn into_router(self) -> Router<GatewayState> {
        let (service, limit) = (self.service, self.max_body_bytes);
        Router::new().route(
            self.path,
            any(
                move |agent: TargetAgent, client: ClientAddr, request: Request| {
                    let service = Arc::clone(&service);
                    async move { enter(&service, limit, agent, client, request).await }
                },
            ),
        )
    }
}

/// One HTTP request to the endpoint: its route into the request, then rmcp.
async fn enter(
    service: &Service,
    limit: usize,
    agent: TargetAgent,
    ClientAddr(remote): ClientAddr,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    // A body announced over the limit is refused before a byte of it is read: a client still
    // writing it when the connection closes would never see the 413 (a broken pipe instead).
    let announced = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if announced.is_some_and(|length| length > limit) {
        return too_large(limit);
    }
    let (body, signed) = if is_signed(&parts) {
        if let Err(refused) = agent.check_signer(claimed_signer(&parts.headers)) {
            return refused.into_response();
        }
        // The signature binds the body: read it (within the limit rmcp applies too), hash
        // it, and hand rmcp the same bytes.
        let bytes = match axum::body::to_bytes(body, limit).await {
            Ok(bytes) => bytes,
            Err(_) => return too_large(limit),
        };
        match signed_fields(&parts.method, &parts.uri, &parts.headers, &bytes) {
            Ok(signed) => (Body::from(bytes), signed),
            Err(refused) => return refused.into_response(),
        }
    } else {
        (body, Default::default())
    };
    parts.extensions.insert(Route {
        address: agent.address,
        upstream: Upstream::Door {
            service: agent.service,
            caller: http_caller(remote),
            signed,
        },
    });
    let deleting = parts.method == Method::DELETE;
    let mut response = service
        .handle(Request::from_parts(parts, body))
        .await
        .map(|body: BoxBody<Bytes, Infallible>| Body::new(body));
    // rmcp ends a session with 202 Accepted; MCP's clients expect 200 or 204 (the Python SDK
    // logs any other status as a failed termination), and the session is gone at once.
    if deleting && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    response
}

fn too_large(limit: usize) -> Response {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("request body over {limit} bytes"),
    )
    .into_response()
}

/// Whether the request carries any of the signature headers.
fn is_signed(parts: &Parts) -> bool {
    ["x-co-from", "x-co-signature", "x-co-timestamp"]
        .iter()
        .any(|name| parts.headers.contains_key(*name))
}
