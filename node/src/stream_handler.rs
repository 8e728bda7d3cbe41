//! The per-connection half of [`AgentStreams`](crate::agent_streams::AgentStreams): negotiates
//! `/agenthost/agent/1` streams in both directions on one connection.
//!
//! Inbound streams go into the node's bounded inbound queue. When that queue is full the
//! stream is answered with an `overloaded` ERROR instead of being dropped, so a caller always
//! learns why. Outbound opens run concurrently: each carries its own reply channel.

use std::{
    collections::VecDeque,
    convert::Infallible,
    io,
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

use crate::protocol::AGENT_PROTOCOL;

/// Where an outbound stream, or the reason it failed, is delivered.
pub(crate) type StreamReply = oneshot::Sender<Result<Stream, OpenStreamError>>;

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
    pub stream: Stream,
    /// The remote address of the connection it arrived on.
    pub remote: Multiaddr,
    /// Whether that connection goes through a relay.
    pub relayed: bool,
}

pub(crate) struct StreamHandler {
    peer: PeerId,
    remote: Multiaddr,
    relayed: bool,
    /// `None` on nodes that only call: their inbound streams are reset at once.
    inbound: Option<mpsc::Sender<InboundStream>>,
    opens: VecDeque<StreamReply>,
}

impl StreamHandler {
    pub fn new(
        peer: PeerId,
        remote: Multiaddr,
        inbound: Option<mpsc::Sender<InboundStream>>,
    ) -> Self {
        StreamHandler {
            peer,
            relayed: remote
                .iter()
                .any(|p| matches!(p, libp2p::multiaddr::Protocol::P2pCircuit)),
            remote,
            inbound,
            opens: VecDeque::new(),
        }
    }

    fn on_inbound(&mut self, stream: Stream) {
        let Some(inbound) = &self.inbound else {
            tracing::debug!(peer = %self.peer, "agent stream to a node that serves none; reset");
            return;
        };
        let accepted = InboundStream {
            peer: self.peer,
            stream,
            remote: self.remote.clone(),
            relayed: self.relayed,
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
    type FromBehaviour = StreamReply;
    type ToBehaviour = Infallible;
    type InboundProtocol = ReadyUpgrade<libp2p::StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<libp2p::StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = StreamReply;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(ReadyUpgrade::new(AGENT_PROTOCOL), ())
    }

    fn poll(
        &mut self,
        _cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, StreamReply, Infallible>> {
        match self.opens.pop_front() {
            Some(reply) => Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(ReadyUpgrade::new(AGENT_PROTOCOL), reply),
            }),
            None => Poll::Pending,
        }
    }

    fn on_behaviour_event(&mut self, reply: StreamReply) {
        // The connection task polls the handler after delivering an event, so the request is
        // picked up by `poll` without a waker of our own.
        self.opens.push_back(reply);
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
                let _ = reply.send(Ok(stream));
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { info: reply, error }) => {
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
