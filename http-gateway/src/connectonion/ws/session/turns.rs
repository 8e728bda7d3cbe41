//! INPUT on a socket: each turn runs detached at the agent and is pumped into the live turns;
//! the socket follows it, backlog first, then live frames.

use std::sync::Arc;

use agenthost_identity::Address;
use agenthost_node::{Frame, InputRequest, Request};
use serde_json::{json, Map, Value};
use tokio::sync::broadcast::error::RecvError;

use super::state::{Following, Session};
use crate::{
    connectonion::ws::live_turns::{LastSeen, TurnFrame},
    error::ApiError,
};

impl Session {
    /// The next frame of a backlog being replayed, if any.
    pub(super) fn next_backlog(&mut self) -> Option<String> {
        let following = self.turn.as_mut()?;
        if following.sub.backlog.is_empty() {
            return None;
        }
        let frame = following.sub.backlog.remove(0);
        self.sent_live(&frame);
        Some(frame.text.clone())
    }

    /// Bookkeeping for a frame of the followed turn on its way out: the turn ends with its
    /// terminal frame, and an OUTPUT's conversation is the one the next INPUT continues.
    pub(super) fn sent_live(&mut self, frame: &TurnFrame) {
        if !frame.terminal {
            return;
        }
        self.turn = None;
        if let Some(auth) = &mut self.auth {
            if let Ok(Value::Object(output)) = serde_json::from_str::<Value>(&frame.text) {
                if output.get("type").and_then(Value::as_str) == Some("OUTPUT") {
                    if let Some(session @ Value::Object(_)) = output.get("session") {
                        auth.conversation = Some(session.clone());
                    }
                }
            }
        }
    }
    pub(super) async fn input(&mut self, mut frame: Map<String, Value>) -> Result<(), ApiError> {
        if self.turn.as_ref().is_some_and(|f| !f.turn.is_finished()) {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "busy",
                "a turn is still running on this socket; wait for its OUTPUT",
            ));
        }
        let signed = frame.contains_key("payload") || frame.contains_key("signature");
        let (mut request, caller, owner) = match (&self.auth, signed) {
            (Some(auth), true) => {
                let from = frame.get("from").and_then(Value::as_str).unwrap_or("");
                if Address::parse(from).ok() != Some(auth.signer) {
                    return Err(ApiError::unauthorized(
                        "unauthorized: commands must be signed by the CONNECT signer",
                    ));
                }
                let payload = frame.get("payload");
                // The signature covers the payload's type: a command signed as something else
                // is not an INPUT, whatever the frame around it says.
                if payload.and_then(|p| p.get("type")).and_then(Value::as_str) != Some("INPUT") {
                    return Err(ApiError::unauthorized(
                        "unauthorized: signed command type mismatch",
                    ));
                }
                let nonce_ok = payload
                    .and_then(|p| p.get("nonce"))
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty());
                if !nonce_ok {
                    return Err(ApiError::unauthorized(
                        "unauthorized: signed commands need a non-empty nonce",
                    ));
                }
                let request: InputRequest = serde_json::from_value(Value::Object(frame))
                    .map_err(|e| ApiError::bad_request(format!("invalid INPUT: {e}")))?;
                // The agent verifies the envelope and runs the turn as its signer.
                (request, self.transport.clone(), Some(auth.signer))
            }
            (Some(auth), false) if auth.signed_commands => return Err(ApiError::unauthorized(
                "unauthorized: after a CONNECT with signed_commands every command must be signed",
            )),
            (Some(auth), false) => {
                // v1: the CONNECT proved who speaks on this socket.
                let request = plain_input(frame)?;
                let caller = self.transport.clone().signed_by(auth.signer);
                (request, caller, Some(auth.signer))
            }
            (None, true) => {
                return Err(ApiError::unauthorized(
                    "unauthorized: send a signed CONNECT before signed commands",
                ))
            }
            (None, false) => {
                frame.remove("to");
                (plain_input(frame)?, self.transport.clone(), None)
            }
        };
        if let Some(auth) = &self.auth {
            // The conversation of this socket, unless the INPUT names its own.
            let names_session = request.session.is_some()
                || request
                    .payload
                    .as_ref()
                    .is_some_and(|p| p.get("session").is_some_and(|s| !s.is_null()));
            if !names_session {
                request.session = Some(
                    auth.conversation
                        .clone()
                        .unwrap_or_else(|| json!({"session_id": auth.session_id})),
                );
            }
        }
        let request = InputRequest {
            // The run outlives this socket: its result stays fetchable, and a reconnecting
            // client can rejoin it.
            detached: true,
            ..request
        };
        let mut reply = self.agent.service.call(Request::Input(request), caller);
        // An admitted detached run first says under which id it runs; a refusal is an ERROR.
        let session_id = match reply.next_frame().await {
            Some(Frame::Detached { session_id }) => session_id,
            Some(Frame::Error(e)) => return Err(e.into()),
            Some(other) => {
                return Err(ApiError::internal(format!(
                    "unexpected first frame from the agent: {}",
                    other.to_json()
                )))
            }
            None => return Err(ApiError::internal("the agent sent nothing")),
        };
        if let Some(auth) = &mut self.auth {
            auth.session_id = session_id.clone();
        }
        let turn = self
            .sockets
            .live
            .start(session_id, owner.map(|a| a.to_string()), reply);
        let sub = turn.subscribe(&LastSeen::Nothing);
        self.turn = Some(Following { turn, sub });
        Ok(())
    }
}

/// An unsigned INPUT frame as a request (its `type`, `to` and `input_id` are the socket's
/// business, not the agent's).
fn plain_input(mut frame: Map<String, Value>) -> Result<InputRequest, ApiError> {
    for routing in ["type", "to", "input_id"] {
        frame.remove(routing);
    }
    let request: InputRequest = serde_json::from_value(Value::Object(frame))
        .map_err(|e| ApiError::bad_request(format!("invalid INPUT: {e}")))?;
    if request.prompt.is_none() {
        return Err(ApiError::bad_request("missing prompt"));
    }
    Ok(request)
}

/// The next live frame of the followed turn; pending forever when there is none.
pub(super) async fn next_live(turn: &mut Option<Following>) -> Result<Arc<TurnFrame>, RecvError> {
    match turn {
        Some(following) if following.sub.backlog.is_empty() => following.sub.live.recv().await,
        _ => std::future::pending().await,
    }
}
