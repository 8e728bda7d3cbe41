//! The dispatcher: the agent's one door, whatever path a request took (P2P stream, gateway,
//! in-process). It routes each request kind: INPUT through trust, limits, admission and a run on
//! a fresh clone of the agent (`run.rs`); SESSION, SESSIONS and CANCEL against the session store
//! (`session_requests.rs`); INFO and HEALTH answered here.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use futures::future::BoxFuture;

use agenthost_identity::Address;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{
    admit::{refusal_frame, run_input},
    caller::Caller,
    service::{AgentService, Opening, RetireReport},
    session_requests,
    signed_request::{verify_signed_get, verify_socket_opening, SignedGetPath},
    state::{DoorState, HostIdentity},
};
use crate::{
    agent::{Agent, AgentInfo},
    events::Reply,
    inputs::InputLimits,
    store::SessionStore,
    transport::{SharedAddrs, SharedRelayStatus},
    trust::{Gatekeeper, Trust, TrustConfig},
    wire::{Frame, Request, SignedFields},
    worker::{RunningTurns, WorkerLimits, WorkerPool},
};

/// Frames buffered between a run and its caller before the agent waits for the caller.
pub(crate) const REPLY_BUFFER_FRAMES: usize = 64;

/// Everything a dispatcher needs besides the agent.
pub struct DispatcherConfig {
    /// The hosted agent's address and PeerId, as INFO reports them.
    pub identity: HostIdentity,
    /// How many runs execute at once and how many may queue (default 16 and 128).
    pub limits: WorkerLimits,
    /// The node's listen addresses, kept current by the node and listed in INFO.
    pub listen_addrs: SharedAddrs,
    /// The relays the node reserves on and how each stands (empty without relays).
    pub relays: SharedRelayStatus,
    /// Admits or refuses each INPUT by trust level, lists, policy and rate limit.
    pub gatekeeper: Arc<Gatekeeper>,
    /// The SQLite session store; turns are recorded here and the replay ledger comes from it.
    pub store: SessionStore,
    /// Limits on attached images and files, checked on every INPUT and shown in INFO.
    pub input_limits: InputLimits,
    /// Where uploads go (`<data_dir>/uploads/<session>/`).
    pub data_dir: PathBuf,
}

impl DispatcherConfig {
    /// The defaults around one data folder: `careful` trust with the folder's list files, the
    /// session store in `<data_dir>/sessions.db` keeping results 24 h, default worker and
    /// input limits.
    pub fn in_dir(
        identity: HostIdentity,
        data_dir: &Path,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let trust = TrustConfig::new(Trust::Careful, identity.address).with_data_dir(data_dir);
        Ok(DispatcherConfig {
            identity,
            limits: WorkerLimits::default(),
            listen_addrs: Arc::new(RwLock::new(Vec::new())),
            relays: SharedRelayStatus::default(),
            gatekeeper: Arc::new(Gatekeeper::new(trust)?),
            store: SessionStore::open(
                &data_dir.join("sessions.db"),
                Duration::from_secs(24 * 60 * 60),
            )?,
            input_limits: InputLimits::default(),
            data_dir: data_dir.to_owned(),
        })
    }
}

/// Dispatches requests to clones of one agent.
pub struct Dispatcher<A: Agent> {
    shared: Arc<DoorState<A>>,
}

impl<A: Agent> Clone for Dispatcher<A> {
    fn clone(&self) -> Self {
        Dispatcher {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<A: Agent> Dispatcher<A> {
    /// A dispatcher for `agent`: every run executes on a fresh clone of it.
    pub fn new(agent: A, config: DispatcherConfig) -> Self {
        Dispatcher {
            shared: Arc::new(DoorState {
                info: agent.info(),
                agent,
                identity: config.identity,
                pool: WorkerPool::new(config.limits),
                started: Instant::now(),
                listen_addrs: config.listen_addrs,
                relays: config.relays,
                gatekeeper: config.gatekeeper,
                ledger: config.store.replay_ledger(),
                store: config.store,
                input_limits: config.input_limits,
                data_dir: config.data_dir,
                running: RunningTurns::default(),
            }),
        }
    }

    /// Names the agent `name` in INFO, HEALTH and the page instead of its own name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => shared.info.name = name.into(),
            None => tracing::warn!("with_name on a dispatcher already in use: name unchanged"),
        }
        self
    }

    /// What the agent says it is (its name possibly replaced by [`Dispatcher::with_name`]).
    pub fn info(&self) -> &AgentInfo {
        &self.shared.info
    }

    /// Runs currently executing or queued.
    pub fn in_flight(&self) -> usize {
        self.shared.pool.in_flight()
    }

    fn info_body(&self) -> Value {
        let shared = &self.shared;
        let listen: Vec<String> = shared
            .listen_addrs
            .read()
            .map(|addrs| {
                addrs
                    .iter()
                    .map(|a| format!("{a}/p2p/{}", shared.identity.peer_id))
                    .collect()
            })
            .unwrap_or_default();
        let limits = shared.pool.limits();
        let inputs = &shared.input_limits;
        // ConnectOnion's fields first, with its types (its clients read them), then ours
        // under names it does not use.
        let mut body = json!({
            "name": shared.info.name,
            "address": shared.identity.address.to_string(),
            "tools": shared.info.tools,
            // An agent without a model (the demo, most hosted commands) says so with "".
            "model": shared.info.model.clone().unwrap_or_default(),
            "trust": shared.gatekeeper.trust_name(),
            "version": env!("CARGO_PKG_VERSION"),
            "skills": [],
            "accepted_inputs": {
                "text": true,
                "images": true,
                "files": {
                    "max_file_size_mb": megabytes(inputs.max_file_size_bytes),
                    "max_files_per_request": inputs.max_files_per_request,
                },
            },
            "protocol": crate::wire::oip_descriptor(),
            "peer_id": shared.identity.peer_id.to_string(),
            "p2p_protocol": crate::wire::AGENT_PROTOCOL.as_ref(),
            "workers": limits.workers,
            "queue": limits.queue,
            "listen_addrs": listen,
            "relays": shared
                .relays
                .read()
                .map(|relays| {
                    relays
                        .iter()
                        .map(|r| {
                            json!({
                                "relay": r.relay.to_string(),
                                "state": r.state.to_string(),
                                "listed": r.listed,
                            })
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        });
        if let Some(d) = &shared.info.description {
            body["description"] = json!(d);
        }
        body
    }

    fn health_body(&self) -> Value {
        json!({
            "status": "healthy",
            "agent": self.shared.info.name,
            "uptime": self.shared.started.elapsed().as_secs(),
        })
    }

    /// Answers a request whose reply is one frame computed asynchronously.
    fn spawn_single<F>(&self, work: F) -> Reply
    where
        F: std::future::Future<Output = Frame> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(1);
        let cancel = CancellationToken::new();
        tokio::spawn(async move {
            let _ = tx.send(work.await).await;
        });
        Reply::new(rx, cancel)
    }
}

/// A size in MB as ConnectOnion reports it: an integer when whole (`10`, not `10.0`).
fn megabytes(bytes: usize) -> Value {
    const MB: usize = 1024 * 1024;
    if bytes.is_multiple_of(MB) {
        json!(bytes / MB)
    } else {
        json!(bytes as f64 / MB as f64)
    }
}

impl<A: Agent> AgentService for Dispatcher<A> {
    fn drain(&self, grace: Duration) -> BoxFuture<'static, RetireReport> {
        self.shared.running.close();
        self.retire_runs(grace)
    }

    fn retire_runs(&self, grace: Duration) -> BoxFuture<'static, RetireReport> {
        let shared = Arc::clone(&self.shared);
        // Marked now, not when the future is first polled: runs admitted after this call
        // belong to the new files.
        let generation = shared.running.mark_for_retirement();
        Box::pin(async move { shared.running.retire(generation, grace).await })
    }

    fn verify_opening(
        &self,
        envelope: agenthost_identity::SignedEnvelope,
        opening: Opening,
        caller: Caller,
    ) -> BoxFuture<'static, Result<Address, crate::wire::ErrorFrame>> {
        let shared = Arc::clone(&self.shared);
        let span = tracing::info_span!("request", kind = opening.kind(), caller = %caller);
        let verify = async move {
            let gatekeeper = &shared.gatekeeper;
            let blacklisted = |a: &Address| gatekeeper.is_blacklisted(a);
            let single_use = opening != Opening::Connect { sealed: true };
            let signer = verify_socket_opening(
                &envelope,
                shared.identity.address,
                &shared.ledger,
                &blacklisted,
                single_use,
            )
            .await?;
            if let Opening::Connect { .. } = opening {
                let caller = caller.signed_by(signer);
                gatekeeper
                    .admits(&caller.facts())
                    .await
                    .map_err(refusal_frame)?;
            }
            Ok(signer)
        };
        Box::pin(verify.instrument(span))
    }

    fn call(&self, request: Request, caller: Caller) -> Reply {
        match request {
            Request::Input(input) => {
                let (tx, rx) = mpsc::channel(REPLY_BUFFER_FRAMES);
                let reply_gone = CancellationToken::new();
                // One span per request: every line logged on its way names the caller (once
                // its signature is checked) and the session (once it is known).
                let span = tracing::info_span!(
                    "request",
                    kind = "input",
                    caller = tracing::field::Empty,
                    session = tracing::field::Empty,
                );
                let run = run_input(
                    Arc::clone(&self.shared),
                    input,
                    caller,
                    tx,
                    reply_gone.clone(),
                );
                tokio::spawn(run.instrument(span));
                Reply::new(rx, reply_gone)
            }
            Request::Info {} => Reply::single(Frame::Response(self.info_body())),
            Request::Health {} => Reply::single(Frame::Response(self.health_body())),
            Request::Session { session_id, signed } => {
                let shared = Arc::clone(&self.shared);
                self.spawn_single(async move {
                    match signed_caller(
                        &shared,
                        signed,
                        caller,
                        SignedGetPath::Session(&session_id),
                    )
                    .await
                    {
                        Ok(caller) => {
                            session_requests::session(&shared, &session_id, &caller).await
                        }
                        Err(error) => Frame::Error(error),
                    }
                })
            }
            Request::Sessions { limit, signed } => {
                let shared = Arc::clone(&self.shared);
                self.spawn_single(async move {
                    match signed_caller(&shared, signed, caller, SignedGetPath::Sessions).await {
                        Ok(caller) => session_requests::sessions(&shared, limit, &caller).await,
                        Err(error) => Frame::Error(error),
                    }
                })
            }
            Request::Cancel { session_id, signed } => {
                let shared = Arc::clone(&self.shared);
                self.spawn_single(async move {
                    match signed_caller(&shared, signed, caller, SignedGetPath::Cancel(&session_id))
                        .await
                    {
                        Ok(caller) => session_requests::cancel(&shared, &session_id, &caller).await,
                        Err(error) => Frame::Error(error),
                    }
                })
            }
        }
    }
}

/// The caller of a SESSION, SESSIONS or CANCEL: the verified signer when the request carries a
/// signed GET, else whoever the transport says.
async fn signed_caller<A>(
    shared: &DoorState<A>,
    signed: SignedFields,
    caller: Caller,
    path: SignedGetPath<'_>,
) -> Result<Caller, crate::wire::ErrorFrame> {
    if !signed.is_signed() {
        return Ok(caller);
    }
    let gatekeeper = &shared.gatekeeper;
    let blacklisted = |a: &agenthost_identity::Address| gatekeeper.is_blacklisted(a);
    verify_signed_get(
        signed,
        caller,
        path,
        shared.identity.address,
        &shared.ledger,
        &blacklisted,
    )
    .await
}
