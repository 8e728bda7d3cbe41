//! The JSON bodies of the HTTP API as types: what handlers send, and what the OpenAPI
//! document describes (one definition, so the two cannot drift).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// `POST /input`: the plain form, or a signed envelope whose payload holds the same fields
/// plus `timestamp` and `to` (WIRE.md §2–3).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // documentation of the body; the handler reads it as JSON
pub struct InputBody {
    /// The prompt (plain form).
    pub prompt: Option<String>,
    /// The `session` object of a previous answer, to continue that conversation.
    pub session: Option<Value>,
    /// Images as data URLs.
    pub images: Option<Vec<String>>,
    /// Files as `{name, data}` with data URLs.
    pub files: Option<Vec<FileBody>>,
    /// Signed form: the signed fields (`prompt`, `timestamp`, `to`, ...).
    pub payload: Option<Value>,
    /// Signed form: the signer's `0x` address.
    pub from: Option<String>,
    /// Signed form: 128 hex digits of the ed25519 signature of the canonical payload.
    pub signature: Option<String>,
}

/// A file attached to an input.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct FileBody {
    pub name: String,
    /// `data:<mime>;base64,...`
    pub data: String,
}

/// The answer of `POST /input`.
#[derive(Serialize, ToSchema)]
pub struct InputResponse {
    pub session_id: String,
    /// Always `done` for a 200.
    pub status: &'static str,
    pub result: String,
    pub duration_ms: u64,
    /// `{"session_id","messages":[{"role","content"}],"trace":[...],"turn":N}`: pass it back
    /// to continue the conversation.
    pub session: Value,
}

/// One stored turn (`GET /sessions/{id}`).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct SessionRecordBody {
    pub session_id: String,
    /// `running`, `done`, `failed`, `cancelled` or `interrupted`.
    pub status: String,
    pub prompt: Option<String>,
    pub result: Option<String>,
    pub error: Option<String>,
    pub duration_ms: Option<u64>,
    /// Seconds since the epoch.
    pub created: f64,
    pub expires: f64,
}

/// `GET /sessions`: the caller's own records, newest first.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct SessionsBody {
    pub sessions: Vec<SessionRecordBody>,
}

/// `GET /health`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct HealthBody {
    /// `healthy`.
    pub status: String,
    /// The agent's name.
    pub agent: Option<String>,
    /// Seconds since start.
    pub uptime: u64,
}

/// `GET /info`: the agent's description and how it is reachable.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct InfoBody {
    pub name: String,
    pub address: String,
    pub peer_id: String,
    pub tools: Vec<Value>,
    /// `open`, `careful`, `strict` or `policy`.
    pub trust: String,
    pub version: String,
    pub accepted_inputs: Value,
    /// libp2p multiaddrs the agent listens on.
    pub listen_addrs: Vec<String>,
    /// Relays the agent is reserved on, with their state.
    pub relays: Vec<Value>,
    /// HTTP base URLs of the agent on this gateway.
    pub endpoints: Vec<String>,
}

/// `GET /api/agents/{address}`: where a ConnectOnion client finds the agent.
#[derive(Serialize, ToSchema)]
pub struct DiscoveryBody {
    pub address: String,
    pub online: bool,
    pub endpoints: Vec<String>,
}

/// `POST /sessions/{id}/cancel`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct CancelBody {
    pub session_id: String,
    pub status: String,
}
