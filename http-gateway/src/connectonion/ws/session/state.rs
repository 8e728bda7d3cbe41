//! What one socket's session holds: who speaks on it, which turn it follows, its seal.

use std::sync::Arc;

use agenthost_identity::Address;
use agenthost_node::Caller;
use serde_json::Value;

use super::super::{
    live_turns::{LiveTurn, Subscription},
    seal::SealedChannel,
    sockets::Sockets,
};
use crate::target::LocalAgent;

/// The authenticated form's state after CONNECT.
pub(super) struct Authenticated {
    pub(super) signer: Address,
    pub(super) session_id: String,
    /// v2 (`signed_commands: 1` in the CONNECT payload): every later command is signed. v1:
    /// plain commands, run as the CONNECT's signer.
    pub(super) signed_commands: bool,
    /// The conversation the client holds (CONNECT's `session`, then each OUTPUT's), for INPUTs
    /// that do not carry their own.
    pub(super) conversation: Option<Value>,
}

/// The turn this socket is following.
pub(super) struct Following {
    pub(super) turn: Arc<LiveTurn>,
    pub(super) sub: Subscription,
}

/// What a client message calls for.
pub(super) enum Received {
    Replies(Vec<String>),
    /// The handshake's answer, then the channel for every later frame.
    Sealed(String, SealedChannel),
}

/// Why the socket is closing.
pub(super) enum Close {
    /// The client left or the socket failed.
    Gone,
    /// The client fell too far behind a live turn.
    Lagged,
    /// A SEAL failed: say why in the clear (the channel, if any, is broken) and close.
    Refused(String),
}

/// One socket's session.
pub(in crate::connectonion::ws) struct Session {
    pub(super) sockets: Sockets,
    pub(super) agent: LocalAgent,
    /// Who carried the socket: an HTTP client, or the gateway peer of a tunnel.
    pub(super) transport: Caller,
    /// For logs: the client's address as the transport knows it.
    pub(super) label: String,
    pub(super) seal: Option<SealedChannel>,
    /// The address that opened the seal: a CONNECT inside must be signed by it.
    pub(super) sealed_by: Option<Address>,
    pub(super) first_frame: bool,
    pub(super) auth: Option<Authenticated>,
    pub(super) turn: Option<Following>,
}
