//! Counters of what the store did, for metrics and benchmarks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// A snapshot of the store's counters since it was opened (see
/// [`SessionStore::stats`](crate::store::SessionStore::stats)). Times are spent inside
/// SQLite and exclude waiting in queues or for a thread to wake, so they show the cost of
/// the database itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Writes committed (begin, finish, replay checks, sweep batches).
    pub writes: u64,
    /// Transactions the writer committed; `writes / commits` is the mean group size.
    pub commits: u64,
    /// Nanoseconds the writer spent in transactions (applying and committing).
    pub commit_nanos: u64,
    /// Records read from SQLite (`get` misses and listed records).
    pub reads: u64,
    /// Queries run on read connections.
    pub read_queries: u64,
    /// Nanoseconds spent in those queries (including decoding rows).
    pub read_nanos: u64,
    /// `get` calls answered by the cache.
    pub cache_hits: u64,
    /// `get` calls that went to SQLite.
    pub cache_misses: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    writes: AtomicU64,
    commits: AtomicU64,
    commit_nanos: AtomicU64,
    reads: AtomicU64,
    read_queries: AtomicU64,
    read_nanos: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Counters {
    pub(crate) fn commit(&self, writes: usize, took: Duration) {
        self.writes.fetch_add(writes as u64, Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.commit_nanos.fetch_add(nanos(took), Ordering::Relaxed);
    }

    pub(crate) fn read(&self, records: usize, took: Duration) {
        self.reads.fetch_add(records as u64, Ordering::Relaxed);
        self.read_queries.fetch_add(1, Ordering::Relaxed);
        self.read_nanos.fetch_add(nanos(took), Ordering::Relaxed);
    }

    pub(crate) fn cache(&self, hit: bool) {
        let counter = if hit {
            &self.cache_hits
        } else {
            &self.cache_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> StoreStats {
        StoreStats {
            writes: self.writes.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            commit_nanos: self.commit_nanos.load(Ordering::Relaxed),
            reads: self.reads.load(Ordering::Relaxed),
            read_queries: self.read_queries.load(Ordering::Relaxed),
            read_nanos: self.read_nanos.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            cache_misses: self.cache_misses.load(Ordering::Relaxed),
        }
    }
}
