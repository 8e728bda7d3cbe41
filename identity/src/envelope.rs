//! Signed envelopes: `{"payload": {...}, "from": "0x…", "signature": "…"}`
//! (WIRE.md 2.1).
//!
//! Only `payload` is signed, over its canonical JSON. Making one is
//! [`SignedEnvelope::sign`]; checking one is [`verify_envelope`], which runs
//! the six checks of WIRE.md 2.3 in order against [`EnvelopeChecks`].

mod checks;
mod error;
mod verify;

pub use checks::{now_secs, EnvelopeChecks, VerifiedSigner, DEFAULT_MAX_SKEW_SECS};
pub use error::EnvelopeError;
pub use verify::verify_envelope;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{canonical_json, AgentKey};

/// A payload with its signer's address and signature, as sent on the wire.
///
/// Fields stay as received (strings, arbitrary JSON) so that a malformed
/// envelope still deserializes and verification can say precisely which
/// field is wrong.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SignedEnvelope {
    /// The signed request: a JSON object with `timestamp` (and `to`), as received.
    pub payload: Value,
    /// The signer's address, `0x` form.
    pub from: String,
    /// 128 lowercase hex digits (a `0x` prefix is accepted on input).
    pub signature: String,
}

impl SignedEnvelope {
    /// Signs the canonical ASCII-escaped JSON of `payload` with `key`.
    ///
    /// The payload is signed as given: callers add `timestamp` (and `to`)
    /// themselves, since which fields belong in it depends on the request.
    pub fn sign(payload: Value, key: &AgentKey) -> SignedEnvelope {
        let signature = key.sign(canonical_json(&payload).as_bytes());
        SignedEnvelope {
            payload,
            from: key.address().to_string(),
            signature: hex::encode(signature),
        }
    }

    /// Same as [`verify_envelope`]`(self, checks)`.
    pub fn verify(&self, checks: &EnvelopeChecks<'_>) -> Result<VerifiedSigner, EnvelopeError> {
        verify_envelope(self, checks)
    }
}
