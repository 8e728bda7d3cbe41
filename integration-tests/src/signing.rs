//! Signed requests as a client builds them (WIRE.md §2), for tests that speak HTTP and WS.

use agenthost::{identity::SignedEnvelope, AgentKey};
use serde_json::{json, Value};

/// The client key of the WIRE.md vectors (seed 9d61…7f60).
pub fn wire_vector_key() -> AgentKey {
    let seed = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
        .expect("hex seed");
    AgentKey::from_seed(seed.try_into().expect("32 bytes"))
}

/// Seconds since the epoch, as clients put in `timestamp`.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// A signed `POST /input` body: `payload` holds `fields` plus `timestamp` and, if given, `to`.
pub fn signed_body(key: &AgentKey, to: Option<&str>, fields: Value) -> Value {
    let mut payload = fields;
    payload["timestamp"] = json!(now());
    if let Some(to) = to {
        payload["to"] = json!(to);
    }
    serde_json::to_value(SignedEnvelope::sign(payload, key)).expect("envelope serializes")
}

/// Headers of a short-form signed GET of `path` (WIRE.md §2.5).
pub fn signed_get_headers(key: &AgentKey, path: &str) -> Vec<(&'static str, String)> {
    let ts = now();
    let envelope =
        SignedEnvelope::sign(json!({"method": "GET", "path": path, "timestamp": ts}), key);
    vec![
        ("x-co-from", envelope.from),
        ("x-co-signature", envelope.signature),
        ("x-co-timestamp", ts.to_string()),
    ]
}
