//! WebSocket `/ws` (WIRE.md §4): the simple form (INPUT → STREAM and events → OUTPUT/ERROR)
//! and the authenticated form (signed CONNECT → CONNECTED, then signed commands). `/ws/input`
//! on a standalone gateway routes each conversation by the `to` its frames carry.
//!
//! Every turn runs detached at the agent and is pumped into [`LiveTurns`], so the socket is a
//! subscriber: a slow socket never slows the agent or other clients, a reconnecting client
//! rejoins a running turn, and the result stays fetchable if the client goes away.

use std::{net::SocketAddr, sync::Arc};

use agenthost_identity::{verify_envelope, Address, EnvelopeChecks, SignedEnvelope};
use agenthost_node::{Frame, InputRequest, Request};
use axum::{
    extract::{
        ws::{rejection::WebSocketUpgradeRejection, Message, WebSocket, WebSocketUpgrade},
        State,
    },
    response::{IntoResponse, Response},
};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::{
    client_addr::ClientAddr,
    error::ApiError,
    live_turns::{LiveTurn, Subscription},
    routes::http_caller,
    state::GatewayState,
    target::{Agents, TargetAgent},
};

/// `GET /ws` (and `/agents/{address}/ws`): upgrade, then serve one client.
pub async fn ws_agent(
    State(state): State<GatewayState>,
    agent: TargetAgent,
    ClientAddr(remote): ClientAddr,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    upgrade_socket(state, Some(agent), remote, upgrade)
}

/// `GET /ws/input`: frames name their agent with a top-level `to`.
pub async fn ws_routed(
    State(state): State<GatewayState>,
    ClientAddr(remote): ClientAddr,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    upgrade_socket(state, None, remote, upgrade)
}

fn upgrade_socket(
    state: GatewayState,
    agent: Option<TargetAgent>,
    remote: SocketAddr,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        // A plain GET (a browser, a fuzzer): say what this route wants, as JSON.
        Err(rejection) => {
            return ApiError::new(
                rejection.status(),
                "bad_request",
                format!("this route speaks WebSocket: {}", rejection.body_text()),
            )
            .into_response()
        }
    };
    let limit = state.config.max_body_bytes;
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| async move {
            state.metrics.ws_opened();
            Connection {
                state: state.clone(),
                agent,
                remote,
                auth: None,
                turn: None,
            }
            .serve(socket)
            .await;
            state.metrics.ws_closed();
        })
}

/// The authenticated form's state after CONNECT.
struct Authenticated {
    signer: Address,
    session_id: String,
}

/// The turn this socket is following.
struct Following {
    turn: Arc<LiveTurn>,
    sub: Subscription,
}

struct Connection {
    state: GatewayState,
    agent: Option<TargetAgent>,
    remote: SocketAddr,
    auth: Option<Authenticated>,
    turn: Option<Following>,
}

/// Why the socket is closing.
enum Close {
    /// The client left or the socket failed.
    Gone,
    /// The client fell too far behind a live turn.
    Lagged,
}

impl Connection {
    async fn serve(mut self, socket: WebSocket) {
        let (mut sink, mut stream) = socket.split();
        let mut ping = tokio::time::interval(self.state.config.ws_ping_interval);
        ping.tick().await; // the first tick is immediate
        let send_timeout = self.state.config.ws_send_timeout;
        let result: Result<(), Close> = async {
            loop {
                // Frames already waiting (a backlog) go out before anything else is read.
                while let Some(text) = self.next_backlog() {
                    send(&mut sink, text, send_timeout).await?;
                }
                tokio::select! {
                    incoming = stream.next() => {
                        let text = match incoming {
                            Some(Ok(Message::Text(text))) => text.to_string(),
                            Some(Ok(Message::Binary(bytes))) => match String::from_utf8(bytes.to_vec()) {
                                Ok(text) => text,
                                Err(_) => {
                                    send(&mut sink, error_text("frames must be UTF-8 JSON", Some("bad_request")), send_timeout).await?;
                                    continue;
                                }
                            },
                            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Err(Close::Gone),
                        };
                        for reply in self.handle(&text).await {
                            send(&mut sink, reply, send_timeout).await?;
                        }
                    }
                    live = next_live(&mut self.turn) => {
                        match live {
                            Ok(frame) => {
                                let terminal = frame.terminal;
                                send(&mut sink, frame.text.clone(), send_timeout).await?;
                                if terminal {
                                    self.turn = None;
                                }
                            }
                            Err(RecvError::Lagged(_)) => return Err(Close::Lagged),
                            Err(RecvError::Closed) => self.turn = None,
                        }
                    }
                    _ = ping.tick() => {
                        send(&mut sink, json!({"type": "PING"}).to_string(), send_timeout).await?;
                    }
                }
            }
        }
        .await;
        if let Err(Close::Lagged) = result {
            let session_id = self
                .turn
                .as_ref()
                .map(|f| f.turn.session_id.clone())
                .unwrap_or_default();
            tracing::warn!(remote = %self.remote, session = %session_id, "websocket client too far behind; dropped");
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
                let _ = sink.send(Message::Text(notice.to_string().into())).await;
                let _ = sink.close().await;
            })
            .await;
        }
    }

    /// The next frame of a backlog being replayed, if any.
    fn next_backlog(&mut self) -> Option<String> {
        let following = self.turn.as_mut()?;
        if following.sub.backlog.is_empty() {
            return None;
        }
        let frame = following.sub.backlog.remove(0);
        if frame.terminal {
            self.turn = None;
        }
        Some(frame.text.clone())
    }

    /// Answers one client frame with zero or more frames.
    async fn handle(&mut self, text: &str) -> Vec<String> {
        let value: Value = match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Value::Object(map),
            Ok(_) => {
                return vec![error_text(
                    "frames must be JSON objects",
                    Some("bad_request"),
                )]
            }
            Err(e) => {
                return vec![error_text(
                    &format!("invalid JSON: {e}"),
                    Some("bad_request"),
                )]
            }
        };
        let payload = value.get("payload").filter(|p| p.is_object());
        let kind = value
            .get("type")
            .or_else(|| payload.and_then(|p| p.get("type")))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        match kind.as_str() {
            "PONG" => Vec::new(),
            "PING" => vec![json!({"type": "PONG"}).to_string()],
            "CONNECT" => self.connect(&value),
            "INPUT" => match self.input(value).await {
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

    /// The agent named by a frame's `to` (the `/ws/input` alias), or this socket's agent.
    fn target(&self, to: Option<&str>) -> Result<TargetAgent, ApiError> {
        if let Some(agent) = &self.agent {
            return Ok(agent.clone());
        }
        let to = to.ok_or_else(|| {
            ApiError::bad_request("frames on /ws/input must name their agent in `to`")
        })?;
        let address = Address::parse(to)
            .map_err(|e| ApiError::bad_request(format!("`to` is not an agent address: {e}")))?;
        match &*self.state.agents {
            Agents::Local {
                address: local,
                service,
            } if *local == address => Ok(TargetAgent {
                address,
                service: Arc::clone(service),
                base_path: String::new(),
                lists: None,
            }),
            Agents::Local { .. } => Err(ApiError::not_found(format!(
                "agent {address} is not served here"
            ))),
            Agents::Remote(remote) => remote.target(address),
        }
    }

    fn connect(&mut self, frame: &Value) -> Vec<String> {
        match self.try_connect(frame) {
            Ok(connected) => vec![connected],
            Err(e) => vec![api_error_text(e)],
        }
    }

    fn try_connect(&mut self, frame: &Value) -> Result<String, ApiError> {
        let envelope: SignedEnvelope = serde_json::from_value(frame.clone()).map_err(|_| {
            ApiError::unauthorized(
                "unauthorized: CONNECT must be signed (payload, from, signature)",
            )
        })?;
        let to = envelope.payload.get("to").and_then(Value::as_str);
        let agent = self.target(to.or(frame.get("to").and_then(Value::as_str)))?;
        agent.check_signer(Some(&envelope.from))?;
        let lists = agent.lists.clone();
        let denied = move |a: &Address| lists.as_ref().is_some_and(|l| l.deny.contains(a));
        let checks = EnvelopeChecks::new(agent.address, &self.state.connect_ledger)
            .with_require_to(true)
            .with_blacklist(&denied);
        let signer = verify_envelope(&envelope, &checks).map_err(|e| {
            let status = axum::http::StatusCode::from_u16(e.status())
                .unwrap_or(axum::http::StatusCode::UNAUTHORIZED);
            let code = if status == 403 {
                "forbidden"
            } else {
                "unauthorized"
            };
            ApiError::new(status, code, e.to_string())
        })?;
        let requested = frame
            .get("session_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .or_else(|| {
                frame
                    .get("session")
                    .and_then(|s| s.get("session_id"))
                    .and_then(Value::as_str)
            })
            .map(str::to_owned);
        let last_msg_id = frame
            .get("last_msg_id")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let signer_text = signer.address.to_string();
        let status = match &requested {
            None => "new",
            Some(id) => match self.state.live.get(id) {
                Some(turn)
                    if turn.owner.is_none() || turn.owner.as_deref() == Some(&signer_text) =>
                {
                    let running = !turn.is_finished();
                    // Rejoin: what was missed, then what comes.
                    let sub = turn.subscribe(last_msg_id);
                    if sub.missing {
                        tracing::warn!(session = %id, last_msg_id, "some missed frames are no longer kept");
                    }
                    self.turn = Some(Following { turn, sub });
                    if running {
                        "running"
                    } else {
                        "connected"
                    }
                }
                _ => "connected",
            },
        };
        let session_id = requested.unwrap_or_else(agenthost_node::session::new_session_id);
        self.agent.get_or_insert(agent);
        self.auth = Some(Authenticated {
            signer: signer.address,
            session_id: session_id.clone(),
        });
        Ok(json!({"type": "CONNECTED", "session_id": session_id, "status": status}).to_string())
    }

    async fn input(&mut self, frame: Value) -> Result<(), ApiError> {
        if self.turn.as_ref().is_some_and(|f| !f.turn.is_finished()) {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "busy",
                "a turn is still running on this socket; wait for its OUTPUT",
            ));
        }
        let Value::Object(mut map) = frame else {
            return Err(ApiError::bad_request("frames must be JSON objects"));
        };
        let signed = map.contains_key("payload") || map.contains_key("signature");
        let (request, owner, agent) = match (&self.auth, signed) {
            (Some(auth), true) => {
                let from = map.get("from").and_then(Value::as_str).unwrap_or("");
                if Address::parse(from).ok() != Some(auth.signer) {
                    return Err(ApiError::unauthorized(
                        "unauthorized: commands must be signed by the CONNECT signer",
                    ));
                }
                let payload = map.get("payload").cloned().unwrap_or(Value::Null);
                let nonce_ok = payload
                    .get("nonce")
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty());
                if !nonce_ok {
                    return Err(ApiError::unauthorized(
                        "unauthorized: signed commands need a non-empty nonce",
                    ));
                }
                let mut request: InputRequest = serde_json::from_value(Value::Object(map))
                    .map_err(|e| ApiError::bad_request(format!("invalid INPUT: {e}")))?;
                // The conversation of this socket, unless the signed payload names its own.
                if request.session.is_none() {
                    request.session = Some(json!({"session_id": auth.session_id}));
                }
                let agent = self.target(None)?;
                (request, Some(auth.signer.to_string()), agent)
            }
            (Some(_), false) => {
                return Err(ApiError::unauthorized(
                    "unauthorized: after CONNECT every command must be signed",
                ))
            }
            (None, true) => {
                return Err(ApiError::unauthorized(
                    "unauthorized: send a signed CONNECT before signed commands",
                ))
            }
            (None, false) => {
                let to = map.remove("to");
                let agent = self.target(to.as_ref().and_then(Value::as_str))?;
                map.remove("type");
                let request: InputRequest = serde_json::from_value(Value::Object(map))
                    .map_err(|e| ApiError::bad_request(format!("invalid INPUT: {e}")))?;
                if request.prompt.is_none() {
                    return Err(ApiError::bad_request("missing prompt"));
                }
                (request, None, agent)
            }
        };
        if owner.is_some() {
            agent.check_signer(owner.as_deref())?;
        }
        let request = InputRequest {
            // The run outlives this socket: its result stays fetchable, and a reconnecting
            // client can rejoin it.
            detached: true,
            ..request
        };
        let mut reply = agent
            .service
            .call(Request::Input(request), http_caller(self.remote));
        // An admitted detached run first says under which id it runs; a refusal is an ERROR.
        let session_id = match reply.next_frame().await {
            Some(Frame::Event(event))
                if event.get("type").and_then(Value::as_str) == Some("detached") =>
            {
                event
                    .get("session_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            }
            Some(Frame::Error(e)) => return Err(e.into()),
            Some(other) => {
                return Err(ApiError::internal(format!(
                    "unexpected first frame from the agent: {}",
                    other.to_json()
                )))
            }
            None => return Err(ApiError::internal("the agent sent nothing")),
        };
        let turn = self.state.live.start(session_id, owner, reply);
        let sub = turn.subscribe(0);
        self.turn = Some(Following { turn, sub });
        Ok(())
    }
}

/// The next live frame of the followed turn; pending forever when there is none.
async fn next_live(
    turn: &mut Option<Following>,
) -> Result<Arc<crate::live_turns::TurnFrame>, RecvError> {
    match turn {
        Some(following) if following.sub.backlog.is_empty() => following.sub.live.recv().await,
        _ => std::future::pending().await,
    }
}

async fn send(
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
    text: String,
    timeout: std::time::Duration,
) -> Result<(), Close> {
    match tokio::time::timeout(timeout, sink.send(Message::Text(text.into()))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Close::Gone),
        // A client that stops reading for this long is as good as gone.
        Err(_) => Err(Close::Lagged),
    }
}

fn error_text(message: &str, code: Option<&str>) -> String {
    let mut map = Map::new();
    map.insert("type".into(), json!("ERROR"));
    map.insert("message".into(), json!(message));
    if let Some(code) = code {
        map.insert("code".into(), json!(code));
    }
    Value::Object(map).to_string()
}

fn api_error_text(e: ApiError) -> String {
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
