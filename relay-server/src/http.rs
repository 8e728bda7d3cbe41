//! HTTP endpoints for operators: `/metrics` (Prometheus text) and `/health` (JSON).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use libp2p::PeerId;
use prometheus_client::registry::Registry;

use crate::metrics::{render, RelayMetrics};

/// What the operator endpoints read.
#[derive(Clone)]
pub(crate) struct HttpState {
    /// Every metric, libp2p's and ours, rendered by `/metrics`.
    pub registry: Arc<Registry>,
    /// The relay's own metrics; `/health` reports the active counts.
    pub metrics: RelayMetrics,
    /// The relay's PeerId, reported by `/health`.
    pub peer_id: PeerId,
}

/// The operator endpoints: `/metrics` (OpenMetrics text) and `/health` (JSON).
pub(crate) fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(state)
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    match render(&state.registry) {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn health(State(state): State<HttpState>) -> impl IntoResponse {
    Json(serde_json::json!({
        "status": "healthy",
        "peer_id": state.peer_id.to_string(),
        "reservations_active": state.metrics.reservations_active.get(),
        "circuits_active": state.metrics.circuits_active.get(),
        "connections_active": state.metrics.connections_active.get(),
    }))
}
