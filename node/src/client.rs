//! The caller's side: [`Client`] dials agents by address and [`AgentConnection`] sends them
//! requests, each on its own stream over one shared connection.

use std::time::Duration;

use agenthost_identity::{Address, AddressError, AgentKey};
use futures::AsyncWriteExt;
use libp2p::{Multiaddr, PeerId, Stream};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    agent_streams::StreamControl,
    codec::{read_frame, write_frame},
    frame::{ErrorCode, ErrorFrame, Frame, InputRequest, OutputFrame, Request},
    node::{Node, NodeConfig, NodeError, NodeHandle},
    protocol::{DEFAULT_MAX_FRAME_BYTES, OPEN_STREAM_TIMEOUT},
    reply::Reply,
    stream_handler::OpenStreamError,
};

/// How long to wait for a connection (dial, handshake, or LAN discovery).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a call did not produce a reply.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid agent address: {0}")]
    Address(#[from] AddressError),
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("could not open a stream to the agent: {0}")]
    OpenStream(String),
    #[error("sending the request failed: {0}")]
    Send(std::io::Error),
    #[error("the agent answered with an error: {0}")]
    Agent(ErrorFrame),
    #[error("unexpected reply from the agent: {0}")]
    Protocol(String),
}

/// A libp2p peer that calls agents.
pub struct Client {
    node: Node,
}

impl Client {
    /// A dial-only client with a fresh, ephemeral identity.
    pub async fn ephemeral() -> Result<Client, ClientError> {
        Client::with_key(AgentKey::generate()).await
    }

    /// A dial-only client with the given identity (the agent sees this key as the caller).
    pub async fn with_key(key: AgentKey) -> Result<Client, ClientError> {
        Client::start(NodeConfig::new(key)).await
    }

    pub async fn start(config: NodeConfig) -> Result<Client, ClientError> {
        Ok(Client {
            node: Node::start(config).await?,
        })
    }

    /// Uses an already running node (an agent calling other agents, say).
    pub fn from_node(node: Node) -> Client {
        Client { node }
    }

    pub fn node(&self) -> &NodeHandle {
        self.node.handle()
    }

    /// Connects to the agent at `address` (`0x…` or a PeerId), dialing `addrs` if given, or
    /// addresses found on the LAN otherwise. The connection is kept and reused by every request.
    pub async fn connect(
        &self,
        address: &str,
        addrs: Vec<Multiaddr>,
    ) -> Result<AgentConnection, ClientError> {
        let address = Address::parse(address)?;
        let peer = address.to_peer_id();
        // A full multiaddr ending in /p2p/<id> is accepted; the id must be the agent's own.
        let addrs = addrs
            .into_iter()
            .map(|a| strip_p2p(a, &peer))
            .collect::<Result<Vec<_>, _>>()?;
        self.node
            .handle()
            .connect(peer, addrs.clone(), CONNECT_TIMEOUT)
            .await?;
        Ok(AgentConnection {
            address,
            peer,
            node: self.node.handle().clone(),
            control: self.node.control(),
            addrs,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
        })
    }
}

fn strip_p2p(mut addr: Multiaddr, expected: &PeerId) -> Result<Multiaddr, ClientError> {
    if let Some(libp2p::multiaddr::Protocol::P2p(id)) = addr.iter().last() {
        if &id != expected {
            return Err(ClientError::Protocol(format!(
                "address {addr} names peer {id}, not the agent {expected}"
            )));
        }
        addr.pop();
    }
    Ok(addr)
}

/// A connection to one agent. Clone it freely: clones share the connection.
#[derive(Clone)]
pub struct AgentConnection {
    address: Address,
    peer: PeerId,
    node: NodeHandle,
    control: StreamControl,
    addrs: Vec<Multiaddr>,
    max_frame_bytes: usize,
}

impl AgentConnection {
    pub fn address(&self) -> Address {
        self.address
    }

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
        let body = serde_json::to_vec(request)
            .map_err(|e| ClientError::Protocol(format!("unserializable request: {e}")))?;
        let mut stream = self.open_stream().await?;
        write_frame(&mut stream, &body)
            .await
            .map_err(ClientError::Send)?;
        let (tx, rx) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        tokio::spawn(pump_reply(stream, tx, cancel.clone(), self.max_frame_bytes));
        Ok(Reply::new(rx, cancel))
    }

    /// Opens a raw stream on the agent protocol (for tests of malformed input, and for callers
    /// that speak the frames themselves).
    pub async fn open_stream(&self) -> Result<Stream, ClientError> {
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

    /// Open connections to the agent (one, when all is well).
    pub async fn connection_count(&self) -> Result<usize, ClientError> {
        Ok(self.node.connection_count(self.peer).await?)
    }
}

/// Reads reply frames off the stream into the reply channel until the terminal frame.
/// Cancellation (the `Reply` dropped) drops the stream, which resets it: the agent sees the
/// reset and cancels the run.
async fn pump_reply(
    mut stream: Stream,
    tx: mpsc::Sender<Frame>,
    cancel: CancellationToken,
    max_frame_bytes: usize,
) {
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
                "the agent closed the stream without a result",
            )),
            Err(e) => Frame::Error(ErrorFrame::new(
                ErrorCode::Internal,
                format!("connection to the agent lost: {e}"),
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
