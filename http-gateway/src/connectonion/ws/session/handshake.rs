//! The handshakes of a socket: SEAL (ConnectOnion's end-to-end encryption, `seal.rs`) and
//! CONNECT (who speaks on this socket, and which session it continues), with SESSION_STATUS,
//! which answers by the same rules.

use agenthost_identity::{Address, SignedEnvelope};
use agenthost_node::{new_session_id, oip_descriptor, ErrorCode, Frame, Opening, Request};
use serde_json::{json, Map, Value};

use super::state::{Authenticated, Close, Following, Session};
use crate::{
    connectonion::ws::{
        live_turns::LastSeen,
        seal::{Hello, SealedChannel},
    },
    error::ApiError,
};

impl Session {
    /// The SEAL handshake: SEALED_OK, and the channel of every later frame.
    pub(super) async fn seal(
        &mut self,
        frame: &Map<String, Value>,
    ) -> Result<(String, SealedChannel), Close> {
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
    pub(super) async fn connect(&mut self, frame: &Map<String, Value>) -> Result<String, ApiError> {
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
    pub(super) async fn session_status(&self, frame: &Map<String, Value>) -> String {
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
                    _ => match self.record_of(&id, auth.signer).await {
                        Frame::Response(_) => "connected",
                        _ => "not_found",
                    },
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
        match self.record_of(&id, signer).await {
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

    /// The agent's SESSION answer for `id`, asked as `signer`: the record if it is theirs.
    async fn record_of(&self, id: &str, signer: Address) -> Frame {
        let caller = self.transport.clone().signed_by(signer);
        self.agent
            .service
            .call(Request::session(id.to_owned()), caller)
            .terminal()
            .await
    }
}
