//! What every handler shares: the agents served, the settings, metrics, and the live turns
//! WebSocket clients can rejoin.

use std::{sync::Arc, time::Duration};

use axum::extract::FromRef;

use crate::{connectonion::ws::live_turns::LiveTurns, layers::metrics::Metrics, target::Agents};

/// Settings of a gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Largest request body; derive it from the agent's file limits
    /// (`InputLimits::max_request_bytes`), so every request the agent could accept fits.
    pub max_body_bytes: usize,
    /// How often a WebSocket gets `{"type":"PING"}` (WIRE.md §4: 30 s).
    pub ws_ping_interval: Duration,
    /// Frames a WebSocket client may fall behind a live turn before it is told and dropped.
    pub ws_lag_frames: usize,
    /// How long a write to a WebSocket may block before the client is dropped.
    pub ws_send_timeout: Duration,
    /// Longest wait for an HTTP answer (`POST /input` included) before 504.
    pub request_timeout: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`client_addr.rs`); empty:
    /// the TCP peer is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            max_body_bytes: agenthost_node::inputs::InputLimits::default().max_request_bytes(),
            ws_ping_interval: Duration::from_secs(30),
            ws_lag_frames: 1024,
            ws_send_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(600),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Shared by every handler. One `Arc`, so the clone axum makes for each extractor and
/// middleware is one atomic increment, not one per field (they bounce between cores).
#[derive(Clone)]
pub struct GatewayState(Arc<Shared>);

/// What [`GatewayState`] holds.
pub struct Shared {
    pub agents: Arc<Agents>,
    pub config: GatewayConfig,
    pub metrics: Arc<Metrics>,
    /// Turns started over WebSocket in this process (an embedded gateway's), for rejoining.
    pub live: Arc<LiveTurns>,
    pub started: std::time::Instant,
}

impl GatewayState {
    pub fn new(shared: Shared) -> Self {
        GatewayState(Arc::new(shared))
    }
}

impl std::ops::Deref for GatewayState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The metrics layer and `GET /metrics` take only the metrics.
impl FromRef<GatewayState> for Arc<Metrics> {
    fn from_ref(state: &GatewayState) -> Self {
        Arc::clone(&state.metrics)
    }
}
