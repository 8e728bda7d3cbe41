//! The caller's side: [`Client`] dials agents by address (`dial.rs`) and [`AgentConnection`]
//! sends them requests, each on its own stream over one shared connection (`connection.rs`);
//! [`ClientError`] says why a call got no reply (`error.rs`).

mod connection;
mod dial;
mod error;

pub use connection::AgentConnection;
pub use dial::Client;
pub use error::ClientError;
