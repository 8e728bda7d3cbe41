//! Reading an address from text: `0x` + 64 hex digits or a `12D3KooW…` PeerId.
//!
//! Input comes from HTTP headers, JSON bodies and the command line, so every
//! rejection names the specific problem instead of a generic "invalid".

use std::str::FromStr;

use libp2p_identity::PeerId;

use super::{Address, AddressError};

/// `0x` plus 64 hex digits.
const HEX_ADDRESS_LEN: usize = 66;

/// Parses either spelling of an address (see [`Address::parse`]).
pub(super) fn parse_address(text: &str) -> Result<Address, AddressError> {
    if text.is_empty() {
        return Err(AddressError::Empty);
    }
    if let Some(digits) = text.strip_prefix("0x") {
        return parse_hex_digits(text, digits);
    }
    if text.starts_with("0X") {
        return Err(AddressError::UppercasePrefix);
    }
    // 64 hex digits are also valid base58, so without this check a forgotten
    // prefix would surface as a confusing multihash error.
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AddressError::MissingPrefix);
    }
    let peer_id = PeerId::from_str(text).map_err(|e| AddressError::InvalidPeerId {
        reason: e.to_string(),
    })?;
    Address::from_peer_id(&peer_id)
}

/// `whole` is the full text (for lengths and positions the user can see),
/// `digits` the part after `0x`.
fn parse_hex_digits(whole: &str, digits: &str) -> Result<Address, AddressError> {
    if whole.len() != HEX_ADDRESS_LEN {
        return Err(AddressError::WrongLength {
            found: whole.chars().count(),
        });
    }
    // Check digit by digit first so the error can point at the culprit;
    // `hex::decode` only reports byte offsets.
    if let Some((index, character)) = digits
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_hexdigit())
    {
        return Err(AddressError::InvalidHexDigit {
            character,
            position: index + 2,
        });
    }
    let mut bytes = [0u8; 32];
    // Cannot fail after the checks above (64 ASCII hex digits); mapped to the
    // length error rather than unwrapped so no input can panic.
    hex::decode_to_slice(digits, &mut bytes).map_err(|_| AddressError::WrongLength {
        found: whole.chars().count(),
    })?;
    Ok(Address::from_bytes(bytes))
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Address, AddressError> {
        parse_address(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDRESS_1: &str = "0xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    #[test]
    fn accepts_uppercase_and_mixed_case_hex() {
        let upper = format!("0x{}", ADDRESS_1[2..].to_uppercase());
        let lower: Address = ADDRESS_1.parse().unwrap();
        assert_eq!(upper.parse::<Address>().unwrap(), lower);
        let mixed = "0xD75a980182B10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511A";
        assert_eq!(mixed.parse::<Address>().unwrap(), lower);
    }

    #[test]
    fn rejects_empty() {
        assert_eq!(Address::parse(""), Err(AddressError::Empty));
    }

    #[test]
    fn rejects_wrong_lengths() {
        assert_eq!(
            Address::parse(&ADDRESS_1[..65]),
            Err(AddressError::WrongLength { found: 65 })
        );
        assert_eq!(
            Address::parse(&format!("{ADDRESS_1}0")),
            Err(AddressError::WrongLength { found: 67 })
        );
        assert_eq!(
            Address::parse("0x"),
            Err(AddressError::WrongLength { found: 2 })
        );
        let message = Address::parse("0x12").unwrap_err().to_string();
        assert!(message.contains("66 characters") && message.contains("got 4"));
    }

    #[test]
    fn rejects_bad_hex_naming_the_digit() {
        let bad = format!("0x{}g", &ADDRESS_1[2..65]);
        assert_eq!(
            Address::parse(&bad),
            Err(AddressError::InvalidHexDigit {
                character: 'g',
                position: 65
            })
        );
    }

    #[test]
    fn rejects_multibyte_characters_without_panicking() {
        // 66 bytes, but 'é' is two bytes: the length check counts bytes and
        // the digit check catches the character.
        let bad = format!("0x{}é", &ADDRESS_1[2..64]);
        assert_eq!(bad.len(), 66);
        assert_eq!(
            Address::parse(&bad),
            Err(AddressError::InvalidHexDigit {
                character: 'é',
                position: 64
            })
        );
        assert!(Address::parse("0x😀").is_err());
        assert!(Address::parse("😀").is_err());
    }

    #[test]
    fn rejects_missing_or_uppercase_prefix() {
        assert_eq!(
            Address::parse(&ADDRESS_1[2..]),
            Err(AddressError::MissingPrefix)
        );
        assert_eq!(
            Address::parse(&format!("0X{}", &ADDRESS_1[2..])),
            Err(AddressError::UppercasePrefix)
        );
    }

    #[test]
    fn rejects_garbage_as_not_an_address() {
        let error = Address::parse("hello world").unwrap_err();
        assert!(matches!(error, AddressError::InvalidPeerId { .. }));
        assert!(error.to_string().contains("12D3KooW"), "{error}");
    }

    #[test]
    fn rejects_truncated_peer_id() {
        let error =
            Address::parse("12D3KooWQK1wnefoLrcVHbbnf5tLzbopUd3K3bFAoJpA7YJgL5p").unwrap_err();
        assert!(
            matches!(error, AddressError::InvalidPeerId { .. }),
            "{error}"
        );
    }
}
