//! [`AgentConnection`]: requests to one agent, each on its own stream over one shared
//! connection.

use std::time::Duration;

use agenthost_identity::Address;
use futures::AsyncWriteExt;
use libp2p::{Multiaddr, PeerId};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::error::ClientError;
use crate::{
    events::Reply,
    stream::StreamControl,
    stream::{AgentStream, OpenStreamError, StreamPath},
    stream::{PeerSocket, SocketOpen},
    transport::NodeHandle,
    wire::OPEN_STREAM_TIMEOUT,
    wire::{read_frame, write_frame},
    wire::{ErrorCode, ErrorFrame, Frame, InputRequest, OutputFrame, Request},
};

/// How long to wait for a connection (dial, handshake, or LAN discovery).
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A connection to one agent. Clone it freely: clones share the connection.
#[derive(Clone)]
pub struct AgentConnection {
    pub(super) address: Address,
    pub(super) peer: PeerId,
    pub(super) node: NodeHandle,
    pub(super) control: StreamControl,
    pub(super) addrs: Vec<Multiaddr>,
    pub(super) max_frame_bytes: usize,
}

impl AgentConnection {
    /// The address of the agent this connection reaches.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The libp2p PeerId of the agent, derived from its address.
    pub fn peer_id(&self) -> PeerId {
        self.peer
    }

    /// Sends `prompt` and waits for the result.
    pub async fn input(&self, prompt: &str) -> Result<OutputFrame, ClientError> {
        self.input_stream(prompt)
            .await?
            .output()
            .await
            .map_err(ClientError::Agent)
    }

    /// Sends `prompt` and returns the reply as it streams: chunks and events, then OUTPUT or
    /// ERROR. Dropping the reply early cancels the run on the agent.
    pub async fn input_stream(&self, prompt: &str) -> Result<Reply, ClientError> {
        self.request(&Request::input(prompt)).await
    }

    /// Sends a full INPUT request (session to continue, attachments, detached).
    pub async fn input_request(&self, input: InputRequest) -> Result<Reply, ClientError> {
        self.request(&Request::Input(input)).await
    }

    /// Like [`AgentConnection::input_request`], and tells which connection the request went
    /// over (direct or through a relay).
    pub async fn input_request_traced(
        &self,
        input: InputRequest,
    ) -> Result<(Reply, StreamPath), ClientError> {
        self.request_traced(&Request::Input(input)).await
    }

    /// One of the caller's sessions (the body of `GET /sessions/{id}`).
    pub async fn session(&self, session_id: &str) -> Result<Value, ClientError> {
        self.response(&Request::session(session_id)).await
    }

    /// The caller's sessions, newest first (`{"sessions": [...]}`).
    pub async fn sessions(&self) -> Result<Value, ClientError> {
        self.response(&Request::sessions()).await
    }

    /// Cancels the caller's running turn of a session.
    pub async fn cancel(&self, session_id: &str) -> Result<Value, ClientError> {
        self.response(&Request::cancel(session_id)).await
    }

    /// The agent's INFO body.
    pub async fn info(&self) -> Result<Value, ClientError> {
        self.response(&Request::Info {}).await
    }

    /// The agent's HEALTH body.
    pub async fn health(&self) -> Result<Value, ClientError> {
        self.response(&Request::Health {}).await
    }

    async fn response(&self, request: &Request) -> Result<Value, ClientError> {
        match self.request(request).await?.terminal().await {
            Frame::Response(body) => Ok(body),
            Frame::Error(e) => Err(ClientError::Agent(e)),
            other => Err(ClientError::Protocol(format!(
                "expected a response body, got {}",
                other.to_json()
            ))),
        }
    }

    /// Sends any request on a new stream. Reconnects first if the connection dropped.
    pub async fn request(&self, request: &Request) -> Result<Reply, ClientError> {
        Ok(self.request_traced(request).await?.0)
    }

    /// Sends any request, and tells which connection it went over.
    pub async fn request_traced(
        &self,
        request: &Request,
    ) -> Result<(Reply, StreamPath), ClientError> {
        let body = serde_json::to_vec(request)
            .map_err(|e| ClientError::Protocol(format!("unserializable request: {e}")))?;
        let mut stream = self.open_stream().await?;
        let path = stream.path().clone();
        write_frame(&mut stream, &body)
            .await
            .map_err(ClientError::Send)?;
        let (tx, rx) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        tokio::spawn(pump_reply(stream, tx, cancel.clone(), self.max_frame_bytes));
        Ok((Reply::new(rx, cancel), path))
    }

    /// Opens a raw stream on the agent protocol (for tests of malformed input, and for callers
    /// that speak the frames themselves).
    pub async fn open_stream(&self) -> Result<AgentStream, ClientError> {
        // The connection can close between the check and the open (idle timeout, agent
        // restart): one fresh connection is worth a second try, more would hide a real outage.
        for attempt in 0..2 {
            if !self.node.is_connected(&self.peer) {
                self.node
                    .connect(self.peer, self.addrs.clone(), CONNECT_TIMEOUT)
                    .await?;
            }
            let open = self.control.open_stream(self.peer);
            match tokio::time::timeout(OPEN_STREAM_TIMEOUT, open).await {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(OpenStreamError::NotConnected(_) | OpenStreamError::Closed(_)))
                    if attempt == 0 =>
                {
                    continue
                }
                Ok(Err(e)) => return Err(ClientError::OpenStream(e.to_string())),
                Err(_) => {
                    return Err(ClientError::OpenStream(format!(
                        "timed out after {OPEN_STREAM_TIMEOUT:?}"
                    )))
                }
            }
        }
        Err(ClientError::OpenStream(
            "the connection kept closing".into(),
        ))
    }

    /// Opens a socket stream (`socket.rs`): a client's WebSocket session, carried to the agent
    /// and run there. `client` names the client in the agent's logs.
    pub async fn open_socket(&self, client: Option<String>) -> Result<PeerSocket, ClientError> {
        let stream = self.open_stream().await?;
        PeerSocket::open(stream, &SocketOpen::new(client), self.max_frame_bytes)
            .await
            .map_err(ClientError::Send)
    }

    /// Open connections to the agent (one, when all is well).
    pub async fn connection_count(&self) -> Result<usize, ClientError> {
        Ok(self.node.connection_count(self.peer).await?)
    }
}

/// Reads reply frames off the stream into the reply channel until the terminal frame.
/// Cancellation (the `Reply` dropped) drops the stream, which resets it: the agent sees the
/// reset and cancels the run.
async fn pump_reply(
    mut stream: AgentStream,
    tx: mpsc::Sender<Frame>,
    cancel: CancellationToken,
    max_frame_bytes: usize,
) {
    // A relay that cuts a circuit at its limits (bytes or duration) only closes the
    // connection: say where to look.
    let through = match stream.path().relay() {
        Some(relay) => format!(
            " (the connection went through the relay {relay}, which may have cut the circuit \
             at its limits on bytes or duration per circuit)"
        ),
        None => String::new(),
    };
    loop {
        let frame = tokio::select! {
            read = read_frame(&mut stream, max_frame_bytes) => read,
            _ = cancel.cancelled() => return,
        };
        let frame = match frame {
            Ok(Some(bytes)) => Frame::from_json(&bytes).unwrap_or_else(|e| {
                Frame::Error(ErrorFrame::new(
                    ErrorCode::Internal,
                    format!("malformed frame from the agent: {e}"),
                ))
            }),
            Ok(None) => Frame::Error(ErrorFrame::new(
                ErrorCode::Internal,
                format!("the agent closed the stream without a result{through}"),
            )),
            Err(e) => Frame::Error(ErrorFrame::new(
                ErrorCode::Internal,
                format!("connection to the agent lost: {e}{through}"),
            )),
        };
        let terminal = frame.is_terminal();
        let delivered = tokio::select! {
            sent = tx.send(frame) => sent.is_ok(),
            _ = cancel.cancelled() => false,
        };
        if !delivered {
            return;
        }
        if terminal {
            let _ = stream.close().await;
            return;
        }
    }
}
