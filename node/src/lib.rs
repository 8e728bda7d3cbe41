//! agenthost-node: the libp2p peer that hosts an agent, and the client that calls one.
//!
//! The folders, in the order a request travels through them:
//! - `client/`: [`Client`] dials an agent by its address (given addresses, mDNS, the relays'
//!   directories, then their DHT) and sends it requests ([`AgentConnection`]);
//! - `transport/`: the one task owning the libp2p swarm (TCP+QUIC, Noise, Yamux, identify,
//!   ping, mDNS, relay client, DCUtR, AutoNAT, Kademlia), its [`NodeHandle`], relay
//!   reservations, directory registrations and reachability;
//! - `stream/`: the request streams on `/agenthost/agent/1` ([`AgentStream`]), [`serve`] (one
//!   task per inbound stream) and the WebSocket sockets gateways carry ([`PeerSocket`]);
//! - `wire/`: what travels on a stream: the caller's [`Request`], the reply [`Frame`]s,
//!   [`ErrorCode`]s, and the varint+JSON codec (WIRE.md §5);
//! - `door/`: [`AgentService`] and its [`Dispatcher`], the agent's one door whatever the path:
//!   the [`Caller`], signed requests, INPUT admission, SESSION/SESSIONS/CANCEL;
//! - `worker/`: worker slots and the queue ([`WorkerLimits`]), running turns, a run executed;
//! - `agent/`: what an author implements ([`Agent`], [`agent_fn`]), [`CommandAgent`] for any
//!   executable, [`DemoAgent`];
//! - `events/`: what a run sees ([`Context`], its [`Session`]) and the [`Reply`] it streams into.
//!
//! And the leaves they use: [`trust`] (levels, lists, policy judged by an [`llm`], rate limits),
//! [`inputs`] (attachment limits, safe uploads), [`store`] (SQLite sessions and replay ledger).

#![warn(missing_docs)]

#[cfg(feature = "host")]
mod agent;
mod client;
mod door;
mod events;
pub mod inputs;
#[cfg(feature = "host")]
pub mod llm;
#[cfg(feature = "host")]
pub mod store;
mod stream;
mod transport;
pub mod trust;
mod wire;
#[cfg(feature = "host")]
mod worker;

#[cfg(feature = "host")]
pub use agent::{
    agent_fn, agent_fn_with_context, Agent, AgentError, AgentInfo, CommandAgent, DemoAgent,
    FnAgent, Input, Output, DEFAULT_COMMAND_TIMEOUT,
};
pub use client::{AgentConnection, Client, ClientError};
pub use door::{AgentService, Caller, Opening, RetireReport};
#[cfg(feature = "host")]
pub use door::{Dispatcher, DispatcherConfig, HostIdentity};
#[cfg(feature = "host")]
pub use events::Context;
pub use events::{new_session_id, Message, Reply, Session};
#[cfg(feature = "host")]
pub use stream::{serve, ServerConfig, StreamServer};
pub use stream::{
    AgentStream, InboundStream, InboundStreams, OpenStreamError, PeerSocket, PeerSocketReader,
    PeerSocketWriter, SocketOpen, SocketService, StreamControl, StreamPath,
};
pub use transport::{
    FoundRelay, InboundLimits, NatStatus, Node, NodeConfig, NodeError, NodeHandle, PeerRecordAddrs,
    Reachability, RelayState, RelayStatus, SharedAddrs, SharedRelayStatus, KAD_PROTOCOL,
};
#[cfg(feature = "host")]
pub use worker::WorkerLimits;

pub use wire::{
    circuit_to, oip_descriptor, read_frame, write_frame, ErrorCode, ErrorFrame, FileInput, Frame,
    FrameError, InputRequest, OutputFrame, Request, SignedFields, AGENT_PROTOCOL,
    DEFAULT_MAX_FRAME_BYTES,
};

pub use libp2p::{multiaddr as libp2p_multiaddr, Multiaddr, PeerId};
