//! Floats spelled the way Python's `repr(float)` (and so `json.dumps`) does.
//!
//! ConnectOnion's Python verifier re-serializes payloads with `json.dumps`,
//! so a float like a fractional timestamp must come out with the same digits
//! or the signature will not match. Both Rust and Python pick the shortest
//! digit string that round-trips; they differ only in layout, which is
//! Python's rule: positional notation when the decimal exponent is in
//! [-5, 16), scientific (`1e+16`, `1.5e-07`) otherwise, always with a `.0`
//! or a fraction so the value reads back as a float.

/// Python's `repr(value)`; `NaN`/`Infinity` as `json.dumps` writes them
/// (serde_json values never hold those, but the function stays total).
pub(crate) fn python_float_repr(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .to_owned();
    }
    let shortest = shortest_scientific(value);
    match split_scientific(&shortest) {
        Some((negative, digits, exponent)) => {
            let sign = if negative { "-" } else { "" };
            format!("{sign}{}", layout(&digits, exponent))
        }
        // Unreachable for finite floats; serde_json's spelling is a sane
        // fallback rather than a panic.
        None => serde_json::Number::from_f64(value)
            .map(|n| n.to_string())
            .unwrap_or(shortest),
    }
}

/// The shortest round-trip digits in Rust's `{:e}` layout, e.g.
/// "-1.7000000005e9", choosing among equally short candidates the one
/// nearest the exact value, ties to even, as Python does.
///
/// Rust's `{:e}` finds the shortest length but breaks exact ties upwards
/// (1418893632872039.25 → "…039.3", Python "…039.2"). Rust's fixed-precision
/// formatting rounds the exact value half-to-even, so re-rendering at the same
/// length gives Python's digits; it is kept only if it still round-trips,
/// which can fail only at a power of two where the gap below is narrower.
fn shortest_scientific(value: f64) -> String {
    let shortest = format!("{value:e}");
    let digit_count = shortest
        .split('e')
        .next()
        .map(|mantissa| mantissa.bytes().filter(u8::is_ascii_digit).count())
        .unwrap_or(0);
    if digit_count == 0 {
        return shortest;
    }
    let nearest = format!("{value:.*e}", digit_count - 1);
    if nearest.parse::<f64>() == Ok(value) {
        nearest
    } else {
        shortest
    }
}

/// Splits Rust's `{:e}` output into sign, significant digits (no point) and
/// the exponent of the first digit.
fn split_scientific(text: &str) -> Option<(bool, String, i32)> {
    let (mantissa, exponent) = text.split_once('e')?;
    let exponent: i32 = exponent.parse().ok()?;
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((negative, digits, exponent))
}

/// Lays out `0.d1d2d3… × 10^(exponent+1)` the way Python's repr does.
fn layout(digits: &str, exponent: i32) -> String {
    // Python's `decpt`: where the decimal point falls relative to the digits.
    let point = exponent + 1;
    if -4 < point && point <= 16 {
        positional(digits, point)
    } else {
        scientific(digits, exponent)
    }
}

fn positional(digits: &str, point: i32) -> String {
    let len = digits.len() as i32;
    if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point >= len {
        format!("{digits}{}.0", "0".repeat((point - len) as usize))
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{whole}.{fraction}")
    }
}

fn scientific(digits: &str, exponent: i32) -> String {
    let (first, rest) = digits.split_at(1);
    let fraction = if rest.is_empty() {
        String::new()
    } else {
        format!(".{rest}")
    };
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{first}{fraction}e{sign}{:02}", exponent.unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::python_float_repr;

    #[test]
    fn matches_python_repr() {
        // Expected values are Python 3's repr() of the same floats.
        let cases: &[(f64, &str)] = &[
            (1700000000.5, "1700000000.5"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (100.0, "100.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (1700000000.123456, "1700000000.123456"),
            (0.30000000000000004, "0.30000000000000004"),
            // Exact ties between two shortest candidates go to the even digit
            // (written as sums because the literals are exactly representable
            // but longer than clippy allows).
            (1418893632872039.0 + 0.25, "1418893632872039.2"),
            (1418893632872038.0 + 0.75, "1418893632872038.8"),
            (1418893632872037.0 + 0.25, "1418893632872037.2"),
        ];
        for (value, expected) in cases {
            assert_eq!(python_float_repr(*value), *expected, "repr({value:?})");
        }
    }

    #[test]
    fn non_finite_values_use_json_dumps_names() {
        assert_eq!(python_float_repr(f64::NAN), "NaN");
        assert_eq!(python_float_repr(f64::INFINITY), "Infinity");
        assert_eq!(python_float_repr(f64::NEG_INFINITY), "-Infinity");
    }
}
