//! The single writer thread and its group commit.
//!
//! Every change to the database is a [`Job`] sent over a channel to one `std::thread` that
//! owns the only read-write connection. The thread takes the first queued job, drains
//! whatever else is queued (up to [`MAX_BATCH`]), applies them all in one `BEGIN IMMEDIATE`
//! transaction and commits once, then puts the committed records into the cache and answers
//! each job. One commit (one WAL append) is shared by every write that arrived meanwhile,
//! and no two writers ever wait on SQLite's lock.
//!
//! If anything in a batch fails, the batch is rolled back and its jobs are retried one
//! transaction each, so one bad job cannot fail the others.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::Value;
use tokio::sync::oneshot;
use tracing::{debug, warn};

use crate::store::cache::RecordCache;
use crate::store::error::{BeginError, StoreError};
use crate::store::record::{SessionRecord, SessionStatus};
use crate::store::spent::SpentSignatures;
use crate::store::sql::{self, RawRecord};
use crate::store::stats::Counters;
use crate::store::unix_now;

/// Most jobs committed in one transaction.
pub(crate) const MAX_BATCH: usize = 512;

/// Under concurrent writes, how long the writer thread waits for more jobs before it
/// commits (see [`Writer::run`]). Every commit appends each page it changed as a 4 KiB WAL
/// frame, and a commit of one job changes about as many pages as a commit of twenty, so
/// batching is what keeps the WAL small enough for the checkpointer to keep up.
const LINGER: Duration = Duration::from_micros(200);

/// A committed record and its approximate size, to put in the cache.
type Committed = (SessionRecord, usize);

/// One write for the writer thread. Built by the `Job::…` constructors, which also return
/// the receiving end of its answer.
pub(crate) enum Job {
    Begin(BeginJob),
    Finish(FinishJob),
    Replay(ReplayJob),
    Sweep(SweepJob),
}

pub(crate) struct BeginJob {
    session_id: String,
    owner: Option<String>,
    prompt: String,
    /// `None` for a queued begin (see `SessionStore::begin_queued`): nobody waits for it.
    reply: Option<oneshot::Sender<Result<(), BeginError>>>,
    /// `Err` holds a refusal (`Busy`/`Foreign`), never a store error.
    outcome: Option<Result<Committed, BeginError>>,
}

/// The new conversation object, already serialized off the writer thread.
pub(crate) struct NewSession {
    pub(crate) text: String,
    pub(crate) value: Value,
}

pub(crate) struct FinishJob {
    session_id: String,
    status: SessionStatus,
    result: Option<String>,
    error: Option<String>,
    session: Option<NewSession>,
    duration_ms: u64,
    /// `Some((owner, prompt))` when the turn's running record was never written: the begin
    /// is applied in the same transaction, so a short turn costs one commit instead of two.
    begin: Option<(Option<String>, String)>,
    reply: oneshot::Sender<Result<(), StoreError>>,
    /// `None` inside: no such session.
    outcome: Option<Option<Committed>>,
}

pub(crate) struct ReplayJob {
    signature: [u8; 64],
    expires: f64,
    reply: ReplayReply,
    outcome: Option<bool>,
}

/// Where a replay check's answer goes: a thread blocked on it, or a task awaiting it (which
/// must never block a runtime worker on the commit).
pub(crate) enum ReplayReply {
    Blocking(SyncSender<Result<bool, StoreError>>),
    Async(oneshot::Sender<Result<bool, StoreError>>),
}

impl ReplayReply {
    fn send(self, answer: Result<bool, StoreError>) {
        let _ = match self {
            ReplayReply::Blocking(tx) => tx.send(answer).map_err(drop),
            ReplayReply::Async(tx) => tx.send(answer).map_err(drop),
        };
    }
}

/// Rows deleted by one sweep batch: (sessions, replay entries).
pub(crate) type SweepResult = Result<(usize, usize), StoreError>;

pub(crate) struct SweepJob {
    limit: usize,
    reply: SyncSender<SweepResult>,
    outcome: Option<(usize, usize)>,
}

impl Job {
    pub(crate) fn begin(
        session_id: &str,
        owner: Option<&str>,
        prompt: &str,
    ) -> (Job, oneshot::Receiver<Result<(), BeginError>>) {
        let (reply, rx) = oneshot::channel();
        let job = Job::Begin(BeginJob {
            session_id: session_id.to_string(),
            owner: owner.map(str::to_string),
            prompt: prompt.to_string(),
            reply: Some(reply),
            outcome: None,
        });
        (job, rx)
    }

    /// A begin nobody waits for: committed in queue order, ahead of the turn's finish.
    pub(crate) fn begin_queued(session_id: &str, owner: Option<&str>, prompt: &str) -> Job {
        Job::Begin(BeginJob {
            session_id: session_id.to_string(),
            owner: owner.map(str::to_string),
            prompt: prompt.to_string(),
            reply: None,
            outcome: None,
        })
    }

    pub(crate) fn finish(
        session_id: &str,
        status: SessionStatus,
        result: Option<&str>,
        error: Option<&str>,
        session: Option<NewSession>,
        duration_ms: u64,
    ) -> (Job, oneshot::Receiver<Result<(), StoreError>>) {
        let (reply, rx) = oneshot::channel();
        let job = Job::Finish(FinishJob {
            session_id: session_id.to_string(),
            status,
            result: result.map(str::to_string),
            error: error.map(str::to_string),
            session,
            duration_ms,
            begin: None,
            reply,
            outcome: None,
        });
        (job, rx)
    }

    /// A finish that also begins the turn (see [`FinishJob::begin`]).
    pub(crate) fn with_begin(mut self, owner: Option<&str>, prompt: &str) -> Job {
        if let Job::Finish(j) = &mut self {
            j.begin = Some((owner.map(str::to_string), prompt.to_string()));
        }
        self
    }

    pub(crate) fn replay(
        signature: &[u8; 64],
        expires: f64,
    ) -> (Job, std::sync::mpsc::Receiver<Result<bool, StoreError>>) {
        let (reply, rx) = std::sync::mpsc::sync_channel(1);
        let job = Job::Replay(ReplayJob {
            signature: *signature,
            expires,
            reply: ReplayReply::Blocking(reply),
            outcome: None,
        });
        (job, rx)
    }

    /// The same check, answered to an awaiting task.
    pub(crate) fn replay_async(
        signature: &[u8; 64],
        expires: f64,
    ) -> (Job, oneshot::Receiver<Result<bool, StoreError>>) {
        let (reply, rx) = oneshot::channel();
        let job = Job::Replay(ReplayJob {
            signature: *signature,
            expires,
            reply: ReplayReply::Async(reply),
            outcome: None,
        });
        (job, rx)
    }

    pub(crate) fn sweep(limit: usize) -> (Job, std::sync::mpsc::Receiver<SweepResult>) {
        let (reply, rx) = std::sync::mpsc::sync_channel(1);
        let job = Job::Sweep(SweepJob {
            limit,
            reply,
            outcome: None,
        });
        (job, rx)
    }

    /// Applies the job inside the open transaction and keeps its outcome for [`Self::answer`].
    fn apply(
        &mut self,
        conn: &Connection,
        ttl: f64,
        replay: &mut ReplayBatch<'_>,
    ) -> Result<(), StoreError> {
        match self {
            Job::Begin(j) => {
                j.outcome = Some(apply_begin(conn, j, ttl)?);
            }
            Job::Finish(j) => {
                if let Some((owner, prompt)) = &j.begin {
                    let begin = BeginJob {
                        session_id: j.session_id.clone(),
                        owner: owner.clone(),
                        prompt: prompt.clone(),
                        reply: None,
                        outcome: None,
                    };
                    // The caller ruled out conflicts; one found here means its view was
                    // wrong, and the finish below then finds no record of this caller's.
                    if let Err(refused) = apply_begin(conn, &begin, ttl)? {
                        warn!(session = %j.session_id, error = %refused, "a turn recorded at its end was refused");
                    }
                }
                j.outcome = Some(apply_finish(conn, j, ttl)?);
            }
            Job::Replay(j) => {
                let fresh = !replay.is_spent(&j.signature);
                if fresh {
                    conn.prepare_cached(sql::REPLAY_RECORD)
                        .and_then(|mut st| st.execute(params![&j.signature[..], j.expires]))
                        .map_err(StoreError::sqlite(
                            "recording a signature in the replay ledger",
                        ))?;
                    replay.accepted.insert(j.signature, j.expires);
                }
                j.outcome = Some(fresh);
            }
            Job::Sweep(j) => {
                let now = unix_now();
                let limit = i64::try_from(j.limit).unwrap_or(i64::MAX);
                let sessions = conn
                    .prepare_cached(sql::SWEEP_SESSIONS)
                    .and_then(|mut st| st.execute(params![now, limit]))
                    .map_err(StoreError::sqlite("deleting expired sessions"))?;
                let replay = conn
                    .prepare_cached(sql::SWEEP_REPLAY)
                    .and_then(|mut st| st.execute(params![now, limit]))
                    .map_err(StoreError::sqlite("deleting expired replay entries"))?;
                j.outcome = Some((sessions, replay));
            }
        }
        Ok(())
    }

    fn reset(&mut self) {
        match self {
            Job::Begin(j) => j.outcome = None,
            Job::Finish(j) => j.outcome = None,
            Job::Replay(j) => j.outcome = None,
            Job::Sweep(j) => j.outcome = None,
        }
    }

    /// After the commit: caches what was written and answers the caller. A caller that
    /// stopped waiting is no error (its write is committed all the same), except for a
    /// turn that was begun: nobody will finish it, so its id is returned to be cancelled.
    fn answer(self, cache: &RecordCache) -> Option<String> {
        match self {
            Job::Begin(j) => {
                let (res, begun) = match j.outcome {
                    Some(Ok((record, size))) => {
                        cache.put_committed(record, size);
                        (Ok(()), true)
                    }
                    Some(Err(refusal)) => (Err(refusal), false),
                    None => (Err(BeginError::Store(not_applied())), false),
                };
                match j.reply {
                    Some(reply) => {
                        if reply.send(res).is_err() && begun {
                            return Some(j.session_id);
                        }
                    }
                    // The caller ruled conflicts out before queueing; one found here means
                    // its view was wrong, so the provisional cached record is withdrawn.
                    None => {
                        if let Err(refused) = res {
                            tracing::warn!(session = %j.session_id, error = %refused, "queued turn refused by the store");
                            cache.invalidate(&j.session_id);
                        }
                    }
                }
            }
            Job::Finish(j) => {
                let res = match j.outcome {
                    Some(Some((record, size))) => {
                        cache.put_committed(record, size);
                        Ok(())
                    }
                    Some(None) => Err(StoreError::NotFound(j.session_id)),
                    None => Err(not_applied()),
                };
                let _ = j.reply.send(res);
            }
            Job::Replay(j) => j.reply.send(j.outcome.ok_or_else(not_applied)),
            Job::Sweep(j) => {
                let _ = j.reply.send(j.outcome.ok_or_else(not_applied));
            }
        }
        None
    }

    /// Answers with an error; nothing of this job was committed.
    fn fail(self, err: StoreError) {
        match self {
            Job::Begin(j) => match j.reply {
                Some(reply) => {
                    let _ = reply.send(Err(BeginError::Store(err)));
                }
                None => {
                    tracing::error!(session = %j.session_id, error = %err, "could not record a queued turn");
                }
            },
            Job::Finish(j) => {
                let _ = j.reply.send(Err(err));
            }
            Job::Replay(j) => j.reply.send(Err(err)),
            Job::Sweep(j) => {
                let _ = j.reply.send(Err(err));
            }
        }
    }
}

fn not_applied() -> StoreError {
    StoreError::InvalidArgument("internal: a committed job has no outcome".into())
}

fn apply_begin(
    conn: &Connection,
    j: &BeginJob,
    ttl: f64,
) -> Result<Result<Committed, BeginError>, StoreError> {
    let existing = conn
        .prepare_cached(sql::SELECT_BY_ID)
        .and_then(|mut st| {
            st.query_row([&j.session_id], RawRecord::from_row)
                .optional()
        })
        .map_err(StoreError::sqlite("looking up the session to begin"))?;
    let now = unix_now();
    let expires = now + ttl;

    if let Some(raw) = existing {
        let status = raw.status();
        let live = status == Some(SessionStatus::Running) || raw.expires() >= now;
        if live {
            if raw.owner() != j.owner.as_deref() {
                return Ok(Err(BeginError::Foreign));
            }
            if status == Some(SessionStatus::Running) {
                return Ok(Err(BeginError::Busy));
            }
            // The next turn of this caller's session: keep owner, created, conversation.
            conn.prepare_cached(sql::RESUME_RUNNING)
                .and_then(|mut st| st.execute(params![j.session_id, j.prompt, now, expires]))
                .map_err(StoreError::sqlite("starting the next turn of a session"))?;
            let (mut record, size) = raw.decode()?;
            record.status = SessionStatus::Running;
            record.prompt.clone_from(&j.prompt);
            record.result = None;
            record.error = None;
            record.updated = now;
            record.expires = expires;
            record.duration_ms = None;
            return Ok(Ok((record, size)));
        }
        // Expired but not yet swept: the id is free again.
    }

    conn.prepare_cached(sql::INSERT_RUNNING)
        .and_then(|mut st| {
            st.execute(params![
                j.session_id,
                j.owner,
                j.prompt,
                now,
                expires,
                sql::owner_key(j.owner.as_deref())
            ])
        })
        .map_err(StoreError::sqlite("inserting a new session"))?;
    let record = SessionRecord {
        session_id: j.session_id.clone(),
        owner: j.owner.clone(),
        status: SessionStatus::Running,
        prompt: j.prompt.clone(),
        result: None,
        error: None,
        session: None,
        created: now,
        updated: now,
        expires,
        duration_ms: None,
    };
    let size = sql::approx_size(&record.session_id, &record.prompt, None, None, 0);
    Ok(Ok((record, size)))
}

fn apply_finish(
    conn: &Connection,
    j: &FinishJob,
    ttl: f64,
) -> Result<Option<Committed>, StoreError> {
    let now = unix_now();
    let expires = now + ttl;
    let duration = sql::duration_to_sql(j.duration_ms);
    let status = j.status.as_str();

    let new_text = j.session.as_ref().map(|new| new.text.as_str());
    let row = conn
        .prepare_cached(sql::FINISH)
        .and_then(|mut st| {
            st.query_row(
                params![
                    j.session_id,
                    status,
                    j.result,
                    j.error,
                    new_text,
                    now,
                    expires,
                    duration
                ],
                |row| {
                    Ok((
                        row.get::<_, Option<String>>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, f64>(2)?,
                        row.get::<_, Option<String>>(3)?,
                    ))
                },
            )
            .optional()
        })
        .map_err(StoreError::sqlite("storing the result of a turn"))?;
    let Some((owner, prompt, created, stored_text)) = row else {
        return Ok(None);
    };
    // The conversation as now stored: the new one (already parsed) or the one kept.
    let (session, session_len) = match &j.session {
        Some(new) => (Some(new.value.clone()), new.text.len()),
        None => (
            sql::parse_session(&j.session_id, stored_text.as_deref())?,
            stored_text.as_deref().map_or(0, str::len),
        ),
    };

    let record = SessionRecord {
        session_id: j.session_id.clone(),
        owner,
        status: j.status,
        prompt,
        result: j.result.clone(),
        error: j.error.clone(),
        session,
        created,
        updated: now,
        expires,
        duration_ms: Some(j.duration_ms),
    };
    let size = sql::approx_size(
        &record.session_id,
        &record.prompt,
        record.result.as_deref(),
        record.error.as_deref(),
        session_len,
    );
    Ok(Some((record, size)))
}

/// Starts the writer thread on `conn`.
pub(crate) fn spawn(
    conn: Connection,
    jobs: Receiver<Job>,
    cache: RecordCache,
    counters: Arc<Counters>,
    ttl: f64,
) -> Result<(Arc<Writer>, JoinHandle<()>), StoreError> {
    let spent = load_spent(&conn)?;
    let writer = Arc::new(Writer {
        side: Mutex::new(WriteSide { conn, spent }),
        pending: AtomicUsize::new(0),
        concurrent: AtomicBool::new(false),
        cache,
        counters,
        ttl,
    });
    let thread_writer = Arc::clone(&writer);
    let handle = std::thread::Builder::new()
        .name("agenthost-store-writer".into())
        .spawn(move || thread_writer.run(jobs))
        .map_err(StoreError::SpawnThread)?;
    Ok((writer, handle))
}

/// Reads the live replay log into the in-memory index.
fn load_spent(conn: &Connection) -> Result<SpentSignatures, StoreError> {
    let what = "loading the replay ledger";
    let mut statement = conn
        .prepare(sql::REPLAY_LOAD)
        .map_err(StoreError::sqlite(what))?;
    let rows = statement
        .query_map(params![unix_now()], |row| {
            Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, f64>(1)?))
        })
        .map_err(StoreError::sqlite(what))?;
    let mut live = Vec::new();
    for row in rows {
        let (signature, expires) = row.map_err(StoreError::sqlite(what))?;
        // Only 64-byte signatures are ever logged; anything else is not ours to index.
        if let Ok(signature) = <[u8; 64]>::try_from(signature.as_slice()) {
            live.push((signature, expires));
        }
    }
    Ok(SpentSignatures::from_rows(live))
}

/// The connection and the replay ledger's index (`store/spent.rs`), behind one lock: the
/// index changes only with the commits it describes.
struct WriteSide {
    conn: Connection,
    spent: SpentSignatures,
}

/// What replay checks see inside one transaction: the committed index plus the signatures
/// accepted earlier in the same batch (two uses of one signature in a batch: the second is
/// a replay).
struct ReplayBatch<'a> {
    spent: &'a SpentSignatures,
    accepted: HashMap<[u8; 64], f64>,
    now: f64,
}

impl ReplayBatch<'_> {
    fn is_spent(&self, signature: &[u8; 64]) -> bool {
        self.spent.is_spent(signature, self.now) || self.accepted.contains_key(signature)
    }
}

/// Waits up to [`LINGER`] for `batch` to reach `expected` jobs.
fn linger(jobs: &Receiver<Job>, batch: &mut Vec<Job>, expected: usize) {
    let deadline = Instant::now() + LINGER;
    while batch.len() < expected.min(MAX_BATCH) {
        let left = deadline.saturating_duration_since(Instant::now());
        match jobs.recv_timeout(left) {
            Ok(job) => {
                batch.push(job);
                drain_into(jobs, batch);
            }
            Err(_) => break,
        }
    }
}

/// Moves every job already waiting into `batch`, up to [`MAX_BATCH`].
fn drain_into(jobs: &Receiver<Job>, batch: &mut Vec<Job>) {
    while batch.len() < MAX_BATCH {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

/// The write side of the store: one connection, used by the writer thread for queued jobs
/// and, when nothing is queued, by the caller itself.
///
/// Why both: a hand-off to the writer thread and back costs two thread wake-ups (~150 µs on
/// a busy 2-core machine, against ~30 µs for the commit itself), which a sequential caller
/// pays on every turn. Under concurrency the queue fills and group commit takes over.
pub(crate) struct Writer {
    side: Mutex<WriteSide>,
    /// Jobs sent to the thread and not yet committed.
    pending: AtomicUsize,
    /// Whether the thread's last commit had more than one job: writes are arriving
    /// concurrently, so callers queue (and the thread batches) instead of committing inline.
    concurrent: AtomicBool,
    cache: RecordCache,
    counters: Arc<Counters>,
    ttl: f64,
}

impl Writer {
    fn lock_side(&self) -> std::sync::MutexGuard<'_, WriteSide> {
        // A panic while holding the connection leaves it usable: SQLite rolls back an open
        // transaction on the next BEGIN.
        self.side.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Commits `job` on the calling thread if no queued job is outstanding and the
    /// connection is free; otherwise hands the job back to be queued. Nothing outstanding
    /// means no earlier write of this caller can still be behind it, so order holds.
    #[allow(clippy::result_large_err)] // handed straight back to be queued; no copy beyond a move
    pub(crate) fn try_inline(&self, job: Job) -> Result<(), Job> {
        if self.pending.load(Ordering::Acquire) != 0 || self.concurrent.load(Ordering::Relaxed) {
            return Err(job);
        }
        let Ok(mut side) = self.side.try_lock() else {
            return Err(job);
        };
        let mut batch = vec![job];
        self.process_all(&mut side, &mut batch);
        Ok(())
    }

    /// Counts a job about to be sent to the thread.
    pub(crate) fn note_queued(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
    }

    /// Takes back the count of a job that could not be sent.
    pub(crate) fn note_unsent(&self) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
    }

    fn process_all(&self, side: &mut WriteSide, batch: &mut Vec<Job>) {
        let orphans = self.process(side, batch);
        if !orphans.is_empty() {
            self.cancel_orphans(side, batch, orphans);
        }
    }

    /// The thread's loop: take the queued jobs and commit them as one transaction.
    ///
    /// When the previous commit had several jobs, writes are arriving concurrently, and the
    /// callers that made them will soon send their next ones: the thread then waits up to
    /// [`LINGER`] for as many jobs as last time before committing. A lone caller never
    /// waits (its previous batch had one job), and commits inline anyway.
    fn run(&self, jobs: Receiver<Job>) {
        let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
        let mut last_batch = 1;
        // Ends when every sender is gone: the store was dropped.
        while let Ok(first) = jobs.recv() {
            batch.push(first);
            drain_into(&jobs, &mut batch);
            if last_batch > 1 {
                linger(&jobs, &mut batch, last_batch);
            }
            let taken = batch.len();
            last_batch = taken;
            self.concurrent.store(taken > 1, Ordering::Relaxed);
            {
                let mut side = self.lock_side();
                self.process_all(&mut side, &mut batch);
            }
            // Only now: a job counts as pending until it is committed (see `try_inline`).
            self.pending.fetch_sub(taken, Ordering::AcqRel);
        }
        let side = self.lock_side();
        if let Err(e) = side.conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
            debug!(error = %e, "session store: final checkpoint failed");
        }
        debug!("session store writer stopped");
    }

    /// Turns begun for callers that stopped waiting before they heard of it: nobody will
    /// finish them, and left `running` they would keep the session busy until a restart.
    fn cancel_orphans(&self, side: &mut WriteSide, batch: &mut Vec<Job>, orphans: Vec<String>) {
        debug!(
            count = orphans.len(),
            "session store: cancelling turns whose caller went away"
        );
        batch.extend(orphans.iter().map(|id| {
            Job::finish(
                id,
                SessionStatus::Cancelled,
                None,
                Some("cancelled: the caller went away before the turn started"),
                None,
                0,
            )
            .0
        }));
        // Finish jobs leave no orphans of their own.
        let _ = self.process(side, batch);
    }

    /// Applies and commits `batch` (emptying it), answering every job. Returns the ids of
    /// turns begun for callers that no longer wait.
    fn process(&self, side: &mut WriteSide, batch: &mut Vec<Job>) -> Vec<String> {
        let mut orphans = Vec::new();
        match self.commit(side, batch) {
            Ok(()) => {
                self.cache.note_commit();
                orphans.extend(batch.drain(..).filter_map(|job| job.answer(&self.cache)));
            }
            Err(err) if batch.len() == 1 => {
                if let Some(job) = batch.pop() {
                    job.fail(err);
                }
            }
            Err(err) => {
                warn!(error = %err, jobs = batch.len(),
                    "session store: group commit failed; retrying its writes one by one");
                for mut job in batch.drain(..) {
                    job.reset();
                    let mut one = [job];
                    let res = self.commit(side, &mut one);
                    let [job] = one;
                    match res {
                        Ok(()) => {
                            self.cache.note_commit();
                            orphans.extend(job.answer(&self.cache));
                        }
                        Err(e) => job.fail(e),
                    }
                }
            }
        }
        orphans
    }

    /// One transaction over `jobs`; on error nothing of it is committed.
    fn commit(&self, side: &mut WriteSide, jobs: &mut [Job]) -> Result<(), StoreError> {
        let start = Instant::now();
        let conn = &mut side.conn;
        let mut replay = ReplayBatch {
            spent: &side.spent,
            accepted: HashMap::new(),
            now: unix_now(),
        };
        let result = (|| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(StoreError::sqlite("starting a write transaction"))?;
            for job in jobs.iter_mut() {
                job.apply(&tx, self.ttl, &mut replay)?;
            }
            tx.commit()
                .map_err(StoreError::sqlite("committing a write transaction"))
        })();
        if result.is_ok() {
            // Only now: signatures of a rolled-back batch were never spent.
            let (accepted, now) = (replay.accepted, replay.now);
            side.spent.insert_committed(accepted, now);
            self.counters.commit(jobs.len(), start.elapsed());
        } else if !conn.is_autocommit() {
            // The transaction's own rollback failed; do not leave it open for the next batch.
            if let Err(e) = conn.execute_batch("ROLLBACK") {
                warn!(error = %e, "session store: rollback after a failed write failed");
            }
        }
        result
    }
}
