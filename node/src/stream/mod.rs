//! Request streams: how a request reaches the agent over libp2p and its reply goes back.
//! - `behaviour.rs`: `AgentStreams`, the swarm behaviour carrying `/agenthost/agent/1`
//!   streams, and [`StreamControl`], the handle that opens them;
//! - `handler.rs`: its per-connection half, negotiating streams both ways;
//! - `agent_stream.rs`: [`AgentStream`], one stream and the connection ([`StreamPath`]) it
//!   runs over, counted so a superseded relayed connection closes once drained;
//! - `serve.rs`: [`serve`], one task per inbound stream: read the request, hand it to the
//!   door (an [`AgentService`](crate::AgentService)), write the reply;
//! - `socket.rs`: a stream that carries a client's WebSocket instead ([`PeerSocket`]), served
//!   by a [`SocketService`];
//! - `refuse.rs`: the `overloaded` answer for a stream the host has no room for.

mod agent_stream;
mod behaviour;
mod handler;
mod refuse;
#[cfg(feature = "host")]
mod serve;
mod socket;

pub use agent_stream::{AgentStream, StreamPath};
pub(crate) use behaviour::AgentStreams;
pub(crate) use behaviour::INBOUND_QUEUE;
pub use behaviour::{InboundStreams, StreamControl};
pub use handler::{InboundStream, OpenStreamError};
#[cfg(feature = "host")]
pub use serve::{serve, ServerConfig, StreamServer};
pub use socket::{PeerSocket, PeerSocketReader, PeerSocketWriter, SocketOpen, SocketService};
