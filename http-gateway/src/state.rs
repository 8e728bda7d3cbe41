//! What every handler shares, [`GatewayState`], and the parts of it handlers and extractors
//! take through axum's `FromRef` (sub-states): the agents, the settings, the metrics, what
//! every socket shares, and the start time. Each part is an `Arc` (or `Copy`), so taking one
//! costs what taking the whole state did: one atomic increment.

use std::{sync::Arc, time::Duration, time::Instant};

use axum::extract::FromRef;

use crate::{connectonion::ws::Sockets, layers::metrics::Metrics, target::Agents};

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

/// The router's state. One `Arc`, so the clones axum makes of it for each request are one
/// atomic increment each, not one per field (they bounce between cores).
#[derive(Clone)]
pub struct GatewayState(Arc<Shared>);

/// What [`GatewayState`] holds.
pub struct Shared {
    pub agents: Arc<Agents>,
    pub config: Arc<GatewayConfig>,
    pub metrics: Arc<Metrics>,
    /// What every WebSocket shares, the live turns clients rejoin included.
    pub sockets: Sockets,
    pub started: Instant,
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

/// When the gateway started: a standalone gateway's `GET /health` tells its uptime. `Copy`,
/// so taking it costs nothing.
#[derive(Clone, Copy)]
pub(crate) struct StartedAt(pub(crate) Instant);

/// The agents a request may be for: [`TargetAgent`](crate::target::TargetAgent), `GET /`,
/// discovery.
impl FromRef<GatewayState> for Arc<Agents> {
    fn from_ref(state: &GatewayState) -> Self {
        Arc::clone(&state.agents)
    }
}

/// The settings: timeouts, limits, trusted proxies.
impl FromRef<GatewayState> for Arc<GatewayConfig> {
    fn from_ref(state: &GatewayState) -> Self {
        Arc::clone(&state.config)
    }
}

/// The metrics layer and `GET /metrics` take only the metrics.
impl FromRef<GatewayState> for Arc<Metrics> {
    fn from_ref(state: &GatewayState) -> Self {
        Arc::clone(&state.metrics)
    }
}

/// The WebSocket routes take what sockets share.
impl FromRef<GatewayState> for Sockets {
    fn from_ref(state: &GatewayState) -> Self {
        state.sockets.clone()
    }
}

impl FromRef<GatewayState> for StartedAt {
    fn from_ref(state: &GatewayState) -> Self {
        StartedAt(state.started)
    }
}
