//! Why a call did not produce a reply.

use agenthost_identity::AddressError;

use crate::{transport::NodeError, wire::ErrorFrame};

/// Why a call did not produce a reply.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The agent address is neither a `0x…` address nor a PeerId.
    #[error("invalid agent address: {0}")]
    Address(#[from] AddressError),
    /// The client's node failed: it could not start, dial or reach the agent, or has stopped.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// No request stream could be opened on the connection (refused, timed out, or kept closing).
    #[error("could not open a stream to the agent: {0}")]
    OpenStream(String),
    /// Writing the request (or a socket's opening frame) onto the stream failed.
    #[error("sending the request failed: {0}")]
    Send(std::io::Error),
    /// The agent replied with an ERROR frame.
    #[error("the agent answered with an error: {0}")]
    Agent(ErrorFrame),
    /// The reply was not the frame expected, a `/p2p/` id named another peer, or the request did
    /// not serialize.
    #[error("unexpected reply from the agent: {0}")]
    Protocol(String),
}
