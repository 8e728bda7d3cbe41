//! Input attachments: the `images` and `files` a request may carry (WIRE.md §3, `POST /input`).
//!
//! A request may carry
//! - `images`: a list of data URLs (`data:image/png;base64,...`), handed to the agent as they are
//!   once [`validate_images`] has accepted them;
//! - `files`: a list of [`FileInput`] `{"name", "data": <data URL>}`, decoded by [`save_files`]
//!   into `<data_dir>/uploads/<session_id>/` (see [`upload_dir`]); the agent is given the
//!   resulting paths ([`SavedFile::path`]).
//!
//! Limits ([`InputLimits`], from the `max_file_size` (MB, default 10) and
//! `max_files_per_request` (default 10) settings) are enforced by [`check_limits`] **before
//! anything is decoded**: counts first, then each item's decoded size, computed from the length
//! of its base64 (or percent-encoded) payload. A request over a limit is refused with
//! [`InputError::TooManyFiles`] or [`InputError::FileTooLarge`] (code `too_large`, which the
//! gateway answers with HTTP 413) without decoding a byte of it. [`InputLimits::max_request_bytes`]
//! gives the body limit an HTTP layer can apply before even parsing the JSON.
//!
//! Layout of this module:
//! - `inputs.rs` (this file): the wire type [`FileInput`], [`InputLimits`], [`InputError`],
//!   [`check_limits`], [`validate_images`], [`upload_dir`], and the re-exports below;
//! - `inputs/data_url.rs`: [`DataUrl`] and [`parse_data_url`] (RFC 2397 parsing, size estimation
//!   before decoding, decoding);
//! - `inputs/names.rs`: [`safe_file_name`] (client-supplied names → safe single path components)
//!   and the `name (2).ext` numbering used to keep names unique;
//! - `inputs/save.rs`: [`SavedFile`] and [`save_files`] (directory creation with mode 0700,
//!   `create_new` writes that never overwrite or follow symlinks, rollback on error).
//!
//! Error values carry a short label naming the offending item: `images[0]` for an image,
//! `files[2] "report.pdf"` for a file (client-supplied names are truncated to 80 characters and
//! shown with control characters escaped), so their `Display` can be returned to the client
//! as the `{"error": ...}` message; [`InputError::code`] gives a matching `"code"`.

mod data_url;
mod names;
mod save;

use std::path::{Path, PathBuf};

pub use self::data_url::{parse_data_url, DataUrl};
pub use self::names::safe_file_name;
pub use self::save::{save_files, SavedFile};

/// One entry of a request's `files` (the wire type, shared with the frames).
pub use crate::wire::FileInput;

/// Limits on a request's attachments.
///
/// - `max_file_size_bytes` bounds the *decoded* size of each file and of each image;
/// - `max_files_per_request` bounds the number of `files` and, separately, the number of
///   `images` of one request: a request may carry up to `max_files_per_request` files **and** up
///   to `max_files_per_request` images. `0` forbids attachments of that kind altogether.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    /// Largest decoded size of one file or one image, in bytes (default 10 MiB).
    pub max_file_size_bytes: usize,
    /// Most files, and separately most images, one request may carry (default 10; `0` forbids).
    pub max_files_per_request: usize,
}

impl Default for InputLimits {
    /// 10 MiB per file, 10 files (and 10 images) per request.
    fn default() -> Self {
        InputLimits {
            max_file_size_bytes: 10 * 1024 * 1024,
            max_files_per_request: 10,
        }
    }
}

/// One mebibyte: the unit of the `max_file_size` setting, and the JSON slack of
/// [`InputLimits::max_request_bytes`].
const MIB: usize = 1024 * 1024;

impl InputLimits {
    /// Limits from the settings: `max_file_size` in MB (mebibytes, fractions allowed: `0.5` is
    /// 512 KiB) and `max_files_per_request`.
    ///
    /// The byte count is rounded down; a negative or NaN size gives 0 (every non-empty
    /// attachment refused), an infinite or huge one saturates at `usize::MAX`.
    pub fn from_mb(max_file_size_mb: f64, max_files: usize) -> Self {
        // `as` from f64 saturates and maps NaN to 0, which is what we want here.
        let bytes = (max_file_size_mb * MIB as f64).floor();
        InputLimits {
            max_file_size_bytes: if bytes > 0.0 { bytes as usize } else { 0 },
            max_files_per_request: max_files,
        }
    }

    /// A request-body limit an HTTP (or P2P frame) layer can derive from these limits, so that a
    /// request within the attachment limits is never cut off by the body limit:
    ///
    /// ```text
    /// 2 * max_files_per_request * base64_len(max_file_size_bytes) + 1 MiB
    /// where base64_len(n) = 4 * ceil(n / 3)
    /// ```
    ///
    /// i.e. room for `max_files_per_request` files plus as many images, each of the maximum size
    /// in padded base64, plus 1 MiB of slack for the JSON around them (prompt, session, data-URL
    /// headers, file names, signature envelope). Saturates instead of overflowing. With the
    /// defaults (10 MiB, 10) that is 20 × 13 981 016 + 1 048 576 = 280 668 896 bytes.
    ///
    /// A client that sends the same attachments twice (inside the signed `payload` and beside
    /// it) needs twice the room and may be refused by this limit.
    pub fn max_request_bytes(&self) -> usize {
        let per_item = self.max_file_size_bytes.div_ceil(3).saturating_mul(4);
        let items = self.max_files_per_request.saturating_mul(2);
        per_item.saturating_mul(items).saturating_add(MIB)
    }
}

/// Why a request's attachments were refused. `Display` is a message suitable for the client's
/// `{"error": ...}`; `ErrorCode::from(&InputError)` is its code, which the gateway maps to
/// an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// More `files` (or more `images`) than `max_files_per_request`. `field` is `"files"` or
    /// `"images"`.
    #[error("too many {field}: {count} given, at most {max} allowed per request")]
    TooManyFiles {
        /// Which list is too long: `"files"` or `"images"`.
        field: &'static str,
        /// How many items the list holds.
        count: usize,
        /// The `max_files_per_request` limit.
        max: usize,
    },
    /// An item whose decoded size would exceed `max_file_size_bytes`. `name` labels the item
    /// (`images[0]`, `files[2] "report.pdf"`, or `data URL` from [`parse_data_url`]).
    #[error("{name} is too large: {size} bytes ({}) exceeds the limit of {max} bytes ({})", mb(*.size), mb(*.max))]
    FileTooLarge {
        /// The item's label: `images[0]`, `files[2] "report.pdf"` or `data URL`.
        name: String,
        /// The item's decoded size, in bytes, computed from its encoded length.
        size: usize,
        /// The `max_file_size_bytes` limit, in bytes.
        max: usize,
    },
    /// Not a usable data URL. `what` labels the item as for `FileTooLarge`.
    #[error("{what} is not a valid data URL: {reason}")]
    MalformedDataUrl {
        /// The item's label (`images[0]`, `files[2] "report.pdf"` or `data URL`).
        what: String,
        /// What is wrong with the URL (no `data:` prefix, bad media type, bad base64, ...).
        reason: String,
    },
    /// A file name that cannot be made safe. `name` is the client's name, truncated to 80
    /// characters; it is shown with control characters escaped.
    #[error("bad file name {name:?}: {reason}")]
    BadFileName {
        /// The client's file name, truncated to 80 characters.
        name: String,
        /// Why it cannot be made safe (empty, control characters, only dots, ...).
        reason: String,
    },
    /// An `images` entry whose data URL is not of an `image/*` type.
    #[error("{what} is not an image (type {mime:?}); images must be image/* data URLs")]
    NotAnImage {
        /// The image's label: `images[N]`.
        what: String,
        /// The media type the data URL declares.
        mime: String,
    },
    /// A session id that cannot be used as an upload folder name (see [`upload_dir`]).
    #[error("invalid session id {id:?}: {reason}")]
    BadSessionId {
        /// The session id, truncated to 80 characters.
        id: String,
        /// Why it was refused: empty, over 128 characters, or outside `[A-Za-z0-9_-]`.
        reason: String,
    },
    /// A file-system error while storing uploads. `what` names the file (or "upload
    /// directory"), never the server's full path.
    #[error("could not store {what}: {source}")]
    Io {
        /// The file's label (`files[2] "report.pdf"`) or `the upload directory`.
        what: String,
        /// The I/O error itself.
        #[source]
        source: std::io::Error,
    },
}

impl InputError {
    /// A short machine-readable code for the optional `"code"` of an error response.
    pub fn code(&self) -> &'static str {
        match self {
            InputError::TooManyFiles { .. } => "too_many_files",
            InputError::FileTooLarge { .. } => "file_too_large",
            InputError::MalformedDataUrl { .. } => "malformed_data_url",
            InputError::BadFileName { .. } => "bad_file_name",
            InputError::NotAnImage { .. } => "not_an_image",
            InputError::BadSessionId { .. } => "bad_session_id",
            InputError::Io { .. } => "io_error",
        }
    }
}

/// `n` bytes as mebibytes with one decimal, for messages.
fn mb(n: usize) -> String {
    format!("{:.1} MB", n as f64 / MIB as f64)
}

/// At most 80 characters of a client-supplied string, for error messages and labels.
pub(crate) fn shorten(s: &str) -> String {
    const MAX_CHARS: usize = 80;
    match s.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// Label of `images[index]` in errors.
pub(crate) fn image_label(index: usize) -> String {
    format!("images[{index}]")
}

/// Label of `files[index]` in errors: `files[2] "report.pdf"`.
pub(crate) fn file_label(index: usize, name: &str) -> String {
    format!("files[{index}] {:?}", shorten(name))
}

/// Checks the counts and the sizes of a request's attachments without decoding anything.
///
/// In order: `images.len()` and then `files.len()` against `max_files_per_request` (each list
/// separately, see [`InputLimits`]); then, for each image and then each file, its data-URL
/// header is parsed and its decoded size computed from the payload length (base64: 3 bytes per
/// 4 characters, whitespace and padding not counted; percent-encoded: one byte per `%XX` or
/// other character) and compared with `max_file_size_bytes`. The first problem found is
/// returned. A data URL malformed enough that its size cannot be computed (no `data:` prefix,
/// no comma, a bad media type, an impossible base64 length) is reported as
/// [`InputError::MalformedDataUrl`]; problems only decoding reveals are left to
/// [`validate_images`] / [`save_files`] / [`parse_data_url`]. File names are not checked here.
pub fn check_limits(
    images: &[String],
    files: &[FileInput],
    limits: &InputLimits,
) -> Result<(), InputError> {
    let max = limits.max_files_per_request;
    for (field, count) in [("images", images.len()), ("files", files.len())] {
        if count > max {
            return Err(InputError::TooManyFiles { field, count, max });
        }
    }
    for (i, url) in images.iter().enumerate() {
        data_url::check_size(url, limits.max_file_size_bytes, &image_label(i))?;
    }
    for (i, file) in files.iter().enumerate() {
        data_url::check_size(
            &file.data,
            limits.max_file_size_bytes,
            &file_label(i, &file.name),
        )?;
    }
    Ok(())
}

/// Checks a request's `images`: [`check_limits`] on them first (count, then sizes, nothing
/// decoded), then each must be a base64 data URL of an `image/*` media type (checked from the
/// header, before decoding) whose payload decodes and is not empty.
///
/// Base64 is required for images (a percent-encoded `data:image/...,` is refused as malformed)
/// because images are passed on as they are to model APIs, which only take base64 data URLs.
/// The bytes are not sniffed: the declared media type is trusted.
pub fn validate_images(images: &[String], limits: &InputLimits) -> Result<(), InputError> {
    check_limits(images, &[], limits)?;
    for (i, url) in images.iter().enumerate() {
        let what = image_label(i);
        let parts = data_url::split(url, &what)?;
        if !parts.mime.starts_with("image/") {
            return Err(InputError::NotAnImage {
                what,
                mime: parts.mime,
            });
        }
        if !parts.base64 {
            return Err(InputError::MalformedDataUrl {
                what,
                reason: "images must be base64-encoded (\";base64,\")".into(),
            });
        }
        let bytes = parts.decode(&what)?;
        if bytes.is_empty() {
            return Err(InputError::MalformedDataUrl {
                what,
                reason: "the image is empty".into(),
            });
        }
    }
    Ok(())
}

/// The upload folder of a session: `<data_dir>/uploads/<session_id>`. Nothing is created.
///
/// Session ids may be attacker-influenced, so only ids of 1 to 128 characters from
/// `[A-Za-z0-9_-]` are accepted (UUIDs and the like); anything else — empty, too long, dots,
/// separators, spaces, non-ASCII — is [`InputError::BadSessionId`].
pub fn upload_dir(data_dir: &Path, session_id: &str) -> Result<PathBuf, InputError> {
    const MAX_LEN: usize = 128;
    let bad = |reason: &str| InputError::BadSessionId {
        id: shorten(session_id),
        reason: reason.to_owned(),
    };
    if session_id.is_empty() {
        return Err(bad("it is empty"));
    }
    if session_id.len() > MAX_LEN {
        return Err(bad("it is longer than 128 characters"));
    }
    if !session_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(bad("only letters, digits, '_' and '-' are allowed"));
    }
    Ok(data_dir.join("uploads").join(session_id))
}
