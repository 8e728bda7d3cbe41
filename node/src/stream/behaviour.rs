//! `AgentStreams`: the behaviour that carries `/agenthost/agent/1` request streams, and
//! [`StreamControl`], the handle that opens them.
//!
//! Written instead of using `libp2p-stream` 0.5.0-alpha, whose inbound hand-off has room for one
//! stream (bursts of concurrent requests were reset before our accept loop could run: measured
//! with 50 concurrent calls on 2 cores), whose outbound opens are serialized per connection,
//! and which picks a random connection where we want the direct one over a relayed one.
//!
//! After a hole punch (DCUtR) a peer has a direct and a relayed connection: new streams go over
//! the direct one, and the relayed one is closed by the side that dialed the circuit as soon as
//! the last request stream on it has ended (its handler reports it drained).

use std::{
    collections::{HashMap, VecDeque},
    convert::Infallible,
    task::{Context, Poll},
};

use libp2p::{
    core::{transport::PortUse, Endpoint},
    swarm::{
        CloseConnection, ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm,
        NetworkBehaviour, NotifyHandler, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
    },
    Multiaddr, PeerId,
};
use tokio::sync::{mpsc, oneshot};

use super::{
    agent_stream::AgentStream,
    handler::{HandlerIn, HandlerOut, InboundStream, OpenStreamError, StreamHandler, StreamReply},
};

/// Inbound streams waiting for the server's accept loop.
pub(crate) const INBOUND_QUEUE: usize = 1024;

struct OpenRequest {
    peer: PeerId,
    reply: StreamReply,
}

/// A live connection and whether it goes through a relay.
struct Link {
    id: ConnectionId,
    relayed: bool,
}

pub(crate) struct AgentStreams {
    inbound: Option<mpsc::Sender<InboundStream>>,
    requests: mpsc::Receiver<OpenRequest>,
    links: HashMap<PeerId, Vec<Link>>,
    to_swarm: VecDeque<ToSwarm<Infallible, HandlerIn>>,
}

/// Accepted inbound streams, in arrival order.
pub type InboundStreams = mpsc::Receiver<InboundStream>;

impl AgentStreams {
    /// The behaviour, its control, and (when `serve`) the queue of inbound streams.
    pub(crate) fn new(serve: bool) -> (Self, StreamControl, Option<InboundStreams>) {
        let (inbound, incoming) = if serve {
            let (tx, rx) = mpsc::channel(INBOUND_QUEUE);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let (requests_tx, requests) = mpsc::channel(1024);
        let behaviour = AgentStreams {
            inbound,
            requests,
            links: HashMap::new(),
            to_swarm: VecDeque::new(),
        };
        (
            behaviour,
            StreamControl {
                requests: requests_tx,
            },
            incoming,
        )
    }

    fn handler(&self, peer: PeerId, remote: &Multiaddr, dialer: bool) -> StreamHandler {
        StreamHandler::new(peer, remote.clone(), dialer, self.inbound.clone())
    }

    fn has_direct(&self, peer: &PeerId) -> bool {
        self.links
            .get(peer)
            .is_some_and(|links| links.iter().any(|l| !l.relayed))
    }

    /// Tells every relayed connection to `peer` whether a direct one now carries new streams.
    fn notify_relayed(&mut self, peer: PeerId, superseded: bool) {
        let Some(links) = self.links.get(&peer) else {
            return;
        };
        for link in links.iter().filter(|l| l.relayed) {
            self.to_swarm.push_back(ToSwarm::NotifyHandler {
                peer_id: peer,
                handler: NotifyHandler::One(link.id),
                event: HandlerIn::Superseded(superseded),
            });
        }
    }

    fn route(&mut self, request: OpenRequest) {
        // Prefer a direct connection: a relayed one is slower and may be limited.
        let link = self
            .links
            .get(&request.peer)
            .and_then(|links| links.iter().find(|l| !l.relayed).or_else(|| links.first()));
        match link {
            Some(link) => self.to_swarm.push_back(ToSwarm::NotifyHandler {
                peer_id: request.peer,
                handler: NotifyHandler::One(link.id),
                event: HandlerIn::Open(request.reply),
            }),
            None => {
                let _ = request
                    .reply
                    .send(Err(OpenStreamError::NotConnected(request.peer)));
            }
        }
    }
}

impl NetworkBehaviour for AgentStreams {
    type ConnectionHandler = StreamHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer, remote, false))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        remote: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer, remote, true))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                let relayed = e.endpoint.is_relayed();
                let had_direct = self.has_direct(&e.peer_id);
                self.links.entry(e.peer_id).or_default().push(Link {
                    id: e.connection_id,
                    relayed,
                });
                if relayed && had_direct {
                    self.to_swarm.push_back(ToSwarm::NotifyHandler {
                        peer_id: e.peer_id,
                        handler: NotifyHandler::One(e.connection_id),
                        event: HandlerIn::Superseded(true),
                    });
                } else if !relayed && !had_direct {
                    self.notify_relayed(e.peer_id, true);
                }
            }
            FromSwarm::ConnectionClosed(ConnectionClosed {
                peer_id,
                connection_id,
                ..
            }) => {
                let had_direct = self.has_direct(&peer_id);
                if let Some(links) = self.links.get_mut(&peer_id) {
                    links.retain(|l| l.id != connection_id);
                    if links.is_empty() {
                        self.links.remove(&peer_id);
                    }
                }
                if had_direct && !self.has_direct(&peer_id) {
                    // The direct path is gone: relayed connections carry streams again.
                    self.notify_relayed(peer_id, false);
                }
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {
            HandlerOut::Drained => {
                if self.has_direct(&peer) {
                    tracing::debug!(%peer, "relayed connection drained; closing it");
                    self.to_swarm.push_back(ToSwarm::CloseConnection {
                        peer_id: peer,
                        connection: CloseConnection::One(connection),
                    });
                }
            }
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        while let Poll::Ready(Some(request)) = self.requests.poll_recv(cx) {
            self.route(request);
        }
        match self.to_swarm.pop_front() {
            Some(event) => Poll::Ready(event),
            None => Poll::Pending,
        }
    }
}

/// Opens request streams to connected peers. Cheap to clone; clones open concurrently.
#[derive(Clone)]
pub struct StreamControl {
    requests: mpsc::Sender<OpenRequest>,
}

impl StreamControl {
    /// Opens a stream on `/agenthost/agent/1` over an existing connection to `peer` (the direct
    /// one if there is one). Callers bound this with a timeout.
    pub async fn open_stream(&self, peer: PeerId) -> Result<AgentStream, OpenStreamError> {
        let (reply, rx) = oneshot::channel();
        self.requests
            .send(OpenRequest { peer, reply })
            .await
            .map_err(|_| OpenStreamError::Stopped)?;
        // A dropped reply means the connection closed before it could negotiate the stream.
        rx.await.map_err(|_| OpenStreamError::Closed(peer))?
    }
}
