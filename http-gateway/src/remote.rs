//! [`RemoteAgent`]: an agent elsewhere on the network, called over libp2p with the node's
//! client, as an [`AgentService`]. Connection failures become the 502/504 of WIRE.md §3.

use std::{sync::Arc, time::Duration};

use agenthost_identity::Address;
use agenthost_node::{
    circuit_to, AgentConnection, AgentService, Caller, Client, ClientError, ErrorCode, ErrorFrame,
    Frame, Multiaddr, PeerSocket, Reply, Request,
};
use tokio::sync::{mpsc, Mutex};
use tokio_util::sync::CancellationToken;

use crate::background::Background;

/// How long a gateway waits for a connection to a remote agent before answering 504.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One remote agent; the connection is made on first use and reused. Clones share it.
#[derive(Clone)]
pub struct RemoteAgent {
    inner: Arc<Inner>,
}

struct Inner {
    address: Address,
    client: Arc<Client>,
    relays: Vec<Multiaddr>,
    connection: Mutex<Option<AgentConnection>>,
    /// Where forwarded replies are pumped: a stopping gateway ends them.
    background: Background,
}

impl RemoteAgent {
    /// The agent at `address`, reached through each of `relays`; connects on first use.
    pub(crate) fn new(
        address: Address,
        client: Arc<Client>,
        relays: Vec<Multiaddr>,
        background: Background,
    ) -> Self {
        RemoteAgent {
            inner: Arc::new(Inner {
                address,
                client,
                relays,
                connection: Mutex::new(None),
                background,
            }),
        }
    }

    /// The address of the agent this handle reaches.
    pub fn address(&self) -> Address {
        self.inner.address
    }

    /// Opens a socket stream to the agent, carrying one client's WebSocket (`connectonion/ws/tunnel.rs`).
    pub async fn open_socket(&self, client: String) -> Result<PeerSocket, ErrorFrame> {
        let connection = self.inner.connection().await?;
        connection
            .open_socket(Some(client))
            .await
            .map_err(|e| unreachable(&self.inner.address, &e))
    }
}

impl Inner {
    /// The circuit address of the agent through each relay: address → PeerId is pure
    /// computation, so no lookup is needed.
    fn circuits(&self) -> Vec<Multiaddr> {
        let peer = self.address.to_peer_id();
        self.relays
            .iter()
            .map(|relay| circuit_to(relay, peer))
            .collect()
    }

    async fn connection(&self) -> Result<AgentConnection, ErrorFrame> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let address = self.address.to_string();
        let connect = self.client.connect(&address, self.circuits());
        let connection = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => return Err(unreachable(&self.address, &e)),
            Err(_) => {
                return Err(ErrorFrame::new(
                    ErrorCode::Timeout,
                    format!(
                        "agent {} did not answer within {CONNECT_TIMEOUT:?}",
                        self.address.short()
                    ),
                ))
            }
        };
        tracing::info!(agent = %self.address.short(), "connected to remote agent");
        *slot = Some(connection.clone());
        Ok(connection)
    }

    async fn forward(&self, request: Request, tx: mpsc::Sender<Frame>) {
        let connection = match self.connection().await {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(Frame::Error(e)).await;
                return;
            }
        };
        let mut reply = match connection.request(&request).await {
            Ok(reply) => reply,
            Err(e) => {
                let _ = tx.send(Frame::Error(unreachable(&self.address, &e))).await;
                return;
            }
        };
        while let Some(frame) = reply.next_frame().await {
            if tx.send(frame).await.is_err() {
                return;
            }
        }
    }
}

fn unreachable(address: &Address, error: &ClientError) -> ErrorFrame {
    ErrorFrame::new(
        ErrorCode::Unreachable,
        format!("agent {} is unreachable: {error}", address.short()),
    )
}

impl AgentService for RemoteAgent {
    /// The caller's identity travels inside the request (a signed envelope); the agent sees
    /// this gateway as the carrying peer.
    fn call(&self, request: Request, _caller: Caller) -> Reply {
        let (tx, rx) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let inner = Arc::clone(&self.inner);
        self.inner.background.spawn(async move {
            // Dropping the reply (the HTTP client left) drops the forwarded reply too, which
            // resets the agent's stream and so cancels the run there.
            tokio::select! {
                _ = inner.forward(request, tx) => {},
                _ = stop.cancelled() => {},
            }
        });
        Reply::new(rx, cancel)
    }
}
