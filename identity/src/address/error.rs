//! Why a string or PeerId is not an address.
//!
//! Messages are meant to be shown to whoever typed or sent the address, so
//! each one says what was expected as well as what was wrong.

use thiserror::Error;

/// A string, PeerId or byte string that is not a usable address.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddressError {
    /// The text is empty.
    #[error("empty address: expected 0x followed by 64 hex digits, or a 12D3KooW… PeerId")]
    Empty,

    /// Starts with `0x` but is not 66 characters long.
    #[error(
        "wrong address length: expected 0x followed by 64 hex digits (66 characters), \
         got {found} characters"
    )]
    WrongLength {
        /// Length of the whole text in characters, `0x` included.
        found: usize,
    },

    /// A character after `0x` is not a hex digit.
    #[error("invalid hex digit {character:?} at position {position} of the address")]
    InvalidHexDigit {
        /// The offending character.
        character: char,
        /// Its 0-based character index in the whole text, `0x` included.
        position: usize,
    },

    /// Starts with an uppercase `0X`.
    #[error("address prefix must be a lowercase \"0x\", not \"0X\"")]
    UppercasePrefix,

    /// 64 hex digits without the `0x` prefix.
    #[error("address is missing its \"0x\" prefix: write 0x followed by the 64 hex digits")]
    MissingPrefix,

    /// Neither `0x` hex nor a PeerId libp2p can parse.
    #[error(
        "not an address: expected 0x followed by 64 hex digits, or a 12D3KooW… PeerId \
         ({reason})"
    )]
    InvalidPeerId {
        /// Why libp2p could not parse the text as a PeerId.
        reason: String,
    },

    /// A hashed PeerId (RSA-style, `Qm…`), which does not embed its public key.
    #[error(
        "PeerId does not embed its public key (a hashed RSA-style PeerId); \
         only ed25519 PeerIds (12D3KooW…) are addresses"
    )]
    PeerIdWithoutInlineKey,

    /// The PeerId embeds a key that does not decode as an ed25519 key.
    #[error("PeerId is not an ed25519 key; only ed25519 PeerIds (12D3KooW…) are addresses")]
    NotEd25519PeerId,

    /// The 32 bytes are not a valid ed25519 public key (not a curve point).
    #[error("address is not a valid ed25519 public key")]
    InvalidPublicKey,
}
