//! Signed requests (WIRE.md §2): INPUT envelopes and forwarded signed GETs (§2.5): the envelope's checks, and the request fields read from
//! its payload. The signer becomes the caller; the peer that carried it is kept as `via`.

use agenthost_identity::{
    verify_envelope, Address, EnvelopeChecks, EnvelopeError, ReplayLedger, SignedEnvelope,
    VerifiedSigner,
};
use serde_json::Value;

use super::caller::Caller;
use crate::{
    store::SqliteReplayLedger,
    wire::{ErrorCode, ErrorFrame, InputRequest, SignedFields},
};

/// Verifies the envelope of `request` and returns its fields (the signed copies win over any
/// unsigned ones beside the payload) with the caller attributed to the signer.
pub(crate) async fn verify_signed_input(
    request: InputRequest,
    caller: Caller,
    agent: Address,
    ledger: &SqliteReplayLedger,
    is_blacklisted: &(dyn Fn(&Address) -> bool + Sync),
    require_to: bool,
) -> Result<(InputRequest, Caller), ErrorFrame> {
    let unauthorized =
        |m: &str| ErrorFrame::new(ErrorCode::Unauthorized, format!("unauthorized: {m}"));
    let envelope = SignedEnvelope {
        payload: request
            .payload
            .clone()
            .ok_or_else(|| unauthorized("missing payload"))?,
        from: request
            .from
            .clone()
            .ok_or_else(|| unauthorized("missing from"))?,
        signature: request
            .signature
            .clone()
            .ok_or_else(|| unauthorized("missing signature"))?,
    };
    if let Some(method) = envelope.payload.get("method") {
        // A signed HTTP request (WIRE.md §2.6): the payload binds the request's body by its
        // digest, and the gateway that read that body put the input's fields beside it.
        check_signed_http_input(method, &envelope.payload).map_err(|m| unauthorized(&m))?;
        let signer = verify(&envelope, agent, ledger, is_blacklisted, require_to).await?;
        let fields = InputRequest {
            payload: None,
            from: None,
            signature: None,
            ..request
        };
        return Ok((fields, caller.signed_by(signer.address)));
    }
    let signer = verify(&envelope, agent, ledger, is_blacklisted, require_to).await?;
    let fields = signed_fields(&envelope.payload, request)?;
    Ok((fields, caller.signed_by(signer.address)))
}

/// The paths of the protocols whose HTTP requests carry an input in a body the signature binds
/// by digest (WIRE.md §2.6): MCP's endpoint, on an embedded gateway or under a standalone
/// one's `/agents/{address}`.
const SIGNED_HTTP_INPUT_PATHS: &[&str] = &["/mcp"];

/// Whether a signed HTTP request's payload may carry an input: a POST to one of
/// [`SIGNED_HTTP_INPUT_PATHS`] in the full form, which binds the body (`body_sha256`), so a
/// signature made for another request, or for this one without its body, opens nothing.
fn check_signed_http_input(method: &Value, payload: &Value) -> Result<(), String> {
    if method.as_str() != Some("POST") {
        return Err("the signature is for another request".into());
    }
    let path = payload.get("path").and_then(Value::as_str).unwrap_or("");
    if !SIGNED_HTTP_INPUT_PATHS.iter().any(|p| path.ends_with(p)) {
        return Err("the signature is for another request".into());
    }
    match payload.get("body_sha256").and_then(Value::as_str) {
        Some(digest) if digest.len() == 64 => Ok(()),
        _ => Err("a signed request carrying an input must bind its body (X-Co-Request-Id)".into()),
    }
}

fn signed_fields(payload: &Value, unsigned: InputRequest) -> Result<InputRequest, ErrorFrame> {
    let bad = |m: String| ErrorFrame::new(ErrorCode::BadRequest, m);
    let field = |key: &str| payload.get(key).filter(|v| !v.is_null());
    let prompt = match field("prompt") {
        Some(Value::String(p)) => Some(p.clone()),
        Some(_) => return Err(bad("payload.prompt must be a string".into())),
        None => unsigned.prompt,
    };
    let images = match field("images") {
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| bad(format!("payload.images must be a list of data URLs: {e}")))?,
        None => unsigned.images,
    };
    let files = match field("files") {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            bad(format!(
                "payload.files must be a list of {{name, data}}: {e}"
            ))
        })?,
        None => unsigned.files,
    };
    let detached = match field("detached") {
        Some(Value::Bool(d)) => *d,
        Some(_) => return Err(bad("payload.detached must be a boolean".into())),
        None => unsigned.detached,
    };
    Ok(InputRequest {
        prompt,
        session: field("session").cloned().or(unsigned.session),
        images,
        files,
        detached,
        ..InputRequest::default()
    })
}

/// Which request a signed GET (WIRE.md §2.5) must have been signed for. Its `path` is matched by
/// suffix, because a standalone gateway serves the same routes under `/agents/{address}/…`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SignedGetPath<'a> {
    Sessions,
    Session(&'a str),
    Cancel(&'a str),
}

impl SignedGetPath<'_> {
    fn matches(&self, method: &str, path: &str) -> bool {
        let path = path.split('?').next().unwrap_or_default();
        match self {
            SignedGetPath::Sessions => method == "GET" && path.ends_with("/sessions"),
            SignedGetPath::Session(id) => {
                method == "GET" && path.ends_with(&format!("/sessions/{id}"))
            }
            SignedGetPath::Cancel(id) => {
                method == "POST" && path.ends_with(&format!("/sessions/{id}/cancel"))
            }
        }
    }
}

/// Verifies a signed GET forwarded as envelope fields: the checks of WIRE.md §2.3 (`to` only
/// when present: the short form has none), then that it was signed for this very request.
pub(crate) async fn verify_signed_get(
    signed: SignedFields,
    caller: Caller,
    path: SignedGetPath<'_>,
    agent: Address,
    ledger: &SqliteReplayLedger,
    is_blacklisted: &(dyn Fn(&Address) -> bool + Sync),
) -> Result<Caller, ErrorFrame> {
    let unauthorized =
        |m: &str| ErrorFrame::new(ErrorCode::Unauthorized, format!("unauthorized: {m}"));
    let envelope = SignedEnvelope {
        payload: signed
            .payload
            .ok_or_else(|| unauthorized("missing payload"))?,
        from: signed.from.ok_or_else(|| unauthorized("missing from"))?,
        signature: signed
            .signature
            .ok_or_else(|| unauthorized("missing signature"))?,
    };
    let method = envelope.payload.get("method").and_then(Value::as_str);
    let signed_path = envelope.payload.get("path").and_then(Value::as_str);
    match (method, signed_path) {
        (Some(method), Some(p)) if path.matches(method, p) => {}
        _ => return Err(unauthorized("the signature is for another request")),
    }
    let signer = verify(&envelope, agent, ledger, is_blacklisted, false).await?;
    Ok(caller.signed_by(signer.address))
}

/// Verifies the signature that opens a socket session (a WebSocket CONNECT or a SEAL hello,
/// WIRE.md §4): the checks of §2.3 with `to` required. Single use, unless the socket is sealed
/// by this very signer: then the channel is the replay guard (nobody else can put a frame on
/// it), and two CONNECTs of one second, which are the same bytes, both stand.
pub(crate) async fn verify_socket_opening(
    envelope: &SignedEnvelope,
    agent: Address,
    ledger: &SqliteReplayLedger,
    is_blacklisted: &(dyn Fn(&Address) -> bool + Sync),
    single_use: bool,
) -> Result<Address, ErrorFrame> {
    if single_use {
        return Ok(verify(envelope, agent, ledger, is_blacklisted, true)
            .await?
            .address);
    }
    let unrecorded = DeferredLedger::default();
    let checks = EnvelopeChecks::new(agent, &unrecorded)
        .with_blacklist(is_blacklisted)
        .with_require_to(true);
    verify_envelope(envelope, &checks)
        .map(|signer| signer.address)
        .map_err(envelope_error)
}

/// The checks of WIRE.md §2.3 in their order, the last (single use) awaited on the store's
/// writer instead of blocking a runtime worker until the ledger's commit.
async fn verify(
    envelope: &SignedEnvelope,
    agent: Address,
    ledger: &SqliteReplayLedger,
    is_blacklisted: &(dyn Fn(&Address) -> bool + Sync),
    require_to: bool,
) -> Result<VerifiedSigner, ErrorFrame> {
    let deferred = DeferredLedger::default();
    let checks = EnvelopeChecks::new(agent, &deferred)
        .with_blacklist(is_blacklisted)
        .with_require_to(require_to);
    let signer = verify_envelope(envelope, &checks).map_err(envelope_error)?;
    let (signature, expires) = deferred.take().ok_or_else(|| {
        ErrorFrame::new(ErrorCode::Internal, "signature never reached the ledger")
    })?;
    match ledger.check_and_record_async(&signature, expires).await {
        Ok(true) => Ok(signer),
        Ok(false) => Err(envelope_error(EnvelopeError::Replayed)),
        Err(e) => Err(envelope_error(EnvelopeError::LedgerUnavailable(e))),
    }
}

/// Step 6 of the checks, postponed: remembers what to record and says "fresh", so the real,
/// asynchronous check runs after the other five passed (the order of WIRE.md §2.3 holds).
#[derive(Default)]
struct DeferredLedger {
    pending: std::sync::Mutex<Option<([u8; 64], f64)>>,
}

impl DeferredLedger {
    fn take(&self) -> Option<([u8; 64], f64)> {
        self.pending.lock().ok()?.take()
    }
}

impl ReplayLedger for DeferredLedger {
    fn check_and_record(
        &self,
        signature: &[u8; 64],
        expires_at_secs: f64,
    ) -> Result<bool, agenthost_identity::LedgerError> {
        if let Ok(mut pending) = self.pending.lock() {
            *pending = Some((*signature, expires_at_secs));
        }
        Ok(true)
    }
}

fn envelope_error(e: EnvelopeError) -> ErrorFrame {
    let code = ErrorCode::from(&e);
    let frame = ErrorFrame::new(code, e.to_string());
    match code {
        ErrorCode::Unavailable => {
            tracing::error!(error = ?e, "replay ledger unavailable: refusing signed requests");
            frame.with_retry_after(LEDGER_RETRY_AFTER_SECS)
        }
        _ => frame,
    }
}

/// When a caller refused for a ledger outage may try again.
const LEDGER_RETRY_AFTER_SECS: u64 = 5;
