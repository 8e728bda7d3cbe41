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

use std::collections::{HashMap, VecDeque};

/// Most expired entries dropped per commit: pruning is spread over commits, never a pause.
const PRUNE_PER_COMMIT: usize = 64;

/// Spent signatures and when each may be forgotten (unix seconds). Owned by the writer and
/// changed only after the transaction that recorded a signature has committed.
#[derive(Debug, Default)]
pub(crate) struct SpentSignatures {
    expiries: HashMap<[u8; 64], f64>,
    /// Every recorded (expiry, signature), in the order recorded. Expiries arrive almost in
    /// order (a signed timestamp plus a fixed window), so the expired ones gather at the
    /// front, where each commit drops a few: a whole-map sweep would stall the writer for
    /// tens of milliseconds at a few million entries.
    order: VecDeque<(f64, [u8; 64])>,
}

impl SpentSignatures {
    /// The index of what `replay_log` holds: `(signature, expires)` rows, in log order.
    pub(crate) fn from_rows(rows: impl IntoIterator<Item = ([u8; 64], f64)>) -> Self {
        let mut spent = SpentSignatures::default();
        for (signature, expires) in rows {
            // A signature logged twice (possible only from a version 1 database's
            // upserts) keeps its latest expiry.
            let entry = spent.expiries.entry(signature).or_insert(expires);
            *entry = entry.max(expires);
            spent.order.push_back((expires, signature));
        }
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

    /// Records committed signatures, then drops up to [`PRUNE_PER_COMMIT`] entries expired
    /// before `now` from the front.
    pub(crate) fn insert_committed(
        &mut self,
        committed: impl IntoIterator<Item = ([u8; 64], f64)>,
        now: f64,
    ) {
        for (signature, expires) in committed {
            self.expiries.insert(signature, expires);
            self.order.push_back((expires, signature));
        }
        for _ in 0..PRUNE_PER_COMMIT {
            match self.order.front() {
                Some((expires, _)) if *expires < now => {}
                _ => break,
            }
            let Some((expires, signature)) = self.order.pop_front() else {
                break;
            };
            // A signature recorded again later has a newer expiry and a later entry.
            if self.expiries.get(&signature) == Some(&expires) {
                self.expiries.remove(&signature);
            }
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
    fn expired_signatures_are_pruned_a_few_per_commit() {
        let mut spent = SpentSignatures::from_rows(
            (0..200)
                .map(|n| (signature(n), 10.0))
                .chain([(signature(999), 1000.0)]),
        );
        // Each commit drops at most PRUNE_PER_COMMIT expired entries, oldest first.
        spent.insert_committed([], 20.0);
        assert_eq!(spent.len(), 201 - PRUNE_PER_COMMIT);
        assert!(!spent.expiries.contains_key(&signature(0)));
        for _ in 0..10 {
            spent.insert_committed([], 20.0);
        }
        // Only the live one is left, and pruning stops at it.
        assert_eq!(spent.len(), 1);
        assert!(spent.is_spent(&signature(999), 20.0));
        assert_eq!(spent.order.len(), 1);
    }

    #[test]
    fn a_renewed_signature_survives_the_pruning_of_its_old_entry() {
        let mut spent = SpentSignatures::from_rows([(signature(1), 10.0)]);
        spent.insert_committed([(signature(1), 500.0)], 20.0);
        assert!(spent.is_spent(&signature(1), 20.0));
        assert_eq!(spent.order.len(), 1, "the old entry was pruned");
    }

    #[test]
    fn a_duplicate_row_keeps_the_latest_expiry() {
        let spent = SpentSignatures::from_rows([(signature(1), 50.0), (signature(1), 10.0)]);
        assert_eq!(spent.expiries[&signature(1)], 50.0);
    }
}
