//! Canonical JSON: the exact bytes a payload signature covers (WIRE.md 2.2).
//!
//! Signer and verifier each serialize the *parsed* payload, so both must agree
//! on one spelling. The reference is Python's
//! `json.dumps(payload, sort_keys=True, separators=(",", ":"))`, whose default
//! `ensure_ascii=True` escapes every non-ASCII character: [`canonical_json`].
//! JavaScript clients produce the same text with raw UTF-8 instead
//! ([`canonical_json_utf8`]), and verifiers accept either.
//!
//! Keys are sorted by Unicode code point at every level; Rust orders `String`s
//! by UTF-8 bytes, which is the same order. Sorting happens here rather than
//! relying on `serde_json::Map`, whose order depends on whether some crate in
//! the build enabled `preserve_order`.

mod python_float;

use serde_json::{Number, Value};

/// What to do with characters outside ASCII.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NonAscii {
    /// `\uXXXX`, surrogate pairs beyond the BMP, and DEL too: Python's
    /// `ensure_ascii=True`.
    Escape,
    /// Written as UTF-8: JavaScript's `JSON.stringify`.
    Raw,
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Canonical JSON with non-ASCII escaped: the form signatures are made over.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, NonAscii::Escape);
    out
}

/// Canonical JSON with non-ASCII left as UTF-8: what JavaScript clients sign.
pub fn canonical_json_utf8(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, NonAscii::Raw);
    out
}

// Recursion depth is bounded by the value's nesting, which serde_json's
// parser already limits (128 levels) for anything read off the network.
fn write_value(out: &mut String, value: &Value, mode: NonAscii) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => write_string(out, text, mode),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(out, item, mode);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(out, key, mode);
                out.push(':');
                write_value(out, item, mode);
            }
            out.push('}');
        }
    }
}

/// Integers as integers (`1700000000`, never `1.7e9`); floats as Python's
/// `repr` so a Python verifier computes the same bytes.
fn write_number(out: &mut String, number: &Number) {
    if let Some(integer) = number.as_i64() {
        out.push_str(&integer.to_string());
    } else if let Some(integer) = number.as_u64() {
        out.push_str(&integer.to_string());
    } else if let Some(float) = number.as_f64() {
        out.push_str(&python_float::python_float_repr(float));
    } else {
        // Only reachable with serde_json's arbitrary_precision: keep the
        // number exactly as it was written.
        out.push_str(&number.to_string());
    }
}

/// A JSON string literal, escaped exactly as Python's encoder does (and, for
/// `NonAscii::Raw`, as `JSON.stringify` does: the same rules minus the
/// non-ASCII and DEL escapes).
fn write_string(out: &mut String, text: &str, mode: NonAscii) {
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => push_u_escape(out, c as u16),
            c if mode == NonAscii::Escape && (c as u32) >= 0x7f => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    push_u_escape(out, *unit);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `\uXXXX` with lowercase hex, as Python writes it.
fn push_u_escape(out: &mut String, unit: u16) {
    out.push_str("\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX_DIGITS[usize::from((unit >> shift) & 0xf)] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_at_every_level_without_whitespace() {
        let value = json!({"b": 1, "a": {"z": [3, {"y": 1, "x": 2}], "c": null}, "A": true});
        assert_eq!(
            canonical_json(&value),
            r#"{"A":true,"a":{"c":null,"z":[3,{"x":2,"y":1}]},"b":1}"#
        );
    }

    #[test]
    fn sorts_keys_by_code_point() {
        let value = json!({"é": 1, "z": 2, "Z": 3, "_": 4, "😀": 5, "\u{ffff}": 6});
        assert_eq!(
            canonical_json_utf8(&value),
            "{\"Z\":3,\"_\":4,\"z\":2,\"é\":1,\"\u{ffff}\":6,\"😀\":5}"
        );
    }

    #[test]
    fn empty_containers_and_scalars() {
        assert_eq!(canonical_json(&json!({})), "{}");
        assert_eq!(canonical_json(&json!([])), "[]");
        assert_eq!(
            canonical_json(&json!([null, true, false, ""])),
            r#"[null,true,false,""]"#
        );
    }

    #[test]
    fn integers_stay_integers_and_floats_read_like_python() {
        let value = json!({"i": 1700000000, "n": -5, "u": u64::MAX, "f": 1700000000.5, "g": 1.0});
        assert_eq!(
            canonical_json(&value),
            r#"{"f":1700000000.5,"g":1.0,"i":1700000000,"n":-5,"u":18446744073709551615}"#
        );
        // Floats written as exponents or integers-with-fraction come back as
        // Python would print the parsed float.
        let parsed: Value = serde_json::from_str(r#"{"t":1e2,"s":-0.0,"r":2.50}"#).unwrap();
        assert_eq!(canonical_json(&parsed), r#"{"r":2.5,"s":-0.0,"t":100.0}"#);
    }

    #[test]
    fn escapes_non_ascii_with_lowercase_hex_and_surrogate_pairs() {
        let value = json!({"prompt": "你好 😀 é"});
        assert_eq!(
            canonical_json(&value),
            r#"{"prompt":"\u4f60\u597d \ud83d\ude00 \u00e9"}"#
        );
        assert_eq!(canonical_json_utf8(&value), r#"{"prompt":"你好 😀 é"}"#);
    }

    #[test]
    fn escapes_keys_too() {
        let value = json!({"ключ": "\n"});
        assert_eq!(
            canonical_json(&value),
            r#"{"\u043a\u043b\u044e\u0447":"\n"}"#
        );
    }

    #[test]
    fn control_characters_match_python() {
        // Python: json.dumps("\x00\x01\x08\t\n\x0b\x0c\r\x1f\x7f", ensure_ascii=True)
        let value = json!("\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f}\u{7f}");
        assert_eq!(
            canonical_json(&value),
            r#""\u0000\u0001\b\t\n\u000b\f\r\u001f\u007f""#
        );
        // JSON.stringify leaves DEL alone.
        assert_eq!(
            canonical_json_utf8(&value),
            "\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\u{7f}\""
        );
    }

    #[test]
    fn quotes_and_backslashes_escaped_slash_not() {
        let value = json!({"path": "/a\\b\"c</script>"});
        assert_eq!(canonical_json(&value), r#"{"path":"/a\\b\"c</script>"}"#);
        assert_eq!(
            canonical_json_utf8(&value),
            r#"{"path":"/a\\b\"c</script>"}"#
        );
    }

    #[test]
    fn line_and_paragraph_separators_are_escaped_only_in_ascii_form() {
        let value = json!("\u{2028}\u{2029}");
        assert_eq!(canonical_json(&value), r#""\u2028\u2029""#);
        assert_eq!(canonical_json_utf8(&value), "\"\u{2028}\u{2029}\"");
    }
}
