//! Session store latency on a fresh store and with 100,000 stored results.
//!
//! `cargo run --release --example store_bench [-- RECORDS]` (default 100000)
//!
//! Operations timed (latencies in microseconds, median and p99):
//! - `begin_finish`: one turn, `begin` then `finish` (two committed writes), sequential;
//! - `get_hit`: `get` of a record just finished (served by the cache);
//! - `get_miss`: `get` of a random stored record on a reopened store (empty cache: SQLite);
//! - `list`: `list(owner, 10)` for a random owner;
//! - `replay`: one `ReplayLedger::check_and_record` (called on the blocking pool).
//!
//! Phases, one JSON line each:
//! 1. `fresh`: a new store (seeded with 1,000 turns so listing returns full pages);
//! 2. `fill`: `RECORDS` finished turns stored through the API, 64 in flight;
//! 3. `100k`: the same measurements on the filled store;
//! 4. `ratio_100k_over_fresh`: phase 3 medians over phase 1 medians;
//! 5. `fresh_again`: another new store measured last, in the same process state as phase 3
//!    (heap, caches), and `ratio_100k_over_fresh_again`: a control for drift between phases;
//! 6. `db`: the size of the filled database.
//!
//! On a small VM these latencies are mostly thread wake-ups (the caller's task handing a
//! write to the writer thread and back), whose cost depends on which CPUs the threads land
//! on. So each phase is measured in `ROUNDS` rounds, each on a newly opened store (new
//! threads, new placement), and the medians are taken over all rounds.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agenthost_identity::ReplayLedger;
use agenthost_node::store::{SessionStatus, SessionStore, StoreStats};
use serde_json::{json, Value};

const ROUNDS: usize = 10;
const PER_ROUND: usize = 300;
const OWNERS: usize = 100;
const TTL: Duration = Duration::from_secs(3600);

fn main() {
    let records: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(records));
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn uuid_like(rng: &mut Rng) -> String {
    let (a, b) = (rng.next(), rng.next());
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

fn owner(i: usize) -> String {
    format!("0x{:064x}", i % OWNERS)
}

fn result_text(i: usize) -> String {
    format!(
        "Result of turn {i}: {}",
        "lorem ipsum dolor sit amet ".repeat(8)
    )
}

fn conversation(id: &str, i: usize) -> Value {
    json!({
        "session_id": id,
        "messages": [
            {"role": "user", "content": format!("prompt {i}")},
            {"role": "assistant", "content": result_text(i)},
        ],
        "trace": [{"type": "tool_call", "name": "search", "args": {"q": "x"}}],
        "turn": 1,
    })
}

async fn turn(store: &SessionStore, id: &str, i: usize) {
    let owner = owner(i);
    store
        .begin(id, Some(&owner), &format!("prompt {i}"))
        .await
        .expect("begin");
    store
        .finish(
            id,
            SessionStatus::Done,
            Some(&result_text(i)),
            None,
            Some(&conversation(id, i)),
            17,
        )
        .await
        .expect("finish");
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Median and p99 in microseconds.
fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    (us(v[v.len() / 2]), us(v[(v.len() * 99) / 100]))
}

/// One store under measurement.
struct Target {
    name: &'static str,
    path: PathBuf,
    ids: Vec<String>,
    next: usize,
    times: [Vec<Duration>; 5],
    /// Time inside SQLite per operation (from `SessionStore::stats` before and after it):
    /// the two writer transactions of a turn, a `get` miss, a listing.
    inside: [Vec<Duration>; 3],
}

const OPS: [&str; 5] = ["begin_finish", "get_hit", "get_miss", "list", "replay"];
const INSIDE: [&str; 3] = ["begin_finish", "get_miss", "list"];

fn nanos_between(before: StoreStats, after: StoreStats, write: bool) -> Duration {
    Duration::from_nanos(if write {
        after.commit_nanos - before.commit_nanos
    } else {
        after.read_nanos - before.read_nanos
    })
}

impl Target {
    fn new(name: &'static str, path: &Path) -> Target {
        Target {
            name,
            path: path.to_path_buf(),
            ids: Vec::new(),
            next: 0,
            times: Default::default(),
            inside: Default::default(),
        }
    }

    /// A new session id shaped like the host's (a random UUID v4).
    fn new_id(&mut self, rng: &mut Rng) -> (String, usize) {
        let i = self.next;
        self.next += 1;
        (uuid_like(rng), i)
    }

    fn report(&mut self) -> Value {
        let mut out = json!({"phase": self.name, "stored_records": self.ids.len()});
        for (op, times) in OPS.iter().zip(self.times.iter_mut()) {
            let (m, p99) = stats(std::mem::take(times));
            out[*op] = json!({"median_us": round(m), "p99_us": round(p99)});
        }
        let mut inside = json!({});
        for (op, times) in INSIDE.iter().zip(self.inside.iter_mut()) {
            let (m, p99) = stats(std::mem::take(times));
            inside[*op] = json!({"median_us": round(m), "p99_us": round(p99)});
        }
        out["inside_sqlite"] = inside;
        out
    }
}

/// Times every operation on the target's store, in `ROUNDS` rounds.
async fn measure(t: &mut Target, rng: &mut Rng) {
    for _ in 0..ROUNDS {
        let store = SessionStore::open(&t.path, TTL).expect("open");
        for _ in 0..50 {
            let (id, i) = t.new_id(rng);
            turn(&store, &id, i).await;
            t.ids.push(id);
        }
        let mut just_finished = Vec::with_capacity(PER_ROUND);
        for _ in 0..PER_ROUND {
            let (id, i) = t.new_id(rng);
            let before = store.stats();
            let start = Instant::now();
            turn(&store, &id, i).await;
            t.times[0].push(start.elapsed());
            t.inside[0].push(nanos_between(before, store.stats(), true));
            just_finished.push(id.clone());
            t.ids.push(id);
        }
        for id in &just_finished {
            let start = Instant::now();
            let r = store.get(id).await.expect("get");
            t.times[1].push(start.elapsed());
            assert!(r.is_some());
        }
        for _ in 0..PER_ROUND {
            let o = owner(rng.below(OWNERS));
            let before = store.stats();
            let start = Instant::now();
            let l = store.list(Some(&o), 10).await.expect("list");
            t.times[3].push(start.elapsed());
            t.inside[2].push(nanos_between(before, store.stats(), false));
            assert_eq!(l.len(), 10);
        }
        let expires = now() + 300.0;
        for _ in 0..PER_ROUND {
            let mut sig = [0u8; 64];
            for chunk in sig.chunks_mut(8) {
                chunk.copy_from_slice(&rng.next().to_le_bytes());
            }
            let ledger = store.replay_ledger();
            let start = Instant::now();
            let fresh = tokio::task::spawn_blocking(move || ledger.check_and_record(&sig, expires))
                .await
                .expect("join")
                .expect("ledger");
            t.times[4].push(start.elapsed());
            assert!(fresh);
        }
        drop(store);
        // Reopen: an empty cache, so every get reads SQLite.
        let store = SessionStore::open(&t.path, TTL).expect("reopen");
        for _ in 0..PER_ROUND {
            let id = &t.ids[rng.below(t.ids.len())];
            let before = store.stats();
            let start = Instant::now();
            let r = store.get(id).await.expect("get");
            t.times[2].push(start.elapsed());
            t.inside[1].push(nanos_between(before, store.stats(), false));
            assert!(r.is_some());
        }
    }
}

fn ratios(name: &str, fresh: &Value, full: &Value) -> Value {
    let mut out = json!({"phase": name});
    let r = |a: &Value, b: &Value| {
        let (a, b) = (
            a.as_f64().unwrap_or(f64::NAN),
            b.as_f64().unwrap_or(f64::NAN),
        );
        json!((b / a * 1000.0).round() / 1000.0)
    };
    for op in OPS {
        out[op] = r(&fresh[op]["median_us"], &full[op]["median_us"]);
    }
    let mut inside = json!({});
    for op in INSIDE {
        inside[op] = r(
            &fresh["inside_sqlite"][op]["median_us"],
            &full["inside_sqlite"][op]["median_us"],
        );
    }
    out["inside_sqlite"] = inside;
    out
}

async fn run(records: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);

    // 1. A fresh store.
    let mut fresh = Target::new("fresh", &dir.path().join("fresh.sqlite3"));
    seed(&mut fresh, &mut rng).await;
    measure(&mut fresh, &mut rng).await;
    let fresh_report = fresh.report();
    println!("{fresh_report}");

    // 2. Fill another store with `records` finished turns.
    let full_path = dir.path().join("full.sqlite3");
    let store = SessionStore::open(&full_path, TTL).expect("open");
    let start = Instant::now();
    let workers = 64;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ (w as u64 + 1).wrapping_mul(0x9E37_79B9));
            let mut ids = Vec::new();
            let mut i = w;
            while i < records {
                let id = uuid_like(&mut rng);
                turn(&store, &id, i).await;
                ids.push(id);
                i += workers;
            }
            ids
        }));
    }
    let mut bulk_ids = Vec::with_capacity(records);
    for t in tasks {
        bulk_ids.extend(t.await.expect("bulk task"));
    }
    let fill_secs = start.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "phase": "fill",
            "turns": records,
            "seconds": round(fill_secs),
            "turns_per_sec": (records as f64 / fill_secs).round(),
            "concurrency": workers,
        })
    );
    drop(store);

    // 3. The same measurements on the filled store.
    let mut full = Target::new("100k", &full_path);
    full.ids = bulk_ids;
    measure(&mut full, &mut rng).await;
    let full_report = full.report();
    println!("{full_report}");

    // 4. Ratios of phases 3 and 1.
    println!(
        "{}",
        ratios("ratio_100k_over_fresh", &fresh_report, &full_report)
    );

    // 5. Control: another fresh store, measured last, in the same process state as phase 3.
    let mut again = Target::new("fresh_again", &dir.path().join("fresh_again.sqlite3"));
    seed(&mut again, &mut rng).await;
    measure(&mut again, &mut rng).await;
    let again_report = again.report();
    println!("{again_report}");
    println!(
        "{}",
        ratios("ratio_100k_over_fresh_again", &again_report, &full_report)
    );

    let db_bytes = std::fs::metadata(&full_path).map(|m| m.len()).unwrap_or(0);
    println!(
        "{}",
        json!({"phase": "db", "records": full.ids.len(), "file_bytes": db_bytes})
    );
}

/// 10 turns per owner, so `list(owner, 10)` returns 10 rows on a fresh store too.
async fn seed(t: &mut Target, rng: &mut Rng) {
    let store = SessionStore::open(&t.path, TTL).expect("open");
    for _ in 0..10 * OWNERS {
        let (id, i) = t.new_id(rng);
        turn(&store, &id, i).await;
        t.ids.push(id);
    }
}
