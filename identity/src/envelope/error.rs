//! Why an envelope was refused, with the HTTP status and message clients see.

use thiserror::Error;

use crate::LedgerError;

/// A refused envelope. `Display` is exactly the WIRE.md 2.3 message, so it can
/// be sent as `{"error": "<message>"}` as is.
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

impl EnvelopeError {
    /// The HTTP status to answer with.
    ///
    /// A ledger failure is 503, not 401: the request may be perfectly valid
    /// and we fail closed only because we cannot prove it is fresh. 503 tells
    /// clients to retry later instead of re-signing or giving up on their key.
    pub fn status(&self) -> u16 {
        match self {
            EnvelopeError::Blacklisted => 403,
            EnvelopeError::LedgerUnavailable(_) => 503,
            _ => 401,
        }
    }

    /// A machine-readable class matching [`status`](Self::status):
    /// "forbidden" (403), "unavailable" (503) or "unauthorized" (401).
    pub fn kind(&self) -> &'static str {
        match self {
            EnvelopeError::Blacklisted => "forbidden",
            EnvelopeError::LedgerUnavailable(_) => "unavailable",
            _ => "unauthorized",
        }
    }
}
