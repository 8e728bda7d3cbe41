//! The durable session store: results of agent runs and the replay ledger, in one SQLite
//! database under `.agenthost/` (docs/decisions/0007-sqlite-store.md), with a moka cache in front.
//!
//! Layout:
//! - `store.rs` (this file): [`SessionStore`], the public face: open, begin/finish a turn,
//!   get/list, sweeping, integrity check.
//! - `store/record.rs`: [`SessionStatus`] and [`SessionRecord`] (and its wire JSON).
//! - `store/error.rs`: [`StoreError`] and [`BeginError`].
//! - `store/sql.rs`: the schema, every SQL statement, connection setup (WAL,
//!   `synchronous=NORMAL`), row decoding; a unit test checks every statement uses an index.
//! - `store/writer.rs`: the single writer thread and its group commit;
//!   `store/job.rs`: the jobs it commits (begin, finish, replay check, sweep) and their answers.
//! - `store/checkpoint.rs`: the thread that copies the WAL into the database file, so no
//!   write waits for a checkpoint.
//! - `store/reader.rs`: the pool of read-only connections used on cache misses and listing.
//! - `store/cache.rs`: the moka cache of recent records and its consistency rule.
//! - `store/replay.rs`: [`SqliteReplayLedger`], `agenthost_identity::ReplayLedger` on the
//!   same database.
//! - `store/spent.rs`: the replay ledger's index in memory, rebuilt from the log at open.
//! - `store/sweeper.rs`: expired records and replay entries deleted in small batches, by a
//!   task that keeps sweeping through failures and says so loudly when they repeat.
//! - `store/stats.rs`: [`StoreStats`], counters of writes, commits, reads and cache hits
//!   with the time spent inside SQLite (for metrics and the `store_bench` example).
//!
//! The database (schema version 2 in `PRAGMA user_version`): table `sessions` (one row per
//! session id: owner, status, latest prompt, result or error, the conversation as JSON text,
//! created/updated/expires in unix seconds, duration), indexed by id, by
//! `(owner_key, updated DESC)` for listing (`owner_key` is a stable 64-bit hash of the owner,
//! see `sql::owner_key`), by `expires` for sweeping and by a partial index on running rows
//! for recovery; table `replay_log` (signatures in arrival order with their expiry; the
//! writer answers "was it used?" from its copy in memory, see `store/spent.rs`). Opening a
//! version 1 database moves its `replay` table's live entries over. It is readable with
//! the `sqlite3` shell.
//!
//! How it stays fast as records accumulate: every write goes to one writer thread that
//! commits whatever is queued in one transaction (one WAL append for many writes); reads go
//! to the cache first (the writer puts every record it commits there) and otherwise to a
//! read-only connection, which WAL lets read during a commit; every statement reaches its
//! rows through an index, and expired records are deleted in small batches by the sweeper.
//!
//! How it stays correct across a crash: a write is acknowledged only after its transaction
//! is committed to the WAL file, which survives the process being killed (with
//! `synchronous=NORMAL` only a power loss can lose the last commits). At open, records left
//! `running` by the previous process are marked `interrupted`. This assumes one
//! [`SessionStore`] (one process) opens a given database at a time: a second process
//! opening it would mark the first one's running turns interrupted, and two stores would
//! not see each other's writes in their caches. Clone the store to share it.

mod cache;
mod checkpoint;
mod clock;
mod error;
mod job;
mod reader;
mod record;
mod replay;
mod spent;
mod sql;
mod stats;
mod sweeper;
mod turn;
mod writer;

pub use error::{BeginError, StoreError};
pub use record::{SessionRecord, SessionStatus, UnknownStatus};
pub use replay::{SqliteReplayLedger, LEDGER_TIMEOUT};
pub use stats::StoreStats;
pub(crate) use turn::{TurnOutcome, TurnRecord};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{params, OptionalExtension};
use serde_json::Value;
use tracing::{debug, warn};

use crate::store::cache::RecordCache;
use crate::store::clock::unix_now;
use crate::store::job::{Job, NewSession};
use crate::store::reader::{ReadPool, READERS};
use crate::store::sql::RawRecord;
use crate::store::stats::Counters;

/// The session store. Cheap to clone (all clones share one database, writer and cache);
/// `Send + Sync`. The writer thread stops, after committing what is queued, when the last
/// clone (including any [`SqliteReplayLedger`]) is dropped.
#[derive(Clone)]
pub struct SessionStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    ttl: Duration,
    jobs: Option<Sender<Job>>,
    write_path: Arc<writer::Writer>,
    writer: Option<JoinHandle<()>>,
    /// Dropping it stops the checkpointer.
    checkpoint_stop: Option<SyncSender<()>>,
    checkpointer: Option<JoinHandle<()>>,
    readers: Arc<ReadPool>,
    cache: RecordCache,
    counters: Arc<Counters>,
    /// `open_in_memory`: the database is a temporary file removed on drop.
    temporary: bool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel lets the writer commit what is queued and stop.
        drop(self.jobs.take());
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                warn!(path = %self.path.display(), "session store writer thread panicked");
            }
        }
        drop(self.checkpoint_stop.take());
        if let Some(checkpointer) = self.checkpointer.take() {
            if checkpointer.join().is_err() {
                warn!(path = %self.path.display(), "session store checkpoint thread panicked");
            }
        }
        self.readers.close();
        if self.temporary {
            for suffix in ["", "-wal", "-shm"] {
                let mut name = self.path.clone().into_os_string();
                name.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(name));
            }
        }
    }
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("path", &self.inner.path)
            .field("result_ttl", &self.inner.ttl)
            .finish_non_exhaustive()
    }
}

impl SessionStore {
    /// Opens (creating if needed) the database at `path` and its parent directory. Finished
    /// records stay readable for `result_ttl` after their last change. Records left
    /// `running` by a previous process are marked `interrupted`.
    pub fn open(path: &Path, result_ttl: Duration) -> Result<SessionStore, StoreError> {
        SessionStore::open_at(path.to_path_buf(), result_ttl, false)
    }

    /// A store on a fresh temporary file, removed when the store is dropped. For tests.
    pub fn open_in_memory(result_ttl: Duration) -> Result<SessionStore, StoreError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!(
            "agenthost-store-{}-{nanos}-{}.sqlite3",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        SessionStore::open_at(std::env::temp_dir().join(name), result_ttl, true)
    }

    fn open_at(
        path: PathBuf,
        result_ttl: Duration,
        temporary: bool,
    ) -> Result<SessionStore, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let conn = sql::open_writer(&path)?;
        let ttl = result_ttl.as_secs_f64();

        let now = unix_now();
        let interrupted = conn
            .execute(sql::MARK_INTERRUPTED, params![now, now + ttl])
            .map_err(StoreError::sqlite(
                "marking sessions left running as interrupted",
            ))?;
        if interrupted > 0 {
            warn!(
                count = interrupted,
                path = %path.display(),
                "session store: {interrupted} session(s) were still running when the previous \
                 process stopped; marked them interrupted"
            );
        }

        let readers = Arc::new(ReadPool::open(&path, READERS)?);
        let cache = RecordCache::new(result_ttl);
        // Unbounded by type, bounded by its senders: turns are bounded by the worker limits,
        // replay checks by the streams and connections in flight, sweeps run one at a time.
        #[allow(clippy::disallowed_methods)]
        let (jobs, rx) = std::sync::mpsc::channel();
        let counters = Arc::new(Counters::default());
        let (write_path, writer) =
            writer::spawn(conn, rx, cache.clone(), Arc::clone(&counters), ttl)?;
        let (checkpoint_stop, stop_rx) = std::sync::mpsc::sync_channel(1);
        let checkpointer = match checkpoint::spawn(&path, stop_rx) {
            Ok(handle) => handle,
            Err(e) => {
                // Stop the writer again before reporting.
                drop(jobs);
                let _ = writer.join();
                return Err(e);
            }
        };
        debug!(path = %path.display(), "session store open");
        Ok(SessionStore {
            inner: Arc::new(Inner {
                path,
                ttl: result_ttl,
                jobs: Some(jobs),
                write_path,
                writer: Some(writer),
                checkpoint_stop: Some(checkpoint_stop),
                checkpointer: Some(checkpointer),
                readers,
                cache,
                counters,
                temporary,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How long finished records stay readable.
    pub fn result_ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// Commits `job` right here when nothing is queued, else queues it for the writer thread.
    pub(crate) fn send(&self, job: Job) -> Result<(), StoreError> {
        match self.inner.write_path.try_inline(job) {
            Ok(()) => Ok(()),
            Err(job) => self.queue(job),
        }
    }

    /// Queues `job` for the writer thread.
    pub(crate) fn queue(&self, job: Job) -> Result<(), StoreError> {
        let jobs = self
            .inner
            .jobs
            .as_ref()
            .ok_or(StoreError::WriterGone("the store is closing"))?;
        self.inner.write_path.note_queued();
        jobs.send(job).map_err(|_| {
            self.inner.write_path.note_unsent();
            StoreError::WriterGone("it stopped taking writes")
        })
    }

    /// Starts a turn of `session_id` for `owner` (`None` = anonymous): a new `running`
    /// record, or, for an existing record of the same owner, `running` again with the new
    /// prompt (result and error cleared, the conversation kept), expiring `result_ttl` from
    /// now. Returns once committed.
    ///
    /// [`BeginError::Foreign`] if the session exists with another owner (owners compare as
    /// strings; `None` only matches `None`); [`BeginError::Busy`] if a turn is already
    /// running. An expired record that was not yet swept counts as absent.
    ///
    /// If this future is dropped before it completes, a turn it began is cancelled by the
    /// writer (nobody would finish it otherwise).
    pub async fn begin(
        &self,
        session_id: &str,
        owner: Option<&str>,
        prompt: &str,
    ) -> Result<(), BeginError> {
        check_id(session_id)?;
        let (job, rx) = Job::begin(session_id, owner, prompt);
        // Always through the writer thread: a caller that stops waiting before the answer
        // gets its turn cancelled there instead of left running (see `Writer::run`).
        self.queue(job)?;
        rx.await
            .map_err(|_| StoreError::WriterGone("it stopped before answering"))?
    }

    /// Shows `session_id` as running to [`Self::get`] in this process without writing it: a
    /// turn expected to be short is recorded once, at its end, by [`Self::record_turn`].
    /// For a caller that has ruled out `Busy` and `Foreign` itself (one process owns the
    /// database; the dispatcher knows which of its sessions run and checks owners).
    pub fn show_running(&self, session_id: &str, owner: Option<&str>, prompt: &str) {
        let now = unix_now();
        let record = SessionRecord {
            session_id: session_id.to_owned(),
            owner: owner.map(str::to_owned),
            status: SessionStatus::Running,
            prompt: prompt.to_owned(),
            result: None,
            error: None,
            session: None,
            created: now,
            updated: now,
            expires: now + self.inner.ttl.as_secs_f64(),
            duration_ms: None,
        };
        let size = sql::approx_size(session_id, prompt, None, None, 0);
        self.inner.cache.put_committed(record, size);
    }

    /// Like [`Self::begin`], without waiting for the commit, for the same callers as
    /// [`Self::show_running`]: a turn that turned out long (or runs detached) gets its
    /// running record written, so a crash marks it `interrupted`. The writer commits it in
    /// queue order, ahead of the turn's [`Self::finish`]; a conflict it still finds is logged
    /// and the provisional record withdrawn.
    pub fn begin_queued(
        &self,
        session_id: &str,
        owner: Option<&str>,
        prompt: &str,
    ) -> Result<(), StoreError> {
        check_id(session_id)?;
        // Cached before it is queued, so the committed version (put by the writer) wins.
        self.show_running(session_id, owner, prompt);
        self.send(Job::begin_queued(session_id, owner, prompt))
            .inspect_err(|_| self.inner.cache.invalidate(session_id))
    }

    /// Records a whole turn whose running record was never written: begin and finish in one
    /// transaction. Returns once committed, like [`Self::finish`].
    #[allow(clippy::too_many_arguments)]
    pub async fn record_turn(
        &self,
        session_id: &str,
        owner: Option<&str>,
        prompt: &str,
        status: SessionStatus,
        result: Option<&str>,
        error: Option<&str>,
        session: Option<&Value>,
        duration_ms: u64,
    ) -> Result<(), StoreError> {
        self.finish_job(
            session_id,
            status,
            result,
            error,
            session,
            duration_ms,
            Some((owner, prompt)),
        )
        .await
    }

    /// Records the end of the turn: `status` (not `Running`), result or error, the
    /// conversation after the turn (`None` keeps the stored one), its duration; the record
    /// then expires `result_ttl` from now. Returns only after the change is committed, so a
    /// result sent to the client afterwards survives the process being killed.
    ///
    /// [`StoreError::NotFound`] if there is no such record. The last `finish` wins: a
    /// cancelled turn whose run finishes later can be overwritten by that run.
    pub async fn finish(
        &self,
        session_id: &str,
        status: SessionStatus,
        result: Option<&str>,
        error: Option<&str>,
        session: Option<&Value>,
        duration_ms: u64,
    ) -> Result<(), StoreError> {
        self.finish_job(
            session_id,
            status,
            result,
            error,
            session,
            duration_ms,
            None,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish_job(
        &self,
        session_id: &str,
        status: SessionStatus,
        result: Option<&str>,
        error: Option<&str>,
        session: Option<&Value>,
        duration_ms: u64,
        begin: Option<(Option<&str>, &str)>,
    ) -> Result<(), StoreError> {
        check_id(session_id)?;
        if status == SessionStatus::Running {
            return Err(StoreError::InvalidArgument(
                "finish needs a final status, not running".into(),
            ));
        }
        let session = match session {
            None => None,
            Some(value) => Some(NewSession {
                text: serde_json::to_string(value).map_err(StoreError::Serialize)?,
                value: value.clone(),
            }),
        };
        let (job, rx) = Job::finish(session_id, status, result, error, session, duration_ms);
        let job = match begin {
            Some((owner, prompt)) => job.with_begin(owner, prompt),
            None => job,
        };
        self.send(job)?;
        rx.await
            .map_err(|_| StoreError::WriterGone("it stopped before answering"))?
    }

    /// The record, or `None` when there is none or it expired (running records never
    /// expire). Does not check the owner: the caller decides who may see it.
    pub async fn get(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let now = unix_now();
        let counters = &self.inner.counters;
        if let Some(hit) = self.inner.cache.get(session_id) {
            counters.cache(true);
            return Ok(hit.record.is_live(now).then(|| hit.record.clone()));
        }
        counters.cache(false);
        let mark = self.inner.cache.write_mark();
        let id = session_id.to_string();
        let counters = Arc::clone(counters);
        let loaded = self
            .inner
            .readers
            .read(move |conn| {
                let start = Instant::now();
                let raw = conn
                    .prepare_cached(sql::SELECT_BY_ID)
                    .and_then(|mut st| st.query_row([&id], RawRecord::from_row).optional())
                    .map_err(StoreError::sqlite("reading a session"))?;
                let decoded = raw.map(RawRecord::decode).transpose();
                counters.read(usize::from(matches!(decoded, Ok(Some(_)))), start.elapsed());
                decoded
            })
            .await?;
        let Some((record, size)) = loaded else {
            return Ok(None);
        };
        if !record.is_live(now) {
            return Ok(None);
        }
        self.inner.cache.fill(mark, record.clone(), size);
        Ok(Some(record))
    }

    /// `owner`'s records (`None` = the anonymous ones), newest first by `updated`, at most
    /// `limit`, without expired ones. A record that cannot be decoded is skipped (and
    /// logged) rather than hiding the others.
    pub async fn list(
        &self,
        owner: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let key = sql::owner_key(owner);
        let owner = owner.map(str::to_string);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let now = unix_now();
        let counters = Arc::clone(&self.inner.counters);
        self.inner
            .readers
            .read(move |conn| {
                let start = Instant::now();
                let mut st = conn
                    .prepare_cached(sql::LIST_BY_OWNER)
                    .map_err(StoreError::sqlite("listing sessions"))?;
                let rows = st
                    .query_map(params![key, owner, now, limit], RawRecord::from_row)
                    .map_err(StoreError::sqlite("listing sessions"))?;
                let mut out = Vec::new();
                for row in rows {
                    let raw = row.map_err(StoreError::sqlite("listing sessions"))?;
                    match raw.decode() {
                        Ok((record, _)) => out.push(record),
                        Err(e) => warn!(error = %e, "session store: skipping an unreadable record"),
                    }
                }
                counters.read(out.len(), start.elapsed());
                Ok(out)
            })
            .await
    }

    /// Runs SQLite's `PRAGMA integrity_check` on its own connection; `"ok"` when the
    /// database is sound, else the problems it found, one per line.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        let conn = sql::open_reader(&self.inner.path)?;
        let mut st = conn
            .prepare("PRAGMA integrity_check")
            .map_err(StoreError::sqlite("running the integrity check"))?;
        let lines = st
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(StoreError::sqlite("running the integrity check"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::sqlite("running the integrity check"))?;
        Ok(lines.join("\n"))
    }

    /// What the store did since it was opened: writes, commits and the time spent in them,
    /// reads, cache hits and misses.
    pub fn stats(&self) -> StoreStats {
        self.inner.counters.snapshot()
    }

    /// The replay ledger on this database (it keeps the store open while it lives).
    pub fn replay_ledger(&self) -> SqliteReplayLedger {
        SqliteReplayLedger {
            store: self.clone(),
        }
    }
}

fn check_id(session_id: &str) -> Result<(), StoreError> {
    if session_id.is_empty() {
        return Err(StoreError::InvalidArgument("empty session id".into()));
    }
    Ok(())
}
