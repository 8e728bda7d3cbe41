//! One INPUT from request to terminal frame: identity (signed envelope), trust, input limits,
//! admission, the session record, uploads, a worker, the run on a fresh clone of the agent, and
//! the result stored before it is sent (so a caller that saw OUTPUT can always fetch it again).

use std::{panic::AssertUnwindSafe, sync::Arc, time::Instant};

use futures::FutureExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    agent::{Agent, Input},
    caller::Caller,
    dispatcher::Shared,
    events::Context,
    events::Session,
    inputs::{self, InputError},
    signed_request::{is_signed, verify_signed_input},
    store::SessionStatus,
    trust::{Refusal, RefusalKind},
    wire::{ErrorCode, ErrorFrame, Frame, InputRequest, OutputFrame},
};

/// Runs one INPUT, sending its frames to `tx`. `reply_gone` fires when the caller drops the
/// reply; it cancels the run unless the run is detached.
pub(crate) async fn run_input<A: Agent>(
    shared: Arc<Shared<A>>,
    request: InputRequest,
    caller: Caller,
    tx: mpsc::Sender<Frame>,
    reply_gone: CancellationToken,
) {
    let turn = match admit(&shared, request, caller, reply_gone).await {
        Ok(turn) => turn,
        Err(error) => {
            let _ = tx.send(Frame::Error(error)).await;
            return;
        }
    };
    if turn.detached {
        // Tells the caller the run is accepted and under which id to fetch it; it may go now.
        let session_id = turn.session.session_id.clone();
        let _ = tx.send(Frame::Detached { session_id }).await;
    }
    if let Some(frame) = execute(&shared, turn, &tx).await {
        let _ = tx.send(frame).await;
    }
}

/// A session's entry among the running turns: refuses a second concurrent turn (`busy`),
/// carries the turn's cancellation (CANCEL) and interruption (shutdown, reload), and leaves
/// when the turn is fully recorded.
struct RunningTurn<'a, A> {
    shared: &'a Shared<A>,
    session_id: String,
    cancel: CancellationToken,
    interrupt: CancellationToken,
}

impl<'a, A> RunningTurn<'a, A> {
    fn claim(shared: &'a Shared<A>, session_id: &str, cancel: CancellationToken) -> Option<Self> {
        let interrupt = shared.running.claim(session_id, cancel.clone())?;
        Some(RunningTurn {
            shared,
            session_id: session_id.to_owned(),
            cancel,
            interrupt,
        })
    }
}

impl<A> Drop for RunningTurn<'_, A> {
    fn drop(&mut self) {
        self.shared.running.release(&self.session_id);
    }
}

/// How a run ended.
enum Ended<T> {
    Finished(T),
    Cancelled,
    Interrupted,
}

/// An INPUT that passed every check and holds a running session record.
struct Turn<'a, A> {
    caller: Caller,
    input: Input,
    session: Session,
    detached: bool,
    admission: crate::admission::Admission,
    running: RunningTurn<'a, A>,
    record: TurnRecord<'a, A>,
}

/// Everything that may refuse a request, cheapest and most telling first. Nothing is decoded or
/// written before the request is known to be acceptable.
async fn admit<A: Agent>(
    shared: &Shared<A>,
    request: InputRequest,
    caller: Caller,
    reply_gone: CancellationToken,
) -> Result<Turn<'_, A>, ErrorFrame> {
    let (request, caller) = if is_signed(&request) {
        let gatekeeper = &shared.gatekeeper;
        let blacklisted = |a: &agenthost_identity::Address| gatekeeper.is_blacklisted(a);
        verify_signed_input(
            request,
            caller,
            shared.identity.address,
            &shared.ledger,
            &blacklisted,
            // WIRE.md §2.3: strict agents only accept requests addressed to them.
            gatekeeper.is_strict(),
        )
        .await?
    } else {
        (request, caller)
    };
    shared
        .gatekeeper
        .check(&caller.facts())
        .await
        .map_err(|refusal| refusal_frame(&caller, refusal))?;

    let prompt = request
        .prompt
        .ok_or_else(|| ErrorFrame::new(ErrorCode::BadRequest, "missing prompt"))?;
    let session = Session::resume(request.session.as_ref())
        .map_err(|e| ErrorFrame::new(ErrorCode::BadRequest, e))?;
    inputs::check_limits(&request.images, &request.files, &shared.input_limits)
        .and_then(|()| inputs::validate_images(&request.images, &shared.input_limits))
        .map_err(input_error)?;

    if shared.running.is_closing() {
        return Err(ErrorFrame::new(
            ErrorCode::Unavailable,
            "the agent is shutting down; retry later",
        )
        .with_retry_after(5));
    }
    let Some(admission) = shared.pool.try_admit() else {
        let limits = shared.pool.limits();
        tracing::warn!(%caller, workers = limits.workers, queue = limits.queue, "overloaded");
        return Err(ErrorFrame::new(
            ErrorCode::Overloaded,
            format!(
                "overloaded: {} workers busy and {} queued; retry later",
                limits.workers, limits.queue
            ),
        )
        .with_retry_after(1));
    };

    // A detached run outlives its caller: only CANCEL (or shutdown) stops it.
    let cancel = if request.detached {
        CancellationToken::new()
    } else {
        reply_gone
    };
    let busy = || {
        ErrorFrame::new(
            ErrorCode::Busy,
            format!("session {} is busy with another turn", session.session_id),
        )
    };
    let running = RunningTurn::claim(shared, &session.session_id, cancel).ok_or_else(busy)?;
    let owner = caller.owner();
    if request.session.is_some() {
        // Continuing a conversation: it must not be someone else's. Unknown or expired is
        // fine — the caller holds the whole conversation in the session object.
        let existing = shared
            .store
            .get(&session.session_id)
            .await
            .map_err(store_down)?;
        if existing.is_some_and(|record| record.owner != owner) {
            return Err(ErrorFrame::new(
                ErrorCode::NotFound,
                format!("unknown session {}", session.session_id),
            ));
        }
    }
    let record = TurnRecord::start(
        shared,
        &session.session_id,
        owner,
        &prompt,
        request.detached,
    );

    let files = if request.files.is_empty() {
        Vec::new()
    } else {
        let saved = async {
            let dir = inputs::upload_dir(&shared.data_dir, &session.session_id)?;
            inputs::save_files(&request.files, &dir, &shared.input_limits).await
        };
        match saved.await {
            Ok(files) => files,
            Err(e) => {
                let frame = input_error(e);
                record
                    .end(SessionStatus::Failed, None, Some(&frame.message), None, 0)
                    .await;
                return Err(frame);
            }
        }
    };
    Ok(Turn {
        input: Input {
            prompt,
            images: request.images,
            files,
        },
        session,
        detached: request.detached,
        caller,
        admission,
        running,
        record,
    })
}

fn store_down(e: crate::store::StoreError) -> ErrorFrame {
    tracing::error!(error = %e, "session store unavailable");
    ErrorFrame::new(ErrorCode::Internal, "session store unavailable")
}

/// Waits for a worker, runs the agent, records the outcome. Returns the terminal frame, or
/// `None` when the caller is gone and nobody is left to tell.
async fn execute<A: Agent>(
    shared: &Shared<A>,
    turn: Turn<'_, A>,
    tx: &mpsc::Sender<Frame>,
) -> Option<Frame> {
    let Turn {
        caller,
        input,
        mut session,
        detached,
        admission,
        running,
        mut record,
    } = turn;
    let cancel = &running.cancel;
    let interrupt = &running.interrupt;
    let session_id = session.session_id.clone();
    let prompt = input.prompt.clone();
    let started = Instant::now();

    let permit = tokio::select! {
        permit = admission.worker() => permit.map_or(Ended::Cancelled, Ended::Finished),
        _ = cancel.cancelled() => Ended::Cancelled,
        _ = interrupt.cancelled() => Ended::Interrupted,
    };
    let outcome = match permit {
        Ended::Cancelled => Ended::Cancelled,
        Ended::Interrupted => Ended::Interrupted,
        Ended::Finished(_permit) => {
            let cx = Context::new(caller.clone(), session.clone(), tx.clone(), cancel.clone());
            // The fresh copy: whatever this run does to its agent dies with the run.
            let mut agent = shared.agent.clone();
            let run = AssertUnwindSafe(agent.input(input, &cx)).catch_unwind();
            tokio::pin!(run);
            let long_turn = tokio::time::sleep(WRITE_RUNNING_AFTER);
            tokio::pin!(long_turn);
            loop {
                tokio::select! {
                    // Cancel and interrupt are looked at first: an agent that watches the
                    // token itself (`cx`) can end with an error in the very wake-up the token
                    // fired, and that turn was cancelled, not failed.
                    biased;
                    _ = cancel.cancelled() => break Ended::Cancelled,
                    _ = interrupt.cancelled() => break Ended::Interrupted,
                    outcome = &mut run => break Ended::Finished((outcome, cx.take_trace())),
                    _ = &mut long_turn, if !record.written => record.write_running(),
                }
            }
        }
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    drop(admission);

    let terminal = match outcome {
        Ended::Interrupted => {
            tracing::warn!(%caller, session = %session_id, detached, "run interrupted by shutdown or reload");
            let message = "interrupted: the host stopped or reloaded before the turn finished";
            record
                .end(
                    SessionStatus::Interrupted,
                    None,
                    Some(message),
                    None,
                    duration_ms,
                )
                .await;
            return Some(Frame::Error(
                ErrorFrame::new(ErrorCode::Interrupted, message).with_retry_after(5),
            ));
        }
        Ended::Cancelled => {
            tracing::info!(%caller, session = %session_id, detached, "run cancelled");
            record
                .end(
                    SessionStatus::Cancelled,
                    None,
                    Some("cancelled"),
                    None,
                    duration_ms,
                )
                .await;
            return Some(Frame::Error(ErrorFrame::new(
                ErrorCode::Cancelled,
                "cancelled",
            )));
        }
        Ended::Finished((Ok(Ok(output)), trace)) => {
            session.record_turn(&prompt, &output.result, trace);
            let session_json = session.to_json();
            tracing::debug!(%caller, session = %session_id, duration_ms, "run done");
            record
                .end(
                    SessionStatus::Done,
                    Some(&output.result),
                    None,
                    Some(&session_json),
                    duration_ms,
                )
                .await;
            Frame::Output(OutputFrame {
                result: output.result,
                session_id,
                duration_ms,
                session: session_json,
            })
        }
        Ended::Finished((Ok(Err(e)), _)) => {
            let message = e.to_string();
            tracing::warn!(%caller, session = %session_id, error = %message, "agent failed");
            record
                .end(
                    SessionStatus::Failed,
                    None,
                    Some(&message),
                    None,
                    duration_ms,
                )
                .await;
            Frame::Error(ErrorFrame::new(ErrorCode::AgentError, message))
        }
        Ended::Finished((Err(_), _)) => {
            tracing::error!(%caller, session = %session_id, "agent panicked");
            let message = "the agent panicked";
            record
                .end(
                    SessionStatus::Failed,
                    None,
                    Some(message),
                    None,
                    duration_ms,
                )
                .await;
            Frame::Error(ErrorFrame::new(ErrorCode::AgentError, message))
        }
    };
    Some(terminal)
}

/// How long a turn runs before its `running` record is written. Shorter turns are recorded
/// once, at their end (one commit instead of two); a crash inside this window loses such a
/// turn instead of marking it `interrupted`.
const WRITE_RUNNING_AFTER: std::time::Duration = std::time::Duration::from_millis(50);

/// A turn's life in the session store: shown as running at once, its running record written
/// when the turn proves long (or runs detached), and its outcome committed at the end.
struct TurnRecord<'a, A> {
    shared: &'a Shared<A>,
    session_id: String,
    owner: Option<String>,
    prompt: String,
    written: bool,
}

impl<'a, A> TurnRecord<'a, A> {
    fn start(
        shared: &'a Shared<A>,
        session_id: &str,
        owner: Option<String>,
        prompt: &str,
        write_now: bool,
    ) -> Self {
        let mut record = TurnRecord {
            shared,
            session_id: session_id.to_owned(),
            owner,
            prompt: prompt.to_owned(),
            written: false,
        };
        if write_now {
            record.write_running();
        } else {
            shared
                .store
                .show_running(session_id, record.owner.as_deref(), prompt);
        }
        record
    }

    fn write_running(&mut self) {
        self.written = true;
        let store = &self.shared.store;
        if let Err(e) = store.begin_queued(&self.session_id, self.owner.as_deref(), &self.prompt) {
            tracing::error!(session = %self.session_id, error = %e, "could not record a running turn");
        }
    }

    /// Commits the outcome. A store failure is logged loudly but does not hide the result
    /// from a caller who is still listening.
    async fn end(
        &self,
        status: SessionStatus,
        result: Option<&str>,
        error: Option<&str>,
        session: Option<&serde_json::Value>,
        duration_ms: u64,
    ) {
        let store = &self.shared.store;
        let id = &self.session_id;
        let stored = if self.written {
            store
                .finish(id, status, result, error, session, duration_ms)
                .await
        } else {
            let owner = self.owner.as_deref();
            store
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

pub(crate) fn refusal_frame(caller: &Caller, refusal: Refusal) -> ErrorFrame {
    let code = match refusal.kind {
        RefusalKind::Unauthorized => ErrorCode::Unauthorized,
        RefusalKind::Forbidden => ErrorCode::Forbidden,
        RefusalKind::RateLimited => ErrorCode::RateLimited,
    };
    tracing::info!(%caller, reason = %refusal, "refused");
    let frame = ErrorFrame::new(code, refusal.to_string());
    match refusal.retry_after_secs {
        Some(secs) => frame.with_retry_after(secs),
        None => frame,
    }
}

fn input_error(e: InputError) -> ErrorFrame {
    ErrorFrame::new(ErrorCode::from(&e), e.to_string())
}
