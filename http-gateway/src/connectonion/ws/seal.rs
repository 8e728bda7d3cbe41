//! SEAL: ConnectOnion's end-to-end encryption of a WebSocket (its `network/sealed.py`), the
//! host side. It lets a client sign frames on a plaintext `ws://` socket (a LAN address, or
//! through a gateway that should not read them) without anyone on the way reading or
//! replaying them.
//!
//! 1. The client's first frame is the hello `{"type":"SEAL","to","from","ephemeral",
//!    "timestamp","signature"}`: a one-time X25519 key, signed by the client's ed25519 key over
//!    the canonical JSON of the other five fields. The agent's door checks it like any signed
//!    request (recipient, ±300 s, signature, single use).
//! 2. The host answers `{"type":"SEALED_OK","to","from","ephemeral","client_ephemeral",
//!    "signature"}` with its own one-time key, signed by the agent's key.
//! 3. Every later frame, both ways, is `{"type":"SEALED","n","c"}`: `c` the base64 NaCl box
//!    (X25519 + XSalsa20-Poly1305) of the frame's JSON between the two one-time keys, under the
//!    nonce `c2h`/`h2c` + `n` as 21 big-endian bytes; `n` counts from 1 and only goes up.
//!
//! The box is RustCrypto's `crypto_box` (libsodium's `crypto_box_easy` layout, as PyNaCl's
//! `Box`); nothing here is hand-written cryptography.

use agenthost_identity::{canonical_json, AgentKey, SignedEnvelope};
use base64::Engine;
use crypto_box::{
    aead::{generic_array::GenericArray, Aead},
    PublicKey, SalsaBox, SecretKey,
};
use serde_json::{json, Map, Value};

pub(super) const SEAL: &str = "SEAL";
pub(super) const SEALED_OK: &str = "SEALED_OK";
pub(super) const SEALED: &str = "SEALED";

const NONCE_BYTES: usize = 24;
const CLIENT_TO_HOST: &[u8; 3] = b"c2h";
const HOST_TO_CLIENT: &[u8; 3] = b"h2c";

/// Why a hello cannot open a seal; the connection must not be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct SealRefused(pub String);

/// Why a sealed frame was not accepted; terminal for the connection.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct SealError(&'static str);

/// A well-formed hello, before its signature is checked.
pub(super) struct Hello {
    /// The signed part, for the door to verify like any signed request.
    pub envelope: SignedEnvelope,
    /// `from` and `to` exactly as the client wrote them: the reply names them back and the
    /// client compares strings.
    from: String,
    to: String,
    ephemeral_hex: String,
    ephemeral: PublicKey,
}

impl Hello {
    /// Reads a SEAL frame; the field checks of `sealed.py`'s `host_accept`.
    pub(super) fn parse(frame: &Map<String, Value>) -> Result<Hello, SealRefused> {
        let refused = |m: &str| SealRefused(m.to_owned());
        if frame.get("type").and_then(Value::as_str) != Some(SEAL) {
            return Err(refused("not a SEAL frame"));
        }
        for field in ["to", "from", "ephemeral", "timestamp", "signature"] {
            if !frame.contains_key(field) {
                return Err(SealRefused(format!("SEAL is missing {field}")));
            }
        }
        let text = |field: &str| {
            frame
                .get(field)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| SealRefused(format!("SEAL {field} is not a string")))
        };
        let (to, from, ephemeral_hex, signature) = (
            text("to")?,
            text("from")?,
            text("ephemeral")?,
            text("signature")?,
        );
        let timestamp = frame.get("timestamp").cloned().unwrap_or(Value::Null);
        if !timestamp.is_number() {
            return Err(refused("SEAL timestamp is not a number"));
        }
        let key: [u8; 32] = hex::decode(&ephemeral_hex)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| refused("SEAL ephemeral is not a 32-byte hex key"))?;
        let payload = json!({
            "type": SEAL,
            "to": to,
            "from": from,
            "ephemeral": ephemeral_hex,
            "timestamp": timestamp,
        });
        Ok(Hello {
            envelope: SignedEnvelope {
                payload,
                from: from.clone(),
                signature,
            },
            from,
            to,
            ephemeral_hex,
            ephemeral: PublicKey::from(key),
        })
    }

    /// The host's answer to a hello whose signature the door accepted, and the channel.
    pub(super) fn accept(&self, key: &AgentKey) -> (Value, SealedChannel) {
        let secret = SecretKey::generate(&mut rand::rngs::OsRng);
        let payload = json!({
            "type": SEALED_OK,
            "to": self.from,
            "from": self.to,
            "ephemeral": hex::encode(secret.public_key().as_bytes()),
            "client_ephemeral": self.ephemeral_hex,
        });
        let signature = key.sign(canonical_json(&payload).as_bytes());
        let mut reply = payload;
        reply["signature"] = json!(hex::encode(signature));
        let channel = SealedChannel {
            sealer: SalsaBox::new(&self.ephemeral, &secret),
            sent: 0,
            received: 0,
        };
        (reply, channel)
    }
}

/// The host's half of a sealed socket: one box, a counter each way.
pub(super) struct SealedChannel {
    sealer: SalsaBox,
    sent: u64,
    received: u64,
}

impl SealedChannel {
    /// The SEALED frame carrying `message` (JSON text) to the client.
    pub(super) fn seal(&mut self, message: &str) -> String {
        self.sent += 1;
        let nonce = nonce(HOST_TO_CLIENT, self.sent);
        // Encryption with a valid key cannot fail; an empty box would only make the client
        // drop the socket, never leak.
        let sealed = self
            .sealer
            .encrypt(GenericArray::from_slice(&nonce), message.as_bytes())
            .unwrap_or_default();
        json!({
            "type": SEALED,
            "n": self.sent,
            "c": base64::engine::general_purpose::STANDARD.encode(sealed),
        })
        .to_string()
    }

    /// The JSON a SEALED frame from the client carries. A replayed or reordered counter, a
    /// box that does not open or what is inside not being JSON all end the connection.
    pub(super) fn open(&mut self, frame: &Map<String, Value>) -> Result<Value, SealError> {
        if frame.get("type").and_then(Value::as_str) != Some(SEALED) {
            return Err(SealError("expected a SEALED frame"));
        }
        let counter = match frame.get("n") {
            Some(Value::Number(n)) => n.as_u64(),
            _ => None,
        }
        .filter(|&n| n > self.received)
        .ok_or(SealError("sealed frame out of order"))?;
        let sealed = frame
            .get("c")
            .and_then(Value::as_str)
            .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
            .ok_or(SealError("sealed frame does not open"))?;
        let clear = self
            .sealer
            .decrypt(
                GenericArray::from_slice(&nonce(CLIENT_TO_HOST, counter)),
                sealed.as_slice(),
            )
            .map_err(|_| SealError("sealed frame does not open"))?;
        self.received = counter;
        serde_json::from_slice(&clear).map_err(|_| SealError("sealed frame is not JSON"))
    }
}

/// The direction's 3-byte tag, then the counter as 21 big-endian bytes.
fn nonce(tag: &[u8; 3], counter: u64) -> [u8; NONCE_BYTES] {
    let mut nonce = [0u8; NONCE_BYTES];
    nonce[..3].copy_from_slice(tag);
    nonce[NONCE_BYTES - 8..].copy_from_slice(&counter.to_be_bytes());
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys and a box made by PyNaCl 1.6.2 (`nacl.public.Box`), the library ConnectOnion's
    /// `sealed.py` uses: client secret 0x11…, host secret 0x22…, message `{"type":"PING"}`
    /// sealed client → host with counter 1 (`box.encrypt(msg, b"c2h" + (1).to_bytes(21,
    /// "big")).ciphertext`).
    const CLIENT_SECRET: [u8; 32] = [0x11; 32];
    const HOST_SECRET: [u8; 32] = [0x22; 32];
    const PYNACL_C2H_1: &str = include_str!("seal_vector.txt");

    fn channel() -> SealedChannel {
        let client_public = SecretKey::from(CLIENT_SECRET).public_key();
        SealedChannel {
            sealer: SalsaBox::new(&client_public, &SecretKey::from(HOST_SECRET)),
            sent: 0,
            received: 0,
        }
    }

    fn frame(n: u64, c: &str) -> Map<String, Value> {
        let Value::Object(map) = json!({"type": SEALED, "n": n, "c": c}) else {
            unreachable!()
        };
        map
    }

    #[test]
    fn opens_what_pynacl_sealed() {
        let mut channel = channel();
        let opened = channel.open(&frame(1, PYNACL_C2H_1.trim())).unwrap();
        assert_eq!(opened, json!({"type": "PING"}));
    }

    #[test]
    fn a_counter_that_does_not_go_up_is_refused() {
        let mut channel = channel();
        channel.open(&frame(1, PYNACL_C2H_1.trim())).unwrap();
        let again = channel.open(&frame(1, PYNACL_C2H_1.trim()));
        assert_eq!(again.unwrap_err().to_string(), "sealed frame out of order");
        let zero = channel.open(&frame(0, PYNACL_C2H_1.trim()));
        assert_eq!(zero.unwrap_err().to_string(), "sealed frame out of order");
    }

    #[test]
    fn a_box_under_another_nonce_or_garbage_does_not_open() {
        let mut channel = channel();
        // The right box under counter 2 uses another nonce.
        let moved = channel.open(&frame(2, PYNACL_C2H_1.trim()));
        assert_eq!(moved.unwrap_err().to_string(), "sealed frame does not open");
        let garbage = channel.open(&frame(3, "bm90IGEgYm94"));
        assert_eq!(
            garbage.unwrap_err().to_string(),
            "sealed frame does not open"
        );
        let not_base64 = channel.open(&frame(4, "%%%"));
        assert_eq!(
            not_base64.unwrap_err().to_string(),
            "sealed frame does not open"
        );
        // A refused frame does not move the counter: 1 still opens.
        assert!(channel.open(&frame(1, PYNACL_C2H_1.trim())).is_ok());
    }

    #[test]
    fn host_frames_count_from_one_under_the_h2c_tag() {
        let mut host = channel();
        let host_public = SecretKey::from(HOST_SECRET).public_key();
        let client = SalsaBox::new(&host_public, &SecretKey::from(CLIENT_SECRET));
        for n in 1..=3u64 {
            let sealed: Value = serde_json::from_str(&host.seal(r#"{"type":"PONG"}"#)).unwrap();
            assert_eq!(sealed["n"], n);
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(sealed["c"].as_str().unwrap())
                .unwrap();
            let clear = client
                .decrypt(
                    GenericArray::from_slice(&nonce(HOST_TO_CLIENT, n)),
                    bytes.as_slice(),
                )
                .unwrap();
            assert_eq!(clear, br#"{"type":"PONG"}"#);
        }
    }

    #[test]
    fn a_hello_missing_a_field_or_with_a_bad_key_is_refused() {
        let Value::Object(mut hello) = json!({
            "type": SEAL, "to": "0x00", "from": "0x01", "ephemeral": "ab",
            "timestamp": 1, "signature": "00",
        }) else {
            unreachable!()
        };
        let bad_key = Hello::parse(&hello).err().unwrap();
        assert_eq!(bad_key.0, "SEAL ephemeral is not a 32-byte hex key");
        hello.insert("timestamp".into(), json!(true));
        assert_eq!(
            Hello::parse(&hello).err().unwrap().0,
            "SEAL timestamp is not a number"
        );
        hello.remove("to");
        assert_eq!(Hello::parse(&hello).err().unwrap().0, "SEAL is missing to");
    }
}
