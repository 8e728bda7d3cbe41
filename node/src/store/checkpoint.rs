//! The checkpointer thread: copies committed pages from the WAL into the database file.
//!
//! SQLite's automatic checkpoint runs inside the `COMMIT` that crosses the threshold, so
//! every few hundred writes one of them would wait milliseconds for the copy and its fsync.
//! Here a separate connection on its own thread does that work with `PASSIVE` checkpoints
//! (which never block the writer or readers); the writer keeps a large automatic threshold
//! only as a safety net in case this thread falls behind.

use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use tracing::{debug, warn};

use crate::store::error::StoreError;
use crate::store::sql;

/// How often to checkpoint while writes keep coming.
const BUSY_EVERY: Duration = Duration::from_millis(100);
/// How often to look when the last checkpoint found nothing to do.
const IDLE_EVERY: Duration = Duration::from_secs(1);

/// Starts the thread; it stops when the sending side of `stop` is dropped.
pub(crate) fn spawn(path: &Path, stop: Receiver<()>) -> Result<JoinHandle<()>, StoreError> {
    let conn = sql::open_checkpointer(path)?;
    let path = path.to_path_buf();
    std::thread::Builder::new()
        .name("agenthost-store-checkpoint".into())
        .spawn(move || run(conn, &path, stop))
        .map_err(StoreError::SpawnThread)
}

fn run(conn: Connection, path: &Path, stop: Receiver<()>) {
    let mut every = IDLE_EVERY;
    let mut last = (0, 0);
    let mut failures: u32 = 0;
    // Anything but a timeout (a stop message, or the sender dropped) ends the loop.
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(every) {
        // (busy, frames in the WAL, frames copied so far)
        let outcome = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        });
        match outcome {
            Ok((frames, copied)) => {
                if failures > 0 {
                    debug!(failures, "session store: checkpoints work again");
                }
                failures = 0;
                // Keep the short period while the WAL changes or is not fully copied.
                let busy = (frames, copied) != last || copied < frames;
                every = if busy { BUSY_EVERY } else { IDLE_EVERY };
                last = (frames, copied);
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                every = IDLE_EVERY;
                warn!(
                    path = %path.display(),
                    failures,
                    error = %e,
                    "session store: WAL checkpoint failed (the writer's own checkpoints still bound the WAL)"
                );
            }
        }
    }
    debug!("session store checkpointer stopped");
}
