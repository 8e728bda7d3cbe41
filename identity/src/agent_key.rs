//! [`AgentKey`]: the agent's private ed25519 key (WIRE.md 1.1, 1.2).
//!
//! One key is both the agent's signing identity (its `0x` address) and its
//! libp2p identity (its PeerId), so the two can never drift apart.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey};
use libp2p_identity::{Keypair, PeerId};
use rand::rngs::OsRng;

use crate::Address;

/// An ed25519 private key, stored as its 32-byte seed.
///
/// `Debug` prints only the address: keys end up in structs that end up in
/// logs, and the secret must never follow them there. The underlying
/// `SigningKey` zeroizes its memory on drop.
#[derive(Clone)]
pub struct AgentKey {
    signing_key: SigningKey,
}

impl AgentKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> AgentKey {
        AgentKey {
            signing_key: SigningKey::generate(&mut OsRng),
        }
    }

    /// The key with this 32-byte seed (the format of `agent.key`).
    pub fn from_seed(seed: [u8; 32]) -> AgentKey {
        AgentKey {
            signing_key: SigningKey::from_bytes(&seed),
        }
    }

    /// The 32-byte seed: what `agent.key` stores.
    pub fn seed(&self) -> [u8; 32] {
        self.signing_key.to_bytes()
    }

    /// The public half, as an address.
    pub fn address(&self) -> Address {
        Address::from_verifying_key(&self.signing_key.verifying_key())
    }

    /// The libp2p PeerId of the same key.
    pub fn peer_id(&self) -> PeerId {
        self.address().to_peer_id()
    }

    /// The same key as a libp2p keypair, so the swarm's PeerId is
    /// [`AgentKey::peer_id`].
    pub fn to_libp2p_keypair(&self) -> Keypair {
        // libp2p takes the seed as a byte slice and can only reject a wrong
        // length; ours is a `[u8; 32]`, so this cannot panic on any input.
        Keypair::ed25519_from_bytes(self.seed()).expect("libp2p accepts any 32-byte ed25519 seed")
    }

    /// Signs `message` (RFC 8032 ed25519, deterministic).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing_key.sign(message).to_bytes()
    }

    /// The underlying ed25519-dalek key, for callers that need its API.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }
}

impl fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentKey")
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_1: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

    fn key_1() -> AgentKey {
        AgentKey::from_seed(hex::decode(SEED_1).unwrap().try_into().unwrap())
    }

    #[test]
    fn seed_round_trips() {
        assert_eq!(hex::encode(key_1().seed()), SEED_1);
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let debug = format!("{:?}", key_1());
        assert!(!debug.contains(SEED_1), "{debug}");
        assert!(!debug.contains(&SEED_1[..8]), "{debug}");
        assert!(debug.contains("0xd75a980182b10ab7"), "{debug}");
    }

    #[test]
    fn libp2p_keypair_has_the_same_peer_id() {
        let key = key_1();
        assert_eq!(key.to_libp2p_keypair().public().to_peer_id(), key.peer_id());
    }

    #[test]
    fn generated_keys_differ_and_sign_verifiably() {
        let a = AgentKey::generate();
        let b = AgentKey::generate();
        assert_ne!(a.seed(), b.seed());
        let signature = ed25519_dalek::Signature::from_bytes(&a.sign(b"hi"));
        a.address()
            .verifying_key()
            .unwrap()
            .verify_strict(b"hi", &signature)
            .unwrap();
    }

    #[test]
    fn rfc8032_test_1_signature() {
        // RFC 8032 section 7.1, TEST 1: empty message.
        let expected = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
                        5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
        assert_eq!(hex::encode(key_1().sign(b"")), expected);
    }
}
