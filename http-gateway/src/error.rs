//! [`ApiError`]: every failure as WIRE.md §3 says — a status code and a JSON body
//! `{"error": "<message>", "code"?: "<kind>"}`, with `Retry-After` when a retry may succeed.

use agenthost_node::{ErrorCode, ErrorFrame};
use axum::{
    extract::rejection::BytesRejection,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// An error answer of the HTTP API.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status of the answer.
    pub status: StatusCode,
    /// What went wrong, for people: the body's `error` field.
    pub message: String,
    /// What went wrong, for programs: the body's `code` field, left out when `None`.
    pub code: Option<String>,
    /// Seconds to send in a `Retry-After` header, when a retry may succeed.
    pub retry_after: Option<u64>,
}

/// The JSON body of every error (for the OpenAPI document).
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong, for people.
    pub error: String,
    /// What went wrong, for programs: `bad_request`, `unauthorized`, `forbidden`,
    /// `not_found`, `busy`, `too_large`, `rate_limited`, `overloaded`, `unreachable`,
    /// `timeout`, `agent_error`, `internal`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl ApiError {
    /// An error with this status, `code` and message, and no `Retry-After`.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            code: Some(code.to_owned()),
            retry_after: None,
        }
    }

    /// 400 `bad_request`: the request is malformed or incomplete.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401 `unauthorized`: a required signature or signed field is missing or refused.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 `forbidden`: this gateway does not serve the agent, or refuses the signer.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 `not_found`: no such route or agent.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 500 `internal`: a failure on the gateway's side, not the client's.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

/// The HTTP status of an agent error code (WIRE.md §3).
pub fn status_of(code: Option<ErrorCode>) -> StatusCode {
    match code {
        Some(ErrorCode::BadRequest) => StatusCode::BAD_REQUEST,
        Some(ErrorCode::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
        Some(ErrorCode::Unauthorized) => StatusCode::UNAUTHORIZED,
        Some(ErrorCode::Forbidden) => StatusCode::FORBIDDEN,
        Some(ErrorCode::NotFound) => StatusCode::NOT_FOUND,
        // A cancelled run conflicts with the request that wanted its result, like a busy one.
        Some(ErrorCode::Busy | ErrorCode::Cancelled) => StatusCode::CONFLICT,
        Some(ErrorCode::RateLimited) => StatusCode::TOO_MANY_REQUESTS,
        Some(ErrorCode::Overloaded | ErrorCode::Interrupted | ErrorCode::Unavailable) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        Some(ErrorCode::Timeout) => StatusCode::GATEWAY_TIMEOUT,
        Some(ErrorCode::Unreachable) => StatusCode::BAD_GATEWAY,
        Some(ErrorCode::AgentError | ErrorCode::Internal) | None => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

impl From<ErrorFrame> for ApiError {
    fn from(frame: ErrorFrame) -> Self {
        let status = status_of(frame.error_code());
        // Both kinds of "try later" carry a Retry-After, even if the agent forgot it.
        let retry_after = match status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                Some(frame.retry_after.unwrap_or(1))
            }
            _ => frame.retry_after,
        };
        ApiError {
            status,
            message: frame.message,
            code: frame.code,
            retry_after,
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "bad_request"
        };
        ApiError::new(status, code, rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let Some(code) = &self.code {
            body["code"] = json!(code);
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// JSON 404 for paths no route knows.
pub(crate) async fn no_route() -> ApiError {
    ApiError::not_found("no such route")
}

/// JSON 405 for known paths asked with another method.
pub(crate) async fn wrong_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

#[cfg(test)]
mod tests {
    use agenthost_identity::{EnvelopeError, LedgerError};

    use super::*;

    /// WIRE.md §2.3's statuses for a refused signature, through the one mapping.
    #[test]
    fn a_refused_signature_is_401_403_or_503() {
        let status = |e: EnvelopeError| status_of(Some(ErrorCode::from(&e)));
        assert_eq!(status(EnvelopeError::Blacklisted), StatusCode::FORBIDDEN);
        for e in [
            EnvelopeError::Malformed("missing from".into()),
            EnvelopeError::Expired,
            EnvelopeError::WrongRecipient,
            EnvelopeError::InvalidSignature,
            EnvelopeError::Replayed,
        ] {
            assert_eq!(status(e), StatusCode::UNAUTHORIZED);
        }
        let outage = EnvelopeError::LedgerUnavailable(LedgerError::Unavailable("down".into()));
        assert_eq!(status(outage), StatusCode::SERVICE_UNAVAILABLE);
    }
}
