//! `GET /health` and `GET /info` of an agent, and a standalone gateway's own `GET /health`.

use std::{future::Future, sync::Arc};

use agenthost_node::{trust::Arrival, Caller, Request};
use axum::{
    extract::State,
    http::{header, HeaderMap},
    Json,
};
use futures::FutureExt;
use serde_json::{json, Value};

use super::{
    reply::response_body,
    schemas::{HealthBody, InfoBody},
};
use crate::{
    client_addr::{http_caller, ClientAddr},
    config::GatewayConfig,
    error::{ApiError, ErrorBody},
    state::StartedAt,
    target::TargetAgent,
};

/// Liveness of the agent.
#[utoipa::path(
    get, path = "/health",
    responses(
        (status = 200, description = "healthy", body = HealthBody),
        (status = 502, description = "agent unreachable", body = ErrorBody),
        (status = 504, description = "agent timed out", body = ErrorBody),
    )
)]
pub(crate) fn get_health(
    State(config): State<Arc<GatewayConfig>>,
    agent: TargetAgent,
    ClientAddr(remote): ClientAddr,
) -> impl Future<Output = Result<Json<Value>, ApiError>> {
    // HEALTH passes no door: the caller's facts are never read, so the remote address is not
    // even formatted. Not an `async fn`: nothing here waits but the reply, and a future that
    // holds only that keeps this route, the one load balancers hit hardest, small.
    let caller = Caller::anonymous(
        Arrival::Http {
            loopback: remote.ip().is_loopback(),
        },
        None,
    );
    let reply = agent.service.call(Request::Health {}, caller);
    response_body(&config, reply).map(|body| body.map(Json))
}

/// The agent's name, address, trust, tools, limits, and how it is reachable.
#[utoipa::path(
    get, path = "/info",
    responses(
        (status = 200, description = "the agent", body = InfoBody),
        (status = 502, description = "agent unreachable", body = ErrorBody),
        (status = 504, description = "agent timed out", body = ErrorBody),
    )
)]
pub(crate) async fn get_info(
    State(config): State<Arc<GatewayConfig>>,
    agent: TargetAgent,
    ClientAddr(remote): ClientAddr,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let reply = agent.service.call(Request::Info {}, http_caller(remote));
    let mut body = response_body(&config, reply).await?;
    if let Some(obj) = body.as_object_mut() {
        let base = endpoint(&headers, &agent.base_path);
        obj.insert("mcp".into(), json!(format!("{base}/mcp")));
        obj.insert("endpoints".into(), json!([base]));
    }
    Ok(Json(body))
}

/// The base URL of an agent on this gateway, as the client reached it.
pub(super) fn endpoint(headers: &HeaderMap, base_path: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}{base_path}")
}

/// The standalone gateway's own liveness.
#[utoipa::path(
    get, path = "/health",
    responses((status = 200, description = "the gateway is up", body = HealthBody))
)]
pub(crate) async fn gateway_health(
    State(StartedAt(started)): State<StartedAt>,
) -> Json<serde_json::Value> {
    Json(json!({
        "status": "healthy",
        "agent": null,
        "gateway": true,
        "uptime": started.elapsed().as_secs(),
    }))
}
