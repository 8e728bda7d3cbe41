//! Why a caller was turned away, in the words WIRE.md gives the client
//! (`forbidden: blacklisted`, ...).

use std::fmt;

/// The class of a refusal; each has one [`ErrorCode`](crate::ErrorCode) and one wire message
/// prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalKind {
    /// An identity is required and the caller has none (HTTP 401).
    Unauthorized,
    /// The caller is known and not allowed: blacklisted, not whitelisted, refused by policy
    /// (HTTP 403).
    Forbidden,
    /// The caller is allowed but over its request rate (HTTP 429 with `Retry-After`).
    RateLimited,
}

impl RefusalKind {
    /// The message prefix: `unauthorized`, `forbidden` or `rate limited`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RefusalKind::Unauthorized => "unauthorized",
            RefusalKind::Forbidden => "forbidden",
            RefusalKind::RateLimited => "rate limited",
        }
    }
}

/// A refused request. Its Display is the message for the caller, e.g. `forbidden: blacklisted`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The class of refusal: decides the HTTP status and the message prefix.
    pub kind: RefusalKind,
    /// What the caller is told after the prefix, e.g. `blacklisted`.
    pub reason: String,
    /// Whole seconds to wait before retrying (≥ 1); set for [`RefusalKind::RateLimited`].
    pub retry_after_secs: Option<u64>,
}

impl Refusal {
    /// A refusal for a caller with no identity where one is required (HTTP 401).
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Refusal {
            kind: RefusalKind::Unauthorized,
            reason: reason.into(),
            retry_after_secs: None,
        }
    }

    /// A refusal for a known caller who is not allowed (HTTP 403).
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Refusal {
            kind: RefusalKind::Forbidden,
            reason: reason.into(),
            retry_after_secs: None,
        }
    }

    /// A rate-limit refusal; `retry_after_secs` is raised to at least 1.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let retry_after_secs = retry_after_secs.max(1);
        Refusal {
            kind: RefusalKind::RateLimited,
            reason: format!("too many requests, retry after {retry_after_secs} s"),
            retry_after_secs: Some(retry_after_secs),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.reason)
    }
}

impl std::error::Error for Refusal {}
