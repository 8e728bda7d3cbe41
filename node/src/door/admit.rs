//! One INPUT at the door: identity (signed envelope), trust, input limits, admission, the
//! session claimed and checked, its record started, uploads saved; then the admitted turn goes
//! to a worker (`worker/execute.rs`). Everything that may refuse comes first, cheapest and most
//! telling first; nothing is decoded or written before the request is known to be acceptable.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{caller::Caller, signed_request::verify_signed_input, state::DoorState};
use crate::{
    agent::{Agent, Input},
    events::Session,
    inputs::{self, InputError},
    store::{TurnOutcome, TurnRecord},
    trust::Refusal,
    wire::{ErrorCode, ErrorFrame, Frame, InputRequest},
    worker::{execute, Turn, TurnClaim},
};

/// Runs one INPUT, sending its frames to `tx`. `reply_gone` fires when the caller drops the
/// reply; it cancels the run unless the run is detached.
pub(crate) async fn run_input<A: Agent>(
    shared: Arc<DoorState<A>>,
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
    let terminal = execute(&shared.agent, turn, &tx).await;
    let _ = tx.send(terminal).await;
}

/// Everything that may refuse a request, cheapest and most telling first. Nothing is decoded or
/// written before the request is known to be acceptable.
async fn admit<A: Agent>(
    shared: &DoorState<A>,
    request: InputRequest,
    caller: Caller,
    reply_gone: CancellationToken,
) -> Result<Turn<'_>, ErrorFrame> {
    let (request, caller) = if request.is_signed() {
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
    // The caller as trust sees it: the signer of a signed request, else the transport's.
    tracing::Span::current().record("caller", tracing::field::display(&caller));
    shared
        .gatekeeper
        .check(&caller.facts())
        .await
        .map_err(refusal_frame)?;

    let prompt = request
        .prompt
        .ok_or_else(|| ErrorFrame::new(ErrorCode::BadRequest, "missing prompt"))?;
    let mut session = Session::resume(request.session.as_ref())
        .map_err(|e| ErrorFrame::new(ErrorCode::BadRequest, e))?;
    tracing::Span::current().record("session", tracing::field::display(&session.session_id));
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
        tracing::warn!(workers = limits.workers, queue = limits.queue, "overloaded");
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
    let claim = TurnClaim::new(&shared.running, &session.session_id, cancel).ok_or_else(busy)?;
    let owner = caller.owner();
    if request.session.is_some() {
        // Continuing a conversation: it must not be someone else's. Unknown or expired is
        // fine — the caller holds the whole conversation in the session object, or starts
        // one under the id it chose.
        let existing = shared
            .store
            .get(&session.session_id)
            .await
            .map_err(store_down)?;
        if let Some(record) = existing {
            if record.owner != owner {
                return Err(ErrorFrame::new(
                    ErrorCode::NotFound,
                    format!("unknown session {}", session.session_id),
                ));
            }
            // A caller that names the session by its id alone (MCP's `session_id`, A2A's
            // `contextId`) continues the conversation the store kept.
            if session.is_bare() {
                if let Some(stored) = record.session.as_ref() {
                    session = Session::resume(Some(stored))
                        .map_err(|e| ErrorFrame::new(ErrorCode::Internal, e))?;
                }
            }
        }
    }
    let record = TurnRecord::start(
        &shared.store,
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
                let failed = TurnOutcome::Failed {
                    error: &frame.message,
                };
                record.end(failed, 0).await;
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
        claim,
        record,
    })
}

fn store_down(e: crate::store::StoreError) -> ErrorFrame {
    tracing::error!(error = %e, "session store unavailable");
    ErrorFrame::new(ErrorCode::Internal, "session store unavailable")
}

pub(crate) fn refusal_frame(refusal: Refusal) -> ErrorFrame {
    let code = ErrorCode::from(refusal.kind);
    tracing::info!(reason = %refusal, "refused");
    let frame = ErrorFrame::new(code, refusal.to_string());
    match refusal.retry_after_secs {
        Some(secs) => frame.with_retry_after(secs),
        None => frame,
    }
}

fn input_error(e: InputError) -> ErrorFrame {
    ErrorFrame::new(ErrorCode::from(&e), e.to_string())
}
