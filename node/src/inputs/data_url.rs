//! Data URLs (RFC 2397): `data:[<mediatype>][;<param>=<value>]*[;base64],<data>`.
//!
//! Accepted forms:
//! - the `data:` scheme in any letter case, surrounding ASCII whitespace ignored;
//! - a media type `type/subtype` (RFC 7230 token characters, lowercased in [`DataUrl::mime`]);
//!   an empty one means `text/plain` as RFC 2397 says; parameters such as `;charset=utf-8` are
//!   accepted and dropped; `;base64`, when present, must be the last parameter;
//! - base64 payloads in the standard alphabet (`+/`), padding optional, ASCII whitespace
//!   (line breaks some encoders insert) ignored. The URL-safe alphabet is refused;
//! - non-base64 payloads are supported as RFC 2397 defines them: percent-encoded, each `%XX`
//!   one byte and every other character its own UTF-8 bytes; a bad `%` escape is refused.
//!
//! The decoded size is always computed from the payload's length before anything is decoded
//! (see [`Parts::decoded_len`]), so an oversized payload costs one byte scan, no allocation.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use crate::inputs::InputError;

/// A decoded data URL: its media type (`type/subtype`, lowercase, parameters dropped) and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataUrl {
    /// The media type, `type/subtype` in lowercase, parameters dropped (`text/plain` when empty).
    pub mime: String,
    /// The decoded payload.
    pub bytes: Vec<u8>,
}

/// Longest header (between `data:` and the comma) accepted.
const MAX_HEADER_LEN: usize = 1024;

/// Standard alphabet, padding optional, non-zero trailing bits tolerated (as Python's
/// `b64decode` and browsers do).
const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Parses and decodes a data URL whose decoded size must not exceed `max_bytes`.
///
/// The header is parsed and the decoded size computed from the payload length first; a payload
/// that would decode to more than `max_bytes` is refused with [`InputError::FileTooLarge`]
/// (named `data URL`) without being decoded. Malformed URLs give
/// [`InputError::MalformedDataUrl`]. See the module documentation for the accepted forms.
pub fn parse_data_url(url: &str, max_bytes: usize) -> Result<DataUrl, InputError> {
    let what = "data URL";
    let parts = split(url, what)?;
    let size = parts.decoded_len(what)?;
    if size > max_bytes {
        return Err(InputError::FileTooLarge {
            name: what.to_owned(),
            size,
            max: max_bytes,
        });
    }
    let mime = parts.mime.clone();
    let bytes = parts.decode(what)?;
    Ok(DataUrl { mime, bytes })
}

/// Parses `url`'s header and checks its decoded size against `max_bytes` without decoding;
/// returns the decoded size. `what` labels the item in errors.
pub(crate) fn check_size(url: &str, max_bytes: usize, what: &str) -> Result<usize, InputError> {
    let size = split(url, what)?.decoded_len(what)?;
    if size > max_bytes {
        return Err(InputError::FileTooLarge {
            name: what.to_owned(),
            size,
            max: max_bytes,
        });
    }
    Ok(size)
}

/// A data URL split into its header fields and its still-encoded payload.
#[derive(Debug)]
pub(crate) struct Parts<'a> {
    /// `type/subtype`, lowercase.
    pub mime: String,
    /// Whether the payload is base64 (else percent-encoded).
    pub base64: bool,
    /// The encoded payload (after the first comma).
    pub payload: &'a str,
}

fn malformed(what: &str, reason: impl Into<String>) -> InputError {
    InputError::MalformedDataUrl {
        what: what.to_owned(),
        reason: reason.into(),
    }
}

/// Splits a data URL into [`Parts`] without looking at the payload. `what` labels it in errors.
pub(crate) fn split<'a>(url: &'a str, what: &str) -> Result<Parts<'a>, InputError> {
    let url = url.trim_matches(|c: char| c.is_ascii_whitespace());
    let rest = match url.get(..5) {
        Some(scheme) if scheme.eq_ignore_ascii_case("data:") => &url[5..],
        _ => return Err(malformed(what, "it does not start with \"data:\"")),
    };
    let Some(comma) = rest.find(',') else {
        return Err(malformed(
            what,
            "there is no ',' between the header and the data",
        ));
    };
    let header = &rest[..comma];
    let payload = &rest[comma + 1..];
    if header.len() > MAX_HEADER_LEN {
        return Err(malformed(
            what,
            format!("its header is longer than {MAX_HEADER_LEN} bytes"),
        ));
    }

    let mut fields = header.split(';');
    let mime_field = fields.next().unwrap_or("").trim();
    let params: Vec<&str> = fields.map(str::trim).collect();
    let mut base64 = false;
    for (i, param) in params.iter().enumerate() {
        if param.eq_ignore_ascii_case("base64") {
            if i + 1 != params.len() {
                return Err(malformed(what, "\";base64\" must be the last parameter"));
            }
            base64 = true;
        }
    }

    let mime = if mime_field.is_empty() {
        "text/plain".to_owned()
    } else {
        let valid = match mime_field.split_once('/') {
            Some((ty, sub)) => is_token(ty) && is_token(sub),
            None => false,
        };
        if !valid {
            return Err(malformed(
                what,
                format!(
                    "bad media type {:?} (expected type/subtype)",
                    crate::inputs::shorten(mime_field)
                ),
            ));
        }
        mime_field.to_ascii_lowercase()
    };
    Ok(Parts {
        mime,
        base64,
        payload,
    })
}

/// RFC 7230 `token`: one or more `tchar`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Parts<'_> {
    /// The exact number of bytes the payload decodes to (if it decodes at all), computed from
    /// its length without decoding:
    /// - base64: `n` = characters other than ASCII whitespace, not counting up to two trailing
    ///   `=`; size = `3 * (n / 4) + [0, -, 1, 2][n % 4]` (`n % 4 == 1` is malformed; more than
    ///   two trailing `=` is malformed, so padding cannot hide a payload's length);
    /// - percent-encoded: payload bytes − 2 × the number of `%`.
    pub(crate) fn decoded_len(&self, what: &str) -> Result<usize, InputError> {
        if !self.base64 {
            let escapes = self.payload.bytes().filter(|&b| b == b'%').count();
            return Ok(self.payload.len().saturating_sub(2 * escapes));
        }
        let data = self
            .payload
            .trim_end_matches(|c: char| c == '=' || c.is_ascii_whitespace());
        let padding = self.payload[data.len()..]
            .bytes()
            .filter(|&b| b == b'=')
            .count();
        if padding > 2 {
            return Err(malformed(what, "bad base64: too much '=' padding"));
        }
        let n = data.bytes().filter(|b| !b.is_ascii_whitespace()).count();
        let tail = match n % 4 {
            0 => 0,
            2 => 1,
            3 => 2,
            _ => {
                return Err(malformed(
                    what,
                    "bad base64: its length is impossible (one character too many or too few)",
                ))
            }
        };
        Ok(n / 4 * 3 + tail)
    }

    /// Decodes the payload. Call [`decoded_len`](Self::decoded_len) (and check it) first.
    pub(crate) fn decode(&self, what: &str) -> Result<Vec<u8>, InputError> {
        if self.base64 {
            let result = if self.payload.bytes().any(|b| b.is_ascii_whitespace()) {
                let compact: Vec<u8> = self
                    .payload
                    .bytes()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect();
                LENIENT_STANDARD.decode(compact)
            } else {
                LENIENT_STANDARD.decode(self.payload)
            };
            result.map_err(|e| malformed(what, format!("bad base64: {e}")))
        } else {
            percent_decode(self.payload.as_bytes()).ok_or_else(|| {
                malformed(
                    what,
                    "bad percent-encoding ('%' must be followed by two hex digits)",
                )
            })
        }
    }
}

/// `%XX` → byte, everything else as is; `None` on a bad escape.
fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            let hi = hex(*input.get(i + 1)?)?;
            let lo = hex(*input.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    Some(out)
}
