//! [`DeniedInbound`]: inbound connections refused by the caps of
//! [`InboundLimits`](super::InboundLimits), counted and logged loudly but not once each: a
//! flood would drown the log.

use std::time::{Duration, Instant};

use libp2p::{connection_limits::Exceeded, swarm::ListenError, Multiaddr};

/// How often a warning about refused connections is written, at most.
const EVERY: Duration = Duration::from_secs(10);

/// Inbound connections refused so far, and when that was last logged.
#[derive(Debug, Default)]
pub(crate) struct DeniedInbound {
    /// Every refusal since the node started.
    pub total: u64,
    last_line: Option<Instant>,
    since_last_line: u64,
}

impl DeniedInbound {
    /// Counts `error` if it is a refusal by a cap, and says so in the log now and then.
    pub(crate) fn on_error(&mut self, error: &ListenError, from: &Multiaddr) {
        let ListenError::Denied { cause } = error else {
            return;
        };
        let Some(exceeded) = cause.downcast_ref::<Exceeded>() else {
            return;
        };
        self.total += 1;
        self.since_last_line += 1;
        if self.last_line.is_some_and(|at| at.elapsed() < EVERY) {
            return;
        }
        tracing::warn!(
            cap = %exceeded,
            %from,
            refused = self.since_last_line,
            refused_total = self.total,
            "inbound P2P connection over the cap refused"
        );
        self.last_line = Some(Instant::now());
        self.since_last_line = 0;
    }
}
