//! [`ReplayBudget`]: one bound on the bytes every live turn keeps for rejoining clients,
//! together. Each turn's log is bounded too (10,000 frames, 16 MiB), but a thousand long turns
//! would still hold gigabytes; over the budget, the turn that grows gives up its oldest frames
//! (a client rejoining it later is told frames are missing, and the store still has the
//! result).

use std::sync::atomic::{AtomicUsize, Ordering};

/// The bytes all live turns' logs hold, and the most they may.
#[derive(Debug)]
pub struct ReplayBudget {
    max: usize,
    used: AtomicUsize,
}

impl ReplayBudget {
    pub fn new(max_bytes: usize) -> Self {
        ReplayBudget {
            max: max_bytes,
            used: AtomicUsize::new(0),
        }
    }

    pub fn charge(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn refund(&self, bytes: usize) {
        // Never below zero, whatever the order of concurrent refunds.
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                Some(used.saturating_sub(bytes))
            });
    }

    /// Whether the logs hold more than the budget.
    pub fn is_over(&self) -> bool {
        self.used.load(Ordering::Relaxed) > self.max
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}
