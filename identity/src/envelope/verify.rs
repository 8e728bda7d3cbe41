//! The six envelope checks of WIRE.md 2.3, in their contract order.
//!
//! The order is observable (clients see which error they get) and chosen so
//! the cheap, information-free checks run first and the replay ledger is only
//! written for requests that are otherwise fully valid.

use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Map, Value};

use super::{EnvelopeChecks, EnvelopeError, SignedEnvelope, VerifiedSigner};
use crate::{canonical_json, canonical_json_utf8, Address};

/// Runs the checks of WIRE.md 2.3 on `envelope`, in order:
/// 1. blacklisted signer → [`EnvelopeError::Blacklisted`] (before the
///    signature, so a banned caller learns nothing else);
/// 2. `from`, `signature`, `payload.timestamp` missing or malformed →
///    [`EnvelopeError::Malformed`];
/// 3. timestamp outside `max_skew_secs` → [`EnvelopeError::Expired`];
/// 4. `payload.to` not this agent → [`EnvelopeError::WrongRecipient`]
///    (missing while required → `Malformed("missing payload.to")`);
/// 5. signature invalid over both canonical forms →
///    [`EnvelopeError::InvalidSignature`];
/// 6. signature used before → [`EnvelopeError::Replayed`], ledger failure →
///    [`EnvelopeError::LedgerUnavailable`].
pub fn verify_envelope(
    envelope: &SignedEnvelope,
    checks: &EnvelopeChecks<'_>,
) -> Result<VerifiedSigner, EnvelopeError> {
    // 1. Blacklist, on whatever `from` claims: a spoofed `from` only earns the
    //    spoofer a 403, and a real banned signer gets no further feedback.
    let from = Address::parse(&envelope.from);
    if let Ok(address) = &from {
        if (checks.is_blacklisted)(address) {
            return Err(EnvelopeError::Blacklisted);
        }
    }

    // 2. Shape.
    let (address, verifying_key) = signer(&envelope.from, from)?;
    let signature = parse_signature(&envelope.signature)?;
    let payload = envelope
        .payload
        .as_object()
        .ok_or_else(|| malformed("malformed payload: expected a JSON object"))?;
    let timestamp = parse_timestamp(payload)?;

    // 3. Freshness. Both directions: a timestamp far in the future would
    //    otherwise stay valid (and in the ledger) for as long as it likes.
    if (timestamp - checks.now_secs).abs() > checks.max_skew_secs {
        return Err(EnvelopeError::Expired);
    }

    // 4. Recipient: stops a request signed for one agent being replayed to
    //    another.
    check_recipient(payload, checks)?;

    // 5. Signature.
    check_signature(&envelope.payload, &verifying_key, &signature)?;

    // 6. Replay. After the timestamp window closes the expiry check refuses
    //    the signature anyway, so the ledger need only remember it until then.
    //    verify_strict rejects malleated copies (non-canonical S), so one
    //    signed payload has exactly one accepted signature to remember.
    let expires_at = timestamp + checks.max_skew_secs;
    match checks
        .ledger
        .check_and_record(&signature.to_bytes(), expires_at)
    {
        Ok(true) => Ok(VerifiedSigner { address, timestamp }),
        Ok(false) => Err(EnvelopeError::Replayed),
        Err(error) => Err(EnvelopeError::LedgerUnavailable(error)),
    }
}

fn malformed(message: impl Into<String>) -> EnvelopeError {
    EnvelopeError::Malformed(message.into())
}

/// The signer's address and key, from `from` (already parsed for step 1).
fn signer(
    text: &str,
    parsed: Result<Address, crate::AddressError>,
) -> Result<(Address, VerifyingKey), EnvelopeError> {
    if text.is_empty() {
        return Err(malformed("missing from"));
    }
    let address = parsed.map_err(|e| malformed(format!("malformed from: {e}")))?;
    let key = address
        .verifying_key()
        .map_err(|e| malformed(format!("malformed from: {e}")))?;
    Ok((address, key))
}

/// 128 hex digits (any case), optionally after `0x`.
fn parse_signature(text: &str) -> Result<Signature, EnvelopeError> {
    if text.is_empty() {
        return Err(malformed("missing signature"));
    }
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if digits.len() != 128 {
        return Err(malformed(format!(
            "malformed signature: expected 128 hex digits, got {} characters",
            digits.chars().count()
        )));
    }
    let mut bytes = [0u8; 64];
    hex::decode_to_slice(digits, &mut bytes)
        .map_err(|_| malformed("malformed signature: expected 128 hex digits"))?;
    Ok(Signature::from_bytes(&bytes))
}

/// `payload.timestamp`: seconds since the epoch, integer or float.
fn parse_timestamp(payload: &Map<String, Value>) -> Result<f64, EnvelopeError> {
    match payload.get("timestamp") {
        None | Some(Value::Null) => Err(malformed("missing payload.timestamp")),
        Some(Value::Number(number)) => number
            .as_f64()
            .filter(|seconds| seconds.is_finite())
            .ok_or_else(|| malformed("malformed payload.timestamp: expected a number")),
        Some(_) => Err(malformed(
            "malformed payload.timestamp: expected a number of seconds",
        )),
    }
}

/// `to`, when present, must be this agent (either spelling, any hex case).
/// A null `to` counts as absent, as in the Python reference.
fn check_recipient(
    payload: &Map<String, Value>,
    checks: &EnvelopeChecks<'_>,
) -> Result<(), EnvelopeError> {
    match payload.get("to") {
        None | Some(Value::Null) if checks.require_to => Err(malformed("missing payload.to")),
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(to)) if Address::parse(to).ok() == Some(checks.agent) => Ok(()),
        Some(_) => Err(EnvelopeError::WrongRecipient),
    }
}

/// Accepts a signature over either canonical form: Python clients sign the
/// ASCII-escaped one, JavaScript clients the raw UTF-8 one. For all-ASCII
/// payloads the two are identical and only one verification runs.
fn check_signature(
    payload: &Value,
    key: &VerifyingKey,
    signature: &Signature,
) -> Result<(), EnvelopeError> {
    let escaped = canonical_json(payload);
    if key.verify_strict(escaped.as_bytes(), signature).is_ok() {
        return Ok(());
    }
    let raw = canonical_json_utf8(payload);
    if raw != escaped && key.verify_strict(raw.as_bytes(), signature).is_ok() {
        return Ok(());
    }
    Err(EnvelopeError::InvalidSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AgentKey, LedgerError, MemoryReplayLedger, ReplayLedger};
    use serde_json::json;

    const NOW: f64 = 1_700_000_000.0;

    fn client() -> AgentKey {
        AgentKey::from_seed([1; 32])
    }

    fn agent() -> Address {
        AgentKey::from_seed([2; 32]).address()
    }

    fn checks(ledger: &MemoryReplayLedger) -> EnvelopeChecks<'_> {
        EnvelopeChecks::new(agent(), ledger).with_now(NOW)
    }

    fn signed(payload: Value) -> SignedEnvelope {
        SignedEnvelope::sign(payload, &client())
    }

    fn good() -> SignedEnvelope {
        signed(json!({"prompt": "hi", "timestamp": NOW, "to": agent().to_string()}))
    }

    fn error_of(envelope: &SignedEnvelope, checks: &EnvelopeChecks<'_>) -> EnvelopeError {
        match verify_envelope(envelope, checks) {
            Ok(signer) => panic!("expected an error, got {signer:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn accepts_a_good_envelope() {
        let ledger = MemoryReplayLedger::new();
        let signer = verify_envelope(&good(), &checks(&ledger)).unwrap();
        assert_eq!(signer.address, client().address());
        assert_eq!(signer.timestamp, NOW);
    }

    #[test]
    fn blacklist_is_checked_before_anything_else() {
        let ledger = MemoryReplayLedger::new();
        let banned = client().address();
        let is_banned = move |address: &Address| *address == banned;
        let checks = checks(&ledger).with_blacklist(&is_banned);
        let mut envelope = good();
        envelope.signature = "00".repeat(64);
        envelope.payload = json!({"timestamp": 1});
        let error = error_of(&envelope, &checks);
        assert!(matches!(error, EnvelopeError::Blacklisted));
        assert_eq!(error.to_string(), "forbidden: blacklisted");
        // Matched by key, whichever spelling `from` uses.
        envelope.from = banned.to_peer_id().to_base58();
        assert!(matches!(
            error_of(&envelope, &checks),
            EnvelopeError::Blacklisted
        ));
    }

    /// Breaks one field of a good envelope.
    type Corruption = fn(&mut SignedEnvelope);

    #[test]
    fn malformed_fields_are_named() {
        let ledger = MemoryReplayLedger::new();
        let checks = checks(&ledger);
        let cases: Vec<(Corruption, &str)> = vec![
            (|e| e.from.clear(), "missing from"),
            (|e| e.from = "0x1234".into(), "malformed from"),
            (|e| e.signature.clear(), "missing signature"),
            (|e| e.signature.truncate(100), "malformed signature"),
            (|e| e.signature = "zz".repeat(64), "malformed signature"),
            (|e| e.payload = json!([1]), "malformed payload"),
            (
                |e| e.payload = json!({"to": agent().to_string()}),
                "missing payload.timestamp",
            ),
            (
                |e| e.payload["timestamp"] = json!("1700000000"),
                "malformed payload.timestamp",
            ),
        ];
        for (corrupt, expected) in cases {
            let mut envelope = good();
            corrupt(&mut envelope);
            let error = error_of(&envelope, &checks);
            assert!(
                matches!(&error, EnvelopeError::Malformed(m) if m.starts_with(expected)),
                "{expected}: got {error:?}"
            );
        }
    }

    #[test]
    fn from_that_is_not_a_curve_point_is_malformed() {
        let ledger = MemoryReplayLedger::new();
        let mut envelope = good();
        let mut bytes = [0u8; 32];
        bytes[0] = 2;
        envelope.from = Address::from_bytes(bytes).to_string();
        assert!(matches!(
            error_of(&envelope, &checks(&ledger)),
            EnvelopeError::Malformed(m) if m.contains("not a valid ed25519")
        ));
    }

    #[test]
    fn expired_in_either_direction() {
        let ledger = MemoryReplayLedger::new();
        for timestamp in [NOW - 301.0, NOW + 301.0] {
            let envelope = signed(json!({"timestamp": timestamp}));
            let error = error_of(&envelope, &checks(&ledger));
            assert!(matches!(error, EnvelopeError::Expired), "{error:?}");
            assert_eq!(error.to_string(), "signature expired");
        }
        // Exactly at the edge is still fine; integer timestamps too.
        let edge = signed(json!({"timestamp": 1_700_000_300u64}));
        assert!(verify_envelope(&edge, &checks(&ledger)).is_ok());
    }

    #[test]
    fn expiry_is_checked_before_the_signature() {
        let ledger = MemoryReplayLedger::new();
        let mut envelope = signed(json!({"timestamp": NOW - 1000.0}));
        envelope.signature = "00".repeat(64);
        assert!(matches!(
            error_of(&envelope, &checks(&ledger)),
            EnvelopeError::Expired
        ));
    }

    #[test]
    fn wrong_recipient_before_the_signature() {
        let ledger = MemoryReplayLedger::new();
        let other = client().address().to_string();
        let mut envelope = signed(json!({"timestamp": NOW, "to": other}));
        let error = error_of(&envelope, &checks(&ledger));
        assert!(matches!(error, EnvelopeError::WrongRecipient), "{error:?}");
        assert_eq!(error.to_string(), "wrong recipient");
        envelope.signature = "00".repeat(64);
        assert!(matches!(
            error_of(&envelope, &checks(&ledger)),
            EnvelopeError::WrongRecipient
        ));
        for to in [json!("nonsense"), json!(42), json!("")] {
            let envelope = signed(json!({"timestamp": NOW, "to": to}));
            assert!(matches!(
                error_of(&envelope, &checks(&ledger)),
                EnvelopeError::WrongRecipient
            ));
        }
    }

    #[test]
    fn recipient_matches_in_any_spelling() {
        let ledger = MemoryReplayLedger::new();
        let upper = format!("0x{}", agent().to_string()[2..].to_uppercase());
        let peer_id = agent().to_peer_id().to_base58();
        for to in [upper, peer_id] {
            let envelope = signed(json!({"timestamp": NOW, "to": to}));
            assert!(verify_envelope(&envelope, &checks(&ledger)).is_ok());
        }
    }

    #[test]
    fn to_can_be_required() {
        let ledger = MemoryReplayLedger::new();
        let strict = checks(&ledger).with_require_to(true);
        for payload in [
            json!({"timestamp": NOW}),
            json!({"timestamp": NOW, "to": null}),
        ] {
            let error = error_of(&signed(payload.clone()), &strict);
            assert!(
                matches!(&error, EnvelopeError::Malformed(m) if m == "missing payload.to"),
                "{error:?}"
            );
            // Optional by default.
            assert!(verify_envelope(&signed(payload), &checks(&ledger)).is_ok());
        }
    }

    #[test]
    fn invalid_signature() {
        let ledger = MemoryReplayLedger::new();
        let mut envelope = good();
        envelope.payload["prompt"] = json!("tampered");
        let error = error_of(&envelope, &checks(&ledger));
        assert!(
            matches!(error, EnvelopeError::InvalidSignature),
            "{error:?}"
        );
        assert_eq!(error.to_string(), "invalid signature");
        // Signed by someone other than `from`.
        let mut envelope = good();
        envelope.from = agent().to_string();
        assert!(matches!(
            error_of(&envelope, &checks(&ledger)),
            EnvelopeError::InvalidSignature
        ));
    }

    #[test]
    fn replayed_signature_is_refused_the_second_time() {
        let ledger = MemoryReplayLedger::new();
        let envelope = good();
        assert!(verify_envelope(&envelope, &checks(&ledger)).is_ok());
        let error = error_of(&envelope, &checks(&ledger));
        assert!(matches!(error, EnvelopeError::Replayed), "{error:?}");
        assert_eq!(error.to_string(), "signature already used");
    }

    #[test]
    fn rejected_envelopes_do_not_burn_the_signature() {
        let ledger = MemoryReplayLedger::new();
        let envelope = good();
        let wrong_agent = EnvelopeChecks::new(client().address(), &ledger).with_now(NOW);
        assert!(verify_envelope(&envelope, &wrong_agent).is_err());
        assert!(ledger.is_empty());
        assert!(verify_envelope(&envelope, &checks(&ledger)).is_ok());
    }

    #[test]
    fn prefixed_and_uppercase_signatures_are_accepted() {
        let envelope = good();
        for signature in [
            format!("0x{}", envelope.signature),
            envelope.signature.to_uppercase(),
        ] {
            let ledger = MemoryReplayLedger::new();
            let prefixed = SignedEnvelope {
                signature,
                ..envelope.clone()
            };
            assert!(verify_envelope(&prefixed, &checks(&ledger)).is_ok());
        }
    }

    #[test]
    fn signature_over_raw_utf8_is_accepted() {
        let ledger = MemoryReplayLedger::new();
        let payload = json!({"prompt": "你好 😀", "timestamp": NOW});
        let key = client();
        let envelope = SignedEnvelope {
            signature: hex::encode(key.sign(canonical_json_utf8(&payload).as_bytes())),
            from: key.address().to_string(),
            payload,
        };
        assert!(verify_envelope(&envelope, &checks(&ledger)).is_ok());
    }

    struct BrokenLedger;

    impl ReplayLedger for BrokenLedger {
        fn check_and_record(&self, _: &[u8; 64], _: f64) -> Result<bool, LedgerError> {
            Err(LedgerError::Unavailable("disk on fire".into()))
        }
    }

    #[test]
    fn ledger_failure_fails_closed() {
        let ledger = BrokenLedger;
        let checks = EnvelopeChecks::new(agent(), &ledger).with_now(NOW);
        let error = error_of(&good(), &checks);
        assert!(matches!(error, EnvelopeError::LedgerUnavailable(_)));
        assert!(!error.to_string().contains("disk on fire"));
    }

    #[test]
    fn default_checks_use_the_clock_and_300_seconds() {
        let ledger = MemoryReplayLedger::new();
        let checks = EnvelopeChecks::new(agent(), &ledger);
        assert_eq!(checks.max_skew_secs, 300.0);
        assert!(!checks.require_to);
        assert!((checks.now_secs - crate::now_secs()).abs() < 5.0);
        assert!(!(checks.is_blacklisted)(&agent()));
        let envelope = signed(json!({"timestamp": crate::now_secs() as u64}));
        assert!(verify_envelope(&envelope, &checks).is_ok());
    }
}
