//! Client-supplied file names → safe single path components.

use crate::inputs::{shorten, InputError};

/// Longest file name produced, in bytes (the usual file-system limit).
pub(crate) const MAX_NAME_BYTES: usize = 255;

/// Longest extension (with its dot) kept when a name is shortened; a longer "extension" is
/// treated as part of the stem.
const MAX_EXT_BYTES: usize = 32;

/// Names Windows reserves for devices, whatever the extension.
const WINDOWS_DEVICES: &[&str] = &[
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// Turns a client-supplied file name into a name that is safe as one path component inside an
/// upload folder.
///
/// Refused ([`InputError::BadFileName`]): names containing control characters (NUL, newline,
/// tab, DEL, C1 controls); names with nothing left after the steps below (empty, blank, or
/// ending in a path separator); names made only of dots (`.`, `..`, `...`).
///
/// Otherwise, in order:
/// 1. only the final component is kept: everything up to the last `/` or `\` is dropped, so
///    `../etc/passwd` → `passwd`, `/abs/path` → `path`, `..\x` → `x`;
/// 2. surrounding whitespace is trimmed;
/// 3. characters risky on some file system or in a terminal are replaced by `_`: the Windows
///    reserved `< > : " | ? *` and the bidirectional-text controls (U+200E, U+200F,
///    U+202A–U+202E, U+2066–U+2069) that can disguise an extension; all other Unicode is kept;
/// 4. `_` is prefixed to a name starting with `.` (never a hidden file: `.hidden` →
///    `_.hidden`), with `-` (never mistaken for a command-line option), or whose stem is a
///    Windows device name (`con.txt` → `_con.txt`);
/// 5. a name longer than 255 bytes is shortened on a character boundary, keeping its extension
///    (the part from the last `.`, when at most 32 bytes).
pub fn safe_file_name(name: &str) -> Result<String, InputError> {
    let bad = |reason: &str| InputError::BadFileName {
        name: shorten(name),
        reason: reason.to_owned(),
    };
    if name.is_empty() {
        return Err(bad("the name is empty"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("the name contains control characters"));
    }
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let last = last.trim();
    if last.is_empty() {
        return Err(bad("no file name is left after the last path separator"));
    }
    if last.chars().all(|c| c == '.') {
        return Err(bad("a name made only of dots is not a file name"));
    }

    let mut safe: String = last
        .chars()
        .map(|c| if is_risky(c) { '_' } else { c })
        .collect();

    let stem = safe.split('.').next().unwrap_or("");
    let is_device = WINDOWS_DEVICES.iter().any(|d| stem.eq_ignore_ascii_case(d));
    if safe.starts_with('.') || safe.starts_with('-') || is_device {
        safe.insert(0, '_');
    }
    Ok(fit(&safe, ""))
}

fn is_risky(c: char) -> bool {
    matches!(
        c,
        '<' | '>'
            | ':'
            | '"'
            | '|'
            | '?'
            | '*'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// Splits a safe name into stem and extension (`"a.tar.gz"` → `("a.tar", ".gz")`). A leading
/// dot never starts an extension; an "extension" longer than 32 bytes counts as stem.
fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= MAX_EXT_BYTES => name.split_at(dot),
        _ => (name, ""),
    }
}

/// `stem + suffix + ext` of `name`, the stem shortened on a character boundary so that the
/// whole is at most [`MAX_NAME_BYTES`].
fn fit(name: &str, suffix: &str) -> String {
    let (stem, ext) = split_ext(name);
    let room = MAX_NAME_BYTES.saturating_sub(suffix.len() + ext.len());
    let mut cut = stem.len().min(room);
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}{ext}", &stem[..cut])
}

/// The `n`-th candidate for a safe name: the name itself for `n <= 1`, else `stem (n).ext`
/// (`a.txt` → `a (2).txt`), still at most 255 bytes.
pub(crate) fn numbered(name: &str, n: usize) -> String {
    if n <= 1 {
        fit(name, "")
    } else {
        fit(name, &format!(" ({n})"))
    }
}
