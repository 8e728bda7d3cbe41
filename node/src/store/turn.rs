//! [`TurnRecord`]: one turn's life in the session store, so the door and the worker never
//! choose between the store's writes themselves. The turn is shown as running at once (cache
//! only); its `running` row is written when the turn proves long or runs detached; its outcome
//! is committed once, at the end — for a short turn in the same transaction as its start (one
//! commit instead of two; a crash inside that window loses the turn rather than marking it
//! `interrupted`).

use serde_json::Value;

use super::{SessionStatus, SessionStore};

/// How a turn ended, as the store records it.
pub(crate) enum TurnOutcome<'a> {
    /// The agent answered: the result, and the conversation after this turn.
    Done { result: &'a str, session: &'a Value },
    /// The agent failed (or panicked); `error` says how.
    Failed { error: &'a str },
    /// CANCEL, or its caller left a turn that was not detached.
    Cancelled,
    /// Shutdown or reload after the grace period.
    Interrupted { reason: &'a str },
}

/// A turn being recorded.
pub(crate) struct TurnRecord {
    store: SessionStore,
    session_id: String,
    owner: Option<String>,
    prompt: String,
    written: bool,
}

impl TurnRecord {
    /// Shows the turn as running; writes its `running` row now when `write_now` (a detached
    /// turn, which must be findable after a crash).
    pub(crate) fn start(
        store: &SessionStore,
        session_id: &str,
        owner: Option<String>,
        prompt: &str,
        write_now: bool,
    ) -> Self {
        let mut record = TurnRecord {
            store: store.clone(),
            session_id: session_id.to_owned(),
            owner,
            prompt: prompt.to_owned(),
            written: false,
        };
        if write_now {
            record.write_running();
        } else {
            store.show_running(session_id, record.owner.as_deref(), prompt);
        }
        record
    }

    /// Whether the `running` row is written.
    pub(crate) fn is_written(&self) -> bool {
        self.written
    }

    /// Writes the `running` row (the turn proved long).
    pub(crate) fn write_running(&mut self) {
        self.written = true;
        let owner = self.owner.as_deref();
        if let Err(e) = self
            .store
            .begin_queued(&self.session_id, owner, &self.prompt)
        {
            tracing::error!(session = %self.session_id, error = %e, "could not record a running turn");
        }
    }

    /// Commits the outcome. A store failure is logged loudly but does not hide the result
    /// from a caller who is still listening.
    pub(crate) async fn end(self, outcome: TurnOutcome<'_>, duration_ms: u64) {
        let (status, result, error, session) = match outcome {
            TurnOutcome::Done { result, session } => {
                (SessionStatus::Done, Some(result), None, Some(session))
            }
            TurnOutcome::Failed { error } => (SessionStatus::Failed, None, Some(error), None),
            TurnOutcome::Cancelled => (SessionStatus::Cancelled, None, Some("cancelled"), None),
            TurnOutcome::Interrupted { reason } => {
                (SessionStatus::Interrupted, None, Some(reason), None)
            }
        };
        let id = &self.session_id;
        let stored = if self.written {
            self.store
                .finish(id, status, result, error, session, duration_ms)
                .await
        } else {
            let owner = self.owner.as_deref();
            self.store
                .record_turn(
                    id,
                    owner,
                    &self.prompt,
                    status,
                    result,
                    error,
                    session,
                    duration_ms,
                )
                .await
        };
        if let Err(e) = stored {
            tracing::error!(session = %id, error = %e, "could not store the result");
        }
    }
}
