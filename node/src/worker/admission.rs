//! Admission: at most `workers` runs at once and `queue` more waiting for a worker. A request
//! beyond that is refused at once with `overloaded` — never parked unread.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Limits on concurrent work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerLimits {
    /// Runs executing at once.
    pub workers: usize,
    /// Admitted runs waiting for a worker.
    pub queue: usize,
}

impl Default for WorkerLimits {
    fn default() -> Self {
        WorkerLimits {
            workers: 16,
            queue: 128,
        }
    }
}

/// The workers of one dispatcher.
pub(crate) struct WorkerPool {
    limits: WorkerLimits,
    workers: Arc<Semaphore>,
    /// Running plus queued runs, counted with one atomic so admission never blocks.
    admitted: Arc<AtomicUsize>,
}

impl WorkerPool {
    pub(crate) fn new(limits: WorkerLimits) -> Self {
        let limits = WorkerLimits {
            workers: limits.workers.max(1),
            queue: limits.queue,
        };
        WorkerPool {
            limits,
            workers: Arc::new(Semaphore::new(limits.workers)),
            admitted: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub(crate) fn limits(&self) -> WorkerLimits {
        self.limits
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.admitted.load(Ordering::Acquire)
    }

    /// A place among the admitted runs, or `None` when workers and queue are full.
    pub(crate) fn try_admit(&self) -> Option<Admission> {
        let capacity = self.limits.workers + self.limits.queue;
        self.admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < capacity).then_some(n + 1)
            })
            .ok()?;
        Some(Admission {
            admitted: Arc::clone(&self.admitted),
            workers: Arc::clone(&self.workers),
        })
    }
}

/// An admitted run's place, released on drop whatever way the run ends.
pub(crate) struct Admission {
    admitted: Arc<AtomicUsize>,
    workers: Arc<Semaphore>,
}

impl Admission {
    /// Waits in the queue for a worker. `None` if the pool is closed.
    pub(crate) async fn worker(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.workers).acquire_owned().await.ok()
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}
