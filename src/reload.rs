//! `--reload`: watches the working directory and, when files change, retires the runs in flight
//! (they finish within the grace period, then are interrupted) while new runs start from the
//! changed files.
//!
//! A hosted command starts one process per request, so "restarting the command" needs no
//! restart of the host: the node, its address, its relay reservations, the HTTP port, open
//! WebSockets and the session store all stay, and only runs of the old code are retired.
//! Changes to `agenthost.toml` itself are reported, not applied: settings need a restart.

use std::{
    path::{Component, Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use agenthost_node::AgentService;
use anyhow::Context as _;
use notify_debouncer_mini::{new_debouncer, notify::RecursiveMode, DebounceEventResult};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::task::TaskTracker;

/// Quiet time after the last change before reloading: an editor's save is several events.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Folders whose changes never reload: our own data, build output, version control.
const IGNORED_DIRS: &[&str] = &[
    ".agenthost",
    "target",
    ".git",
    "node_modules",
    "__pycache__",
];

/// Debounced batches of changed paths waiting for the reload task.
const RELOAD_QUEUE: usize = 16;

/// Watches `root` and retires `service`'s runs on changes; stops when the task is aborted.
pub(crate) fn spawn_reloader(
    tasks: &TaskTracker,
    root: PathBuf,
    data_dir: PathBuf,
    service: Arc<dyn AgentService>,
    grace: Duration,
) -> anyhow::Result<JoinHandle<()>> {
    let root = root
        .canonicalize()
        .with_context(|| format!("watching {} for --reload", root.display()))?;
    let data_dir = data_dir.canonicalize().unwrap_or(data_dir);
    // The debouncer calls back on its own thread, which waits here while the task is busy
    // retiring runs: a burst of edits pushes back on the watcher instead of queueing without end.
    let (tx, mut rx) = mpsc::channel::<Vec<PathBuf>>(RELOAD_QUEUE);
    let mut debouncer = new_debouncer(DEBOUNCE, move |events: DebounceEventResult| match events {
        Ok(events) => {
            let _ = tx.blocking_send(events.into_iter().map(|e| e.path).collect());
        }
        Err(e) => tracing::warn!(error = %e, "--reload: watching files failed"),
    })
    .context("starting the file watcher for --reload")?;
    debouncer
        .watcher()
        .watch(&root, RecursiveMode::Recursive)
        .with_context(|| format!("watching {} for --reload", root.display()))?;
    tracing::info!(dir = %root.display(), "reload: watching for changes");
    let retirements = tasks.clone();
    Ok(tasks.spawn(async move {
        // The watcher lives as long as this task.
        let _debouncer = debouncer;
        while let Some(paths) = rx.recv().await {
            let changed: Vec<PathBuf> = paths
                .into_iter()
                .filter(|p| !ignored(p, &root, &data_dir))
                .collect();
            let Some(first) = changed.first() else {
                continue;
            };
            if changed
                .iter()
                .any(|p| p.file_name() == Some(crate::settings::CONFIG_FILE.as_ref()))
            {
                tracing::warn!(
                    "reload: agenthost.toml changed; restart the host to apply settings"
                );
            }
            tracing::info!(
                files = changed.len(),
                first = %first.strip_prefix(&root).unwrap_or(first).display(),
                "reload: files changed; new runs use them, runs in flight may finish"
            );
            // Each change retires the runs started before it, in its own task: a change
            // arriving while older runs are retired must not retire runs of newer files.
            let retiring = service.retire_runs(grace);
            retirements.spawn(async move {
                let report = retiring.await;
                if report.finished + report.interrupted > 0 {
                    tracing::info!(
                        finished = report.finished,
                        interrupted = report.interrupted,
                        "reload: runs of the old files retired"
                    );
                }
            });
        }
    }))
}

fn ignored(path: &Path, root: &Path, data_dir: &Path) -> bool {
    if path.starts_with(data_dir) {
        return true;
    }
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative.components().any(|c| match c {
        Component::Normal(name) => IGNORED_DIRS.iter().any(|d| name == *d),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_build_and_vcs_folders_never_reload() {
        let root = Path::new("/srv/agent");
        let data = Path::new("/srv/data");
        for p in [
            "/srv/agent/.agenthost/sessions.db-wal",
            "/srv/agent/target/debug/x",
            "/srv/agent/.git/index",
            "/srv/agent/sub/__pycache__/a.pyc",
            "/srv/data/sessions.db",
        ] {
            assert!(ignored(Path::new(p), root, data), "{p}");
        }
        for p in ["/srv/agent/agent.py", "/srv/agent/lib/targets.py"] {
            assert!(!ignored(Path::new(p), root, data), "{p}");
        }
    }
}
