//! The schema, every SQL statement the store runs, connection setup and row decoding.
//!
//! Each statement here is looked up through an index (a unit test checks the query plans),
//! so its cost does not grow with the number of stored records.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Row};
use serde_json::Value;

use crate::store::error::StoreError;
use crate::store::record::{SessionRecord, SessionStatus};

/// `PRAGMA user_version` of the schema below.
pub(crate) const SCHEMA_VERSION: i64 = 2;

/// How long a connection waits for a lock held by another connection or process.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    session_id  TEXT PRIMARY KEY NOT NULL,
    owner       TEXT,
    owner_key   INTEGER NOT NULL,
    status      TEXT NOT NULL,
    prompt      TEXT NOT NULL,
    result      TEXT,
    error       TEXT,
    session     TEXT,
    created     REAL NOT NULL,
    updated     REAL NOT NULL,
    expires     REAL NOT NULL,
    duration_ms INTEGER
);
CREATE INDEX IF NOT EXISTS sessions_owner_updated ON sessions (owner_key, updated DESC);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires);
CREATE INDEX IF NOT EXISTS sessions_running ON sessions (status) WHERE status = 'running';
CREATE TABLE IF NOT EXISTS replay_log (
    id        INTEGER PRIMARY KEY,
    signature BLOB NOT NULL,
    expires   REAL NOT NULL
);
";

/// Version 1 kept the replay ledger in `replay` (signature primary key, an index on expiry);
/// version 2 logs signatures in `replay_log` in arrival order and indexes them in memory
/// (`store/spent.rs`). The live entries move over, oldest expiry first.
const MIGRATE_REPLAY_FROM_V1: &str = "INSERT INTO replay_log (signature, expires) \
     SELECT signature, expires FROM replay WHERE expires >= ?1 ORDER BY expires";

/// The columns of a full record, in [`RawRecord::from_row`] order.
macro_rules! record_columns {
    () => {
        "session_id, owner, status, prompt, result, error, session, created, updated, expires, duration_ms"
    };
}

pub(crate) const SELECT_BY_ID: &str = concat!(
    "SELECT ",
    record_columns!(),
    " FROM sessions WHERE session_id = ?1"
);

/// `?1` [`owner_key`], `?2` owner (NULL = anonymous), `?3` now, `?4` limit.
pub(crate) const LIST_BY_OWNER: &str = concat!(
    "SELECT ",
    record_columns!(),
    " FROM sessions WHERE owner_key = ?1 AND owner IS ?2",
    " AND (status = 'running' OR expires >= ?3)",
    " ORDER BY updated DESC LIMIT ?4"
);

/// A new running record (`INSERT OR REPLACE` also replaces an expired one left unswept).
/// `?1` id, `?2` owner, `?3` prompt, `?4` now, `?5` expires, `?6` [`owner_key`].
pub(crate) const INSERT_RUNNING: &str = "INSERT OR REPLACE INTO sessions \
     (session_id, owner, owner_key, status, prompt, result, error, session, created, updated, \
     expires, duration_ms) \
     VALUES (?1, ?2, ?6, 'running', ?3, NULL, NULL, NULL, ?4, ?4, ?5, NULL)";

/// The next turn of an existing record; keeps owner, created and the conversation.
/// `?1` id, `?2` prompt, `?3` now, `?4` expires.
pub(crate) const RESUME_RUNNING: &str = "UPDATE sessions SET status = 'running', prompt = ?2, \
     result = NULL, error = NULL, updated = ?3, expires = ?4, duration_ms = NULL \
     WHERE session_id = ?1";

/// `?1` id, `?2` status, `?3` result, `?4` error, `?5` conversation (NULL keeps the stored
/// one), `?6` now, `?7` expires, `?8` duration. Returns what the cached record needs.
pub(crate) const FINISH: &str = "UPDATE sessions SET status = ?2, result = ?3, \
     error = ?4, session = COALESCE(?5, session), updated = ?6, expires = ?7, duration_ms = ?8 \
     WHERE session_id = ?1 RETURNING owner, prompt, created, session";

/// `?1` now, `?2` expires.
pub(crate) const MARK_INTERRUPTED: &str = "UPDATE sessions SET status = 'interrupted', \
     error = COALESCE(error, 'interrupted: the host stopped before the turn finished'), \
     updated = ?1, expires = ?2 WHERE status = 'running'";

/// `?1` now, `?2` batch size.
pub(crate) const SWEEP_SESSIONS: &str = "DELETE FROM sessions WHERE rowid IN \
     (SELECT rowid FROM sessions WHERE expires < ?1 AND status != 'running' LIMIT ?2)";

/// `?1` now, `?2` batch size. Looks only at the `?2` oldest log entries (a rowid range, so
/// a sweep never scans the log) and deletes the expired ones. An entry that is not expired
/// yet stays at the head and holds the sweep back until it expires, which the verifier's
/// timestamp window bounds to minutes.
pub(crate) const SWEEP_REPLAY: &str = "DELETE FROM replay_log WHERE id IN \
     (SELECT id FROM replay_log WHERE id < (SELECT min(id) FROM replay_log) + ?2 \
     AND expires < ?1)";

/// Logs a signature the writer found unspent (`store/spent.rs` answers that question).
/// `?1` signature, `?2` expires.
pub(crate) const REPLAY_RECORD: &str =
    "INSERT INTO replay_log (signature, expires) VALUES (?1, ?2)";

/// The live log, read once at open to rebuild the in-memory index: a full read by design.
/// `?1` now.
pub(crate) const REPLAY_LOAD: &str =
    "SELECT signature, expires FROM replay_log WHERE expires >= ?1";

/// Every statement run against stored data, for the query-plan test.
#[cfg(test)]
pub(crate) const ALL_STATEMENTS: &[&str] = &[
    SELECT_BY_ID,
    LIST_BY_OWNER,
    INSERT_RUNNING,
    RESUME_RUNNING,
    FINISH,
    MARK_INTERRUPTED,
    SWEEP_SESSIONS,
    SWEEP_REPLAY,
    REPLAY_RECORD,
];

/// The listing key of an owner: the 64-bit FNV-1a hash of its identity string, 0 for an
/// anonymous caller. Listing filters on `owner` as well, so a collision costs nothing but a
/// skipped row; the key exists because an 8-byte integer keeps the listing index small and
/// its inserts cheap (with the 66-character address as key, inserting into the index took
/// about 30% longer at 100,000 records than on a fresh store). Stable across builds: it is
/// stored.
pub(crate) fn owner_key(owner: Option<&str>) -> i64 {
    let Some(owner) = owner else {
        return 0;
    };
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in owner.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_le_bytes(hash.to_le_bytes())
}

/// Opens the writer connection: WAL, `synchronous=NORMAL` (a committed transaction is in
/// the WAL file before `COMMIT` returns, so it survives the process being killed), the
/// schema created or checked.
pub(crate) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    create_private(path)?;
    let mut conn = Connection::open(path).map_err(open_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NotWal {
            path: path.to_path_buf(),
            mode,
        });
    }
    // Checkpoints are the checkpointer thread's job; the writer's automatic one (64 MiB of
    // pages) is only a safety net.
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL;
         PRAGMA wal_autocheckpoint = 16384;
         PRAGMA cache_size = -32768;
         PRAGMA temp_store = MEMORY;
         PRAGMA journal_size_limit = 67108864;",
    )
    .map_err(open_err)?;
    conn.set_prepared_statement_cache_capacity(32);

    let found: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(StoreError::sqlite("reading the schema version"))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    set_up_schema(&mut conn, found).map_err(|source| StoreError::Sqlite {
        what: "creating or upgrading the schema",
        source,
    })?;
    Ok(conn)
}

/// Creates the schema, or upgrades one of version `found`, in one transaction (dropped, so
/// rolled back, on any error).
fn set_up_schema(conn: &mut Connection, found: i64) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(SCHEMA)?;
    if found == 1 {
        tx.execute(MIGRATE_REPLAY_FROM_V1, [super::clock::unix_now()])?;
        tx.execute_batch("DROP TABLE replay;")?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()
}

/// Creates a missing database file readable by its owner only: it holds prompts and
/// results. SQLite gives the `-wal` and `-shm` files the same mode.
fn create_private(path: &Path) -> Result<(), StoreError> {
    if path.exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map(drop)
        .map_err(|source| StoreError::CreateDir {
            path: path.to_path_buf(),
            source,
        })
}

/// Opens the checkpointer's connection (read-write, used for nothing but checkpoints).
pub(crate) fn open_checkpointer(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;")
        .map_err(open_err)?;
    Ok(conn)
}

/// Opens a read-only connection; WAL lets it read while the writer writes.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    conn.execute_batch("PRAGMA cache_size = -8192; PRAGMA temp_store = MEMORY;")
        .map_err(open_err)?;
    conn.set_prepared_statement_cache_capacity(16);
    Ok(conn)
}

/// A `sessions` row as stored, before its text fields are parsed.
pub(crate) struct RawRecord {
    session_id: String,
    owner: Option<String>,
    status: String,
    prompt: String,
    result: Option<String>,
    error: Option<String>,
    session: Option<String>,
    created: f64,
    updated: f64,
    expires: f64,
    duration_ms: Option<i64>,
}

impl RawRecord {
    /// Reads the columns of `record_columns!()`.
    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<RawRecord> {
        Ok(RawRecord {
            session_id: row.get(0)?,
            owner: row.get(1)?,
            status: row.get(2)?,
            prompt: row.get(3)?,
            result: row.get(4)?,
            error: row.get(5)?,
            session: row.get(6)?,
            created: row.get(7)?,
            updated: row.get(8)?,
            expires: row.get(9)?,
            duration_ms: row.get(10)?,
        })
    }

    pub(crate) fn status(&self) -> Option<SessionStatus> {
        SessionStatus::parse(&self.status)
    }

    pub(crate) fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    pub(crate) fn expires(&self) -> f64 {
        self.expires
    }

    /// Parses the row; also returns its approximate size in memory, for the cache.
    pub(crate) fn decode(self) -> Result<(SessionRecord, usize), StoreError> {
        let corrupt = |detail: String| StoreError::Corrupt {
            session_id: self.session_id.clone(),
            detail,
        };
        let status = SessionStatus::parse(&self.status)
            .ok_or_else(|| corrupt(format!("unknown status {:?}", self.status)))?;
        let session = parse_session(&self.session_id, self.session.as_deref())?;
        let duration_ms = match self.duration_ms {
            None => None,
            Some(d) => {
                Some(u64::try_from(d).map_err(|_| corrupt(format!("negative duration_ms {d}")))?)
            }
        };
        let size = approx_size(
            &self.session_id,
            &self.prompt,
            self.result.as_deref(),
            self.error.as_deref(),
            self.session.as_deref().map_or(0, str::len),
        );
        Ok((
            SessionRecord {
                session_id: self.session_id,
                owner: self.owner,
                status,
                prompt: self.prompt,
                result: self.result,
                error: self.error,
                session,
                created: self.created,
                updated: self.updated,
                expires: self.expires,
                duration_ms,
            },
            size,
        ))
    }
}

/// Parses a stored conversation object.
pub(crate) fn parse_session(
    session_id: &str,
    text: Option<&str>,
) -> Result<Option<Value>, StoreError> {
    match text {
        None => Ok(None),
        Some(t) => serde_json::from_str(t)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                session_id: session_id.to_string(),
                detail: format!("conversation object is not JSON: {e}"),
            }),
    }
}

/// Rough bytes a cached record holds (parsed JSON takes a few times its text).
pub(crate) fn approx_size(
    session_id: &str,
    prompt: &str,
    result: Option<&str>,
    error: Option<&str>,
    session_text_len: usize,
) -> usize {
    256 + session_id.len()
        + prompt.len()
        + result.map_or(0, str::len)
        + error.map_or(0, str::len)
        + session_text_len.saturating_mul(3)
}

/// A duration as SQLite stores it (INTEGER is signed 64-bit).
pub(crate) fn duration_to_sql(duration_ms: u64) -> i64 {
    i64::try_from(duration_ms).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every statement must find its rows through an index: a `SCAN` of a table would make
    /// it slower as records accumulate.
    #[test]
    fn owner_key_is_stable_fnv1a() {
        assert_eq!(owner_key(None), 0);
        // FNV-1a 64 test vectors.
        assert_eq!(owner_key(Some("")) as u64, 0xcbf2_9ce4_8422_2325);
        assert_eq!(owner_key(Some("a")) as u64, 0xaf63_dc4c_8601_ec8c);
        assert_eq!(owner_key(Some("foobar")) as u64, 0x8594_4171_f739_67e8);
    }

    #[test]
    fn every_statement_uses_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(&dir.path().join("plan.sqlite3")).unwrap();
        for sql in ALL_STATEMENTS {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
            let details: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(nulls), |row| {
                    row.get::<_, String>(3)
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            println!("{sql}\n    -> {details:?}");
            for d in &details {
                // The one allowed scan walks the partial index of running records only.
                let full_scan = d.starts_with("SCAN") && !d.contains("sessions_running");
                assert!(!full_scan, "full scan in {sql:?}: {details:?}");
                assert!(
                    !d.contains("TEMP B-TREE"),
                    "sort without an index in {sql:?}: {details:?}"
                );
            }
        }
    }
}
