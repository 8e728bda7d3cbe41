//! [`RunningTurns`]: the turns a dispatcher is running, by session id. It refuses a second
//! concurrent turn of one session (`busy`), finds a turn for CANCEL, and retires turns when the
//! host shuts down or reloads: they get a grace period to finish, then are interrupted.
//!
//! Retiring works by generation: every turn remembers the generation it started in, and a
//! retirement moves the generation on, so turns started after a reload are never touched by it.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Mutex, MutexGuard,
    },
    time::Duration,
};

use crate::door::RetireReport;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long interrupted turns get to record themselves after being told.
const RECORD_AFTER_INTERRUPT: Duration = Duration::from_secs(5);

struct Entry {
    /// CANCEL, or the caller going away.
    cancel: CancellationToken,
    /// Shutdown or reload after the grace period.
    interrupt: CancellationToken,
    generation: u64,
}

#[derive(Default)]
pub(crate) struct RunningTurns {
    turns: Mutex<HashMap<String, Entry>>,
    /// Signalled whenever a turn leaves.
    left: Notify,
    generation: AtomicU64,
    closing: AtomicBool,
}

/// A session's entry among the running turns, held by its turn: refuses a second concurrent
/// turn (`busy`), carries the turn's cancellation (CANCEL) and interruption (shutdown,
/// reload), and leaves when dropped — after the turn is fully recorded.
pub(crate) struct TurnClaim<'a> {
    running: &'a RunningTurns,
    session_id: String,
    cancel: CancellationToken,
    interrupt: CancellationToken,
}

impl<'a> TurnClaim<'a> {
    /// Claims `session_id`; `None` when that session already runs a turn.
    pub(crate) fn new(
        running: &'a RunningTurns,
        session_id: &str,
        cancel: CancellationToken,
    ) -> Option<Self> {
        let interrupt = running.claim(session_id, cancel.clone())?;
        Some(TurnClaim {
            running,
            session_id: session_id.to_owned(),
            cancel,
            interrupt,
        })
    }

    /// Fires on CANCEL (or the caller leaving a turn that is not detached).
    pub(crate) fn cancel(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Fires on shutdown or reload after the grace period.
    pub(crate) fn interrupt(&self) -> &CancellationToken {
        &self.interrupt
    }
}

impl Drop for TurnClaim<'_> {
    fn drop(&mut self) {
        self.running.release(&self.session_id);
    }
}

impl RunningTurns {
    fn turns(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.turns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a turn of `session_id`; `None` when that session already runs one. Returns
    /// the turn's interrupt token.
    pub(crate) fn claim(
        &self,
        session_id: &str,
        cancel: CancellationToken,
    ) -> Option<CancellationToken> {
        let mut turns = self.turns();
        if turns.contains_key(session_id) {
            return None;
        }
        let interrupt = CancellationToken::new();
        turns.insert(
            session_id.to_owned(),
            Entry {
                cancel,
                interrupt: interrupt.clone(),
                generation: self.generation.load(Ordering::Acquire),
            },
        );
        Some(interrupt)
    }

    pub(crate) fn release(&self, session_id: &str) {
        self.turns().remove(session_id);
        self.left.notify_waiters();
    }

    /// Cancels the running turn of `session_id`; false when none runs.
    pub(crate) fn cancel(&self, session_id: &str) -> bool {
        match self.turns().get(session_id) {
            Some(entry) => {
                entry.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// No new turns from now on (shutdown).
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::Release);
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    fn count_up_to(&self, generation: u64) -> usize {
        self.turns()
            .values()
            .filter(|e| e.generation <= generation)
            .count()
    }

    /// Marks the turns running now as the ones to retire (turns claimed later are not) and
    /// returns their generation for [`RunningTurns::retire`].
    pub(crate) fn mark_for_retirement(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::AcqRel)
    }

    /// Waits up to `grace` for the turns of `generation` or older to end, interrupts those
    /// still running, and waits (briefly) for them to record themselves.
    pub(crate) async fn retire(&self, generation: u64, grace: Duration) -> RetireReport {
        let before = self.count_up_to(generation);
        let deadline = tokio::time::Instant::now() + grace;
        let remaining = self.wait_until_gone(generation, deadline).await;
        if remaining > 0 {
            for entry in self.turns().values() {
                if entry.generation <= generation {
                    entry.interrupt.cancel();
                }
            }
            let recorded_by = tokio::time::Instant::now() + RECORD_AFTER_INTERRUPT;
            let stuck = self.wait_until_gone(generation, recorded_by).await;
            if stuck > 0 {
                tracing::error!(turns = stuck, "interrupted turns did not end in time");
            }
        }
        RetireReport {
            finished: before.saturating_sub(remaining),
            interrupted: remaining,
        }
    }

    /// Turns of `generation` or older still running at `deadline` (0 as soon as none are).
    async fn wait_until_gone(&self, generation: u64, deadline: tokio::time::Instant) -> usize {
        loop {
            // Registered before counting, so a turn leaving in between still wakes us.
            let left = self.left.notified();
            tokio::pin!(left);
            left.as_mut().enable();
            let count = self.count_up_to(generation);
            if count == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, left).await.is_err() {
                return self.count_up_to(generation);
            }
        }
    }
}
