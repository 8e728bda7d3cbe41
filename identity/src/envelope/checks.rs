//! What an envelope is checked against, and what a passing one tells us.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Address, ReplayLedger};

/// How far a payload's timestamp may be from now, either way (WIRE.md 2.3).
pub const DEFAULT_MAX_SKEW_SECS: f64 = 300.0;

/// The context one verification runs in: who we are, what time it is, who is
/// banned and where used signatures are recorded.
///
/// Borrowing the blacklist and ledger (rather than owning them) lets callers
/// build one of these per request for free.
pub struct EnvelopeChecks<'a> {
    /// This agent's address: `payload.to` must name it.
    pub agent: Address,
    /// Current unix time in seconds.
    pub now_secs: f64,
    /// Allowed |timestamp - now|, in seconds.
    pub max_skew_secs: f64,
    /// Refuse payloads without `to` (strict mode, WebSocket CONNECT).
    pub require_to: bool,
    /// Whether a signer is banned; a banned `from` is refused first (step 1).
    pub is_blacklisted: &'a (dyn Fn(&Address) -> bool + Sync),
    /// Where accepted signatures are recorded, so each is accepted only once.
    pub ledger: &'a dyn ReplayLedger,
}

impl<'a> EnvelopeChecks<'a> {
    /// Checks for `agent` at the current time with the default 300 s window,
    /// nobody blacklisted and `to` optional.
    pub fn new(agent: Address, ledger: &'a dyn ReplayLedger) -> EnvelopeChecks<'a> {
        EnvelopeChecks {
            agent,
            now_secs: now_secs(),
            max_skew_secs: DEFAULT_MAX_SKEW_SECS,
            require_to: false,
            is_blacklisted: &nobody_is_blacklisted,
            ledger,
        }
    }

    /// Refuses signers for which `is_blacklisted` returns true.
    pub fn with_blacklist(
        self,
        is_blacklisted: &'a (dyn Fn(&Address) -> bool + Sync),
    ) -> EnvelopeChecks<'a> {
        EnvelopeChecks {
            is_blacklisted,
            ..self
        }
    }

    /// Sets whether payloads without `to` are refused (strict mode).
    pub fn with_require_to(self, require_to: bool) -> EnvelopeChecks<'a> {
        EnvelopeChecks { require_to, ..self }
    }

    /// Checks at `now_secs` (unix seconds) instead of the current time.
    pub fn with_now(self, now_secs: f64) -> EnvelopeChecks<'a> {
        EnvelopeChecks { now_secs, ..self }
    }
}

fn nobody_is_blacklisted(_: &Address) -> bool {
    false
}

/// Who signed an envelope that passed every check, and when they said they
/// signed it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VerifiedSigner {
    /// The signer's address (the envelope's `from`).
    pub address: Address,
    /// The payload's `timestamp`, in unix seconds.
    pub timestamp: f64,
}

/// Current unix time in seconds. A clock set before 1970 reads as 0, which
/// makes every timestamp "expired" rather than panicking.
pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs_f64())
        .unwrap_or(0.0)
}
