//! agenthost-node: the libp2p peer that hosts an agent, and the client that calls one.
//!
//! The path of one request, top to bottom:
//! - [`codec`] reads and writes frames: a varint length prefix and JSON (WIRE.md §5);
//! - [`frame`] is what the frames say: the caller's [`Request`] and the reply [`Frame`]s;
//! - [`server`] accepts `/agenthost/agent/1` streams and answers each through an
//!   [`AgentService`] ([`service`]), the caller identified as a [`Caller`] ([`caller`]);
//! - [`dispatcher`] is that service for a hosted agent, the agent's one door. For an INPUT
//!   (`run`): the signed envelope if any (`signed_request`), [`trust`] (levels, lists, policy
//!   judged by an [`llm`], rate limits), [`inputs`] (attachment limits and safe uploads),
//!   [`admission`] against the worker limits, the session record in the [`store`] (SQLite with a
//!   moka cache; also the replay ledger), then a fresh clone of the agent runs and its result is
//!   stored before it is sent ([`reply`]). SESSION, SESSIONS and CANCEL read the store
//!   (`session_requests`);
//! - [`agent`] is the API an author implements ([`Agent`], [`agent_fn`]) and [`context`] what a
//!   run sees ([`Context`]: caller, [`session`] history, streaming, cancellation).
//!
//! A stream may instead carry a client's WebSocket from a gateway ([`socket`]); the server
//! hands it to the host's [`SocketService`], which runs the session beside the dispatcher.
//!
//! Around it: [`node`] owns the libp2p swarm (`behaviour`: TCP+QUIC, Noise, Yamux, identify,
//! ping, mDNS, and [`agent_streams`] carrying the request streams) in one task behind a
//! [`NodeHandle`]; [`client`] dials agents by address and sends them requests;
//! [`command_agent`] hosts any executable; [`demo`] is the built-in echo agent.

mod agent;
pub mod client;
mod door;
mod events;
pub mod inputs;
pub mod llm;
pub mod store;
mod stream;
mod transport;
pub mod trust;
mod wire;
mod worker;

pub use agent::{
    agent_fn, agent_fn_with_context, Agent, AgentError, AgentInfo, CommandAgent, DemoAgent,
    FnAgent, Input, Output, DEFAULT_COMMAND_TIMEOUT,
};
pub use client::{AgentConnection, Client, ClientError};
pub use door::{
    AgentService, Caller, Dispatcher, DispatcherConfig, HostIdentity, Opening, SharedAddrs,
};
pub use events::{new_session_id, Context, Message, Reply, Session};
pub use stream::{
    serve, AgentStream, InboundStream, InboundStreams, OpenStreamError, PeerSocket,
    PeerSocketReader, PeerSocketWriter, ServerConfig, SocketOpen, SocketService, StreamControl,
    StreamPath,
};
pub use transport::{
    FoundRelay, Node, NodeConfig, NodeError, NodeHandle, PeerRecordAddrs, Reachability, RelayState,
    RelayStatus, SharedRelayStatus, Verdict, KAD_PROTOCOL,
};
pub use worker::{RetireReport, WorkerLimits};

pub use wire::{
    oip_descriptor, read_frame, write_frame, ErrorCode, ErrorFrame, FileInput, Frame, FrameError,
    InputRequest, OutputFrame, Request, SignedFields, AGENT_PROTOCOL, DEFAULT_MAX_FRAME_BYTES,
};

pub use libp2p::{multiaddr as libp2p_multiaddr, Multiaddr, PeerId};
