//! The writes the writer thread commits: each [`Job`], what it changes in one open
//! transaction, and how its caller is answered once the transaction commits or fails.

use std::collections::HashMap;
use std::sync::mpsc::SyncSender;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use tokio::sync::oneshot;
use tracing::warn;

use crate::store::cache::RecordCache;
use crate::store::clock::unix_now;
use crate::store::error::{BeginError, StoreError};
use crate::store::record::{SessionRecord, SessionStatus};
use crate::store::spent::SpentSignatures;
use crate::store::sql::{self, RawRecord};

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
    pub(super) fn apply(
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

    pub(super) fn reset(&mut self) {
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
    pub(super) fn answer(self, cache: &RecordCache) -> Option<String> {
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
    pub(super) fn fail(self, err: StoreError) {
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

/// What replay checks see inside one transaction: the committed index plus the signatures
/// accepted earlier in the same batch (two uses of one signature in a batch: the second is
/// a replay).
pub(super) struct ReplayBatch<'a> {
    pub(super) spent: &'a SpentSignatures,
    pub(super) accepted: HashMap<[u8; 64], f64>,
    pub(super) now: f64,
}

impl ReplayBatch<'_> {
    fn is_spent(&self, signature: &[u8; 64]) -> bool {
        self.spent.is_spent(signature, self.now) || self.accepted.contains_key(signature)
    }
}
