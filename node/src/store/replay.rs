//! The persistent replay ledger (WIRE.md §2.3 step 6) on the session store's database.

use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use agenthost_identity::{LedgerError, ReplayLedger};

use crate::store::job::Job;
use crate::store::SessionStore;

/// How long a check waits for the writer before failing closed.
pub const LEDGER_TIMEOUT: Duration = Duration::from_secs(5);

/// [`ReplayLedger`] on the store's database. The writer answers from its in-memory index of
/// spent signatures (`store/spent.rs`) and logs a fresh one to `replay_log`, committed (with
/// whatever else the writer thread has queued) before it answers, so a signature accepted
/// here stays spent across a crash: the index is rebuilt from the log at open. Any failure
/// is [`LedgerError::Unavailable`]: the caller then refuses the request.
///
/// The call blocks until the commit (typically well under a millisecond; see the
/// `store_bench` example).
#[derive(Clone)]
pub struct SqliteReplayLedger {
    pub(crate) store: SessionStore,
}

impl ReplayLedger for SqliteReplayLedger {
    fn check_and_record(
        &self,
        signature: &[u8; 64],
        expires_at_secs: f64,
    ) -> Result<bool, LedgerError> {
        check_expiry(expires_at_secs)?;
        let (job, rx) = Job::replay(signature, expires_at_secs);
        self.store
            .send(job)
            .map_err(|e| LedgerError::Unavailable(e.to_string()))?;
        match rx.recv_timeout(LEDGER_TIMEOUT) {
            Ok(Ok(fresh)) => Ok(fresh),
            Ok(Err(e)) => Err(LedgerError::Unavailable(e.to_string())),
            Err(RecvTimeoutError::Timeout) => Err(LedgerError::Unavailable(format!(
                "session store writer did not answer within {LEDGER_TIMEOUT:?}"
            ))),
            Err(RecvTimeoutError::Disconnected) => Err(LedgerError::Unavailable(
                "session store writer thread is gone".into(),
            )),
        }
    }
}

impl SqliteReplayLedger {
    /// [`ReplayLedger::check_and_record`] for async callers: the task waits for the commit
    /// without holding a runtime worker (a blocked worker halves a 2-core host's throughput).
    pub async fn check_and_record_async(
        &self,
        signature: &[u8; 64],
        expires_at_secs: f64,
    ) -> Result<bool, LedgerError> {
        check_expiry(expires_at_secs)?;
        let (job, rx) = Job::replay_async(signature, expires_at_secs);
        self.store
            .send(job)
            .map_err(|e| LedgerError::Unavailable(e.to_string()))?;
        match tokio::time::timeout(LEDGER_TIMEOUT, rx).await {
            Ok(Ok(Ok(fresh))) => Ok(fresh),
            Ok(Ok(Err(e))) => Err(LedgerError::Unavailable(e.to_string())),
            Ok(Err(_)) => Err(LedgerError::Unavailable(
                "session store writer thread is gone".into(),
            )),
            Err(_) => Err(LedgerError::Unavailable(format!(
                "session store writer did not answer within {LEDGER_TIMEOUT:?}"
            ))),
        }
    }
}

fn check_expiry(expires_at_secs: f64) -> Result<(), LedgerError> {
    if expires_at_secs.is_finite() {
        Ok(())
    } else {
        Err(LedgerError::Unavailable(format!(
            "signature expiry {expires_at_secs} is not a finite time"
        )))
    }
}
