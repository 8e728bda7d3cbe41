//! What a refusal or failure says on the wire: the terminal [`ErrorFrame`] and its
//! [`ErrorCode`], the one vocabulary every path shares (the gateway maps codes to HTTP
//! statuses in one place). Lower layers' errors become codes here, by type.

use serde::{Deserialize, Serialize};

/// The terminal frame of a failed request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorFrame {
    /// What went wrong, for the caller to read (`{"error": ...}` over HTTP).
    pub message: String,
    /// The machine-readable [`ErrorCode`] (`bad_request`, `busy`, ...); `None` from peers that send
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Seconds after which a retry may succeed (overload, rate limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl ErrorFrame {
    /// An error frame with `code` and `message`, and no retry hint.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorFrame {
            message: message.into(),
            code: Some(code.as_str().to_owned()),
            retry_after: None,
        }
    }

    /// Adds the retry hint: `seconds` after which a retry may succeed.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The code as a known kind, if it is one.
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.code.as_deref().and_then(ErrorCode::parse)
    }
}

impl std::fmt::Display for ErrorFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} ({code})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Error kinds an ERROR frame carries in `code`; the gateway maps them to HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Malformed frame, unknown type, missing prompt (HTTP 400).
    BadRequest,
    /// Frame over the size limit (HTTP 413).
    TooLarge,
    /// No identity or a bad signature (HTTP 401).
    Unauthorized,
    /// Refused by blacklist or trust (HTTP 403).
    Forbidden,
    /// Unknown, expired or someone else's session (HTTP 404).
    NotFound,
    /// The session is running another turn (HTTP 409).
    Busy,
    /// Too many requests from this caller (HTTP 429 with Retry-After).
    RateLimited,
    /// Workers and queue full (HTTP 503 with Retry-After).
    Overloaded,
    /// The agent returned an error or failed (HTTP 500).
    AgentError,
    /// The run was cancelled.
    Cancelled,
    /// The run or the peer timed out (HTTP 504).
    Timeout,
    /// The agent peer could not be reached (HTTP 502).
    Unreachable,
    /// A fault of the host itself (HTTP 500).
    Internal,
    /// The run was stopped by the host's shutdown or reload after the grace period (HTTP 503
    /// with Retry-After; recorded `interrupted`).
    Interrupted,
    /// The host is shutting down and takes no new runs (HTTP 503 with Retry-After).
    Unavailable,
}

/// The code of a refused signature (WIRE.md §2.3): a blacklisted signer is `forbidden`, a
/// replay ledger that cannot answer `unavailable` (the request may be fine; retry later),
/// anything else about the envelope `unauthorized`.
impl From<&agenthost_identity::EnvelopeError> for ErrorCode {
    fn from(error: &agenthost_identity::EnvelopeError) -> Self {
        use agenthost_identity::EnvelopeError;
        match error {
            EnvelopeError::Blacklisted => ErrorCode::Forbidden,
            EnvelopeError::LedgerUnavailable(_) => ErrorCode::Unavailable,
            EnvelopeError::Malformed(_)
            | EnvelopeError::Expired
            | EnvelopeError::WrongRecipient
            | EnvelopeError::InvalidSignature
            | EnvelopeError::Replayed => ErrorCode::Unauthorized,
        }
    }
}

/// The code of a caller refused by trust: each kind of refusal has its own.
impl From<crate::trust::RefusalKind> for ErrorCode {
    fn from(kind: crate::trust::RefusalKind) -> Self {
        use crate::trust::RefusalKind;
        match kind {
            RefusalKind::Unauthorized => ErrorCode::Unauthorized,
            RefusalKind::Forbidden => ErrorCode::Forbidden,
            RefusalKind::RateLimited => ErrorCode::RateLimited,
        }
    }
}

/// The code of an attachment refused by the input limits: too many or too large is
/// `too_large`, a malformed one `bad_request`, a failure to store it `internal`.
impl From<&crate::inputs::InputError> for ErrorCode {
    fn from(error: &crate::inputs::InputError) -> Self {
        use crate::inputs::InputError;
        match error {
            InputError::TooManyFiles { .. } | InputError::FileTooLarge { .. } => {
                ErrorCode::TooLarge
            }
            InputError::MalformedDataUrl { .. }
            | InputError::BadFileName { .. }
            | InputError::NotAnImage { .. }
            | InputError::BadSessionId { .. } => ErrorCode::BadRequest,
            InputError::Io { .. } => ErrorCode::Internal,
        }
    }
}

impl ErrorCode {
    /// The code as it travels in the frame's `code` field: `bad_request`, `too_large`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Busy => "busy",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::AgentError => "agent_error",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Unreachable => "unreachable",
            ErrorCode::Internal => "internal",
            ErrorCode::Interrupted => "interrupted",
            ErrorCode::Unavailable => "unavailable",
        }
    }

    /// The code named by its wire string; `None` for a code this build does not know.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "bad_request" => ErrorCode::BadRequest,
            "too_large" => ErrorCode::TooLarge,
            "unauthorized" => ErrorCode::Unauthorized,
            "forbidden" => ErrorCode::Forbidden,
            "not_found" => ErrorCode::NotFound,
            "busy" => ErrorCode::Busy,
            "rate_limited" => ErrorCode::RateLimited,
            "overloaded" => ErrorCode::Overloaded,
            "agent_error" => ErrorCode::AgentError,
            "cancelled" => ErrorCode::Cancelled,
            "timeout" => ErrorCode::Timeout,
            "unreachable" => ErrorCode::Unreachable,
            "internal" => ErrorCode::Internal,
            "interrupted" => ErrorCode::Interrupted,
            "unavailable" => ErrorCode::Unavailable,
            _ => return None,
        })
    }
}
