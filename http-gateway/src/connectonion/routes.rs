//! The HTTP routes of WIRE.md §3, each turned into one agent request. Annotated for the
//! OpenAPI document (`openapi.rs`), which is built from these very handlers.

use std::{future::Future, net::SocketAddr};

use agenthost_node::{trust::Transport, Caller, Frame, InputRequest, Reply, Request, SignedFields};
use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, OriginalUri, RawPathParams, State},
    http::{header, HeaderMap, Method},
    response::{Html, IntoResponse, Response},
    Json,
};
use futures::{
    future::{ready, BoxFuture, Either, Ready},
    FutureExt,
};
use serde_json::{json, Value};

use super::{
    schemas::{
        CancelBody, DiscoveryBody, HealthBody, InfoBody, InputBody, InputResponse, RouteIndexBody,
        SessionRecordBody, SessionsBody,
    },
    signed_get::{claimed_signer, signed_fields},
};
use crate::{
    client_addr::{http_caller, ClientAddr},
    error::{ApiError, ErrorBody},
    state::GatewayState,
    target::{Agents, TargetAgent},
};

/// The page of `GET /docs`, served from the binary (no CDN).
const DOCS_PAGE: &str = include_str!("../../assets/docs.html");

/// What a route needs of the request itself: who sent it from where, and what a signed GET
/// was signed over (the URI as the client sent it, before any nesting stripped a prefix).
pub(crate) struct RequestMeta {
    pub remote: SocketAddr,
    pub uri: axum::http::Uri,
    pub method: Method,
    pub headers: HeaderMap,
}

impl axum::extract::FromRequestParts<GatewayState> for RequestMeta {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &GatewayState,
    ) -> Result<Self, Self::Rejection> {
        let ClientAddr(remote) = ClientAddr::from_request_parts(parts, state).await?;
        let OriginalUri(uri) = OriginalUri::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::internal("no request URI"))?;
        Ok(RequestMeta {
            remote,
            uri,
            method: parts.method.clone(),
            headers: parts.headers.clone(),
        })
    }
}

impl RequestMeta {
    /// The signed GET of the headers, over `body`.
    fn signed(&self, body: &[u8]) -> Result<SignedFields, ApiError> {
        signed_fields(&self.method, &self.uri, &self.headers, body)
    }
}

type BodyResult = Result<Value, ApiError>;

/// Waits for the one response body that answers `reply` (INFO, HEALTH, SESSION...).
///
/// An answer that is ready at once (HEALTH, INFO of a local agent) is returned as a ready
/// future, without a timer; only a wait is boxed. Written as one `async fn` with the timer
/// inline, this future was 816 bytes and `GET /health`'s handler future 1,240, and axum
/// allocates and copies each handler's future on every request.
fn response_body(
    state: &GatewayState,
    mut reply: Reply,
) -> Either<Ready<BodyResult>, BoxFuture<'static, BodyResult>> {
    match reply.next_frame().now_or_never() {
        Some(Some(frame)) if frame.is_terminal() => Either::Left(ready(body_of(frame))),
        _ => {
            let timeout = state.config.request_timeout;
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
fn body_of(terminal: Frame) -> BodyResult {
    match terminal {
        Frame::Response(body) => Ok(body),
        Frame::Error(e) => Err(e.into()),
        other => Err(ApiError::internal(format!(
            "unexpected answer from the agent: {}",
            other.to_json()
        ))),
    }
}

fn timeout_error() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::GATEWAY_TIMEOUT,
        "timeout",
        "the agent did not answer in time",
    )
}

fn path_param(params: &RawPathParams, name: &str) -> Option<String> {
    params
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

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
    State(state): State<GatewayState>,
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
    let signed = input.payload.is_some() || input.from.is_some() || input.signature.is_some();
    if signed {
        agent.check_signer(input.from.as_deref())?;
    } else if input.prompt.is_none() {
        return Err(ApiError::bad_request("missing prompt"));
    }
    let reply = agent
        .service
        .call(Request::Input(input), http_caller(remote));
    let output = tokio::time::timeout(state.config.request_timeout, reply.output())
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
    State(state): State<GatewayState>,
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
    Ok(Json(response_body(&state, reply).await?))
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
    State(state): State<GatewayState>,
    agent: TargetAgent,
    params: RawPathParams,
    meta: RequestMeta,
) -> Result<Json<Value>, ApiError> {
    session_request(&state, &agent, &params, &meta, b"", |session_id, signed| {
        Request::Session { session_id, signed }
    })
    .await
}

/// A request about one session (`/sessions/{id}…`), signed over `body` if at all.
async fn session_request(
    state: &GatewayState,
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
    Ok(Json(response_body(state, reply).await?))
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
    State(state): State<GatewayState>,
    agent: TargetAgent,
    params: RawPathParams,
    meta: RequestMeta,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body?;
    session_request(
        &state,
        &agent,
        &params,
        &meta,
        &body,
        |session_id, signed| Request::Cancel { session_id, signed },
    )
    .await
}

/// Liveness of the agent.
#[utoipa::path(
    get, path = "/health",
    responses(
        (status = 200, description = "healthy", body = HealthBody),
        (status = 502, description = "agent unreachable", body = ErrorBody),
        (status = 504, description = "agent timed out", body = ErrorBody),
    )
)]
pub(crate) fn get_health(
    State(state): State<GatewayState>,
    agent: TargetAgent,
    ClientAddr(remote): ClientAddr,
) -> impl Future<Output = Result<Json<Value>, ApiError>> {
    // HEALTH passes no door: the caller's facts are never read, so the remote address is not
    // even formatted. Not an `async fn`: nothing here waits but the reply, and a future that
    // holds only that keeps this route, the one load balancers hit hardest, small.
    let caller = Caller::anonymous(
        Transport::Http {
            loopback: remote.ip().is_loopback(),
        },
        None,
    );
    let reply = agent.service.call(Request::Health {}, caller);
    response_body(&state, reply).map(|body| body.map(Json))
}

/// The agent's name, address, trust, tools, limits, and how it is reachable.
#[utoipa::path(
    get, path = "/info",
    responses(
        (status = 200, description = "the agent", body = InfoBody),
        (status = 502, description = "agent unreachable", body = ErrorBody),
        (status = 504, description = "agent timed out", body = ErrorBody),
    )
)]
pub(crate) async fn get_info(
    State(state): State<GatewayState>,
    agent: TargetAgent,
    ClientAddr(remote): ClientAddr,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let reply = agent.service.call(Request::Info {}, http_caller(remote));
    let mut body = response_body(&state, reply).await?;
    if let Some(obj) = body.as_object_mut() {
        obj.insert(
            "endpoints".into(),
            json!([endpoint(&headers, &agent.base_path)]),
        );
    }
    Ok(Json(body))
}

/// The base URL of an agent on this gateway, as the client reached it.
fn endpoint(headers: &HeaderMap, base_path: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}{base_path}")
}

/// The routes of this gateway, as ConnectOnion's host lists them at `GET /` (its keys
/// `docs`, `info`, `health`, `input`, `websocket`), with ours beside them.
#[utoipa::path(
    get, path = "/",
    responses((status = 200, description = "where each route is", body = RouteIndexBody))
)]
pub(crate) async fn get_index(State(state): State<GatewayState>) -> Json<RouteIndexBody> {
    let index = match &*state.agents {
        Agents::Local(_) => RouteIndexBody {
            docs: "/docs",
            info: "/info",
            health: "/health",
            input: "POST /input",
            websocket: "/ws",
            sessions: "/sessions",
            openapi: "/openapi.json",
            agents: None,
            discovery: "/api/agents/{address}",
        },
        Agents::Remote(_) => RouteIndexBody {
            docs: "/agents/{address}/docs",
            info: "/agents/{address}/info",
            health: "/health",
            input: "POST /agents/{address}/input",
            websocket: "/agents/{address}/ws",
            sessions: "/agents/{address}/sessions",
            openapi: "/openapi.json",
            agents: Some("/agents/{address}/"),
            discovery: "/api/agents/{address}",
        },
    };
    Json(index)
}

/// The interactive page: chat over /ws, identity, sessions, snippets.
#[utoipa::path(
    get, path = "/docs",
    responses((status = 200, description = "the page", content_type = "text/html"))
)]
pub(crate) async fn get_docs() -> Response {
    ([(header::CACHE_CONTROL, "no-cache")], Html(DOCS_PAGE)).into_response()
}

/// Discovery for ConnectOnion clients: where the agent with this address is served.
#[utoipa::path(
    get, path = "/api/agents/{address}",
    params(("address" = String, Path, description = "the agent's 0x address or PeerId")),
    responses(
        (status = 200, description = "where to reach the agent", body = DiscoveryBody),
        (status = 403, description = "this gateway does not serve that agent", body = ErrorBody),
        (status = 404, description = "not an agent this gateway serves", body = ErrorBody),
    )
)]
pub(crate) async fn discover_agent(
    State(state): State<GatewayState>,
    params: RawPathParams,
    ClientAddr(remote): ClientAddr,
    headers: HeaderMap,
) -> Result<Json<DiscoveryBody>, ApiError> {
    let text = path_param(&params, "address").unwrap_or_default();
    let address = agenthost_identity::Address::parse(&text)
        .map_err(|e| ApiError::not_found(format!("{text} is not an agent address: {e}")))?;
    let (base, service) = match &*state.agents {
        Agents::Local(local) => {
            if local.address != address {
                return Err(ApiError::not_found(format!(
                    "agent {address} is not served here"
                )));
            }
            (String::new(), std::sync::Arc::clone(&local.service))
        }
        Agents::Remote(remote) => {
            let target = remote.target(address)?;
            (target.base_path, target.service)
        }
    };
    let health = service.call(Request::Health {}, http_caller(remote));
    let online = matches!(
        tokio::time::timeout(std::time::Duration::from_secs(5), health.terminal()).await,
        Ok(Frame::Response(_))
    );
    Ok(Json(DiscoveryBody {
        address: address.to_string(),
        online,
        endpoints: vec![endpoint(&headers, &base)],
    }))
}

/// The standalone gateway's own liveness.
#[utoipa::path(
    get, path = "/health",
    responses((status = 200, description = "the gateway is up", body = HealthBody))
)]
pub(crate) async fn gateway_health(State(state): State<GatewayState>) -> Json<serde_json::Value> {
    Json(json!({
        "status": "healthy",
        "agent": null,
        "gateway": true,
        "uptime": state.started.elapsed().as_secs(),
    }))
}
