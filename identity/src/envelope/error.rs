//! Why an envelope was refused, with the HTTP status and message clients see.

use thiserror::Error;

use crate::LedgerError;

/// A refused envelope. `Display` is exactly the WIRE.md 2.3 message, so it can
/// be sent as `{"error": "<message>"}` as is. Which error code (and so which HTTP
/// status) each variant is, is decided where the codes live: `agenthost-node`'s
/// `ErrorCode::from(&EnvelopeError)`. A ledger failure is not the caller's fault:
/// it is `unavailable` (retry later), never `unauthorized`.
#[derive(Debug, Error)]
pub enum EnvelopeError {
    /// Step 1: the signer is blacklisted.
    #[error("forbidden: blacklisted")]
    Blacklisted,

    /// Step 2 (and a missing `to` when it is required): the message names
    /// the field, e.g. "missing payload.timestamp".
    #[error("{0}")]
    Malformed(String),

    /// Step 3: the timestamp is too far from now.
    #[error("signature expired")]
    Expired,

    /// Step 4: `payload.to` names another agent.
    #[error("wrong recipient")]
    WrongRecipient,

    /// Step 5: the signature matches neither canonical form.
    #[error("invalid signature")]
    InvalidSignature,

    /// Step 6: this exact signature was accepted before.
    #[error("signature already used")]
    Replayed,

    /// Step 6: the ledger could not say whether the signature is fresh. The
    /// cause is kept as `source` for logs but not shown to the client.
    #[error("replay ledger unavailable")]
    LedgerUnavailable(#[source] LedgerError),
}
