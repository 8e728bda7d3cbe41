//! Durable results and sessions through real `agenthost` processes: multi-turn with
//! `call --session`, detached runs, cancel, TTL expiry, and a SIGKILL in the middle of runs.

// Test helpers unwrap like the tests they serve: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::{path::Path, time::Duration};

use agenthost_integration_tests::{agenthost, HostProcess};
use serde_json::Value;

/// A command agent: sleeps a minute when asked "slow", otherwise answers
/// `turn <n>: <prompt>` with the turn number of the conversation it continues.
const TURN_AGENT: &str = r#"
import json, sys, time
req = json.loads(sys.stdin.readline())
if req["prompt"] == "slow":
    time.sleep(60)
print("turn %d: %s" % (req["session"]["turn"] + 1, req["prompt"]))
"#;

fn host_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--no-mdns"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "python3", "-c", TURN_AGENT]);
    args
}

fn new_key(dir: &Path) -> String {
    let path = dir.join("caller.key");
    let out = agenthost(&["keys", "new", "--key-file", path.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    path.to_str().unwrap().to_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}

/// `agenthost <cmd> <address> <rest...> --addr <tcp> --key-file <key>`.
fn as_caller(host: &HostProcess, key: &str, cmd: &str, rest: &[&str]) -> std::process::Output {
    let addr = host.loopback_addr("tcp");
    let mut args = vec![cmd, host.address.as_str()];
    args.extend_from_slice(rest);
    args.extend_from_slice(&["--addr", &addr, "--key-file", key]);
    agenthost(&args)
}

fn json_out(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{out:?}");
    serde_json::from_str(&stdout(out)).expect("JSON output")
}

#[test]
fn the_session_object_round_trips_over_two_calls() {
    let host = HostProcess::start(&host_args(&[]));
    let key = new_key(host.dir.path());
    let file = host.dir.path().join("conversation.json");
    let file = file.to_str().unwrap();

    let first = as_caller(&host, &key, "call", &["hello", "--session", file]);
    assert_eq!(stdout(&first), "turn 1: hello", "{first:?}");
    let second = as_caller(&host, &key, "call", &["again", "--session", file]);
    assert_eq!(stdout(&second), "turn 2: again", "{second:?}");

    let saved: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    assert_eq!(saved["turn"], 2);
    assert_eq!(saved["messages"].as_array().unwrap().len(), 4);
    assert_eq!(saved["messages"][3]["content"], "turn 2: again");

    // The stored record is the caller's, and only the caller's.
    let id = saved["session_id"].as_str().unwrap();
    let record = json_out(&as_caller(&host, &key, "session", &[id]));
    assert_eq!(record["status"], "done");
    assert_eq!(record["result"], "turn 2: again");
    let stranger = new_key(&host.dir.path().join("stranger"));
    let hidden = as_caller(&host, &stranger, "session", &[id]);
    assert_eq!(hidden.status.code(), Some(1), "{hidden:?}");
    let listed = json_out(&as_caller(&host, &stranger, "sessions", &[]));
    assert_eq!(listed["sessions"], Value::Array(vec![]));
}

#[test]
fn a_detached_run_keeps_going_and_can_be_cancelled_by_its_owner() {
    let host = HostProcess::start(&host_args(&[]));
    let key = new_key(host.dir.path());
    let out = as_caller(&host, &key, "call", &["slow", "--detach"]);
    let id = stdout(&out);
    assert!(out.status.success() && !id.is_empty(), "{out:?}");

    let record = json_out(&as_caller(&host, &key, "session", &[&id]));
    assert_eq!(
        record["status"], "running",
        "the caller left; the run goes on"
    );
    let listed = json_out(&as_caller(&host, &key, "sessions", &[]));
    assert_eq!(listed["sessions"][0]["session_id"], id.as_str());

    let stranger = new_key(&host.dir.path().join("stranger"));
    let refused = as_caller(&host, &stranger, "cancel", &[&id]);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "only the owner cancels: {refused:?}"
    );

    let cancelled = json_out(&as_caller(&host, &key, "cancel", &[&id]));
    assert_eq!(cancelled["status"], "cancelled");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let record = json_out(&as_caller(&host, &key, "session", &[&id]));
        if record["status"] == "cancelled" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {record}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn results_expire_after_the_ttl_but_running_records_are_kept() {
    let host = HostProcess::start(&host_args(&["--result-ttl", "2"]));
    let key = new_key(host.dir.path());
    let running = stdout(&as_caller(&host, &key, "call", &["slow", "--detach"]));
    let file = host.dir.path().join("s.json");
    let done = as_caller(
        &host,
        &key,
        "call",
        &["quick", "--session", file.to_str().unwrap()],
    );
    assert!(done.status.success(), "{done:?}");
    let saved: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let done_id = saved["session_id"].as_str().unwrap().to_owned();
    assert_eq!(
        json_out(&as_caller(&host, &key, "session", &[&done_id]))["status"],
        "done"
    );

    std::thread::sleep(Duration::from_millis(3_000));
    let gone = as_caller(&host, &key, "session", &[&done_id]);
    assert_eq!(gone.status.code(), Some(1), "expired: {gone:?}");
    assert!(String::from_utf8_lossy(&gone.stderr).contains("not_found"));
    let kept = json_out(&as_caller(&host, &key, "session", &[&running]));
    assert_eq!(kept["status"], "running");
}

#[test]
fn after_a_sigkill_finished_results_survive_and_in_flight_runs_are_interrupted() {
    let host = HostProcess::start(&host_args(&[]));
    let key = new_key(host.dir.path());
    let mut finished = Vec::new();
    for i in 0..5 {
        let file = host.dir.path().join(format!("s{i}.json"));
        let prompt = format!("result number {i}");
        let out = as_caller(
            &host,
            &key,
            "call",
            &[&prompt, "--session", file.to_str().unwrap()],
        );
        assert!(out.status.success(), "{out:?}");
        let saved: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        finished.push((
            saved["session_id"].as_str().unwrap().to_owned(),
            stdout(&out),
        ));
    }
    let in_flight: Vec<String> = (0..3)
        .map(|_| stdout(&as_caller(&host, &key, "call", &["slow", "--detach"])))
        .collect();
    let address = host.address.clone();
    let dir = host.kill_hard();

    let db = dir.path().join(".agenthost/sessions.db");
    let host = HostProcess::start_in(dir, &host_args(&[]));
    assert_eq!(host.address, address, "same key, same address");
    for (id, result) in &finished {
        let record = json_out(&as_caller(&host, &key, "session", &[id]));
        assert_eq!(record["status"], "done");
        assert_eq!(record["result"].as_str(), Some(result.as_str()));
    }
    for id in &in_flight {
        let record = json_out(&as_caller(&host, &key, "session", &[id]));
        assert_eq!(record["status"], "interrupted", "{record}");
    }
    // And the database the crash left behind is consistent.
    let store = agenthost::node::store::SessionStore::open(&db, Duration::from_secs(60)).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
}
