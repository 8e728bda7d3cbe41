//! The dispatcher: the agent's one door. It admits requests against the worker limits, runs each
//! admitted INPUT on a fresh clone of the agent, and turns the run into reply frames; it answers
//! INFO and HEALTH itself.
//!
//! Admission: at most `workers` runs at once and `queue` more waiting for a worker. A request
//! beyond that gets an `overloaded` ERROR at once — it is never parked unread.

use std::{
    panic::AssertUnwindSafe,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, RwLock,
    },
    time::Instant,
};

use agenthost_identity::{
    verify_envelope, Address, EnvelopeChecks, MemoryReplayLedger, SignedEnvelope,
};
use futures::FutureExt;
use libp2p::{Multiaddr, PeerId};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::{
    agent::{Agent, AgentInfo, Input},
    caller::Caller,
    context::Context,
    frame::{ErrorCode, ErrorFrame, FileInput, Frame, InputRequest, OutputFrame, Request},
    reply::Reply,
    service::AgentService,
    session::Session,
};

/// Frames buffered between a run and its caller before the agent waits for the caller.
const REPLY_BUFFER_FRAMES: usize = 64;

/// Limits on concurrent work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerLimits {
    /// Runs executing at once.
    pub workers: usize,
    /// Admitted runs waiting for a worker.
    pub queue: usize,
}

impl Default for WorkerLimits {
    fn default() -> Self {
        WorkerLimits {
            workers: 16,
            queue: 128,
        }
    }
}

/// Addresses the node listens on, kept current by the node and read by INFO.
pub type SharedAddrs = Arc<RwLock<Vec<Multiaddr>>>;

/// The hosted agent's identity as INFO reports it.
#[derive(Debug, Clone)]
pub struct HostIdentity {
    pub address: Address,
    pub peer_id: PeerId,
}

/// Dispatches requests to clones of one agent.
pub struct Dispatcher<A: Agent> {
    inner: Arc<Inner<A>>,
}

impl<A: Agent> Clone for Dispatcher<A> {
    fn clone(&self) -> Self {
        Dispatcher {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<A> {
    /// The prototype every run clones.
    agent: A,
    info: AgentInfo,
    identity: HostIdentity,
    limits: WorkerLimits,
    workers: Arc<Semaphore>,
    /// Running plus queued runs.
    admitted: AtomicUsize,
    started: Instant,
    listen_addrs: SharedAddrs,
    replay_ledger: MemoryReplayLedger,
}

impl<A: Agent> Dispatcher<A> {
    pub fn new(
        agent: A,
        identity: HostIdentity,
        limits: WorkerLimits,
        listen_addrs: SharedAddrs,
    ) -> Self {
        let limits = WorkerLimits {
            workers: limits.workers.max(1),
            queue: limits.queue,
        };
        Dispatcher {
            inner: Arc::new(Inner {
                info: agent.info(),
                agent,
                identity,
                limits,
                workers: Arc::new(Semaphore::new(limits.workers)),
                admitted: AtomicUsize::new(0),
                started: Instant::now(),
                listen_addrs,
                replay_ledger: MemoryReplayLedger::new(),
            }),
        }
    }

    pub fn info(&self) -> &AgentInfo {
        &self.inner.info
    }

    /// Runs currently executing or queued.
    pub fn in_flight(&self) -> usize {
        self.inner.admitted.load(Ordering::Acquire)
    }

    fn info_body(&self) -> Value {
        let inner = &self.inner;
        let listen: Vec<String> = inner
            .listen_addrs
            .read()
            .map(|addrs| {
                addrs
                    .iter()
                    .map(|a| format!("{a}/p2p/{}", inner.identity.peer_id))
                    .collect()
            })
            .unwrap_or_default();
        let mut body = json!({
            "name": inner.info.name,
            "address": inner.identity.address.to_string(),
            "peer_id": inner.identity.peer_id.to_string(),
            "tools": inner.info.tools,
            // Every P2P caller is Noise-authenticated and no list refuses anyone yet.
            "trust": "open",
            "version": env!("CARGO_PKG_VERSION"),
            "protocol": crate::protocol::AGENT_PROTOCOL.as_ref(),
            "accepted_inputs": {"text": true, "images": true, "files": true},
            "workers": inner.limits.workers,
            "queue": inner.limits.queue,
            "listen_addrs": listen,
        });
        if let Some(d) = &inner.info.description {
            body["description"] = json!(d);
        }
        if let Some(m) = &inner.info.model {
            body["model"] = json!(m);
        }
        body
    }

    fn health_body(&self) -> Value {
        json!({
            "status": "healthy",
            "agent": self.inner.info.name,
            "uptime": self.inner.started.elapsed().as_secs(),
        })
    }

    fn start_input(&self, request: InputRequest, caller: Caller) -> Reply {
        let (input, session, caller) = match self.prepare_input(request, caller) {
            Ok(parts) => parts,
            Err(err) => return Reply::single(Frame::Error(err)),
        };
        let Some(admission) = Admission::try_new(&self.inner) else {
            let limits = self.inner.limits;
            tracing::warn!(%caller, workers = limits.workers, queue = limits.queue, "overloaded");
            return Reply::single(Frame::Error(
                ErrorFrame::new(
                    ErrorCode::Overloaded,
                    format!(
                        "overloaded: {} workers busy and {} queued; retry later",
                        limits.workers, limits.queue
                    ),
                )
                .with_retry_after(1),
            ));
        };
        let (tx, rx) = mpsc::channel(REPLY_BUFFER_FRAMES);
        let cancel = CancellationToken::new();
        let run = Run {
            inner: Arc::clone(&self.inner),
            input,
            session,
            caller,
            tx,
            cancel: cancel.clone(),
        };
        tokio::spawn(run.execute(admission));
        Reply::new(rx, cancel)
    }

    /// Reads the request's fields from its plain form or its signed envelope.
    fn prepare_input(
        &self,
        request: InputRequest,
        caller: Caller,
    ) -> Result<(Input, Session, Caller), ErrorFrame> {
        let (fields, caller) = match (&request.payload, &request.signature) {
            (Some(_), _) | (None, Some(_)) => self.verify_signed(&request, caller)?,
            (None, None) => (request, caller),
        };
        let prompt = fields
            .prompt
            .ok_or_else(|| ErrorFrame::new(ErrorCode::BadRequest, "missing prompt"))?;
        let session = Session::resume(fields.session.as_ref())
            .map_err(|e| ErrorFrame::new(ErrorCode::BadRequest, e))?;
        let input = Input {
            prompt,
            images: fields.images,
            files: fields.files,
        };
        Ok((input, session, caller))
    }

    /// Checks a signed envelope (WIRE.md §2.3). The signer becomes the caller and the peer that
    /// carried it (a gateway) is kept as `via`. Fields inside the signed payload win over the
    /// unsigned copies beside it.
    fn verify_signed(
        &self,
        request: &InputRequest,
        caller: Caller,
    ) -> Result<(InputRequest, Caller), ErrorFrame> {
        let unauthorized = |m: &str| ErrorFrame::new(ErrorCode::Unauthorized, m);
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
        let no_blacklist = |_: &Address| false;
        let checks = EnvelopeChecks::new(self.inner.identity.address, &self.inner.replay_ledger);
        let checks = EnvelopeChecks {
            is_blacklisted: &no_blacklist,
            ..checks
        };
        let signer = verify_envelope(&envelope, &checks).map_err(|e| {
            let code = match e.status() {
                403 => ErrorCode::Forbidden,
                401 => ErrorCode::Unauthorized,
                _ => ErrorCode::Internal,
            };
            ErrorFrame::new(code, e.to_string())
        })?;
        let payload = &envelope.payload;
        let signed_or = |key: &str, unsigned: Option<Value>| payload.get(key).cloned().or(unsigned);
        let prompt = match payload.get("prompt") {
            Some(Value::String(p)) => Some(p.clone()),
            Some(_) => {
                return Err(ErrorFrame::new(
                    ErrorCode::BadRequest,
                    "payload.prompt must be a string",
                ))
            }
            None => request.prompt.clone(),
        };
        let images: Vec<String> = parse_field(signed_or("images", to_value(&request.images)))?;
        let files: Vec<FileInput> = parse_field(signed_or("files", to_value(&request.files)))?;
        let fields = InputRequest {
            prompt,
            session: signed_or("session", request.session.clone()),
            images,
            files,
            ..InputRequest::default()
        };
        let signer_caller = Caller {
            peer_id: Some(signer.address.to_peer_id()),
            address: Some(signer.address),
            remote: caller.remote.clone(),
        };
        if caller.peer_id != signer_caller.peer_id {
            tracing::debug!(signer = %signer.address.short(), via = %caller, "signed request forwarded");
        }
        Ok((fields, signer_caller))
    }
}

fn to_value<T: serde::Serialize>(v: &[T]) -> Option<Value> {
    (!v.is_empty()).then(|| serde_json::to_value(v).unwrap_or(Value::Null))
}

fn parse_field<T: serde::de::DeserializeOwned + Default>(
    value: Option<Value>,
) -> Result<T, ErrorFrame> {
    match value {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => serde_json::from_value(v)
            .map_err(|e| ErrorFrame::new(ErrorCode::BadRequest, format!("invalid field: {e}"))),
    }
}

impl<A: Agent> AgentService for Dispatcher<A> {
    fn call(&self, request: Request, caller: Caller) -> Reply {
        match request {
            Request::Input(input) => self.start_input(input, caller),
            Request::Info {} => Reply::single(Frame::Response(self.info_body())),
            Request::Health {} => Reply::single(Frame::Response(self.health_body())),
        }
    }
}

/// A slot among the admitted runs, released on drop whatever way the run ends.
struct Admission<A> {
    inner: Arc<Inner<A>>,
}

impl<A> Admission<A> {
    fn try_new(inner: &Arc<Inner<A>>) -> Option<Self> {
        let capacity = inner.limits.workers + inner.limits.queue;
        inner
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < capacity).then_some(n + 1)
            })
            .ok()?;
        Some(Admission {
            inner: Arc::clone(inner),
        })
    }
}

impl<A> Drop for Admission<A> {
    fn drop(&mut self) {
        self.inner.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One admitted INPUT on its way through a worker.
struct Run<A> {
    inner: Arc<Inner<A>>,
    input: Input,
    session: Session,
    caller: Caller,
    tx: mpsc::Sender<Frame>,
    cancel: CancellationToken,
}

impl<A: Agent> Run<A> {
    async fn execute(self, admission: Admission<A>) {
        let Run {
            inner,
            input,
            mut session,
            caller,
            tx,
            cancel,
        } = self;
        let permit = tokio::select! {
            permit = Arc::clone(&inner.workers).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return, // semaphore closed: the host is shutting down
            },
            _ = cancel.cancelled() => {
                tracing::debug!(%caller, "cancelled while queued");
                return;
            }
        };
        let started = Instant::now();
        let session_id = session.session_id.clone();
        let prompt = input.prompt.clone();
        let cx = Context::new(caller.clone(), session.clone(), tx.clone(), cancel.clone());
        // The fresh copy: whatever this run does to its agent dies with the run.
        let mut agent = inner.agent.clone();
        let run = AssertUnwindSafe(agent.input(input, &cx)).catch_unwind();
        let outcome = tokio::select! {
            outcome = run => outcome,
            _ = cancel.cancelled() => {
                tracing::info!(%caller, session = %session_id, "run cancelled: caller went away");
                return;
            }
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        let terminal = match outcome {
            Ok(Ok(output)) => {
                session.record_turn(&prompt, &output.result, cx.take_trace());
                tracing::debug!(%caller, session = %session_id, duration_ms, "run done");
                Frame::Output(OutputFrame {
                    result: output.result,
                    session_id,
                    duration_ms,
                    session: session.to_json(),
                })
            }
            Ok(Err(e)) => {
                tracing::warn!(%caller, session = %session_id, error = %e, "agent failed");
                Frame::Error(ErrorFrame::new(ErrorCode::AgentError, e.to_string()))
            }
            Err(_) => {
                tracing::error!(%caller, session = %session_id, "agent panicked");
                Frame::Error(ErrorFrame::new(ErrorCode::AgentError, "the agent panicked"))
            }
        };
        // Free the worker before waiting on a possibly slow reader.
        drop(permit);
        drop(admission);
        let _ = tx.send(terminal).await;
    }
}
