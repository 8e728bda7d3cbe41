//! The wire: what travels between a caller and an agent, and how (WIRE.md §4–5).
//! - `frame.rs`: the caller's [`Request`] and the agent's reply [`Frame`]s, one vocabulary for
//!   the P2P stream, the gateway's WebSocket and the in-process path;
//! - `error.rs`: the terminal [`ErrorFrame`] and its [`ErrorCode`];
//! - `codec.rs`: frames on a byte stream (a varint length, then JSON; the limit checked before
//!   anything is allocated);
//! - `protocol.rs`: protocol names and wire limits shared by the server and the client.

mod circuit;
mod codec;
mod error;
mod frame;
mod protocol;

pub use circuit::circuit_to;
pub(crate) use circuit::{circuit_through, is_circuit, relay_part};
pub use codec::{read_frame, write_frame, FrameError};
pub use error::{ErrorCode, ErrorFrame};
pub use frame::{FileInput, Frame, InputRequest, OutputFrame, Request, SignedFields};
#[cfg(feature = "host")]
pub(crate) use protocol::REQUEST_READ_TIMEOUT;
pub use protocol::{oip_descriptor, AGENT_PROTOCOL, DEFAULT_MAX_FRAME_BYTES};
pub(crate) use protocol::{IDENTIFY_PROTOCOL_VERSION, OPEN_STREAM_TIMEOUT};
