//! What every handler shares, [`GatewayState`], and the parts of it handlers and extractors
//! take through axum's `FromRef` (sub-states): the agents, the settings, the metrics, what
//! every socket shares, and the start time. Each part is an `Arc` (or `Copy`), so taking one
//! costs what taking the whole state did: one atomic increment.

use std::{sync::Arc, time::Instant};

use axum::extract::FromRef;

use crate::{
    background::Background, config::GatewayConfig, connectonion::ws::Sockets,
    layers::metrics::Metrics, target::Agents,
};

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
    /// Tasks that outlive a request: ended and awaited when the gateway stops.
    pub background: Background,
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
