//! [`Background`]: the tasks a gateway runs beside its requests — a remote agent's reply being
//! forwarded, a WebSocket turn's frames being pumped to its sockets. They outlive the request
//! that started them (a client may leave and rejoin), so they cannot be the request's own
//! future; they are tracked here instead, so a gateway that stops ends them and waits for them.

use std::{future::Future, time::Duration};

use tokio_util::{
    sync::{CancellationToken, DropGuard},
    task::TaskTracker,
};

/// A gateway's background tasks. Clones share them.
#[derive(Clone, Default)]
pub struct Background {
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl Background {
    /// Runs `task` until it ends or the gateway stops, whichever comes first. A task stopped
    /// early is dropped at its next await: a forwarded reply or a pumped turn dropped cancels
    /// the agent's run, as a client leaving does.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = task => {}
                () = stop.cancelled() => {}
            }
        });
    }

    /// Stops every task when dropped: a gateway whose `serve` future is dropped (aborted by its
    /// host) leaves nothing running behind it.
    pub fn stop_on_drop(&self) -> DropGuard {
        self.stop.clone().drop_guard()
    }

    /// A token cancelled when the gateway stops: for tasks that others spawn (rmcp's
    /// sessions), so they end with it too.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.child_token()
    }

    /// Lets the tasks still running finish within `grace`, then stops the rest and waits for
    /// them to end. Returns how many were still running when `grace` ran out.
    pub async fn shut_down(&self, grace: Duration) -> usize {
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_ok() {
            return 0;
        }
        let stopped = self.tasks.len();
        self.stop.cancel();
        self.tasks.wait().await;
        stopped
    }

    /// Tasks running now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shut_down_waits_for_finishing_tasks_and_stops_the_rest() {
        let background = Background::default();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        background.spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = done_tx.send(());
        });
        background.spawn(std::future::pending());
        assert_eq!(background.len(), 2);

        let stopped = background.shut_down(Duration::from_millis(500)).await;

        assert_eq!(
            stopped, 1,
            "the pending task is stopped, the short one finished"
        );
        assert!(done_rx.await.is_ok(), "the short task ran to its end");
        assert_eq!(background.len(), 0);
    }

    #[tokio::test]
    async fn dropping_the_guard_stops_every_task() {
        let background = Background::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        background.spawn(async move {
            std::future::pending::<()>().await;
            drop(tx);
        });
        drop(background.stop_on_drop());
        // The task is dropped at its await, so its sender goes with it.
        assert!(rx.await.is_err());
        background.tasks.close();
        background.tasks.wait().await;
        assert_eq!(background.len(), 0);
    }
}
