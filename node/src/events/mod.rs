//! What a run sees and sends: [`Context`] (its caller, its conversation, the stream of events
//! back, cancellation), the conversation itself ([`Session`] and its [`Message`]s, which the
//! caller passes back to continue), and the caller's side of the stream ([`Reply`]).

#[cfg(feature = "host")]
mod context;
mod conversation;
mod reply;

#[cfg(feature = "host")]
pub use context::Context;
pub use conversation::{new_session_id, Message, Session};
pub use reply::Reply;
