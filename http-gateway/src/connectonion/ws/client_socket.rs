//! [`ClientSocket`]: one client's socket as a session sees it, whatever carries it — an axum
//! WebSocket (a client of this gateway) or a P2P socket stream (a client of a standalone
//! gateway, `tunnel.rs`). Messages are JSON text either way.

use agenthost_node::{PeerSocket, PeerSocketWriter};
use axum::extract::ws::{Message, WebSocket};
use futures::{
    future::BoxFuture,
    stream::{self, BoxStream, SplitSink},
    SinkExt, StreamExt,
};

/// A message from the client.
pub(super) enum Incoming {
    Text(String),
    /// A binary message that is not UTF-8: answered with an ERROR, the socket stays.
    NotText,
}

/// Where a session's messages leave by.
pub(super) trait Outgoing: Send {
    /// Sends one message; an error means the client is gone.
    fn send(&mut self, text: String) -> BoxFuture<'_, Result<(), ()>>;
    /// Ends the socket from this side, after what was sent.
    fn close(&mut self) -> BoxFuture<'_, ()>;
}

/// Both directions of one client's socket.
pub(super) struct ClientSocket {
    /// Ends when the client closes or the socket fails. Cancel-safe: a `select!` may drop
    /// its `next()` without losing a message.
    pub incoming: BoxStream<'static, Incoming>,
    pub outgoing: Box<dyn Outgoing>,
}

impl ClientSocket {
    pub(super) fn from_websocket(socket: WebSocket) -> Self {
        let (sink, stream) = socket.split();
        let incoming = stream::unfold(stream, |mut stream| async move {
            loop {
                let incoming = match stream.next().await? {
                    Ok(Message::Text(text)) => Incoming::Text(text.to_string()),
                    Ok(Message::Binary(bytes)) => match String::from_utf8(bytes.to_vec()) {
                        Ok(text) => Incoming::Text(text),
                        Err(_) => Incoming::NotText,
                    },
                    // axum answers pings itself.
                    Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                    Ok(Message::Close(_)) | Err(_) => return None,
                };
                return Some((incoming, stream));
            }
        });
        ClientSocket {
            incoming: incoming.boxed(),
            outgoing: Box::new(WebSocketOut(sink)),
        }
    }

    pub(super) fn from_peer(socket: PeerSocket) -> Self {
        let (reader, writer) = socket.split();
        // The read is kept inside the stream between polls, so it is never cut in half.
        let incoming = stream::unfold(reader, |mut reader| async move {
            let bytes = reader.recv().await.ok()??;
            let incoming = match String::from_utf8(bytes) {
                Ok(text) => Incoming::Text(text),
                Err(_) => Incoming::NotText,
            };
            Some((incoming, reader))
        });
        ClientSocket {
            incoming: incoming.boxed(),
            outgoing: Box::new(PeerOut(writer)),
        }
    }
}

struct WebSocketOut(SplitSink<WebSocket, Message>);

impl Outgoing for WebSocketOut {
    fn send(&mut self, text: String) -> BoxFuture<'_, Result<(), ()>> {
        Box::pin(async move { self.0.send(Message::Text(text.into())).await.map_err(drop) })
    }

    fn close(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.0.close().await;
        })
    }
}

struct PeerOut(PeerSocketWriter);

impl Outgoing for PeerOut {
    fn send(&mut self, text: String) -> BoxFuture<'_, Result<(), ()>> {
        Box::pin(async move { self.0.send(text.as_bytes()).await.map_err(drop) })
    }

    fn close(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.0.close().await;
        })
    }
}
