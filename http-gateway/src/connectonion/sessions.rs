//! `GET /sessions`, `GET /sessions/{id}` and `POST /sessions/{id}/cancel`: the caller's
//! sessions, read with signed GETs (WIRE.md §2.5).

use std::sync::Arc;

use agenthost_node::{Request, SignedFields};
use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, RawPathParams, State},
    Json,
};
use serde_json::{json, Value};

use super::{
    reply::response_body,
    request::{path_param, RequestMeta},
    schemas::{CancelBody, SessionRecordBody, SessionsBody},
};
use crate::{
    client_addr::http_caller,
    config::GatewayConfig,
    error::{ApiError, ErrorBody},
    signed_headers::claimed_signer,
    target::TargetAgent,
};

/// The caller's own sessions, newest first (signed GET: `X-Co-From`, `X-Co-Signature`,
/// `X-Co-Timestamp`).
#[utoipa::path(
    get, path = "/sessions",
    params(("limit" = Option<usize>, Query, description = "at most this many (≤ 100)")),
    responses(
        (status = 200, description = "the caller's sessions", body = SessionsBody),
        (status = 400, description = "bad query", body = ErrorBody),
        (status = 401, description = "bad signature", body = ErrorBody),
        (status = 403, description = "blacklisted", body = ErrorBody),
        (status = 502, description = "agent unreachable", body = ErrorBody),
        (status = 504, description = "agent timed out", body = ErrorBody),
    )
)]
pub(crate) async fn get_sessions(
    State(config): State<Arc<GatewayConfig>>,
    agent: TargetAgent,
    meta: RequestMeta,
) -> Result<Json<Value>, ApiError> {
    let mut limit = None;
    for (key, value) in form_urlencoded::parse(meta.uri.query().unwrap_or("").as_bytes()) {
        if key == "limit" {
            // Any non-negative integer is a valid limit; the agent caps it at 100.
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::bad_request(
                    "limit must be a non-negative integer",
                ));
            }
            limit = Some(value.parse::<usize>().unwrap_or(usize::MAX));
        }
    }
    let signed = meta.signed(b"")?;
    agent.check_signer(claimed_signer(&meta.headers))?;
    if !signed.is_signed() && !agent.is_local() {
        // Through a standalone gateway every anonymous caller would look like the gateway:
        // listing must never show one anonymous caller another's sessions.
        return Ok(Json(json!({"sessions": []})));
    }
    let reply = agent.service.call(
        Request::Sessions { limit, signed },
        http_caller(meta.remote),
    );
    Ok(Json(response_body(&config, reply).await?))
}

/// One session record: its owner's (signed GET), or an anonymous one to whoever has its id.
#[utoipa::path(
    get, path = "/sessions/{id}",
    params(("id" = String, Path, description = "the session id")),
    responses(
        (status = 200, description = "the record", body = SessionRecordBody),
        (status = 401, description = "bad signature", body = ErrorBody),
        (status = 403, description = "blacklisted", body = ErrorBody),
        (status = 404, description = "unknown, expired or someone else's", body = ErrorBody),
        (status = 502, description = "agent unreachable", body = ErrorBody),
        (status = 504, description = "agent timed out", body = ErrorBody),
    )
)]
pub(crate) async fn get_session(
    State(config): State<Arc<GatewayConfig>>,
    agent: TargetAgent,
    params: RawPathParams,
    meta: RequestMeta,
) -> Result<Json<Value>, ApiError> {
    session_request(
        &config,
        &agent,
        &params,
        &meta,
        b"",
        |session_id, signed| Request::Session { session_id, signed },
    )
    .await
}

/// A request about one session (`/sessions/{id}…`), signed over `body` if at all.
async fn session_request(
    config: &GatewayConfig,
    agent: &TargetAgent,
    params: &RawPathParams,
    meta: &RequestMeta,
    body: &[u8],
    request: impl FnOnce(String, SignedFields) -> Request,
) -> Result<Json<Value>, ApiError> {
    let session_id = path_param(params, "id").ok_or_else(|| ApiError::not_found("no id"))?;
    let signed = meta.signed(body)?;
    agent.check_signer(claimed_signer(&meta.headers))?;
    let reply = agent
        .service
        .call(request(session_id, signed), http_caller(meta.remote));
    Ok(Json(response_body(config, reply).await?))
}

/// Cancels the caller's running turn of a session (signed like a GET, method `POST`).
#[utoipa::path(
    post, path = "/sessions/{id}/cancel",
    params(("id" = String, Path, description = "the session id")),
    responses(
        (status = 200, description = "how the session stands", body = CancelBody),
        (status = 401, description = "bad signature", body = ErrorBody),
        (status = 403, description = "blacklisted", body = ErrorBody),
        (status = 404, description = "unknown, expired or someone else's", body = ErrorBody),
        (status = 502, description = "agent unreachable", body = ErrorBody),
        (status = 504, description = "agent timed out", body = ErrorBody),
    )
)]
pub(crate) async fn cancel_session(
    State(config): State<Arc<GatewayConfig>>,
    agent: TargetAgent,
    params: RawPathParams,
    meta: RequestMeta,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body?;
    session_request(
        &config,
        &agent,
        &params,
        &meta,
        &body,
        |session_id, signed| Request::Cancel { session_id, signed },
    )
    .await
}
