//! [`Address`]: who someone is on the network (WIRE.md 1.1).
//!
//! An address is the raw 32-byte ed25519 public key. It has two spellings that
//! name the same key: `0x` + 64 hex digits (what we print) and the libp2p
//! PeerId `12D3KooW…` (the identity multihash of the protobuf-encoded key).
//! Parsing lives in `address/parse.rs` and the error type in
//! `address/error.rs`, so this file is only about the value and its
//! conversions.

mod error;
mod parse;

pub use error::AddressError;

use std::fmt;

use ed25519_dalek::VerifyingKey;
use libp2p_identity::PeerId;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Multihash code for "identity": the digest *is* the data, which is how
/// libp2p embeds keys of up to 42 bytes directly in a PeerId.
const MULTIHASH_IDENTITY_CODE: u64 = 0;

/// Protobuf prefix of an ed25519 `PublicKey` message in libp2p:
/// field 1 (`Type`) = 1 (Ed25519), field 2 (`Data`) = 32 bytes follow.
const PROTOBUF_ED25519_PREFIX: [u8; 4] = [0x08, 0x01, 0x12, 0x20];

/// The raw 32-byte ed25519 public key of an agent or caller.
///
/// Holding the bytes (not a decoded curve point) keeps the type `Copy`, cheap
/// to hash and able to represent any address a client might send us; whether
/// the bytes are a usable key is only asked when verifying
/// ([`Address::verifying_key`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address([u8; 32]);

/// The protocol name of the relays' Kademlia DHT, their own so it never mixes with the public
/// IPFS DHT; relays serve it and agents' nodes query it as clients.
pub const DHT_PROTOCOL: &str = "/agenthost/kad/1.0.0";

impl Address {
    /// The key under which relays announce in their DHT that they list this agent: the
    /// address's text (`0x…`), so any node can look an agent up knowing only its address.
    pub fn dht_key(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// Wraps raw public-key bytes. No validation: see [`Address::verifying_key`].
    pub const fn from_bytes(bytes: [u8; 32]) -> Address {
        Address(bytes)
    }

    /// The raw public-key bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The address of an ed25519 public key.
    pub fn from_verifying_key(key: &VerifyingKey) -> Address {
        Address(key.to_bytes())
    }

    /// Decodes the bytes as an ed25519 public key, ready to verify signatures.
    ///
    /// Fails when the bytes are not a point on the curve, which no key pair
    /// can produce: such an address can never have signed anything.
    pub fn verifying_key(&self) -> Result<VerifyingKey, AddressError> {
        VerifyingKey::from_bytes(&self.0).map_err(|_| AddressError::InvalidPublicKey)
    }

    /// The libp2p PeerId naming the same key.
    ///
    /// Built from the bytes directly (rather than via a decoded libp2p public
    /// key) so that it is infallible and byte-for-byte what
    /// `PeerId::from_public_key` produces for a valid key.
    pub fn to_peer_id(&self) -> PeerId {
        let mut multihash = Vec::with_capacity(2 + PROTOBUF_ED25519_PREFIX.len() + 32);
        // Multihash header: code 0 (identity), digest length 36; both fit in
        // one varint byte.
        multihash.push(MULTIHASH_IDENTITY_CODE as u8);
        multihash.push((PROTOBUF_ED25519_PREFIX.len() + 32) as u8);
        multihash.extend_from_slice(&PROTOBUF_ED25519_PREFIX);
        multihash.extend_from_slice(&self.0);
        // The only ways `from_bytes` can fail are a malformed multihash or a
        // code other than identity/sha256 or an identity digest over 42
        // bytes; none applies to the fixed 38-byte layout above, whatever the
        // 32 key bytes are, so this cannot panic on any input.
        PeerId::from_bytes(&multihash)
            .expect("an identity multihash of a 36-byte ed25519 key is always a valid PeerId")
    }

    /// The address embedded in a PeerId.
    ///
    /// Only ed25519 PeerIds (identity multihash, `12D3KooW…`) embed their key;
    /// sha256-hashed PeerIds (RSA, `Qm…`) and other key types are rejected.
    pub fn from_peer_id(peer_id: &PeerId) -> Result<Address, AddressError> {
        let multihash = peer_id.as_ref();
        if multihash.code() != MULTIHASH_IDENTITY_CODE {
            return Err(AddressError::PeerIdWithoutInlineKey);
        }
        let public_key = libp2p_identity::PublicKey::try_decode_protobuf(multihash.digest())
            .map_err(|_| AddressError::NotEd25519PeerId)?;
        let ed25519 = public_key
            .try_into_ed25519()
            .map_err(|_| AddressError::NotEd25519PeerId)?;
        Ok(Address(ed25519.to_bytes()))
    }

    /// Parses either spelling: `0x` + 64 hex digits (any case) or a
    /// `12D3KooW…` PeerId. Same as [`str::parse`].
    pub fn parse(text: &str) -> Result<Address, AddressError> {
        parse::parse_address(text)
    }

    /// A short form for logs, e.g. `0xd75a…511a`. Not parseable.
    pub fn short(&self) -> String {
        let hex = hex::encode(self.0);
        format!("0x{}…{}", &hex[..4], &hex[hex.len() - 4..])
    }
}

/// `0x` + 64 lowercase hex digits: the form every API prints first.
impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

/// Same as Display: a byte-array dump would be unreadable in logs.
impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl From<VerifyingKey> for Address {
    fn from(key: VerifyingKey) -> Address {
        Address::from_verifying_key(&key)
    }
}

impl TryFrom<&PeerId> for Address {
    type Error = AddressError;

    fn try_from(peer_id: &PeerId) -> Result<Address, AddressError> {
        Address::from_peer_id(peer_id)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Accepts either spelling, like every API that takes an address.
impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Address, D::Error> {
        let text = String::deserialize(deserializer)?;
        Address::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_1: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const ADDRESS_1: &str = "0xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const PEER_ID_1: &str = "12D3KooWQK1wnefoLrcVHbbnf5tLzbopUd3K3bFAoJpA7YJgL5pV";

    fn address_1() -> Address {
        Address::parse(ADDRESS_1).expect("vector address parses")
    }

    #[test]
    fn display_is_lowercase_0x_hex() {
        assert_eq!(address_1().to_string(), ADDRESS_1);
    }

    #[test]
    fn short_form_keeps_first_and_last_four_digits() {
        assert_eq!(address_1().short(), "0xd75a…511a");
    }

    #[test]
    fn debug_shows_the_address() {
        assert_eq!(
            format!("{:?}", address_1()),
            format!("Address({ADDRESS_1})")
        );
    }

    #[test]
    fn verifying_key_round_trips() {
        let seed: [u8; 32] = hex::decode(SEED_1).unwrap().try_into().unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        let address = Address::from_verifying_key(&key);
        assert_eq!(address, address_1());
        assert_eq!(address.verifying_key().unwrap(), key);
        assert_eq!(Address::from(key), address);
    }

    #[test]
    fn bytes_that_are_not_a_curve_point_have_no_verifying_key() {
        // y = 2 is not the y-coordinate of any point on edwards25519.
        let mut bytes = [0u8; 32];
        bytes[0] = 2;
        let address = Address::from_bytes(bytes);
        assert_eq!(address.verifying_key(), Err(AddressError::InvalidPublicKey));
        // It still has a PeerId spelling; converting back needs a real key.
        let peer_id = address.to_peer_id();
        assert!(peer_id.to_base58().starts_with("12D3KooW"));
    }

    #[test]
    fn peer_id_matches_libp2p_encoding() {
        let address = address_1();
        let libp2p_key =
            libp2p_identity::ed25519::PublicKey::try_from_bytes(address.as_bytes()).unwrap();
        let expected = PeerId::from_public_key(&libp2p_identity::PublicKey::from(libp2p_key));
        assert_eq!(address.to_peer_id(), expected);
        assert_eq!(address.to_peer_id().to_base58(), PEER_ID_1);
    }

    #[test]
    fn from_peer_id_round_trips() {
        let peer_id: PeerId = PEER_ID_1.parse().unwrap();
        assert_eq!(Address::from_peer_id(&peer_id).unwrap(), address_1());
        assert_eq!(Address::try_from(&peer_id).unwrap(), address_1());
    }

    #[test]
    fn sha256_peer_id_is_rejected() {
        // An RSA PeerId: too big to inline, so it is a sha256 multihash.
        let peer_id: PeerId = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
            .parse()
            .unwrap();
        assert_eq!(
            Address::from_peer_id(&peer_id),
            Err(AddressError::PeerIdWithoutInlineKey)
        );
    }

    #[test]
    fn secp256k1_peer_id_is_rejected() {
        // Identity multihash of a protobuf secp256k1 key (type 2, 33 bytes).
        let mut bytes = vec![0x00, 0x25, 0x08, 0x02, 0x12, 0x21, 0x02];
        bytes.extend_from_slice(&[7u8; 32]);
        let peer_id = PeerId::from_bytes(&bytes).unwrap();
        assert_eq!(
            Address::from_peer_id(&peer_id),
            Err(AddressError::NotEd25519PeerId)
        );
    }

    #[test]
    fn serde_writes_0x_and_reads_both_forms() {
        let address = address_1();
        let json = serde_json::to_string(&address).unwrap();
        assert_eq!(json, format!("\"{ADDRESS_1}\""));
        let from_hex: Address = serde_json::from_str(&json).unwrap();
        let from_peer: Address = serde_json::from_str(&format!("\"{PEER_ID_1}\"")).unwrap();
        assert_eq!(from_hex, address);
        assert_eq!(from_peer, address);
        let bad = serde_json::from_str::<Address>("\"0x1234\"").unwrap_err();
        assert!(bad.to_string().contains("66 characters"), "{bad}");
    }
}
