//! `POST /input`: run the agent on a prompt, plain or signed (WIRE.md §3).

use std::sync::Arc;

use agenthost_node::{InputRequest, Request};
use axum::{body::Bytes, extract::rejection::BytesRejection, extract::State, Json};
use serde_json::Value;

use super::{
    reply::timeout_error,
    schemas::{InputBody, InputResponse},
};
use crate::{
    client_addr::{http_caller, ClientAddr},
    config::GatewayConfig,
    error::{ApiError, ErrorBody},
    target::TargetAgent,
};

/// Run the agent on a prompt; the answer comes when the run ends.
#[utoipa::path(
    post, path = "/input",
    request_body(content = InputBody, description = "plain `{prompt}` or a signed envelope"),
    responses(
        (status = 200, description = "the result", body = InputResponse),
        (status = 400, description = "invalid JSON or missing prompt", body = ErrorBody),
        (status = 401, description = "bad, expired or replayed signature; identity required", body = ErrorBody),
        (status = 403, description = "refused by blacklist or trust", body = ErrorBody),
        (status = 404, description = "unknown or foreign session", body = ErrorBody),
        (status = 409, description = "session busy with another turn", body = ErrorBody),
        (status = 413, description = "body or file over the limit", body = ErrorBody),
        (status = 429, description = "rate limited (Retry-After)", body = ErrorBody),
        (status = 500, description = "the agent failed", body = ErrorBody),
        (status = 502, description = "agent unreachable", body = ErrorBody),
        (status = 503, description = "overloaded, shutting down (unavailable) or interrupted by shutdown or reload (Retry-After)", body = ErrorBody),
        (status = 504, description = "agent timed out", body = ErrorBody),
    )
)]
pub(crate) async fn post_input(
    State(config): State<Arc<GatewayConfig>>,
    agent: TargetAgent,
    ClientAddr(remote): ClientAddr,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<InputResponse>, ApiError> {
    let body = body?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    let input: InputRequest = serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("invalid request: {e}")))?;
    if input.is_signed() {
        agent.check_signer(input.from.as_deref())?;
    } else if input.prompt.is_none() {
        return Err(ApiError::bad_request("missing prompt"));
    }
    let reply = agent
        .service
        .call(Request::Input(input), http_caller(remote));
    let output = tokio::time::timeout(config.request_timeout, reply.output())
        .await
        .map_err(|_| timeout_error())??;
    Ok(Json(InputResponse {
        session_id: output.session_id,
        status: "done",
        result: output.result,
        duration_ms: output.duration_ms,
        session: output.session,
    }))
}
