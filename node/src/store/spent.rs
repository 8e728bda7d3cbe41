//! [`SpentSignatures`]: which signatures the replay ledger has seen, in memory.
//!
//! Why in memory: a signature is 64 random bytes, so a B-tree keyed by it puts every insert
//! on a random leaf page, and each commit then appends one 4 KiB WAL frame per signature (two
//! with an index on expiry). Under load that was 2.4 of the 6.2 WAL frames of a signed
//! request (about 85 MB/s at 8,800 req/s), and the checkpoints it forced were the tail of
//! signed POST /input (BENCHMARKS.md). The table `replay_log` is now append-only (rowid
//! order, so a batch of inserts shares one leaf page) and only read back at open; the
//! question "was this signature used?" is answered here. The store's one-process rule (see
//! `store.rs`) is what makes an index private to the writer enough.

use std::collections::HashMap;

/// Never prune below this many entries: pruning tiny maps is wasted work.
const MIN_PRUNE_THRESHOLD: usize = 1024;

/// Spent signatures and when each may be forgotten (unix seconds). Owned by the writer and
/// changed only after the transaction that recorded a signature has committed.
#[derive(Debug, Default)]
pub(crate) struct SpentSignatures {
    expiries: HashMap<[u8; 64], f64>,
    /// Prune when `expiries` reaches this size.
    prune_at: usize,
}

impl SpentSignatures {
    /// The index of what `replay_log` holds: `(signature, expires)` rows.
    pub(crate) fn from_rows(rows: impl IntoIterator<Item = ([u8; 64], f64)>) -> Self {
        let mut spent = SpentSignatures::default();
        for (signature, expires) in rows {
            // A signature logged twice (possible only from a v1 database's upserts) keeps
            // its latest expiry.
            let entry = spent.expiries.entry(signature).or_insert(expires);
            *entry = entry.max(expires);
        }
        spent.prune_at = spent.expiries.len().saturating_mul(2);
        spent
    }

    /// Whether `signature` was used and its window is still open at `now`. One whose window
    /// has closed counts as fresh again, as in the ledger's first (SQL) form: the verifier
    /// refuses its timestamp by then anyway, and this clock is the verifier's.
    pub(crate) fn is_spent(&self, signature: &[u8; 64], now: f64) -> bool {
        self.expiries
            .get(signature)
            .is_some_and(|expires| *expires >= now)
    }

    /// Records committed signatures; once the map has doubled since the last pruning,
    /// drops those expired before `now` (amortized O(1) per insert).
    pub(crate) fn insert_committed(
        &mut self,
        committed: impl IntoIterator<Item = ([u8; 64], f64)>,
        now: f64,
    ) {
        self.expiries.extend(committed);
        if self.expiries.len() >= self.prune_at.max(MIN_PRUNE_THRESHOLD) {
            self.expiries.retain(|_, expires| *expires >= now);
            self.prune_at = self.expiries.len().saturating_mul(2);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.expiries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(n: u64) -> [u8; 64] {
        let mut bytes = [0u8; 64];
        bytes[..8].copy_from_slice(&n.to_le_bytes());
        bytes
    }

    #[test]
    fn loaded_and_committed_signatures_are_spent() {
        let mut spent = SpentSignatures::from_rows([(signature(1), 100.0)]);
        assert!(spent.is_spent(&signature(1), 50.0));
        assert!(!spent.is_spent(&signature(2), 50.0));
        spent.insert_committed([(signature(2), 100.0)], 0.0);
        assert!(spent.is_spent(&signature(2), 50.0));
        // Past its expiry a signature is fresh again; recording it again renews it.
        assert!(!spent.is_spent(&signature(2), 101.0));
        spent.insert_committed([(signature(2), 400.0)], 101.0);
        assert!(spent.is_spent(&signature(2), 101.0));
    }

    #[test]
    fn expired_signatures_are_pruned_once_the_map_doubles() {
        let mut spent = SpentSignatures::from_rows([(signature(0), 10.0)]);
        for n in 1..MIN_PRUNE_THRESHOLD as u64 - 1 {
            spent.insert_committed([(signature(n), 1000.0)], 20.0);
        }
        // Not pruned yet: the expired entry is still held.
        assert_eq!(spent.len(), MIN_PRUNE_THRESHOLD - 1);
        spent.insert_committed([(signature(5000), 1000.0)], 20.0);
        // Pruned at the threshold: only the expired entry went.
        assert_eq!(spent.len(), MIN_PRUNE_THRESHOLD - 1);
        assert!(!spent.expiries.contains_key(&signature(0)));
        assert!(spent.is_spent(&signature(1), 20.0));
    }

    #[test]
    fn a_duplicate_row_keeps_the_latest_expiry() {
        let spent = SpentSignatures::from_rows([(signature(1), 50.0), (signature(1), 10.0)]);
        assert_eq!(spent.expiries[&signature(1)], 50.0);
    }
}
