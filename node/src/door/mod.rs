//! The door: every request meets the agent here, whatever path it took (P2P stream, gateway,
//! in-process), so every caller meets the same rules.
//! - `service.rs`: [`AgentService`], what the P2P server and the gateway are written against;
//! - `dispatcher.rs`: [`Dispatcher`], that service for a hosted agent: it routes each request
//!   kind, answers INFO and HEALTH, and verifies the signatures that open sockets;
//! - `state.rs`: what the door knows ([`HostIdentity`], the store, trust, running turns);
//! - `caller.rs`: who is calling ([`Caller`]), as the transport or a signature says;
//! - `signed_request.rs`: signed envelopes and signed GETs (WIRE.md §2), their signer becoming
//!   the caller;
//! - `admit.rs`: one INPUT through every check, then to a worker (`crate::worker`);
//! - `session_requests.rs`: SESSION, SESSIONS and CANCEL against the store, owner-scoped.

#[cfg(feature = "host")]
mod admit;
mod caller;
#[cfg(feature = "host")]
mod dispatcher;
mod service;
#[cfg(feature = "host")]
mod session_requests;
#[cfg(feature = "host")]
mod signed_request;
#[cfg(feature = "host")]
mod state;

pub use caller::Caller;
#[cfg(feature = "host")]
pub use dispatcher::{Dispatcher, DispatcherConfig};
pub use service::{AgentService, Opening, RetireReport};
#[cfg(feature = "host")]
pub use state::HostIdentity;
