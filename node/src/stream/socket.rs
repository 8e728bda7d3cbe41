//! A client socket carried over a P2P stream: how a standalone gateway hands a WebSocket to
//! the agent it is for, so the socket's session (CONNECT, SEAL, turns, rejoining) runs where
//! the agent's key, ledger and live turns are (WIRE.md §4.4).
//!
//! The stream opens like any request stream, with a first frame `{"type":"SOCKET"}`; from then
//! on every frame in either direction is one WebSocket text message, verbatim. Closing either
//! side ends the socket. The P2P server hands such streams to a [`SocketService`].

use futures::{
    future::BoxFuture,
    io::{ReadHalf, WriteHalf},
    AsyncReadExt, AsyncWriteExt,
};
use serde::{Deserialize, Serialize};

use super::agent_stream::AgentStream;
use crate::{
    door::Caller,
    wire::{read_frame, write_frame, FrameError},
};

/// The first frame of a socket stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SocketOpen {
    /// Always `"SOCKET"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The client's address as the gateway saw it, for the agent's logs only: it is the
    /// gateway's word, so trust never reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// The `type` of [`SocketOpen`].
pub(super) const SOCKET_OPEN: &str = "SOCKET";

impl SocketOpen {
    /// The opening frame `{"type":"SOCKET"}`, with the client's address as the gateway saw it.
    pub fn new(client: Option<String>) -> Self {
        SocketOpen {
            kind: SOCKET_OPEN.into(),
            client,
        }
    }
}

/// Serves the sockets a P2P server is handed: the gateway's WebSocket session, run in the
/// agent's own process.
pub trait SocketService: Send + Sync + 'static {
    /// Runs one socket to its end. `caller` is the peer that carried it (a gateway).
    fn serve(&self, socket: PeerSocket, open: SocketOpen, caller: Caller)
        -> BoxFuture<'static, ()>;
}

/// Both halves of a socket stream, past its opening frame.
pub struct PeerSocket {
    reader: ReadHalf<AgentStream>,
    writer: WriteHalf<AgentStream>,
    max_frame_bytes: usize,
}

/// The half a socket's messages arrive on.
pub struct PeerSocketReader {
    reader: ReadHalf<AgentStream>,
    max_frame_bytes: usize,
}

/// The half a socket's messages leave by.
pub struct PeerSocketWriter {
    writer: WriteHalf<AgentStream>,
}

impl PeerSocket {
    pub(crate) fn new(
        reader: ReadHalf<AgentStream>,
        writer: WriteHalf<AgentStream>,
        max_frame_bytes: usize,
    ) -> Self {
        PeerSocket {
            reader,
            writer,
            max_frame_bytes,
        }
    }

    /// Opens a socket on a fresh stream: writes the opening frame.
    pub(crate) async fn open(
        stream: AgentStream,
        open: &SocketOpen,
        max_frame_bytes: usize,
    ) -> std::io::Result<Self> {
        let (reader, mut writer) = stream.split();
        let body = serde_json::to_vec(open).map_err(std::io::Error::other)?;
        write_frame(&mut writer, &body).await?;
        Ok(PeerSocket::new(reader, writer, max_frame_bytes))
    }

    /// Splits the socket into its receiving and sending halves, to use from separate tasks.
    pub fn split(self) -> (PeerSocketReader, PeerSocketWriter) {
        (
            PeerSocketReader {
                reader: self.reader,
                max_frame_bytes: self.max_frame_bytes,
            },
            PeerSocketWriter {
                writer: self.writer,
            },
        )
    }
}

impl PeerSocketReader {
    /// The next message; `Ok(None)` once the other side closed. Not cancel-safe: poll it from
    /// one place (e.g. inside `futures::stream::unfold`), never from a `select!` that drops it.
    pub async fn recv(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        read_frame(&mut self.reader, self.max_frame_bytes).await
    }
}

impl PeerSocketWriter {
    /// Sends one WebSocket text message to the other side, as one frame.
    pub async fn send(&mut self, message: &[u8]) -> std::io::Result<()> {
        write_frame(&mut self.writer, message).await
    }

    /// Ends the socket from this side.
    pub async fn close(&mut self) -> std::io::Result<()> {
        self.writer.close().await
    }
}
