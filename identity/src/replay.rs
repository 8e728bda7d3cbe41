//! Replay protection: each signature is accepted once (WIRE.md 2.3 step 6).
//!
//! A signed request is valid for its whole timestamp window, so without a
//! ledger anyone who sees one could resend it. The ledger records every
//! accepted signature until its window closes; after that the timestamp check
//! alone rejects it, so the entry can be forgotten.
//!
//! [`ReplayLedger`] is the seam: [`MemoryReplayLedger`] serves one process and
//! tests; a persistent ledger shared by all workers of an agent implements the
//! same trait elsewhere.

mod memory;

pub use memory::MemoryReplayLedger;

use thiserror::Error;

/// Remembers which signatures have been used.
pub trait ReplayLedger: Send + Sync {
    /// Records `signature` as used until `expires_at_secs` (unix seconds).
    ///
    /// Returns `Ok(true)` if it was not yet recorded (the request is fresh and
    /// now recorded), `Ok(false)` if it was already used. The check and the
    /// record must be one atomic step, or two concurrent copies of a request
    /// could both pass.
    fn check_and_record(
        &self,
        signature: &[u8; 64],
        expires_at_secs: f64,
    ) -> Result<bool, LedgerError>;
}

/// The ledger could not answer. Verification fails closed on this: accepting
/// a request we cannot prove is fresh would reopen the replay hole.
#[derive(Debug, Error)]
pub enum LedgerError {
    /// Reading or writing the ledger's storage failed.
    #[error("replay ledger I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// The ledger cannot be reached or used; the message says why.
    #[error("replay ledger unavailable: {0}")]
    Unavailable(String),
}
