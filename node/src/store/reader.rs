//! A small pool of read-only connections. WAL lets them read while the writer commits; each
//! read runs on tokio's blocking pool so a slow disk never stalls the async workers.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::store::error::StoreError;
use crate::store::sql;

/// Read-only connections kept open.
pub(crate) const READERS: usize = 4;

pub(crate) struct ReadPool {
    /// Idle connections. A task holding a permit of `permits` is guaranteed one.
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    path: PathBuf,
}

impl ReadPool {
    pub(crate) fn open(path: &Path, size: usize) -> Result<ReadPool, StoreError> {
        let size = size.max(1);
        let conns = (0..size)
            .map(|_| sql::open_reader(path))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ReadPool {
            idle: Mutex::new(conns),
            permits: Arc::new(Semaphore::new(size)),
            path: path.to_path_buf(),
        })
    }

    /// Runs `f` on an idle connection on the blocking pool.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::ReadTask("the read pool is closed".into()))?;
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let idle = pool
                .idle
                .lock()
                .map_err(|_| StoreError::Poisoned("read pool"))?
                .pop();
            // None only if a connection was lost to a panic: replace it.
            let conn = match idle {
                Some(conn) => conn,
                None => sql::open_reader(&pool.path)?,
            };
            let out = f(&conn);
            // Put it back even when `f` failed: a failed query leaves the connection usable.
            match pool.idle.lock() {
                Ok(mut idle) => idle.push(conn),
                Err(_) => return Err(StoreError::Poisoned("read pool")),
            }
            out
        })
        .await
        .map_err(|e| StoreError::ReadTask(e.to_string()))?
    }

    /// Closes every idle connection (on drop of the store, before its files are removed).
    pub(crate) fn close(&self) {
        self.permits.close();
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}
