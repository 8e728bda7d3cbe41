//! [`MemoryReplayLedger`]: an in-process replay ledger.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{LedgerError, ReplayLedger};
use crate::now_secs;

/// Never prune below this many entries: pruning tiny maps is wasted work.
const MIN_PRUNE_THRESHOLD: usize = 1024;

/// Replay ledger in memory, for a single process (and tests).
///
/// Memory stays proportional to the signatures still inside their validity
/// window: once the map has doubled since the last sweep, expired entries are
/// swept out. Each sweep costs O(live entries) and happens only after as many
/// insertions, so the cost per request is amortized O(1).
#[derive(Debug, Default)]
pub struct MemoryReplayLedger {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Signature → unix time after which it may be forgotten.
    expiries: HashMap<[u8; 64], f64>,
    /// Sweep when `expiries` reaches this size.
    prune_at: usize,
}

impl MemoryReplayLedger {
    /// An empty ledger.
    pub fn new() -> MemoryReplayLedger {
        MemoryReplayLedger::default()
    }

    /// [`ReplayLedger::check_and_record`] with an explicit clock, for tests.
    pub fn check_and_record_at(
        &self,
        signature: &[u8; 64],
        expires_at_secs: f64,
        now_secs: f64,
    ) -> bool {
        let mut state = self.lock();
        // A recorded signature stays refused until swept, even if its expiry
        // has passed: forgetting early gains nothing (its timestamp check now
        // fails anyway) and would tie correctness to this clock agreeing with
        // the verifier's.
        if state.expiries.contains_key(signature) {
            return false;
        }
        state.expiries.insert(*signature, expires_at_secs);
        if state.expiries.len() >= state.prune_at.max(MIN_PRUNE_THRESHOLD) {
            state.expiries.retain(|_, expiry| *expiry >= now_secs);
            state.prune_at = state.expiries.len().saturating_mul(2);
        }
        true
    }

    /// Number of signatures currently remembered (including not-yet-swept
    /// expired ones).
    pub fn len(&self) -> usize {
        self.lock().expiries.len()
    }

    /// Whether no signature is remembered (see [`len`](Self::len)).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The map stays consistent even if a holder panicked (every update is a
    /// single insert or retain), so a poisoned lock is safe to keep using;
    /// propagating the poison would turn one bug into a permanent outage.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ReplayLedger for MemoryReplayLedger {
    fn check_and_record(
        &self,
        signature: &[u8; 64],
        expires_at_secs: f64,
    ) -> Result<bool, LedgerError> {
        Ok(self.check_and_record_at(signature, expires_at_secs, now_secs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn signature(n: u64) -> [u8; 64] {
        let mut bytes = [0u8; 64];
        bytes[..8].copy_from_slice(&n.to_le_bytes());
        bytes
    }

    #[test]
    fn second_use_is_refused() {
        let ledger = MemoryReplayLedger::new();
        assert!(ledger
            .check_and_record(&signature(1), now_secs() + 300.0)
            .unwrap());
        assert!(!ledger
            .check_and_record(&signature(1), now_secs() + 300.0)
            .unwrap());
        assert!(ledger
            .check_and_record(&signature(2), now_secs() + 300.0)
            .unwrap());
    }

    #[test]
    fn expired_entries_are_swept() {
        let ledger = MemoryReplayLedger::new();
        assert!(ledger.check_and_record_at(&signature(0), 10.0, 0.0));
        assert!(!ledger.check_and_record_at(&signature(0), 10.0, 20.0));
        for n in 1..MIN_PRUNE_THRESHOLD as u64 {
            assert!(ledger.check_and_record_at(&signature(n), 1000.0, 20.0));
        }
        // The sweep at the threshold dropped only the expired entry.
        assert_eq!(ledger.len(), MIN_PRUNE_THRESHOLD - 1);
        assert!(ledger.check_and_record_at(&signature(0), 1000.0, 20.0));
    }

    #[test]
    fn memory_stays_bounded_by_the_live_window() {
        let ledger = MemoryReplayLedger::new();
        // Each signature lives 10 seconds; one arrives per second.
        for n in 0..100_000u64 {
            let now = n as f64;
            assert!(ledger.check_and_record_at(&signature(n), now + 10.0, now));
        }
        assert!(ledger.len() <= 2 * MIN_PRUNE_THRESHOLD, "{}", ledger.len());
    }

    #[test]
    fn concurrent_copies_of_one_signature_pass_once() {
        let ledger = Arc::new(MemoryReplayLedger::new());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let ledger = Arc::clone(&ledger);
                std::thread::spawn(move || ledger.check_and_record_at(&signature(7), 10.0, 0.0))
            })
            .collect();
        let fresh = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|fresh| *fresh)
            .count();
        assert_eq!(fresh, 1);
    }
}
