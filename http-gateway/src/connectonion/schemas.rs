//! The JSON bodies of the HTTP API as types: what handlers send, and what the OpenAPI
//! document describes (one definition, so the two cannot drift).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// `POST /input`: the plain form, or a signed envelope whose payload holds the same fields
/// plus `timestamp` and `to` (WIRE.md §2–3).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // documentation of the body; the handler reads it as JSON
pub(crate) enum InputBody {
    Plain(PlainInput),
    Signed(SignedInput),
}

/// `{"prompt", "session"?, "images"?, "files"?}`. Lists hold at most `max_files_per_request`
/// items (10 by default; `GET /info` tells the agent's own limits).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct PlainInput {
    pub prompt: String,
    /// The `session` object of a previous answer, to continue that conversation.
    pub session: Option<SessionObject>,
    /// Images as base64 data URLs (`data:image/png;base64,...`).
    #[schema(max_items = 10)]
    pub images: Option<Vec<ImageDataUrl>>,
    /// Files as `{name, data}` with base64 data URLs.
    #[schema(max_items = 10)]
    pub files: Option<Vec<FileBody>>,
}

/// The conversation a client carries between turns (WIRE.md §3). Fields other clients add are
/// kept.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct SessionObject {
    pub session_id: String,
    pub messages: Option<Vec<MessageBody>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub trace: Option<Vec<Value>>,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub turn: Option<u64>,
}

/// One message of a conversation.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct MessageBody {
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
}

/// An image as a base64 data URL.
#[derive(Deserialize, ToSchema)]
#[schema(
    pattern = r"^data:image/[a-z0-9.+-]+;base64,(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$"
)]
#[allow(dead_code)]
pub(crate) struct ImageDataUrl(String);

/// `{"payload", "from", "signature"}`: the payload is signed and holds `prompt`, `timestamp`,
/// `to` and optionally `session`, `images`, `files`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct SignedInput {
    #[schema(value_type = Object)]
    pub payload: Value,
    /// The signer's `0x` address.
    pub from: String,
    /// 128 hex digits: the ed25519 signature of the canonical payload.
    pub signature: String,
}

/// A file attached to an input.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct FileBody {
    /// The file's name: not empty, no control characters, not only dots; a path is cut to
    /// its last component and unsafe characters are replaced when it is saved.
    #[schema(
        pattern = r"^[^\x00-\x1f\x7f-\x9f/\\]*[^\x00-\x1f\x7f-\x9f/\\.][^\x00-\x1f\x7f-\x9f/\\]*$"
    )]
    pub name: String,
    /// `data:<mime>;base64,...`
    #[schema(
        pattern = r"^data:[a-z0-9.+-]+/[a-z0-9.+-]+;base64,(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})?$"
    )]
    pub data: String,
}

/// The answer of `POST /input`.
#[derive(Serialize, ToSchema)]
pub(crate) struct InputResponse {
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
pub(crate) struct SessionRecordBody {
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
pub(crate) struct SessionsBody {
    pub sessions: Vec<SessionRecordBody>,
}

/// `GET /health`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct HealthBody {
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
pub(crate) struct InfoBody {
    pub name: String,
    pub address: String,
    pub tools: Vec<Value>,
    /// The agent's model; `""` for an agent without one.
    pub model: String,
    /// `open`, `careful`, `strict` or `policy`.
    pub trust: String,
    pub version: String,
    /// Always empty: agenthost agents publish no skills (ConnectOnion's field, kept for its
    /// clients).
    pub skills: Vec<Value>,
    pub accepted_inputs: Value,
    /// ConnectOnion's WebSocket protocol: `{"name":"oip","version","min_version",
    /// "max_version","websocket_path":"/ws"}`.
    pub protocol: Value,
    pub peer_id: String,
    /// The libp2p protocol of the agent's P2P requests (`/agenthost/agent/1`).
    pub p2p_protocol: String,
    /// libp2p multiaddrs the agent listens on.
    pub listen_addrs: Vec<String>,
    /// Relays the agent is reserved on, with their state.
    pub relays: Vec<Value>,
    /// HTTP base URLs of the agent on this gateway.
    pub endpoints: Vec<String>,
    /// The agent's MCP endpoint on this gateway (streamable HTTP, JSON-RPC: not described
    /// here; see docs/mcp.md).
    pub mcp: String,
}

/// `GET /`: where each route is (`{address}` stands for an agent's address).
#[derive(Serialize, ToSchema)]
pub(crate) struct RouteIndexBody {
    pub docs: &'static str,
    pub info: &'static str,
    pub health: &'static str,
    pub input: &'static str,
    pub websocket: &'static str,
    pub sessions: &'static str,
    pub openapi: &'static str,
    /// A standalone gateway: the prefix of each agent's routes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agents: Option<&'static str>,
    pub discovery: &'static str,
}

/// `GET /api/agents/{address}`: where a ConnectOnion client finds the agent.
#[derive(Serialize, ToSchema)]
pub(crate) struct DiscoveryBody {
    pub address: String,
    pub online: bool,
    pub endpoints: Vec<String>,
}

/// `POST /sessions/{id}/cancel`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct CancelBody {
    pub session_id: String,
    pub status: String,
}
