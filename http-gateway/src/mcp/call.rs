//! One `tools/call`: the arguments into an INPUT, sent through the [`Upstream`]; STREAM chunks
//! out as progress notifications while the turn runs; the OUTPUT as the tool's result. The
//! turn is recorded in the agent's session store like every other (the door does that), so
//! its owner can fetch it later by `session_id`.

use std::time::Duration;

use agenthost_node::{FileInput, Frame, InputRequest, OutputFrame, Request};
use rmcp::{
    model::{CallToolResult, ContentBlock, JsonObject, ProgressNotificationParam, ProgressToken},
    service::{Peer, RoleServer},
    ErrorData as McpError,
};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{
    error::{call_error, failed_turn},
    upstream::Upstream,
};

/// The tool's arguments (`tool.rs` declares them).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Arguments {
    prompt: String,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    images: Vec<String>,
    #[serde(default)]
    files: Vec<FileInput>,
}

/// Where progress goes: the client's token for this call, and the session to notify.
pub(crate) struct Progress {
    pub token: ProgressToken,
    pub peer: Peer<RoleServer>,
}

/// Runs the agent on `arguments`. `cancelled` fires on the client's
/// `notifications/cancelled` (or when its connection goes): the reply is dropped, which
/// cancels the run at the door, and the turn is recorded `cancelled`.
pub(crate) async fn call_agent(
    upstream: &Upstream,
    arguments: Option<JsonObject>,
    progress: Option<Progress>,
    cancelled: CancellationToken,
    timeout: Duration,
) -> Result<CallToolResult, McpError> {
    let arguments: Arguments = serde_json::from_value(arguments.map_or(json!({}), Into::into))
        .map_err(|e| McpError::invalid_params(format!("invalid arguments: {e}"), None))?;
    let session_id = arguments.session_id.filter(|id| !id.is_empty());
    let signed = upstream.signed();
    let input = InputRequest {
        prompt: Some(arguments.prompt),
        // The id alone: the door continues the conversation its store kept.
        session: session_id.as_ref().map(|id| json!({ "session_id": id })),
        images: arguments.images,
        files: arguments.files,
        payload: signed.payload,
        from: signed.from,
        signature: signed.signature,
        ..InputRequest::default()
    };
    let mut reply = upstream.send(Request::Input(input)).await;
    let mut chunks = 0u64;
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        let frame = tokio::select! {
            frame = reply.next_frame() => frame,
            () = cancelled.cancelled() => {
                return Ok(failed_turn("cancelled", "cancelled by the client", session_id.as_deref()));
            }
            () = &mut deadline => {
                return Ok(failed_turn(
                    "failed",
                    &format!("no answer within {} s", timeout.as_secs()),
                    session_id.as_deref(),
                ));
            }
        };
        match frame {
            Some(Frame::Stream { content }) => {
                chunks += 1;
                if let Some(progress) = &progress {
                    let note =
                        ProgressNotificationParam::new(progress.token.clone(), chunks as f64)
                            .with_message(content);
                    // A client that stopped listening for progress still gets the result.
                    let _ = progress.peer.notify_progress(note).await;
                }
            }
            Some(Frame::Output(output)) => return Ok(done(output)),
            Some(Frame::Error(error)) => return call_error(&error, session_id.as_deref()),
            Some(Frame::Event(_)) => {}
            Some(other @ (Frame::Detached { .. } | Frame::Response(_))) => {
                return Err(McpError::internal_error(
                    format!("the agent answered INPUT with {}", other.to_json()),
                    None,
                ));
            }
            None => {
                return Err(McpError::internal_error(
                    "the reply ended without a result",
                    None,
                ));
            }
        }
    }
}

/// A finished turn: the answer as text, and `{result, session_id, status, duration_ms}`.
fn done(output: OutputFrame) -> CallToolResult {
    let mut result = CallToolResult::structured(json!({
        "result": output.result,
        "session_id": output.session_id,
        "status": "done",
        "duration_ms": output.duration_ms,
    }));
    result.content = vec![ContentBlock::text(output.result)];
    result
}
