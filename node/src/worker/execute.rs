//! One admitted turn, run: wait for a worker, run a fresh clone of the agent, record the
//! outcome, and give back the terminal frame (the result is stored before it is sent, so a
//! caller that saw OUTPUT can always fetch it again).

use std::{panic::AssertUnwindSafe, time::Instant};

use futures::FutureExt;
use tokio::sync::mpsc;

use super::{admission::Admission, running_turns::TurnClaim};
use crate::{
    agent::{Agent, Input},
    door::Caller,
    events::{Context, Session},
    store::{TurnOutcome, TurnRecord},
    wire::{ErrorCode, ErrorFrame, Frame, OutputFrame},
};

/// An INPUT that passed every check of the door, claimed its session and holds its record.
pub(crate) struct Turn<'a> {
    pub caller: Caller,
    pub input: Input,
    pub session: Session,
    pub detached: bool,
    pub admission: Admission,
    pub claim: TurnClaim<'a>,
    pub record: TurnRecord,
}

/// How long a turn runs before its `running` record is written. Shorter turns are recorded
/// once, at their end (one commit instead of two); a crash inside this window loses such a
/// turn instead of marking it `interrupted`.
const WRITE_RUNNING_AFTER: std::time::Duration = std::time::Duration::from_millis(50);

/// How a run ended.
enum Ended<T> {
    Finished(T),
    Cancelled,
    Interrupted,
}

/// Waits for a worker, runs a fresh clone of `agent`, records the outcome. Returns the
/// terminal frame.
pub(crate) async fn execute<A: Agent>(
    agent: &A,
    turn: Turn<'_>,
    tx: &mpsc::Sender<Frame>,
) -> Frame {
    let Turn {
        caller,
        input,
        mut session,
        detached,
        admission,
        claim,
        mut record,
    } = turn;
    let cancel = claim.cancel();
    let interrupt = claim.interrupt();
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
            let mut agent = agent.clone();
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
                    _ = &mut long_turn, if !record.is_written() => record.write_running(),
                }
            }
        }
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    drop(admission);

    match outcome {
        Ended::Interrupted => {
            tracing::warn!(detached, "run interrupted by shutdown or reload");
            let reason = "interrupted: the host stopped or reloaded before the turn finished";
            record
                .end(TurnOutcome::Interrupted { reason }, duration_ms)
                .await;
            Frame::Error(ErrorFrame::new(ErrorCode::Interrupted, reason).with_retry_after(5))
        }
        Ended::Cancelled => {
            tracing::info!(detached, "run cancelled");
            record.end(TurnOutcome::Cancelled, duration_ms).await;
            Frame::Error(ErrorFrame::new(ErrorCode::Cancelled, "cancelled"))
        }
        Ended::Finished((Ok(Ok(output)), trace)) => {
            session.record_turn(&prompt, &output.result, trace);
            let session_json = session.to_json();
            tracing::debug!(duration_ms, "run done");
            let done = TurnOutcome::Done {
                result: &output.result,
                session: &session_json,
            };
            record.end(done, duration_ms).await;
            Frame::Output(OutputFrame {
                result: output.result,
                session_id,
                duration_ms,
                session: session_json,
            })
        }
        Ended::Finished((Ok(Err(e)), _)) => {
            let error = e.to_string();
            tracing::warn!(error = %error, "agent failed");
            record
                .end(TurnOutcome::Failed { error: &error }, duration_ms)
                .await;
            Frame::Error(ErrorFrame::new(ErrorCode::AgentError, error))
        }
        Ended::Finished((Err(_), _)) => {
            tracing::error!("agent panicked");
            let error = "the agent panicked";
            record.end(TurnOutcome::Failed { error }, duration_ms).await;
            Frame::Error(ErrorFrame::new(ErrorCode::AgentError, error))
        }
    }
}
