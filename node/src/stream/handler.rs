//! The per-connection half of `AgentStreams` (`behaviour.rs`): negotiates
//! `/agenthost/agent/1` streams in both directions on one connection.
//!
//! Inbound streams go into the node's bounded inbound queue. When that queue is full the
//! stream is answered with an `overloaded` ERROR instead of being dropped, so a caller always
//! learns why. Outbound opens run concurrently: each carries its own reply channel.
//!
//! Every stream handed out is an `AgentStream` (`agent_stream.rs`) that counts itself on its
//! connection while it lives. A relayed connection superseded by a direct one (after DCUtR) uses that count to tell
//! its behaviour when the last request on it has finished, so the connection can be closed
//! without cutting a reply short.

use std::{
    collections::VecDeque,
    sync::Arc,
    task::{Context, Poll},
};

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

use super::agent_stream::{Activity, AgentStream, StreamPath};
use crate::wire::AGENT_PROTOCOL;

/// Where an outbound stream, or the reason it failed, is delivered.
pub(crate) type StreamReply = oneshot::Sender<Result<AgentStream, OpenStreamError>>;

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
    /// There is no open connection to the peer to open the stream on.
    #[error("not connected to {0}")]
    NotConnected(PeerId),
    /// The peer does not accept `/agenthost/agent/1` streams (protocol negotiation failed).
    #[error("the peer does not speak {AGENT_PROTOCOL}")]
    UnsupportedProtocol,
    /// Negotiating the stream's protocol timed out.
    #[error("stream negotiation timed out")]
    Timeout,
    /// An I/O error on the connection during negotiation.
    #[error("stream negotiation failed: {0}")]
    Io(std::io::Error),
    /// The connection closed before the stream was negotiated.
    #[error("the connection to {0} closed before the stream opened")]
    Closed(PeerId),
    /// The node's swarm task has stopped, so no stream can be opened.
    #[error("the node has stopped")]
    Stopped,
}

/// An accepted request stream and where it came from.
pub struct InboundStream {
    /// The peer that opened the stream: the Noise-authenticated caller.
    pub peer: PeerId,
    /// The accepted stream, ready for the caller's request frame.
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
    pub(crate) fn new(
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
        AgentStream::new(stream, self.path.clone(), &self.activity)
    }

    fn is_drained(&self) -> bool {
        self.opens.is_empty() && self.negotiating == 0 && self.activity.live() == 0
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
                tokio::spawn(super::refuse::refuse_overloaded(refused.stream));
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
            self.activity.register(cx.waker());
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
