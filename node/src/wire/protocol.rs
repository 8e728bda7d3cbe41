//! Protocol names and wire limits shared by the server and the client.

use std::time::Duration;

use libp2p::StreamProtocol;

/// The request protocol: one libp2p stream per request (WIRE.md §5).
pub const AGENT_PROTOCOL: StreamProtocol = StreamProtocol::new("/agenthost/agent/1");

/// Largest frame either side accepts unless configured otherwise (WIRE.md §5: 16 MiB).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// How long a peer may take to send its request frame after opening a stream.
/// A stream that says nothing is reset so it cannot pin a handler forever.
#[cfg(feature = "host")]
pub(crate) const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Bound on opening a stream: negotiation can stall on a congested or half-dead connection
/// (libp2p-stream's `open_stream` was known to hang under load, rust-libp2p #6157).
pub(crate) const OPEN_STREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// The identify protocol version we announce.
pub(crate) const IDENTIFY_PROTOCOL_VERSION: &str = "/agenthost/1.0.0";

/// The version of ConnectOnion's WebSocket protocol ("OIP") the gateway speaks: its CONNECT,
/// SEAL and INPUT frames, as ConnectOnion 1.9.2's host answers them.
pub(super) const OIP_VERSION: &str = "0.1";

/// ConnectOnion's protocol descriptor, as its host puts it in `GET /info` and `CONNECTED`
/// (`network/host/protocol.py`): its clients read `websocket_path` from it.
pub fn oip_descriptor() -> serde_json::Value {
    serde_json::json!({
        "name": "oip",
        "version": OIP_VERSION,
        "min_version": OIP_VERSION,
        "max_version": OIP_VERSION,
        "websocket_path": "/ws",
    })
}
