//! [`SpentSignatures`]: which signatures the replay ledger has seen, in memory.
//!
//! Why in memory: a signature is 64 random bytes, so a B-tree keyed by it puts every insert
//! on a random leaf page, and each commit appends one 4 KiB WAL frame per signature (two with
//! an index on expiry): 2.4 of the 6.2 WAL frames of a signed request, measured under load
//! (BENCHMARKS.md, decision 0008). So the table `replay_log` is append-only (rowid order, so
//! a batch of inserts shares one leaf page) and only read back at open, and the question
//! "was this signature used?" is answered here. The store's one-process rule (see
//! `store.rs`) is what makes an index private to the writer enough.

use std::collections::{HashMap, VecDeque};

/// Most expired entries dropped per commit: pruning is spread over commits, never a pause.
const PRUNE_PER_COMMIT: usize = 64;

/// The map is split in this many shards so that growing never rehashes everything at once.
/// With one `HashMap`, signed POST /input's p99 spiked to 33–116 ms in exactly the bench
/// rounds where the map crossed a capacity step (229,376 and 458,752 entries), and the
/// spikes went away with the shards; a shard's doubling is 1/64 of the work.
const SHARDS: usize = 64;

/// Entries per block of the arrival queue, so that it grows by whole blocks and never
/// copies what it already holds.
const BLOCK: usize = 4096;

type Entry = (f64, [u8; 64]);

/// Spent signatures and when each may be forgotten (unix seconds). Owned by the writer and
/// changed only after the transaction that recorded a signature has committed.
#[derive(Debug)]
pub(crate) struct SpentSignatures {
    /// Signature → expiry, sharded by the signature's first byte.
    shards: Vec<HashMap<[u8; 64], f64>>,
    /// Every recorded (expiry, signature), in the order recorded, in blocks of [`BLOCK`].
    /// Expiries arrive almost in order (a signed timestamp plus a fixed window), so the
    /// expired ones gather at the front, where each commit drops a few: a whole-map sweep
    /// would stall the writer for as long as a pass over every entry takes.
    order: VecDeque<VecDeque<Entry>>,
}

impl Default for SpentSignatures {
    fn default() -> Self {
        SpentSignatures {
            shards: (0..SHARDS).map(|_| HashMap::new()).collect(),
            order: VecDeque::new(),
        }
    }
}

impl SpentSignatures {
    /// The index of what `replay_log` holds: `(signature, expires)` rows, in log order.
    pub(crate) fn from_rows(rows: impl IntoIterator<Item = ([u8; 64], f64)>) -> Self {
        let mut spent = SpentSignatures::default();
        for (signature, expires) in rows {
            // A signature is logged twice when it came back after its window closed
            // (see `is_spent`): it keeps its latest expiry.
            let entry = spent
                .shard_mut(&signature)
                .entry(signature)
                .or_insert(expires);
            *entry = entry.max(expires);
            spent.push(expires, signature);
        }
        spent
    }

    fn shard(&self, signature: &[u8; 64]) -> &HashMap<[u8; 64], f64> {
        &self.shards[usize::from(signature[0]) % SHARDS]
    }

    fn shard_mut(&mut self, signature: &[u8; 64]) -> &mut HashMap<[u8; 64], f64> {
        &mut self.shards[usize::from(signature[0]) % SHARDS]
    }

    fn push(&mut self, expires: f64, signature: [u8; 64]) {
        match self.order.back_mut() {
            Some(block) if block.len() < BLOCK => block.push_back((expires, signature)),
            _ => {
                let mut block = VecDeque::with_capacity(BLOCK);
                block.push_back((expires, signature));
                self.order.push_back(block);
            }
        }
    }

    /// Takes the oldest entry if it expired before `now`.
    fn pop_expired(&mut self, now: f64) -> Option<Entry> {
        let block = self.order.front_mut()?;
        if !block.front().is_some_and(|(expires, _)| *expires < now) {
            return None;
        }
        let entry = block.pop_front();
        if block.is_empty() {
            self.order.pop_front();
        }
        entry
    }

    /// Whether `signature` was used and its window is still open at `now`. One whose window
    /// has closed counts as fresh again, as in the ledger's first (SQL) form: the verifier
    /// refuses its timestamp by then anyway, and this clock is the verifier's.
    pub(crate) fn is_spent(&self, signature: &[u8; 64], now: f64) -> bool {
        self.shard(signature)
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
            self.shard_mut(&signature).insert(signature, expires);
            self.push(expires, signature);
        }
        for _ in 0..PRUNE_PER_COMMIT {
            let Some((expires, signature)) = self.pop_expired(now) else {
                break;
            };
            // A signature recorded again later has a newer expiry and a later entry.
            let shard = self.shard_mut(&signature);
            if shard.get(&signature) == Some(&expires) {
                shard.remove(&signature);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    #[cfg(test)]
    fn queued(&self) -> usize {
        self.order.iter().map(VecDeque::len).sum()
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
        assert!(!spent.is_spent(&signature(0), 0.0));
        for _ in 0..10 {
            spent.insert_committed([], 20.0);
        }
        // Only the live one is left, and pruning stops at it.
        assert_eq!(spent.len(), 1);
        assert!(spent.is_spent(&signature(999), 20.0));
        assert_eq!(spent.queued(), 1);
    }

    #[test]
    fn pruning_crosses_blocks_in_order() {
        let total = 2 * BLOCK as u64 + 10;
        let mut spent = SpentSignatures::from_rows((0..total).map(|n| (signature(n), n as f64)));
        assert_eq!(spent.order.len(), 3);
        let now = (BLOCK + 5) as f64;
        while spent.len() > total as usize - (BLOCK + 5) {
            spent.insert_committed([], now);
        }
        // Exactly the entries expired before `now` went, across the first block's end.
        assert_eq!(spent.queued(), total as usize - (BLOCK + 5));
        assert!(!spent.is_spent(&signature(BLOCK as u64 + 4), 0.0));
        assert!(spent.is_spent(&signature(BLOCK as u64 + 5), 0.0));
        spent.insert_committed([], now);
        assert_eq!(
            spent.len(),
            total as usize - (BLOCK + 5),
            "pruning stops at a live entry"
        );
        assert_eq!(spent.order.len(), 2);
    }

    #[test]
    fn a_renewed_signature_survives_the_pruning_of_its_old_entry() {
        let mut spent = SpentSignatures::from_rows([(signature(1), 10.0)]);
        spent.insert_committed([(signature(1), 500.0)], 20.0);
        assert!(spent.is_spent(&signature(1), 20.0));
        assert_eq!(spent.queued(), 1, "the old entry was pruned");
    }

    #[test]
    fn a_duplicate_row_keeps_the_latest_expiry() {
        let spent = SpentSignatures::from_rows([(signature(1), 50.0), (signature(1), 10.0)]);
        assert_eq!(spent.shard(&signature(1))[&signature(1)], 50.0);
    }
}
