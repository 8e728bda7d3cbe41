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
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, TransactionBehavior};
use tracing::{debug, warn};

use crate::store::cache::RecordCache;
use crate::store::clock::unix_now;
use crate::store::error::StoreError;
use crate::store::job::{Job, ReplayBatch};
use crate::store::record::SessionStatus;
use crate::store::spent::SpentSignatures;
use crate::store::sql;
use crate::store::stats::Counters;

/// Most jobs committed in one transaction.
pub(crate) const MAX_BATCH: usize = 512;

/// Under concurrent writes, how long the writer thread waits for more jobs before it
/// commits (see [`Writer::run`]). Every commit appends each page it changed as a 4 KiB WAL
/// frame, and a commit of one job changes about as many pages as a commit of twenty, so
/// batching is what keeps the WAL small enough for the checkpointer to keep up.
const LINGER: Duration = Duration::from_micros(200);

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
