//! [`Sockets`]: what every WebSocket of a gateway shares.

use std::{ops::Deref, sync::Arc};

use tokio::sync::Semaphore;

use super::{live_turns::LiveTurns, replay_budget::ReplayBudget};
use crate::{
    background::Background, config::GatewayConfig, layers::metrics::Metrics, target::Agents,
};

/// What every socket of a gateway shares; the WebSocket routes take it as their state
/// (`FromRef`) and [`PeerSockets`] holds it. One `Arc`, cheap to clone.
#[derive(Clone)]
pub struct Sockets(Arc<SocketsShared>);

/// What [`Sockets`] holds.
pub struct SocketsShared {
    pub agents: Arc<Agents>,
    pub config: Arc<GatewayConfig>,
    pub metrics: Arc<Metrics>,
    /// Turns started over WebSocket in this process (an embedded gateway's), for rejoining.
    pub live: Arc<LiveTurns>,
    /// A place per open WebSocket (`ws_max_connections`); none left: 503.
    pub places: Arc<Semaphore>,
}

impl Sockets {
    pub fn new(
        agents: Arc<Agents>,
        config: Arc<GatewayConfig>,
        metrics: Arc<Metrics>,
        background: Background,
    ) -> Self {
        Sockets(Arc::new(SocketsShared {
            agents,
            live: Arc::new(LiveTurns::new(
                config.ws_lag_frames,
                background,
                Arc::new(ReplayBudget::new(config.ws_replay_budget_bytes)),
            )),
            places: Arc::new(Semaphore::new(config.ws_max_connections.max(1))),
            config,
            metrics,
        }))
    }
}

impl Deref for Sockets {
    type Target = SocketsShared;

    fn deref(&self) -> &SocketsShared {
        &self.0
    }
}
