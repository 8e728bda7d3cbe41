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

use std::sync::Arc;

use agenthost_identity::{Address, SignedEnvelope};
use agenthost_node::{
    new_session_id, oip_descriptor, Caller, ErrorCode, Frame, InputRequest, Opening, Request,
};
use futures::StreamExt;
use serde_json::{json, Map, Value};
use tokio::sync::broadcast::error::RecvError;

use super::Sockets;
use super::{
    client_socket::{ClientSocket, Incoming, Outgoing},
    live_turns::{LastSeen, LiveTurn, Subscription, TurnFrame},
    seal::{Hello, SealedChannel, SEAL, SEALED},
};
use crate::{error::ApiError, target::LocalAgent};

/// The authenticated form's state after CONNECT.
struct Authenticated {
    signer: Address,
    session_id: String,
    /// v2 (`signed_commands: 1` in the CONNECT payload): every later command is signed. v1:
    /// plain commands, run as the CONNECT's signer.
    signed_commands: bool,
    /// The conversation the client holds (CONNECT's `session`, then each OUTPUT's), for INPUTs
    /// that do not carry their own.
    conversation: Option<Value>,
}

/// The turn this socket is following.
struct Following {
    turn: Arc<LiveTurn>,
    sub: Subscription,
}

/// What a client message calls for.
enum Received {
    Replies(Vec<String>),
    /// The handshake's answer, then the channel for every later frame.
    Sealed(String, SealedChannel),
}

/// Why the socket is closing.
enum Close {
    /// The client left or the socket failed.
    Gone,
    /// The client fell too far behind a live turn.
    Lagged,
    /// A SEAL failed: say why in the clear (the channel, if any, is broken) and close.
    Refused(String),
}

/// One socket's session.
pub(super) struct Session {
    sockets: Sockets,
    agent: LocalAgent,
    /// Who carried the socket: an HTTP client, or the gateway peer of a tunnel.
    transport: Caller,
    /// For logs: the client's address as the transport knows it.
    label: String,
    seal: Option<SealedChannel>,
    /// The address that opened the seal: a CONNECT inside must be signed by it.
    sealed_by: Option<Address>,
    first_frame: bool,
    auth: Option<Authenticated>,
    turn: Option<Following>,
}

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

    /// The next frame of a backlog being replayed, if any.
    fn next_backlog(&mut self) -> Option<String> {
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
    fn sent_live(&mut self, frame: &TurnFrame) {
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

    /// The SEAL handshake: SEALED_OK, and the channel of every later frame.
    async fn seal(&mut self, frame: &Map<String, Value>) -> Result<(String, SealedChannel), Close> {
        let hello =
            Hello::parse(frame).map_err(|e| Close::Refused(format!("seal refused: {e}")))?;
        let signer = self
            .agent
            .service
            .verify_opening(
                hello.envelope.clone(),
                Opening::Seal,
                self.transport.clone(),
            )
            .await
            .map_err(|e| Close::Refused(format!("seal refused: {}", e.message)))?;
        let (reply, channel) = hello.accept(&self.agent.key);
        tracing::debug!(client = %self.label, signer = %signer.short(), "socket sealed");
        self.sealed_by = Some(signer);
        Ok((reply.to_string(), channel))
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

    async fn connect(&mut self, frame: &Map<String, Value>) -> Result<String, ApiError> {
        let envelope: SignedEnvelope = serde_json::from_value(Value::Object(frame.clone()))
            .map_err(|_| {
                ApiError::unauthorized(
                    "unauthorized: CONNECT must be signed (payload, from, signature)",
                )
            })?;
        if let Some(sealed_by) = self.sealed_by {
            // Else a stranger could open its own seal and feed it someone else's CONNECT.
            if Address::parse(&envelope.from).ok() != Some(sealed_by) {
                return Err(ApiError::unauthorized(
                    "unauthorized: CONNECT is not signed by the sealed peer",
                ));
            }
        }
        let signed_commands = envelope
            .payload
            .get("signed_commands")
            .and_then(Value::as_i64)
            == Some(1);
        let signer = self
            .agent
            .service
            .verify_opening(
                envelope,
                Opening::Connect {
                    sealed: self.sealed_by.is_some(),
                },
                self.transport.clone(),
            )
            .await
            .map_err(ApiError::from)?;
        let requested = frame
            .get("session_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .or_else(|| {
                frame
                    .get("session")
                    .and_then(|s| s.get("session_id"))
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
            })
            .map(str::to_owned);
        if let Some(auth) = &self.auth {
            // The identity and capabilities of a socket are fixed by its first CONNECT: a
            // second one could otherwise downgrade v2 to v1 and slip in unsigned commands.
            let same = auth.signer == signer
                && auth.signed_commands == signed_commands
                && requested.as_ref().is_none_or(|id| *id == auth.session_id);
            if !same {
                return Err(ApiError::new(
                    axum::http::StatusCode::CONFLICT,
                    "busy",
                    "already authenticated: open a new connection",
                ));
            }
        }
        let last_seen = match frame.get("last_msg_id") {
            Some(Value::Number(n)) => n.as_u64().map_or(LastSeen::Nothing, LastSeen::MsgId),
            Some(Value::String(id)) => LastSeen::Id(id.clone()),
            _ => LastSeen::Nothing,
        };
        let (session_id, status) = self.resolve(requested, signer, &last_seen).await?;
        // The client's copy of the conversation, under the id it now runs as.
        let conversation = match frame.get("session") {
            Some(Value::Object(session)) => {
                let mut session = session.clone();
                session.insert("session_id".into(), json!(session_id));
                Some(Value::Object(session))
            }
            _ => self.auth.take().and_then(|auth| auth.conversation),
        };
        tracing::debug!(client = %self.label, signer = %signer.short(), session = %session_id, status, signed_commands, "CONNECT");
        self.auth = Some(Authenticated {
            signer,
            session_id: session_id.clone(),
            signed_commands,
            conversation,
        });
        Ok(json!({
            "type": "CONNECTED",
            "session_id": session_id,
            "status": status,
            "protocol": oip_descriptor(),
        })
        .to_string())
    }

    /// ConnectOnion's `SESSION_STATUS`: how the caller's session stands — `running` (a turn
    /// runs), `connected` (on record, idle) or `not_found` (unknown, someone else's, or asked
    /// before a CONNECT said who asks: no existence oracle).
    async fn session_status(&self, frame: &Map<String, Value>) -> String {
        let id = frame
            .get("session")
            .and_then(|s| s.get("session_id"))
            .or_else(|| frame.get("session_id"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let status = match &self.auth {
            Some(auth) if !id.is_empty() => {
                let owner = auth.signer.to_string();
                match self.sockets.live.get(&id) {
                    Some(turn)
                        if !turn.is_finished() && turn.owner.as_deref() == Some(owner.as_str()) =>
                    {
                        "running"
                    }
                    _ => {
                        let caller = self.transport.clone().signed_by(auth.signer);
                        let record = self
                            .agent
                            .service
                            .call(Request::session(id.clone()), caller)
                            .terminal()
                            .await;
                        match record {
                            Frame::Response(_) => "connected",
                            _ => "not_found",
                        }
                    }
                }
            }
            _ => "not_found",
        };
        json!({"type": "SESSION_STATUS", "session_id": id, "status": status}).to_string()
    }

    /// The session a CONNECT continues and how it stands (`running`, `connected` or `new`).
    async fn resolve(
        &mut self,
        requested: Option<String>,
        signer: Address,
        last_seen: &LastSeen,
    ) -> Result<(String, &'static str), ApiError> {
        let Some(id) = requested else {
            return Ok((new_session_id(), "new"));
        };
        let owner = signer.to_string();
        if let Some(following) = &self.turn {
            if following.turn.session_id == id {
                // This socket already follows that turn (a repeated CONNECT).
                return Ok((id, "running"));
            }
        }
        if let Some(turn) = self.sockets.live.get(&id) {
            if !turn.is_finished() && turn.owner.as_deref() == Some(owner.as_str()) {
                // Rejoin: what was missed, then what comes.
                let sub = turn.subscribe(last_seen);
                if sub.missing {
                    tracing::warn!(session = %id, ?last_seen, "some missed frames are no longer kept");
                }
                self.turn = Some(Following { turn, sub });
                return Ok((id, "running"));
            }
        }
        // Nothing live: is the conversation on record, and this signer's?
        let caller = self.transport.clone().signed_by(signer);
        let record = self
            .agent
            .service
            .call(Request::session(id.clone()), caller)
            .terminal()
            .await;
        match record {
            Frame::Response(_) => Ok((id, "connected")),
            Frame::Error(e) if e.code.as_deref() == Some(ErrorCode::NotFound.as_str()) => {
                Ok((new_session_id(), "new"))
            }
            Frame::Error(e) => Err(e.into()),
            other => Err(ApiError::internal(format!(
                "unexpected answer from the agent: {}",
                other.to_json()
            ))),
        }
    }

    async fn input(&mut self, mut frame: Map<String, Value>) -> Result<(), ApiError> {
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
async fn next_live(turn: &mut Option<Following>) -> Result<Arc<TurnFrame>, RecvError> {
    match turn {
        Some(following) if following.sub.backlog.is_empty() => following.sub.live.recv().await,
        _ => std::future::pending().await,
    }
}

pub(crate) fn error_text(message: &str, code: Option<&str>) -> String {
    let mut map = Map::new();
    map.insert("type".into(), json!("ERROR"));
    map.insert("message".into(), json!(message));
    if let Some(code) = code {
        map.insert("code".into(), json!(code));
    }
    Value::Object(map).to_string()
}

pub(crate) fn api_error_text(e: ApiError) -> String {
    let mut map = Map::new();
    map.insert("type".into(), json!("ERROR"));
    map.insert("message".into(), json!(e.message));
    if let Some(code) = e.code {
        map.insert("code".into(), json!(code));
    }
    if let Some(retry) = e.retry_after {
        map.insert("retry_after".into(), json!(retry));
    }
    Value::Object(map).to_string()
}
