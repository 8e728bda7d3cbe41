//! Why a string or PeerId is not an address.
//!
//! Messages are meant to be shown to whoever typed or sent the address, so
//! each one says what was expected as well as what was wrong.

use thiserror::Error;

/// A string, PeerId or byte string that is not a usable address.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddressError {
    #[error("empty address: expected 0x followed by 64 hex digits, or a 12D3KooW… PeerId")]
    Empty,

    #[error(
        "wrong address length: expected 0x followed by 64 hex digits (66 characters), \
         got {found} characters"
    )]
    WrongLength { found: usize },

    #[error("invalid hex digit {character:?} at position {position} of the address")]
    InvalidHexDigit { character: char, position: usize },

    #[error("address prefix must be a lowercase \"0x\", not \"0X\"")]
    UppercasePrefix,

    #[error("address is missing its \"0x\" prefix: write 0x followed by the 64 hex digits")]
    MissingPrefix,

    #[error(
        "not an address: expected 0x followed by 64 hex digits, or a 12D3KooW… PeerId \
         ({reason})"
    )]
    InvalidPeerId { reason: String },

    #[error(
        "PeerId does not embed its public key (a hashed RSA-style PeerId); \
         only ed25519 PeerIds (12D3KooW…) are addresses"
    )]
    PeerIdWithoutInlineKey,

    #[error("PeerId is not an ed25519 key; only ed25519 PeerIds (12D3KooW…) are addresses")]
    NotEd25519PeerId,

    #[error("address is not a valid ed25519 public key")]
    InvalidPublicKey,
}
