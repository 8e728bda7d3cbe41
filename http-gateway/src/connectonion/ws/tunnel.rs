//! A standalone gateway's WebSocket: carried to its agent over a P2P socket stream, frames
//! verbatim both ways, and served there (`mod.rs`, `PeerSockets`). The gateway only picks the
//! agent — from the route, or on `/ws/input` from the first frame that names one in `to` (a
//! SEAL hello does) — and applies its own door to what it can read: its allow/deny lists of
//! agents, and of signers by the `from` a plaintext frame claims. Sealed frames it cannot
//! read, by design.

use std::{borrow::Cow, net::SocketAddr};

use agenthost_identity::Address;
use axum::extract::ws::WebSocket;
use futures::{stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

use super::sockets::Sockets;
use super::{
    client_socket::{ClientSocket, Incoming},
    frames::{api_error_text, error_text},
};
use crate::{error::ApiError, target::RemoteAgents};

/// What the gateway reads of a plaintext frame: its kind and whom it names.
#[derive(Deserialize, Default)]
struct Peek<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    to: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    from: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    payload: Option<PeekPayload<'a>>,
}

#[derive(Deserialize, Default)]
struct PeekPayload<'a> {
    #[serde(borrow, default)]
    to: Option<Cow<'a, str>>,
}

impl<'a> Peek<'a> {
    fn of(text: &'a str) -> Peek<'a> {
        serde_json::from_str(text).unwrap_or_default()
    }

    /// The agent the frame names, top-level `to` first (a CONNECT also signs it).
    fn to(&self) -> Option<&str> {
        self.to
            .as_deref()
            .or_else(|| self.payload.as_ref()?.to.as_deref())
    }
}

/// Carries one client socket until either side ends it.
pub(super) async fn carry(
    sockets: &Sockets,
    agents: &RemoteAgents,
    fixed: Option<Address>,
    remote: SocketAddr,
    socket: WebSocket,
) {
    let ClientSocket {
        mut incoming,
        outgoing,
    } = ClientSocket::from_websocket(socket);
    let outgoing = Mutex::new(outgoing);
    let send_timeout = sockets.config.ws_send_timeout;
    let reply = |text: String| {
        let outgoing = &outgoing;
        async move {
            let mut out = outgoing.lock().await;
            matches!(
                tokio::time::timeout(send_timeout, out.send(text)).await,
                Ok(Ok(()))
            )
        }
    };

    // Until a frame names the agent (or the route did and the first frame comes).
    let (agent, peer) = loop {
        let text = match incoming.next().await {
            Some(Incoming::Text(text)) => text,
            Some(Incoming::NotText) => {
                if !reply(error_text("frames must be UTF-8 JSON", Some("bad_request"))).await {
                    return;
                }
                continue;
            }
            None => return,
        };
        let peek = Peek::of(&text);
        if fixed.is_none() && peek.kind.as_deref() == Some("PING") {
            if !reply(json!({"type": "PONG"}).to_string()).await {
                return;
            }
            continue;
        }
        let bound = match (fixed, peek.to()) {
            (Some(agent), _) => Ok(agent),
            (None, Some(to)) => Address::parse(to)
                .map_err(|e| ApiError::bad_request(format!("`to` is not an agent address: {e}"))),
            (None, None) => Err(ApiError::bad_request(
                "frames on /ws/input must name their agent in `to`",
            )),
        };
        let opened = match bound {
            Ok(agent) => match agents.lists().check_signer(peek.from.as_deref()) {
                Ok(()) => agents
                    .open_socket(agent, remote.to_string())
                    .await
                    .map(|peer| (agent, peer)),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match opened {
            Ok((agent, peer)) => {
                let (reader, mut writer) = peer.split();
                if writer.send(text.as_bytes()).await.is_err() {
                    let gone = ApiError::new(
                        axum::http::StatusCode::BAD_GATEWAY,
                        "unreachable",
                        format!("agent {} closed the socket", agent.short()),
                    );
                    let _ = reply(api_error_text(gone)).await;
                    return;
                }
                break (agent, (reader, writer));
            }
            Err(e) => {
                if !reply(api_error_text(e)).await {
                    return;
                }
            }
        }
    };
    tracing::debug!(client = %remote, agent = %agent.short(), "socket carried to its agent");

    let (reader, mut writer) = peer;
    // Each direction on its own, so a large frame one way never waits on the other.
    let up = async {
        while let Some(message) = incoming.next().await {
            let text = match message {
                Incoming::Text(text) => text,
                Incoming::NotText => {
                    if !reply(error_text("frames must be UTF-8 JSON", Some("bad_request"))).await {
                        return;
                    }
                    continue;
                }
            };
            let peek = Peek::of(&text);
            let refusal = match peek.to() {
                Some(to) if Address::parse(to).ok() != Some(agent) => Some(ApiError::bad_request(
                    format!("this socket is bound to agent {agent}; open another for {to}"),
                )),
                _ => agents.lists().check_signer(peek.from.as_deref()).err(),
            };
            if let Some(refusal) = refusal {
                if !reply(api_error_text(refusal)).await {
                    return;
                }
                continue;
            }
            if writer.send(text.as_bytes()).await.is_err() {
                return;
            }
        }
        // The client left: end the agent's side too.
        let _ = writer.close().await;
    };
    let down = async {
        // The read lives inside the stream between polls, so it is never cut in half.
        let mut from_agent = stream::unfold(reader, |mut reader| async move {
            let message = reader.recv().await.ok()??;
            Some((message, reader))
        })
        .boxed();
        while let Some(message) = from_agent.next().await {
            let text = String::from_utf8_lossy(&message).into_owned();
            if !reply(text).await {
                tracing::debug!(client = %remote, "client too slow or gone; closing its socket");
                return;
            }
        }
    };
    tokio::select! {
        _ = up => {},
        _ = down => {},
    }
    let mut out = outgoing.lock().await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), out.close()).await;
}
