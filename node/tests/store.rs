//! The session store on real SQLite files in temporary directories.

// Test helpers unwrap like the tests they serve: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agenthost_identity::ReplayLedger;
use agenthost_node::store::{BeginError, SessionStatus, SessionStore, StoreError};
use serde_json::json;

const HOUR: Duration = Duration::from_secs(3600);

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn db(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join(".agenthost").join("store.sqlite3")
}

fn sig(n: u8) -> [u8; 64] {
    let mut s = [0u8; 64];
    s[0] = n;
    s[63] = n.wrapping_mul(7);
    s
}

#[tokio::test]
async fn begin_finish_get_roundtrip_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let result = "line one\nline two — ünïcødé 你好 😀 \"quoted\" \\ back\0nul";
    let conversation = json!({
        "session_id": "s1",
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": result}],
        "trace": [{"type": "tool_call", "name": "x", "args": {"n": 1.5}}],
        "turn": 1,
        "extra": {"nested": [1, 2, 3]}
    });
    let before = now();
    {
        let store = SessionStore::open(&path, HOUR).unwrap();
        store.begin("s1", Some("0xabc"), "hello").await.unwrap();

        let running = store.get("s1").await.unwrap().unwrap();
        assert_eq!(running.status, SessionStatus::Running);
        assert_eq!(running.prompt, "hello");
        assert_eq!(running.owner.as_deref(), Some("0xabc"));
        assert_eq!(running.result, None);
        assert_eq!(running.duration_ms, None);

        store
            .finish(
                "s1",
                SessionStatus::Done,
                Some(result),
                None,
                Some(&conversation),
                1234,
            )
            .await
            .unwrap();
        // Right after finish: served by the cache.
        let stats_before = store.stats();
        let done = store.get("s1").await.unwrap().unwrap();
        let stats_after = store.stats();
        assert_eq!(stats_after.cache_hits, stats_before.cache_hits + 1);
        assert_eq!(stats_after.cache_misses, stats_before.cache_misses);
        assert_eq!(stats_after.read_queries, stats_before.read_queries);
        assert_eq!(done.status, SessionStatus::Done);
        assert_eq!(done.result.as_deref(), Some(result));
        assert_eq!(done.error, None);
        assert_eq!(done.session.as_ref(), Some(&conversation));
        assert_eq!(done.duration_ms, Some(1234));
        assert!(done.created >= before && done.updated >= done.created);
        assert!((done.expires - (done.updated + 3600.0)).abs() < 1e-6);

        let wire = done.to_json();
        assert_eq!(wire["session_id"], "s1");
        assert_eq!(wire["status"], "done");
        assert_eq!(wire["prompt"], "hello");
        assert_eq!(wire["result"], result);
        assert_eq!(wire["duration_ms"], 1234);
        assert!(wire.get("error").is_none());
        assert!(wire.get("session").is_none());
        assert!(wire.get("owner").is_none());
        assert_eq!(wire["created"].as_f64(), Some(done.created));
        assert_eq!(wire["expires"].as_f64(), Some(done.expires));
        assert!(store.get("nope").await.unwrap().is_none());
    }
    // A new store has an empty cache: this read comes from SQLite and must be identical.
    let store = SessionStore::open(&path, HOUR).unwrap();
    let reread = store.get("s1").await.unwrap().unwrap();
    assert_eq!(store.stats().cache_misses, 1);
    assert_eq!(store.stats().reads, 1);
    // The miss filled the cache.
    store.get("s1").await.unwrap().unwrap();
    assert_eq!(store.stats().cache_hits, 1);
    assert_eq!(reread.status, SessionStatus::Done);
    assert_eq!(reread.result.as_deref(), Some(result));
    assert_eq!(reread.session.as_ref(), Some(&conversation));
    assert_eq!(reread.duration_ms, Some(1234));
    assert_eq!(reread.owner.as_deref(), Some("0xabc"));
}

#[tokio::test]
async fn failed_turn_keeps_error_and_previous_conversation() {
    let store = SessionStore::open_in_memory(HOUR).unwrap();
    let conv = json!({"session_id": "s", "messages": [], "turn": 1});
    store.begin("s", None, "one").await.unwrap();
    store
        .finish("s", SessionStatus::Done, Some("r1"), None, Some(&conv), 5)
        .await
        .unwrap();
    store.begin("s", None, "two").await.unwrap();
    let running = store.get("s").await.unwrap().unwrap();
    assert_eq!(running.status, SessionStatus::Running);
    assert_eq!(running.prompt, "two");
    assert_eq!(running.result, None, "begin clears the previous result");
    assert_eq!(
        running.session.as_ref(),
        Some(&conv),
        "begin keeps the conversation"
    );
    store
        .finish(
            "s",
            SessionStatus::Failed,
            None,
            Some("model timed out"),
            None,
            7,
        )
        .await
        .unwrap();
    let failed = store.get("s").await.unwrap().unwrap();
    assert_eq!(failed.status, SessionStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("model timed out"));
    assert_eq!(failed.result, None);
    assert_eq!(failed.session.as_ref(), Some(&conv));
    let wire = failed.to_json();
    assert_eq!(wire["error"], "model timed out");
    assert!(wire.get("result").is_none());
}

#[tokio::test]
async fn busy_and_foreign() {
    let store = SessionStore::open_in_memory(HOUR).unwrap();
    store.begin("a", Some("0xaa"), "p").await.unwrap();
    assert!(matches!(
        store.begin("a", Some("0xaa"), "p2").await,
        Err(BeginError::Busy)
    ));
    // Another owner learns nothing, not even that the session is busy.
    assert!(matches!(
        store.begin("a", Some("0xbb"), "p2").await,
        Err(BeginError::Foreign)
    ));
    assert!(matches!(
        store.begin("a", None, "p2").await,
        Err(BeginError::Foreign)
    ));
    store
        .finish("a", SessionStatus::Done, Some("r"), None, None, 1)
        .await
        .unwrap();
    assert!(matches!(
        store.begin("a", Some("0xbb"), "p3").await,
        Err(BeginError::Foreign)
    ));
    store.begin("a", Some("0xaa"), "p3").await.unwrap();
    assert_eq!(store.get("a").await.unwrap().unwrap().prompt, "p3");

    // Anonymous sessions match only anonymous callers.
    store.begin("anon", None, "p").await.unwrap();
    assert!(matches!(
        store.begin("anon", None, "p").await,
        Err(BeginError::Busy)
    ));
    assert!(matches!(
        store.begin("anon", Some("0xaa"), "p").await,
        Err(BeginError::Foreign)
    ));
    store
        .finish("anon", SessionStatus::Cancelled, None, None, None, 0)
        .await
        .unwrap();
    store.begin("anon", None, "again").await.unwrap();

    // The foreign refusal left the record untouched.
    let a = store.get("a").await.unwrap().unwrap();
    assert_eq!(a.owner.as_deref(), Some("0xaa"));
    assert_eq!(a.status, SessionStatus::Running);
}

#[tokio::test]
async fn finish_rejects_unknown_sessions_and_running_status() {
    let store = SessionStore::open_in_memory(HOUR).unwrap();
    assert!(matches!(
        store
            .finish("ghost", SessionStatus::Done, Some("r"), None, None, 1)
            .await,
        Err(StoreError::NotFound(id)) if id == "ghost"
    ));
    store.begin("s", None, "p").await.unwrap();
    assert!(matches!(
        store
            .finish("s", SessionStatus::Running, None, None, None, 1)
            .await,
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        store.begin("", None, "p").await,
        Err(BeginError::Store(StoreError::InvalidArgument(_)))
    ));
}

#[tokio::test]
async fn list_is_owner_scoped_newest_first_and_limited() {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::open(&db(&dir), HOUR).unwrap();
    for i in 0..5 {
        let id = format!("alice-{i}");
        store
            .begin(&id, Some("0xalice"), &format!("p{i}"))
            .await
            .unwrap();
        store
            .finish(&id, SessionStatus::Done, Some("r"), None, None, 1)
            .await
            .unwrap();
    }
    for i in 0..3 {
        let id = format!("bob-{i}");
        store.begin(&id, Some("0xbob"), "p").await.unwrap();
    }
    for i in 0..2 {
        store.begin(&format!("anon-{i}"), None, "p").await.unwrap();
    }
    // Touch alice-1 last: it becomes the newest.
    store
        .begin("alice-1", Some("0xalice"), "again")
        .await
        .unwrap();

    let alice = store.list(Some("0xalice"), 100).await.unwrap();
    let ids: Vec<_> = alice.iter().map(|r| r.session_id.as_str()).collect();
    assert_eq!(ids, ["alice-1", "alice-4", "alice-3", "alice-2", "alice-0"]);
    assert!(alice.windows(2).all(|w| w[0].updated >= w[1].updated));
    assert!(alice.iter().all(|r| r.owner.as_deref() == Some("0xalice")));

    let limited = store.list(Some("0xalice"), 2).await.unwrap();
    let ids: Vec<_> = limited.iter().map(|r| r.session_id.as_str()).collect();
    assert_eq!(ids, ["alice-1", "alice-4"]);

    let bob = store.list(Some("0xbob"), 100).await.unwrap();
    assert_eq!(bob.len(), 3);
    assert!(bob.iter().all(|r| r.session_id.starts_with("bob-")));

    let anon = store.list(None, 100).await.unwrap();
    let ids: Vec<_> = anon.iter().map(|r| r.session_id.as_str()).collect();
    assert_eq!(ids, ["anon-1", "anon-0"]);

    assert!(store.list(Some("0xnobody"), 100).await.unwrap().is_empty());
    assert!(store.list(Some("0xalice"), 0).await.unwrap().is_empty());
}

#[tokio::test]
async fn finished_records_expire_running_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::open(&db(&dir), Duration::from_secs(1)).unwrap();
    store.begin("done", Some("0xo"), "p").await.unwrap();
    store
        .finish("done", SessionStatus::Done, Some("r"), None, None, 1)
        .await
        .unwrap();
    store.begin("running", Some("0xo"), "p").await.unwrap();
    assert!(store.get("done").await.unwrap().is_some());
    assert_eq!(store.list(Some("0xo"), 10).await.unwrap().len(), 2);

    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Still in the cache, but expired: gone all the same.
    assert!(store.get("done").await.unwrap().is_none());
    let running = store.get("running").await.unwrap().unwrap();
    assert_eq!(running.status, SessionStatus::Running);
    let listed = store.list(Some("0xo"), 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].session_id, "running");

    // And from SQLite (fresh cache) too.
    let reopened_path = store.path().to_path_buf();
    drop(store);
    let store = SessionStore::open(&reopened_path, Duration::from_secs(1)).unwrap();
    assert!(store.get("done").await.unwrap().is_none());

    // An expired id is free again, even for another caller.
    store.begin("done", Some("0xother"), "new").await.unwrap();
    let fresh = store.get("done").await.unwrap().unwrap();
    assert_eq!(fresh.owner.as_deref(), Some("0xother"));
    assert_eq!(fresh.status, SessionStatus::Running);
}

#[tokio::test]
async fn sweep_deletes_expired_rows_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::open(&db(&dir), Duration::from_secs(1)).unwrap();
    for i in 0..3 {
        let id = format!("old-{i}");
        store.begin(&id, None, "p").await.unwrap();
        store
            .finish(&id, SessionStatus::Done, Some("r"), None, None, 1)
            .await
            .unwrap();
    }
    store.begin("running", None, "p").await.unwrap();
    let ledger = store.replay_ledger();
    let past = ledger.clone();
    tokio::task::spawn_blocking(move || {
        assert!(past.check_and_record(&sig(1), now() - 10.0).unwrap());
        assert!(past.check_and_record(&sig(2), now() + 3600.0).unwrap());
    })
    .await
    .unwrap();

    tokio::time::sleep(Duration::from_millis(1500)).await;
    store.begin("young", None, "p").await.unwrap();
    store
        .finish("young", SessionStatus::Done, Some("r"), None, None, 1)
        .await
        .unwrap();

    let s = store.clone();
    let swept = tokio::task::spawn_blocking(move || s.sweep_expired())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(swept, 4, "3 expired sessions and 1 expired replay entry");
    let s = store.clone();
    let again = tokio::task::spawn_blocking(move || s.sweep_expired())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, 0);

    assert!(store.get("running").await.unwrap().is_some());
    assert!(store.get("young").await.unwrap().is_some());
    // The live replay entry survived the sweep.
    let l = ledger.clone();
    let replayed = tokio::task::spawn_blocking(move || l.check_and_record(&sig(2), now() + 3600.0))
        .await
        .unwrap()
        .unwrap();
    assert!(!replayed);
}

#[tokio::test]
async fn sweeper_task_sweeps_and_stops_with_the_store() {
    let store = SessionStore::open_in_memory(Duration::from_millis(200)).unwrap();
    store.begin("x", None, "p").await.unwrap();
    store
        .finish("x", SessionStatus::Done, Some("r"), None, None, 1)
        .await
        .unwrap();
    let path = store.path().to_path_buf();
    let sweeper = store.spawn_sweeper(Duration::from_millis(100));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Swept from the database, not just hidden.
    assert_eq!(session_rows(&path), 0);
    drop(store);
    tokio::time::timeout(Duration::from_secs(5), sweeper)
        .await
        .expect("the sweeper stops once the store is dropped")
        .unwrap();
    assert!(!path.exists(), "open_in_memory removes its file on drop");
}

/// Rows in the `sessions` table, read with plain SQLite.
fn session_rows(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn restart_marks_running_interrupted_and_keeps_finished_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let exact = "exact result: 3.14159265358979 ✓";
    {
        let store = SessionStore::open(&path, HOUR).unwrap();
        store.begin("left-running", Some("0xo"), "p").await.unwrap();
        store.begin("finished", Some("0xo"), "p").await.unwrap();
        store
            .finish(
                "finished",
                SessionStatus::Done,
                Some(exact),
                None,
                Some(&json!({"turn": 1})),
                42,
            )
            .await
            .unwrap();
        // Dropped without finishing "left-running", as a crashed process would.
    }
    let store = SessionStore::open(&path, HOUR).unwrap();
    let interrupted = store.get("left-running").await.unwrap().unwrap();
    assert_eq!(interrupted.status, SessionStatus::Interrupted);
    assert!(interrupted.error.is_some());
    assert!(interrupted.expires > now() + 3000.0);
    let finished = store.get("finished").await.unwrap().unwrap();
    assert_eq!(finished.status, SessionStatus::Done);
    assert_eq!(finished.result.as_deref(), Some(exact));
    assert_eq!(finished.duration_ms, Some(42));
    assert_eq!(finished.session, Some(json!({"turn": 1})));
    // An interrupted session can be continued by its owner.
    store
        .begin("left-running", Some("0xo"), "retry")
        .await
        .unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

/// The child half of `committed_finish_survives_sigkill`: runs only when the parent sets
/// the environment variable.
#[tokio::test]
async fn sigkill_child() {
    let Ok(path) = std::env::var("STORE_TEST_SIGKILL_DB") else {
        return;
    };
    let store = SessionStore::open(Path::new(&path), HOUR).unwrap();
    store.begin("killed-running", None, "p").await.unwrap();
    store.begin("killed-done", None, "p").await.unwrap();
    store
        .finish(
            "killed-done",
            SessionStatus::Done,
            Some("survives SIGKILL"),
            None,
            None,
            9,
        )
        .await
        .unwrap();
    println!("FINISHED");
    tokio::time::sleep(Duration::from_secs(60)).await;
}

#[test]
fn committed_finish_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigkill_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("STORE_TEST_SIGKILL_DB", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut seen = false;
    for line in BufReader::new(stdout).lines() {
        if line.unwrap().contains("FINISHED") {
            seen = true;
            break;
        }
    }
    assert!(seen, "child reported its finish");
    child.kill().unwrap(); // SIGKILL on unix
    child.wait().unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SessionStore::open(&path, HOUR).unwrap();
        let done = store.get("killed-done").await.unwrap().unwrap();
        assert_eq!(done.status, SessionStatus::Done);
        assert_eq!(done.result.as_deref(), Some("survives SIGKILL"));
        let running = store.get("killed-running").await.unwrap().unwrap();
        assert_eq!(running.status, SessionStatus::Interrupted);
        assert_eq!(store.integrity_check().unwrap(), "ok");
    });
}

#[tokio::test]
async fn integrity_check_is_ok_and_the_file_is_wal_and_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let store = SessionStore::open(&path, HOUR).unwrap();
    store.begin("s", None, "p").await.unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "prompts and results are private");
    }
}

#[test]
fn a_database_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    drop(SessionStore::open(&path, HOUR).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let err = SessionStore::open(&path, HOUR).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
}

#[test]
fn store_and_ledger_are_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<SessionStore>();
    check::<agenthost_node::store::SqliteReplayLedger>();
    fn ledger(_: &dyn ReplayLedger) {}
    let store = SessionStore::open_in_memory(HOUR).unwrap();
    ledger(&store.replay_ledger());
}

#[test]
fn replay_ledger_fresh_replayed_expired_and_durable() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    {
        let store = SessionStore::open(&path, HOUR).unwrap();
        let ledger = store.replay_ledger();
        let live = now() + 300.0;
        assert!(ledger.check_and_record(&sig(1), live).unwrap(), "fresh");
        assert!(!ledger.check_and_record(&sig(1), live).unwrap(), "replayed");
        assert!(
            !ledger.check_and_record(&sig(1), live + 1000.0).unwrap(),
            "a later expiry does not make a live signature fresh"
        );
        assert!(ledger.check_and_record(&sig(2), live).unwrap());

        // An entry whose window has closed counts as fresh again (and is re-recorded).
        assert!(ledger.check_and_record(&sig(3), now() - 1.0).unwrap());
        assert!(ledger.check_and_record(&sig(3), now() + 300.0).unwrap());
        assert!(!ledger.check_and_record(&sig(3), now() + 300.0).unwrap());

        assert!(ledger.check_and_record(&sig(4), f64::NAN).is_err());
    }
    // Survives a restart.
    let store = SessionStore::open(&path, HOUR).unwrap();
    let ledger = store.replay_ledger();
    drop(store); // the ledger keeps the store open
    assert!(!ledger.check_and_record(&sig(1), now() + 300.0).unwrap());
    assert!(!ledger.check_and_record(&sig(3), now() + 300.0).unwrap());
    assert!(ledger.check_and_record(&sig(5), now() + 300.0).unwrap());
}

#[test]
fn replay_ledger_is_atomic_under_concurrency() {
    let store = SessionStore::open_in_memory(HOUR).unwrap();
    let ledger = store.replay_ledger();
    let expires = now() + 300.0;
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let l = ledger.clone();
            std::thread::spawn(move || {
                (0..20u8)
                    .filter(|&n| l.check_and_record(&sig(n), expires).unwrap())
                    .count()
            })
        })
        .collect();
    let fresh: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(fresh, 20, "each signature accepted exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_turns_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::open(&db(&dir), HOUR).unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = format!("c-{i}");
                let owner = format!("0x{:02}", i % 7);
                store.begin(&id, Some(&owner), "p").await.unwrap();
                store
                    .finish(
                        &id,
                        SessionStatus::Done,
                        Some(&format!("result {i}")),
                        None,
                        Some(&json!({"i": i})),
                        i,
                    )
                    .await
                    .unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    for i in 0..200u64 {
        let r = store.get(&format!("c-{i}")).await.unwrap().unwrap();
        assert_eq!(r.status, SessionStatus::Done);
        assert_eq!(r.result, Some(format!("result {i}")));
        assert_eq!(r.duration_ms, Some(i));
    }
    let mut all = HashSet::new();
    for o in 0..7 {
        for r in store.list(Some(&format!("0x{o:02}")), 1000).await.unwrap() {
            all.insert(r.session_id);
        }
    }
    assert_eq!(all.len(), 200);
    // Also from SQLite, not the cache.
    let path = store.path().to_path_buf();
    drop(store);
    let store = SessionStore::open(&path, HOUR).unwrap();
    for i in 0..200u64 {
        let r = store.get(&format!("c-{i}")).await.unwrap().unwrap();
        assert_eq!(r.result, Some(format!("result {i}")));
    }
}

#[tokio::test]
async fn abandoned_begin_is_cancelled_not_left_running() {
    let store = SessionStore::open_in_memory(HOUR).unwrap();
    // Polled once (the write is queued), then dropped before the answer. The writer thread
    // runs on another core and may, rarely, answer before that first poll ends: then that
    // turn was simply begun, and another id is tried.
    let mut gone = None;
    for attempt in 0..50 {
        let id = format!("gone-{attempt}");
        let abandoned = {
            let begin = store.begin(&id, None, "p");
            tokio::pin!(begin);
            tokio::select! {
                biased;
                _ = &mut begin => false,
                _ = std::future::ready(()) => true,
            }
        };
        if abandoned {
            gone = Some(id);
            break;
        }
    }
    let gone = gone.expect("a begin abandoned before the writer answered");
    let mut status = None;
    for _ in 0..100 {
        status = store.get(&gone).await.unwrap().map(|r| r.status);
        if status == Some(SessionStatus::Cancelled) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, Some(SessionStatus::Cancelled));
    // So the caller can try again.
    store.begin(&gone, None, "p").await.unwrap();
}

#[test]
fn status_strings_and_serde() {
    for st in SessionStatus::ALL {
        assert_eq!(st.as_str().parse::<SessionStatus>().unwrap(), st);
        assert_eq!(SessionStatus::parse(st.as_str()), Some(st));
        assert_eq!(
            serde_json::to_value(st).unwrap(),
            serde_json::Value::from(st.as_str())
        );
        let back: SessionStatus = serde_json::from_value(json!(st.as_str())).unwrap();
        assert_eq!(back, st);
    }
    assert_eq!(SessionStatus::Interrupted.as_str(), "interrupted");
    assert!("Done".parse::<SessionStatus>().is_err());
    assert!(SessionStatus::parse("bogus").is_none());
}

#[test]
fn open_reports_unusable_paths() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = SessionStore::open(&file.join("store.sqlite3"), HOUR).unwrap_err();
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err}");
    assert!(err.to_string().contains("a-file"), "{err}");
}

#[test]
fn a_version_1_database_keeps_its_live_replay_entries() {
    // Version 1 kept the ledger in a `replay` table keyed by signature; opening such a
    // database moves the live entries to the version 2 log and drops the old table.
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE sessions (
                 session_id TEXT PRIMARY KEY NOT NULL, owner TEXT, owner_key INTEGER NOT NULL,
                 status TEXT NOT NULL, prompt TEXT NOT NULL, result TEXT, error TEXT,
                 session TEXT, created REAL NOT NULL, updated REAL NOT NULL,
                 expires REAL NOT NULL, duration_ms INTEGER);
             CREATE TABLE replay (signature BLOB PRIMARY KEY NOT NULL, expires REAL NOT NULL)
                 WITHOUT ROWID;
             CREATE INDEX replay_expires ON replay (expires);
             PRAGMA user_version = 1;",
        )
        .unwrap();
        let mut insert = conn
            .prepare("INSERT INTO replay (signature, expires) VALUES (?1, ?2)")
            .unwrap();
        insert
            .execute(rusqlite::params![&sig(1)[..], now() + 300.0])
            .unwrap();
        insert
            .execute(rusqlite::params![&sig(2)[..], now() - 10.0])
            .unwrap();
    }

    let store = SessionStore::open(&path, HOUR).unwrap();
    let ledger = store.replay_ledger();
    assert!(
        !ledger.check_and_record(&sig(1), now() + 300.0).unwrap(),
        "a live signature from version 1 stays spent"
    );
    assert!(ledger.check_and_record(&sig(2), now() + 300.0).unwrap());
    drop((store, ledger));

    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 2);
    let old_tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('replay', 'replay_expires')",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(old_tables, 0, "the version 1 table and its index are gone");
    let logged: i64 = conn
        .query_row("SELECT count(*) FROM replay_log", [], |row| row.get(0))
        .unwrap();
    assert_eq!(logged, 2, "sig(1) moved over, sig(2) logged anew");
}
