//! Sweeping: expired records and replay entries deleted in batches, so a large sweep never
//! holds up other writes, by a task that keeps going through failures.

use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tracing::{debug, warn};

use super::job::Job;
use super::{Inner, SessionStore, StoreError};

/// Rows deleted per sweeping transaction, so a large sweep never holds up other writes.
const SWEEP_BATCH: usize = 1000;

/// How long a blocking call ([`SessionStore::sweep_expired`]) waits for the writer.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(60);

/// Consecutive failed sweeps after which the sweeper's warnings say it keeps failing.
const SWEEP_FAILURES_LOUD: u32 = 3;

impl SessionStore {
    /// Deletes expired non-running records and expired replay entries, in batches of
    /// 1,000 rows per transaction; returns how many rows went. Blocks the calling
    /// thread (from async code, call it through `spawn_blocking`, as the sweeper does).
    pub fn sweep_expired(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let (job, rx) = Job::sweep(SWEEP_BATCH);
            self.send(job)?;
            let (sessions, replay) = match rx.recv_timeout(SWEEP_TIMEOUT) {
                Ok(res) => res?,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(StoreError::WriterTimeout(SWEEP_TIMEOUT))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(StoreError::WriterGone("it stopped before answering"))
                }
            };
            total += sessions + replay;
            if sessions < SWEEP_BATCH && replay < SWEEP_BATCH {
                break;
            }
        }
        if total > 0 {
            debug!(rows = total, "session store: swept expired rows");
        }
        Ok(total)
    }

    /// Runs [`Self::sweep_expired`] every `every` (at least 10 ms) on the current tokio
    /// runtime (call it from within one). Failures are logged as warnings, more loudly when
    /// they repeat, and sweeping goes on. The task ends when the store is dropped.
    pub fn spawn_sweeper(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let every = every.max(Duration::from_millis(10));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick is immediate; the store was just opened.
            ticks.tick().await;
            let mut failures: u32 = 0;
            loop {
                ticks.tick().await;
                let Some(inner) = weak.upgrade() else {
                    debug!("session store dropped; sweeper stops");
                    return;
                };
                let store = SessionStore { inner };
                let outcome = tokio::task::spawn_blocking(move || store.sweep_expired()).await;
                let err = match outcome {
                    Ok(Ok(_)) => {
                        if failures > 0 {
                            warn!(
                                failures,
                                "session store: sweeping works again after failing"
                            );
                        }
                        failures = 0;
                        continue;
                    }
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => format!("sweep task failed: {e}"),
                };
                failures = failures.saturating_add(1);
                if failures >= SWEEP_FAILURES_LOUD {
                    warn!(
                        failures,
                        error = %err,
                        "session store: SWEEPING KEEPS FAILING ({failures} times in a row); \
                         expired results are piling up in the database"
                    );
                } else {
                    warn!(failures, error = %err, "session store: sweeping expired records failed");
                }
            }
        })
    }
}
