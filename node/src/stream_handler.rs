//! The per-connection half of [`AgentStreams`](crate::agent_streams::AgentStreams): negotiates
//! `/agenthost/agent/1` streams in both directions on one connection.
//!
//! Inbound streams go into the node's bounded inbound queue. When that queue is full the
//! stream is answered with an `overloaded` ERROR instead of being dropped, so a caller always
//! learns why. Outbound opens run concurrently: each carries its own reply channel.
//!
//! Every stream handed out is an [`AgentStream`] that counts itself on its connection while it
//! lives. A relayed connection superseded by a direct one (after DCUtR) uses that count to tell
//! its behaviour when the last request on it has finished, so the connection can be closed
//! without cutting a reply short.

use std::{
    collections::VecDeque,
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
};

use futures::{task::AtomicWaker, AsyncRead, AsyncWrite};

use libp2p::{
    core::upgrade::ReadyUpgrade,
    swarm::{
        handler::{
            ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound,
        },
        ConnectionHandler, ConnectionHandlerEvent, Stream, StreamUpgradeError, SubstreamProtocol,
    },
    Multiaddr, PeerId,
};
use tokio::sync::{mpsc, oneshot};

use crate::wire::AGENT_PROTOCOL;

/// Where an outbound stream, or the reason it failed, is delivered.
pub(crate) type StreamReply = oneshot::Sender<Result<AgentStream, OpenStreamError>>;

/// The connection a stream runs over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPath {
    /// The remote address of the connection (for a relayed one, the circuit address).
    pub remote: Multiaddr,
    /// Whether the connection goes through a relay.
    pub relayed: bool,
}

impl StreamPath {
    fn new(remote: Multiaddr) -> Self {
        StreamPath {
            relayed: remote
                .iter()
                .any(|p| matches!(p, libp2p::multiaddr::Protocol::P2pCircuit)),
            remote,
        }
    }

    /// For a relayed connection, the relay's address (everything before `/p2p-circuit`).
    pub fn relay(&self) -> Option<Multiaddr> {
        if !self.relayed {
            return None;
        }
        Some(
            self.remote
                .iter()
                .take_while(|p| !matches!(p, libp2p::multiaddr::Protocol::P2pCircuit))
                .collect(),
        )
    }
}

/// Request streams alive on one connection; the handler is woken when one ends.
#[derive(Default)]
struct Activity {
    live: AtomicUsize,
    waker: AtomicWaker,
}

/// Counts one stream as alive on its connection until dropped.
struct LiveGuard(Arc<Activity>);

impl LiveGuard {
    fn new(activity: &Arc<Activity>) -> Self {
        activity.live.fetch_add(1, Ordering::SeqCst);
        LiveGuard(Arc::clone(activity))
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
        self.0.waker.wake();
    }
}

/// A `/agenthost/agent/1` stream, and the connection it runs over.
pub struct AgentStream {
    inner: Stream,
    path: StreamPath,
    _live: LiveGuard,
}

impl AgentStream {
    /// The connection this stream runs over.
    pub fn path(&self) -> &StreamPath {
        &self.path
    }
}

impl std::fmt::Debug for AgentStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentStream")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl AsyncRead for AgentStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for AgentStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

/// What the behaviour tells a connection's handler.
#[derive(Debug)]
pub(crate) enum HandlerIn {
    /// Open an outbound stream and deliver it here.
    Open(StreamReply),
    /// Whether a direct connection to the same peer now carries new streams (only sent to
    /// relayed connections).
    Superseded(bool),
}

/// What a handler tells the behaviour.
#[derive(Debug)]
pub(crate) enum HandlerOut {
    /// A superseded relayed connection has no request stream left: close it.
    Drained,
}

/// Why a stream could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenStreamError {
    #[error("not connected to {0}")]
    NotConnected(PeerId),
    #[error("the peer does not speak {AGENT_PROTOCOL}")]
    UnsupportedProtocol,
    #[error("stream negotiation timed out")]
    Timeout,
    #[error("stream negotiation failed: {0}")]
    Io(io::Error),
    #[error("the connection to {0} closed before the stream opened")]
    Closed(PeerId),
    #[error("the node has stopped")]
    Stopped,
}

/// An accepted request stream and where it came from.
pub struct InboundStream {
    pub peer: PeerId,
    pub stream: AgentStream,
    /// The remote address of the connection it arrived on.
    pub remote: Multiaddr,
    /// Whether that connection goes through a relay.
    pub relayed: bool,
}

pub(crate) struct StreamHandler {
    peer: PeerId,
    path: StreamPath,
    /// `None` on nodes that only call: their inbound streams are reset at once.
    inbound: Option<mpsc::Sender<InboundStream>>,
    opens: VecDeque<StreamReply>,
    /// Outbound streams requested from the connection and not negotiated yet.
    negotiating: usize,
    activity: Arc<Activity>,
    /// A direct connection to the same peer exists (relayed connections only).
    superseded: bool,
    /// Whether this side closes the connection once superseded and drained: the side that
    /// dialed the circuit, which opens the request streams and so knows when none is coming.
    closes_when_drained: bool,
    drained_reported: bool,
}

impl StreamHandler {
    pub fn new(
        peer: PeerId,
        remote: Multiaddr,
        dialer: bool,
        inbound: Option<mpsc::Sender<InboundStream>>,
    ) -> Self {
        let path = StreamPath::new(remote);
        StreamHandler {
            peer,
            closes_when_drained: dialer && path.relayed,
            path,
            inbound,
            opens: VecDeque::new(),
            negotiating: 0,
            activity: Arc::default(),
            superseded: false,
            drained_reported: false,
        }
    }

    fn wrap(&self, stream: Stream) -> AgentStream {
        AgentStream {
            inner: stream,
            path: self.path.clone(),
            _live: LiveGuard::new(&self.activity),
        }
    }

    fn is_drained(&self) -> bool {
        self.opens.is_empty()
            && self.negotiating == 0
            && self.activity.live.load(Ordering::SeqCst) == 0
    }

    fn on_inbound(&mut self, stream: Stream) {
        let Some(inbound) = &self.inbound else {
            tracing::debug!(peer = %self.peer, "agent stream to a node that serves none; reset");
            return;
        };
        let accepted = InboundStream {
            peer: self.peer,
            stream: self.wrap(stream),
            remote: self.path.remote.clone(),
            relayed: self.path.relayed,
        };
        match inbound.try_send(accepted) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(refused)) => {
                tracing::warn!(peer = %refused.peer, "inbound stream queue full; answering overloaded");
                tokio::spawn(crate::server::refuse_overloaded(refused.stream));
            }
            // The server stopped: dropping resets the stream.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

impl ConnectionHandler for StreamHandler {
    type FromBehaviour = HandlerIn;
    type ToBehaviour = HandlerOut;
    type InboundProtocol = ReadyUpgrade<libp2p::StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<libp2p::StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = StreamReply;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(ReadyUpgrade::new(AGENT_PROTOCOL), ())
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, StreamReply, HandlerOut>> {
        if let Some(reply) = self.opens.pop_front() {
            self.negotiating += 1;
            return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(ReadyUpgrade::new(AGENT_PROTOCOL), reply),
            });
        }
        if self.superseded && self.closes_when_drained && !self.drained_reported {
            // Register first, then check: a stream dropped in between still wakes us.
            self.activity.waker.register(cx.waker());
            if self.is_drained() {
                self.drained_reported = true;
                return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(HandlerOut::Drained));
            }
        }
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, event: HandlerIn) {
        // The connection task polls the handler after delivering an event, so the request is
        // picked up by `poll` without a waker of our own.
        match event {
            HandlerIn::Open(reply) => self.opens.push_back(reply),
            HandlerIn::Superseded(superseded) => {
                self.superseded = superseded;
                if !superseded {
                    self.drained_reported = false;
                }
            }
        }
    }

    fn connection_keep_alive(&self) -> bool {
        // Open streams keep the connection alive on their own; pending opens must too.
        !self.opens.is_empty()
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol, (), StreamReply>,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: stream,
                ..
            }) => self.on_inbound(stream),
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: stream,
                info: reply,
            }) => {
                self.negotiating = self.negotiating.saturating_sub(1);
                // If the caller gave up meanwhile, the stream is dropped (and reset) here.
                let _ = reply.send(Ok(self.wrap(stream)));
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { info: reply, error }) => {
                self.negotiating = self.negotiating.saturating_sub(1);
                let error = match error {
                    StreamUpgradeError::Timeout => OpenStreamError::Timeout,
                    StreamUpgradeError::NegotiationFailed => OpenStreamError::UnsupportedProtocol,
                    StreamUpgradeError::Io(e) => OpenStreamError::Io(e),
                    StreamUpgradeError::Apply(never) => match never {},
                };
                let _ = reply.send(Err(error));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relayed_path_names_its_relay() {
        let relay: Multiaddr =
            "/ip4/198.51.100.1/tcp/4001/p2p/12D3KooWBviCko4vaFjWHjY3aAWEYbQBJqKJevBegP5ESsPwpUGP"
                .parse()
                .unwrap();
        let circuit = relay.clone().with(libp2p::multiaddr::Protocol::P2pCircuit);
        let path = StreamPath::new(circuit);
        assert!(path.relayed);
        assert_eq!(path.relay(), Some(relay));

        let direct = StreamPath::new("/ip4/198.51.100.2/tcp/4001".parse().unwrap());
        assert!(!direct.relayed);
        assert_eq!(direct.relay(), None);
    }
}
