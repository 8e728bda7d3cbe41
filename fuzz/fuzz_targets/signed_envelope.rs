//! Signed requests (WIRE.md §2): any JSON through canonical serialization (both forms must
//! be parseable JSON again), and any envelope through every check of §2.3.
#![no_main]

use agenthost_identity::{
    canonical_json, canonical_json_utf8, verify_envelope, Address, EnvelopeChecks,
    MemoryReplayLedger, SignedEnvelope,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const AGENT: &str = "0x3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for canonical in [canonical_json(&value), canonical_json_utf8(&value)] {
        let again: Value = serde_json::from_str(&canonical).expect("canonical JSON parses");
        // Canonical twice is canonical once.
        assert_eq!(canonical_json(&again), canonical_json(&value));
    }
    if let Ok(envelope) = serde_json::from_value::<SignedEnvelope>(value) {
        let ledger = MemoryReplayLedger::new();
        let agent = Address::parse(AGENT).expect("the agent's address");
        let checks = EnvelopeChecks::new(agent, &ledger).with_require_to(true);
        let _ = verify_envelope(&envelope, &checks);
    }
});
