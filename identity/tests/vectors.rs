//! The test vectors of WIRE.md 1.1 (identity) and 2.4 (signed payloads),
//! checked through the public API exactly as other crates use it.

// Test helpers unwrap like the tests they serve: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use agenthost_identity::{
    canonical_json, canonical_json_utf8, verify_envelope, Address, AddressError, AgentKey,
    EnvelopeChecks, MemoryReplayLedger, SignedEnvelope,
};
use libp2p_identity::PeerId;
use serde_json::{json, Value};

/// WIRE.md 1.1: (seed, address, PeerId).
const IDENTITIES: [(&str, &str, &str); 2] = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "0xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "12D3KooWQK1wnefoLrcVHbbnf5tLzbopUd3K3bFAoJpA7YJgL5pV",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "0x3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "12D3KooWDwTirQce1RRKnasT5fPVFgzXCy6SiRgSwrwPGLC7zE91",
    ),
];

const AGENT: &str = "0x3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
const TIMESTAMP: f64 = 1_700_000_000.0;

fn key_from_hex(seed: &str) -> AgentKey {
    AgentKey::from_seed(hex::decode(seed).unwrap().try_into().unwrap())
}

fn client() -> AgentKey {
    key_from_hex(IDENTITIES[0].0)
}

// ---- 1.1 identity -------------------------------------------------------

#[test]
fn seed_gives_address_and_peer_id() {
    for (seed, address, peer_id) in IDENTITIES {
        let key = key_from_hex(seed);
        assert_eq!(key.address().to_string(), address);
        assert_eq!(key.peer_id().to_base58(), peer_id);
        assert_eq!(key.address().to_peer_id().to_base58(), peer_id);
        assert_eq!(
            key.to_libp2p_keypair().public().to_peer_id().to_base58(),
            peer_id
        );
    }
}

#[test]
fn address_and_peer_id_convert_both_ways() {
    for (_, address, peer_id) in IDENTITIES {
        let from_hex = Address::parse(address).unwrap();
        let parsed_peer: PeerId = peer_id.parse().unwrap();
        assert_eq!(Address::from_peer_id(&parsed_peer).unwrap(), from_hex);
        assert_eq!(from_hex.to_peer_id(), parsed_peer);
    }
}

#[test]
fn both_spellings_parse_to_the_same_address() {
    for (_, address, peer_id) in IDENTITIES {
        let from_hex: Address = address.parse().unwrap();
        let from_peer: Address = peer_id.parse().unwrap();
        assert_eq!(from_hex, from_peer);
        assert_eq!(from_peer.to_string(), address);
        let upper = format!("0x{}", address[2..].to_uppercase());
        assert_eq!(Address::parse(&upper).unwrap(), from_hex);
    }
}

#[test]
fn malformed_addresses_are_rejected() {
    let (_, address, peer_id) = IDENTITIES[0];
    assert!(matches!(
        Address::parse(&address[..64]),
        Err(AddressError::WrongLength { found: 64 })
    ));
    assert!(matches!(
        Address::parse(&format!("{address}00")),
        Err(AddressError::WrongLength { found: 68 })
    ));
    assert!(matches!(
        Address::parse(&address.replace('d', "x")),
        Err(AddressError::InvalidHexDigit { character: 'x', .. })
    ));
    assert!(matches!(
        Address::parse(&address[2..]),
        Err(AddressError::MissingPrefix)
    ));
    assert!(Address::parse(&peer_id[..peer_id.len() - 1]).is_err());
    assert!(Address::parse(&format!("{peer_id}1")).is_err());
    // RSA (sha256) PeerId.
    assert!(matches!(
        Address::parse("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"),
        Err(AddressError::PeerIdWithoutInlineKey)
    ));
    // secp256k1 PeerId (identity multihash of a type-2 key).
    let mut secp = vec![0x00, 0x25, 0x08, 0x02, 0x12, 0x21, 0x03];
    secp.extend_from_slice(&[9u8; 32]);
    let secp = PeerId::from_bytes(&secp).unwrap().to_base58();
    assert!(matches!(
        Address::parse(&secp),
        Err(AddressError::NotEd25519PeerId)
    ));
}

// ---- 2.4 signed payloads ------------------------------------------------

struct Vector {
    name: &'static str,
    payload: Value,
    canonical: &'static str,
    signature: &'static str,
}

fn signed_vectors() -> Vec<Vector> {
    vec![
        Vector {
            name: "POST /input",
            payload: json!({"prompt": "hello", "timestamp": 1700000000, "to": AGENT}),
            canonical: r#"{"prompt":"hello","timestamp":1700000000,"to":"0x3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"}"#,
            signature: "17ab05b87a55cb6c3d8886e7d93915af38431b8b8b725946596420b94814ce9118703e023e65b53cfd0b1e550087869f3826cddeaff0d225c1c08b03046a2500",
        },
        Vector {
            name: "WS CONNECT",
            payload: json!({"to": AGENT, "timestamp": 1700000000, "signed_commands": 1}),
            canonical: r#"{"signed_commands":1,"timestamp":1700000000,"to":"0x3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"}"#,
            signature: "2f6b0506285a5203967c45181634fa07bd305d71e43c5ce0a9ff893ee0bcadc0f21d771e161903de9bf1e44bc7ddbca06cfc29f33bdba918556bcb60426f2207",
        },
        Vector {
            name: "WS INPUT command",
            payload: json!({
                "type": "INPUT",
                "prompt": "hello",
                "input_id": "11111111-1111-1111-1111-111111111111",
                "nonce": "22222222-2222-2222-2222-222222222222",
                "timestamp": 1700000000,
                "to": AGENT,
            }),
            canonical: r#"{"input_id":"11111111-1111-1111-1111-111111111111","nonce":"22222222-2222-2222-2222-222222222222","prompt":"hello","timestamp":1700000000,"to":"0x3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c","type":"INPUT"}"#,
            signature: "82c08a08634f28d814a5edc830dbd222127efee4b89af2f6b2ba5920d9da9eea07322ce033fd8c2e7167711b83d6edd3dbc235958bd1abcc9e35f426360b8503",
        },
        Vector {
            name: "signed GET /sessions",
            payload: json!({"timestamp": 1700000000, "path": "/sessions", "method": "GET"}),
            canonical: r#"{"method":"GET","path":"/sessions","timestamp":1700000000}"#,
            signature: "aeb641c7ed892156c4233ff1c1b7114d440529959c30d41581a5cf9bd0bb7cf4b06b95eff99ad74d5d43b7b041766dac41d6dc882d71697cd5f381f44e85850d",
        },
        Vector {
            name: "prompt 你好 😀, escaped form",
            payload: json!({"prompt": "你好 😀", "timestamp": 1700000000, "to": AGENT}),
            canonical: r#"{"prompt":"\u4f60\u597d \ud83d\ude00","timestamp":1700000000,"to":"0x3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"}"#,
            signature: "97feadb1995ca5ab6c37c01749efad50d8087b05a9440e254740280c09dc37eb01d53bab21172dd49ffe0eddaf6df03c07a5b2e7fe30f342f3b67cc3fd577706",
        },
    ]
}

/// The raw UTF-8 row of 2.4: what a JavaScript client signs.
const RAW_UTF8_CANONICAL: &str = r#"{"prompt":"你好 😀","timestamp":1700000000,"to":"0x3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"}"#;
const RAW_UTF8_SIGNATURE: &str = "815bb6dcade5437a42f434d2ca491b8d5c8dc9d5b80f5c3d34585a98e09568031a52cb5b190b56ff3220e923291591dbe40506cffc23960d00029dcc29e6d00f";

fn agent_checks(ledger: &MemoryReplayLedger) -> EnvelopeChecks<'_> {
    EnvelopeChecks::new(AGENT.parse().unwrap(), ledger).with_now(TIMESTAMP)
}

#[test]
fn canonical_bytes_match_the_table() {
    for vector in signed_vectors() {
        assert_eq!(
            canonical_json(&vector.payload),
            vector.canonical,
            "{}",
            vector.name
        );
    }
}

#[test]
fn canonical_bytes_survive_a_wire_round_trip() {
    // Verifiers re-serialize what they parsed, not what the client sent.
    for vector in signed_vectors() {
        let reparsed: Value = serde_json::from_str(vector.canonical).unwrap();
        assert_eq!(
            canonical_json(&reparsed),
            vector.canonical,
            "{}",
            vector.name
        );
    }
}

#[test]
fn signatures_match_the_table() {
    for vector in signed_vectors() {
        let envelope = SignedEnvelope::sign(vector.payload.clone(), &client());
        assert_eq!(envelope.signature, vector.signature, "{}", vector.name);
        assert_eq!(envelope.from, IDENTITIES[0].1, "{}", vector.name);
    }
}

#[test]
fn table_signatures_verify() {
    for vector in signed_vectors() {
        let ledger = MemoryReplayLedger::new();
        let envelope = SignedEnvelope {
            payload: vector.payload,
            from: IDENTITIES[0].1.to_owned(),
            signature: vector.signature.to_owned(),
        };
        let signer = verify_envelope(&envelope, &agent_checks(&ledger))
            .unwrap_or_else(|e| panic!("{}: {e}", vector.name));
        assert_eq!(signer.address.to_string(), IDENTITIES[0].1);
        assert_eq!(signer.timestamp, TIMESTAMP);
    }
}

#[test]
fn raw_utf8_row_matches_and_verifies_via_the_utf8_path() {
    let payload = json!({"prompt": "你好 😀", "timestamp": 1700000000, "to": AGENT});
    assert_eq!(canonical_json_utf8(&payload), RAW_UTF8_CANONICAL);
    assert_eq!(
        hex::encode(client().sign(RAW_UTF8_CANONICAL.as_bytes())),
        RAW_UTF8_SIGNATURE
    );
    // Parsed from the wire, as a JavaScript client would send it.
    let wire = format!(
        r#"{{"payload":{RAW_UTF8_CANONICAL},"from":"{}","signature":"{RAW_UTF8_SIGNATURE}"}}"#,
        IDENTITIES[0].1
    );
    let envelope: SignedEnvelope = serde_json::from_str(&wire).unwrap();
    let ledger = MemoryReplayLedger::new();
    assert!(verify_envelope(&envelope, &agent_checks(&ledger)).is_ok());
}
