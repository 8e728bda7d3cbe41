//! From the agent's reply to the HTTP answer: the one response body that answers a request,
//! within the gateway's timeout.

use agenthost_node::{Frame, Reply};
use futures::{
    future::{ready, BoxFuture, Either, Ready},
    FutureExt,
};
use serde_json::Value;

use crate::{config::GatewayConfig, error::ApiError};

type BodyResult = Result<Value, ApiError>;

/// Waits for the one response body that answers `reply` (INFO, HEALTH, SESSION...).
///
/// An answer that is ready at once (HEALTH, INFO of a local agent) is returned as a ready
/// future, without a timer; only a wait is boxed. axum allocates and copies each handler's
/// future on every request, and one `async fn` with the timer inline makes that future
/// about a kilobyte (`GET /health`'s, measured: 1,240 bytes against 72; BENCHMARKS.md).
pub(super) fn response_body(
    config: &GatewayConfig,
    mut reply: Reply,
) -> Either<Ready<BodyResult>, BoxFuture<'static, BodyResult>> {
    match reply.next_frame().now_or_never() {
        Some(Some(frame)) if frame.is_terminal() => Either::Left(ready(body_of(frame))),
        _ => {
            let timeout = config.request_timeout;
            Either::Right(Box::pin(async move {
                let frame = tokio::time::timeout(timeout, reply.terminal())
                    .await
                    .map_err(|_| timeout_error())?;
                body_of(frame)
            }))
        }
    }
}

/// The response body a terminal frame carries, or its error.
pub(super) fn body_of(terminal: Frame) -> BodyResult {
    match terminal {
        Frame::Response(body) => Ok(body),
        Frame::Error(e) => Err(e.into()),
        other => Err(ApiError::internal(format!(
            "unexpected answer from the agent: {}",
            other.to_json()
        ))),
    }
}

pub(super) fn timeout_error() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::GATEWAY_TIMEOUT,
        "timeout",
        "the agent did not answer in time",
    )
}
