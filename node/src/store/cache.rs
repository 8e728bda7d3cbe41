//! The in-memory cache of recent records in front of SQLite.
//!
//! The writer thread puts every record it commits into the cache (after the commit, before
//! acknowledging it), so a `get` right after `finish` never touches the database. Readers
//! put what they read on a miss, guarded by a write sequence number so that a read that
//! raced a commit can never leave an older version in the cache than the database holds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::{policy::EvictionPolicy, sync::Cache};

use crate::store::record::SessionRecord;

/// Bytes of records (approximate, see `sql::approx_size`) the cache holds at most.
pub(crate) const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// One cached record and its approximate size.
pub(crate) struct Cached {
    pub(crate) record: SessionRecord,
    pub(crate) size: u32,
}

#[derive(Clone)]
pub(crate) struct RecordCache {
    cache: Cache<String, Arc<Cached>>,
    /// Bumped by the writer after each commit, before it updates the cache.
    writes: Arc<AtomicU64>,
}

impl RecordCache {
    pub(crate) fn new(ttl: Duration) -> RecordCache {
        let cache = Cache::builder()
            .max_capacity(CACHE_BYTES)
            // Recency, not frequency: the record a caller fetches is almost always one just
            // written. TinyLFU (moka's default) refuses new entries once the cache is full of
            // older ones, which made every fresh lookup miss after a fill (measured: SESSION
            // p50 1.4x slower with 100k stored results).
            .eviction_policy(EvictionPolicy::lru())
            .weigher(|_k: &String, v: &Arc<Cached>| v.size)
            .time_to_live(ttl.max(Duration::from_secs(1)))
            .build();
        RecordCache {
            cache,
            writes: Arc::new(AtomicU64::new(0)),
        }
    }

    pub(crate) fn get(&self, session_id: &str) -> Option<Arc<Cached>> {
        self.cache.get(session_id)
    }

    /// Call before reading from the database; pass the value to [`Self::fill`].
    pub(crate) fn write_mark(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Caches a record a reader loaded, unless a commit happened since `mark`: the read
    /// may then predate it (a miss later costs one read; a stale entry would be wrong).
    pub(crate) fn fill(&self, mark: u64, record: SessionRecord, size: usize) {
        if self.writes.load(Ordering::SeqCst) != mark {
            return;
        }
        let key = record.session_id.clone();
        self.cache
            .insert(key.clone(), Arc::new(cached(record, size)));
        // A commit between the check above and the insert may have put the newer version
        // in first, which this insert just overwrote: drop ours and let the next read go to
        // the database.
        if self.writes.load(Ordering::SeqCst) != mark {
            self.cache.invalidate(&key);
        }
    }

    /// Writer side: call once after each commit, before [`Self::put_committed`].
    pub(crate) fn note_commit(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
    }

    /// Forgets a record; the next read goes to the database.
    pub(crate) fn invalidate(&self, session_id: &str) {
        self.cache.invalidate(session_id);
    }

    /// Writer side: a record as just committed.
    pub(crate) fn put_committed(&self, record: SessionRecord, size: usize) {
        self.cache
            .insert(record.session_id.clone(), Arc::new(cached(record, size)));
    }
}

fn cached(record: SessionRecord, size: usize) -> Cached {
    Cached {
        record,
        size: u32::try_from(size).unwrap_or(u32::MAX),
    }
}
