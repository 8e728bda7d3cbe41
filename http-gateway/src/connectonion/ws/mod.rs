//! WebSocket `/ws` (WIRE.md §4). A socket's session always runs in the agent's own process,
//! where its key (SEAL), its door (CONNECT's signature and single use) and its live turns are:
//! - on an embedded gateway, `/ws` runs the session here ([`session`]);
//! - on a standalone gateway, `/agents/{address}/ws` and `/ws/input` carry the socket, frames
//!   verbatim, to the agent over a P2P socket stream (`tunnel.rs`); the agent's host serves
//!   it with [`PeerSockets`]. A sealed socket is therefore sealed end to end: the gateway sees
//!   only ciphertext.
//!
//! Inside: this file (the routes, [`PeerSockets`]), `sockets.rs` ([`Sockets`], what every
//! socket shares), `client_socket.rs` (an axum
//! WebSocket or a P2P stream as one message stream), `seal.rs` (ConnectOnion's SEAL),
//! `session/` (CONNECT, INPUT, rejoining), `live_turns.rs` (each turn's frames, kept for
//! rejoining clients; a slow socket never slows the agent), `replay_budget.rs` (one bound on
//! what all of them keep), `frames.rs` (ERROR frames).

mod client_socket;
mod frames;
mod live_turns;
mod replay_budget;
mod seal;
mod session;
mod sockets;
mod tunnel;

use std::{net::SocketAddr, sync::Arc};

use agenthost_node::{Caller, PeerSocket, SocketOpen, SocketService};
use axum::{
    extract::{
        ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade},
        State,
    },
    http::StatusCode,
    response::{IntoResponse, Response},
};
use futures::future::BoxFuture;

use crate::{
    client_addr::{http_caller, ClientAddr},
    error::ApiError,
    target::Agents,
    target::TargetAgent,
};
use client_socket::ClientSocket;
use session::Session;
pub(crate) use sockets::Sockets;

/// `GET /ws` (and `/agents/{address}/ws`): upgrade, then serve one client.
pub(crate) async fn ws_agent(
    State(sockets): State<Sockets>,
    agent: TargetAgent,
    ClientAddr(remote): ClientAddr,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    upgrade_socket(sockets, Some(agent), remote, upgrade)
}

/// `GET /ws/input`: frames name their agent with a top-level `to` (SEAL's included).
pub(crate) async fn ws_routed(
    State(sockets): State<Sockets>,
    ClientAddr(remote): ClientAddr,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    upgrade_socket(sockets, None, remote, upgrade)
}

fn upgrade_socket(
    sockets: Sockets,
    agent: Option<TargetAgent>,
    remote: SocketAddr,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        // A plain GET (a browser, a fuzzer): say what this route wants, as JSON.
        Err(rejection) => {
            return ApiError::new(
                rejection.status(),
                "bad_request",
                format!("this route speaks WebSocket: {}", rejection.body_text()),
            )
            .into_response()
        }
    };
    let Ok(place) = Arc::clone(&sockets.places).try_acquire_owned() else {
        sockets.metrics.connection_refused("websockets");
        tracing::warn!(%remote, "WebSocket refused: ws_max_connections are open");
        let mut refused = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many WebSocket connections; retry later",
        );
        refused.retry_after = Some(1);
        return refused.into_response();
    };
    let limit = sockets.config.max_body_bytes;
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| async move {
            sockets.metrics.ws_opened();
            match &*sockets.agents {
                Agents::Local(local) => {
                    let session = Session::new(
                        sockets.clone(),
                        local.clone(),
                        http_caller(remote),
                        remote.to_string(),
                    );
                    session.serve(ClientSocket::from_websocket(socket)).await;
                }
                Agents::Remote(agents) => {
                    let fixed = agent.map(|a| a.address);
                    tunnel::carry(&sockets, agents, fixed, remote, socket).await;
                }
            }
            sockets.metrics.ws_closed();
            drop(place);
        })
}

/// The sockets a standalone gateway carries to this agent over P2P, served like its own.
pub(crate) struct PeerSockets {
    sockets: Sockets,
}

impl PeerSockets {
    pub(crate) fn new(sockets: Sockets) -> Self {
        PeerSockets { sockets }
    }
}

impl SocketService for PeerSockets {
    fn serve(
        &self,
        socket: PeerSocket,
        open: SocketOpen,
        caller: Caller,
    ) -> BoxFuture<'static, ()> {
        let sockets = self.sockets.clone();
        Box::pin(async move {
            let Agents::Local(local) = &*sockets.agents else {
                return;
            };
            let label = match &open.client {
                Some(client) => format!("{client} via {caller}"),
                None => caller.to_string(),
            };
            sockets.metrics.ws_opened();
            let session = Session::new(sockets.clone(), local.clone(), caller, label);
            session.serve(ClientSocket::from_peer(socket)).await;
            sockets.metrics.ws_closed();
        })
    }
}
