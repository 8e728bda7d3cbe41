//! One client's socket session, run in the agent's own process (WIRE.md §4): the simple form
//! (INPUT → STREAM and events → OUTPUT/ERROR), the authenticated form (signed CONNECT →
//! CONNECTED, then signed commands, or plain ones for a v1 CONNECT), and SEAL around either.
//!
//! Every turn runs detached at the agent and is pumped into [`LiveTurns`], so the socket is a
//! subscriber: a slow socket never slows the agent or other clients, a client that reconnects
//! while a turn runs rejoins it, and the result stays fetchable if the client goes away.
//!
//! A CONNECT naming a session answers as ConnectOnion's host does (`ws_router/connect.py`):
//! `running` only when a turn of that session runs now (then the frames after `last_msg_id`,
//! then the live ones); `connected` when the session is on record and nothing runs (nothing is
//! replayed: the next INPUT starts a new turn); `new` otherwise, under a fresh id when the one
//! asked for is unknown or someone else's.
//!
//! Here the session's loop (reading frames, unsealing, dispatching them); `state.rs`: what it
//! holds;
//! `handshake.rs`: SEAL and CONNECT, who speaks on this socket and which session it continues;
//! `turns.rs`: INPUT, and following a turn's frames.

mod handshake;
mod state;
mod turns;

use agenthost_identity::Address;
use agenthost_node::Caller;
use futures::StreamExt;
use serde_json::{json, Map, Value};
use tokio::sync::broadcast::error::RecvError;

use super::{
    client_socket::{ClientSocket, Incoming, Outgoing},
    frames::{api_error_text, error_text},
    seal::{SEAL, SEALED},
    sockets::Sockets,
};
use crate::{error::ApiError, target::LocalAgent};
pub(super) use state::Session;
use state::{Close, Received};
use turns::next_live;

impl Session {
    pub(super) fn new(
        sockets: Sockets,
        agent: LocalAgent,
        transport: Caller,
        label: String,
    ) -> Self {
        Session {
            sockets,
            agent,
            transport,
            label,
            seal: None,
            sealed_by: None,
            first_frame: true,
            auth: None,
            turn: None,
        }
    }

    pub(super) async fn serve(mut self, socket: ClientSocket) {
        let ClientSocket {
            mut incoming,
            mut outgoing,
        } = socket;
        let mut ping = tokio::time::interval(self.sockets.config.ws_ping_interval);
        ping.tick().await; // the first tick is immediate
        let result: Result<(), Close> = async {
            loop {
                // Frames already waiting (a backlog) go out before anything else is read.
                while let Some(text) = self.next_backlog() {
                    self.send(outgoing.as_mut(), text).await?;
                }
                tokio::select! {
                    message = incoming.next() => {
                        let text = match message {
                            Some(Incoming::Text(text)) => text,
                            Some(Incoming::NotText) => {
                                let error = error_text("frames must be UTF-8 JSON", Some("bad_request"));
                                self.send(outgoing.as_mut(), error).await?;
                                continue;
                            }
                            None => return Err(Close::Gone),
                        };
                        match self.receive(&text).await? {
                            Received::Replies(replies) => {
                                for reply in replies {
                                    self.send(outgoing.as_mut(), reply).await?;
                                }
                            }
                            Received::Sealed(reply, channel) => {
                                // SEALED_OK itself travels in the clear; everything after it
                                // is sealed.
                                self.send(outgoing.as_mut(), reply).await?;
                                self.seal = Some(channel);
                            }
                        }
                    }
                    live = next_live(&mut self.turn) => {
                        match live {
                            Ok(frame) => {
                                self.sent_live(&frame);
                                self.send(outgoing.as_mut(), frame.text.clone()).await?;
                            }
                            Err(RecvError::Lagged(_)) => return Err(Close::Lagged),
                            Err(RecvError::Closed) => self.turn = None,
                        }
                    }
                    _ = ping.tick() => {
                        self.send(outgoing.as_mut(), json!({"type": "PING"}).to_string()).await?;
                    }
                }
            }
        }
        .await;
        match result {
            Err(Close::Lagged) => self.lagged(outgoing.as_mut()).await,
            Err(Close::Refused(message)) => {
                tracing::info!(client = %self.label, %message, "socket refused");
                // In the clear: after a failed seal there is no channel to trust.
                let notice = error_text(&message, Some("unauthorized"));
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
                    let _ = outgoing.send(notice).await;
                    outgoing.close().await;
                })
                .await;
            }
            Ok(()) | Err(Close::Gone) => {}
        }
    }

    /// Sends one frame, sealed when the socket is.
    async fn send(&mut self, out: &mut dyn Outgoing, text: String) -> Result<(), Close> {
        let text = match &mut self.seal {
            Some(channel) => channel.seal(&text),
            None => text,
        };
        let timeout = self.sockets.config.ws_send_timeout;
        match tokio::time::timeout(timeout, out.send(text)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(())) => Err(Close::Gone),
            // A client that stops reading for this long is as good as gone.
            Err(_) => Err(Close::Lagged),
        }
    }

    async fn lagged(&mut self, out: &mut dyn Outgoing) {
        let session_id = self
            .turn
            .as_ref()
            .map(|f| f.turn.session_id.clone())
            .unwrap_or_default();
        tracing::warn!(client = %self.label, session = %session_id, "websocket client too far behind; dropped");
        let notice = json!({
            "type": "ERROR",
            "code": "lagged",
            "session_id": session_id,
            "message": format!(
                "you fell too far behind the stream and are disconnected; the run goes on: \
                 reconnect with CONNECT and your last_msg_id, or fetch the result with \
                 GET /sessions/{session_id}"
            ),
        });
        // The socket may be the very thing that is stuck: try briefly, then drop it.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
            let _ = self.send(out, notice.to_string()).await;
            out.close().await;
        })
        .await;
    }
    /// One message from the client: unsealed (or SEAL itself), then handled.
    async fn receive(&mut self, text: &str) -> Result<Received, Close> {
        let first = std::mem::replace(&mut self.first_frame, false);
        let one = |text: String| Ok(Received::Replies(vec![text]));
        let map = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(_) if self.seal.is_none() => {
                return one(error_text(
                    "frames must be JSON objects",
                    Some("bad_request"),
                ))
            }
            Ok(_) => return Err(Close::Refused("sealed frame rejected: not a frame".into())),
            Err(e) => {
                // Inside a seal anything that is not a frame is a broken channel.
                if self.seal.is_some() {
                    return Err(Close::Refused("sealed frame rejected: not JSON".into()));
                }
                return one(error_text(
                    &format!("invalid JSON: {e}"),
                    Some("bad_request"),
                ));
            }
        };
        let kind = map.get("type").and_then(Value::as_str).unwrap_or("");
        if let Some(channel) = &mut self.seal {
            // Plaintext PING and ERROR may still pass (relays send them); nothing else.
            let control = matches!(kind, "PING" | "ERROR") && !map.contains_key("c");
            if !control {
                return match channel.open(&map) {
                    Ok(Value::Object(inner)) => Ok(Received::Replies(self.handle(inner).await)),
                    Ok(_) => one(error_text(
                        "frames must be JSON objects",
                        Some("bad_request"),
                    )),
                    Err(e) => Err(Close::Refused(format!("sealed frame rejected: {e}"))),
                };
            }
        } else if kind == SEAL {
            if !first {
                return one(error_text(
                    "SEAL must be the first frame of a socket; open a new one",
                    Some("bad_request"),
                ));
            }
            let (reply, channel) = self.seal(&map).await?;
            return Ok(Received::Sealed(reply, channel));
        } else if kind == SEALED {
            return one(error_text(
                "this socket is not sealed: open it with SEAL",
                Some("bad_request"),
            ));
        }
        Ok(Received::Replies(self.handle(map).await))
    }
    /// Answers one client frame with zero or more frames.
    async fn handle(&mut self, frame: Map<String, Value>) -> Vec<String> {
        let payload_kind = frame
            .get("payload")
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str);
        let kind = frame
            .get("type")
            .and_then(Value::as_str)
            .or(payload_kind)
            .unwrap_or("")
            .to_owned();
        if let Err(e) = self.check_recipient(&frame) {
            return vec![api_error_text(e)];
        }
        match kind.as_str() {
            "PONG" => Vec::new(),
            // A client (or a relay on its way) reporting a failure asks nothing of the agent.
            "ERROR" => {
                tracing::debug!(client = %self.label, frame = ?frame.get("message"), "client sent an ERROR");
                Vec::new()
            }
            "PING" => vec![json!({"type": "PONG"}).to_string()],
            "CONNECT" => match self.connect(&frame).await {
                Ok(connected) => vec![connected],
                Err(e) => vec![api_error_text(e)],
            },
            "SESSION_STATUS" => vec![self.session_status(&frame).await],
            "INPUT" => match self.input(frame).await {
                Ok(()) => Vec::new(),
                Err(e) => vec![api_error_text(e)],
            },
            "" => vec![error_text("missing message type", Some("bad_request"))],
            other => vec![error_text(
                &format!("unknown message type: '{other}'"),
                Some("bad_request"),
            )],
        }
    }

    /// A frame's top-level `to` (how `/ws/input` frames name their agent) must be this agent.
    fn check_recipient(&self, frame: &Map<String, Value>) -> Result<(), ApiError> {
        match frame.get("to").and_then(Value::as_str) {
            Some(to) if Address::parse(to).ok() != Some(self.agent.address) => Err(
                ApiError::not_found(format!("agent {to} is not served on this socket")),
            ),
            _ => Ok(()),
        }
    }
}
