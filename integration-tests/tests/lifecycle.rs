//! A hosted agent's life as an operator sees it, against real `agenthost host` processes:
//! graceful shutdown on SIGTERM (runs finish within the grace period or are recorded
//! `interrupted`, exit code 0), `--reload` retiring runs of edited files while the address and
//! the sessions stay, a stop that leaves the relays' directories, and settings taken from each
//! of their four places.

// Test helpers unwrap like the tests they serve: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::{sync::Arc, time::Duration};

use agenthost_integration_tests::{agenthost, get_json, HostProcess};
use reqwest::Client;
use serde_json::{json, Value};

async fn post_input(url: &str, prompt: &str) -> (u16, Value) {
    let response = Client::new()
        .post(format!("{url}/input"))
        .json(&json!({ "prompt": prompt }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}/input: {e}"));
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// Waits until the host lists a session `running` (the run is in flight, not just sent).
async fn wait_running(url: &str) -> String {
    for _ in 0..500 {
        let list = get_json(&format!("{url}/sessions")).await;
        if let Some(s) = list["sessions"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["status"] == "running"))
        {
            return s["session_id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no run in flight after 10 s");
}

fn wait_for_line(host: &HostProcess, prefix: &str) {
    loop {
        let line = host
            .lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no line starting with {prefix:?}"));
        if line.starts_with(prefix) {
            return;
        }
    }
}

/// A host of `sh -c <script>` with `--grace-period <grace>` in `dir`, and one run of it in
/// flight: the host, its URL, the pending answer and the run's session id.
async fn host_with_a_run(
    dir: &Arc<tempfile::TempDir>,
    grace: &str,
    script: &str,
) -> (
    HostProcess,
    String,
    tokio::task::JoinHandle<(u16, Value)>,
    String,
) {
    let host = HostProcess::start_in(
        Arc::clone(dir),
        &[
            "--no-mdns",
            "--grace-period",
            grace,
            "--",
            "sh",
            "-c",
            script,
        ],
    );
    let url = host.http.clone().unwrap();
    let in_flight = tokio::spawn({
        let url = url.clone();
        async move { post_input(&url, "a run").await }
    });
    let id = wait_running(&url).await;
    (host, url, in_flight, id)
}

#[tokio::test]
async fn sigterm_lets_a_run_finish_refuses_new_ones_and_exits_0() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let (host, url, in_flight, id) = host_with_a_run(&dir, "20", "sleep 2; echo slept").await;

    host.sigterm();
    wait_for_line(&host, "Shutting down");
    // Draining: the gateway still answers, but takes no new runs.
    let (status, refused) = post_input(&url, "too late").await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["code"], "unavailable");

    let (status, done) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["result"], "slept");
    assert_eq!(done["session_id"], id.as_str());
    let (exit, lines) = host.wait_exit(Duration::from_secs(20));
    assert!(exit.success(), "exit {exit:?}; {lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l == "Stopped: 1 run(s) finished, 0 interrupted"),
        "{lines:?}"
    );

    // The record outlives the process.
    let again = HostProcess::start_in(dir, &["--no-mdns", "--", "sh", "-c", "echo x"]);
    let record = get_json(&format!("{}/sessions/{id}", again.http.clone().unwrap())).await;
    assert_eq!(record["status"], "done", "{record}");
    assert_eq!(record["result"], "slept");
}

#[tokio::test]
async fn sigterm_interrupts_runs_past_the_grace_period_and_records_them() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let (host, _url, in_flight, id) = host_with_a_run(&dir, "0.5", "sleep 60").await;
    host.sigterm();

    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "interrupted");
    let (exit, lines) = host.wait_exit(Duration::from_secs(20));
    assert!(exit.success(), "exit {exit:?}; {lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l == "Stopped: 0 run(s) finished, 1 interrupted"),
        "{lines:?}"
    );

    let again = HostProcess::start_in(dir, &["--no-mdns", "--", "sh", "-c", "echo x"]);
    let record = get_json(&format!("{}/sessions/{id}", again.http.clone().unwrap())).await;
    assert_eq!(record["status"], "interrupted", "{record}");
}

#[tokio::test]
async fn reload_retires_runs_of_an_edited_script_and_keeps_address_and_sessions() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let script = dir.path().join("agent.sh");
    std::fs::write(&script, "read line\nsleep \"${SLEEP:-0}\"\necho v1\n").unwrap();
    let host = HostProcess::start_in(
        Arc::clone(&dir),
        &[
            "--no-mdns",
            "--reload",
            "--grace-period",
            "0.5",
            "--",
            "sh",
            "agent.sh",
        ],
    );
    assert!(host.banner.iter().any(|l| l.starts_with("reload: on")));
    let url = host.http.clone().unwrap();
    let (status, first) = post_input(&url, "one").await;
    assert_eq!(
        (status, first["result"].as_str()),
        (200, Some("v1")),
        "{first}"
    );
    let first_id = first["session_id"].as_str().unwrap().to_owned();

    // A long run of the old script is in flight when the script changes.
    std::fs::write(&script, "read line\nsleep 60\necho v1\n").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let in_flight = tokio::spawn({
        let url = url.clone();
        async move { post_input(&url, "long").await }
    });
    wait_running(&url).await;
    std::fs::write(&script, "read line\necho v2\n").unwrap();

    let (status, interrupted) = in_flight.await.unwrap();
    assert_eq!(status, 503, "{interrupted}");
    assert_eq!(interrupted["code"], "interrupted");
    let (status, second) = post_input(&url, "two").await;
    assert_eq!(
        (status, second["result"].as_str()),
        (200, Some("v2")),
        "{second}"
    );

    let info = get_json(&format!("{url}/info")).await;
    assert_eq!(info["address"], host.address.as_str());
    let record = get_json(&format!("{url}/sessions/{first_id}")).await;
    assert_eq!(record["result"], "v1", "{record}");
}

#[tokio::test]
async fn each_setting_place_is_named_and_used_by_the_host() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    std::fs::write(
        dir.path().join("agenthost.toml"),
        "name = \"from-file\"\nworkers = 3\nqueue = 5\nmax_files_per_request = 4\n",
    )
    .unwrap();

    // `agenthost config`: one setting from each place.
    let out = std::process::Command::new(agenthost_integration_tests::agenthost_bin())
        .args(["config", "--queue", "9"])
        .env("AGENTHOST_WORKERS", "7")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let line = |key: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no {key} line in {text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(line("name"), "name = \"from-file\" (file agenthost.toml)");
    assert_eq!(line("workers"), "workers = 7 (env AGENTHOST_WORKERS)");
    assert_eq!(line("queue"), "queue = 9 (flag)");
    assert_eq!(
        line("max_files_per_request"),
        "max_files_per_request = 4 (file agenthost.toml)"
    );
    assert_eq!(line("result_ttl"), "result_ttl = 86400 (default)");

    // The host runs with exactly those values.
    let host = HostProcess::start_with_env(
        Arc::clone(&dir),
        &["--demo", "--no-mdns", "--queue", "9"],
        &[("AGENTHOST_WORKERS", "7")],
    );
    let info = get_json(&format!("{}/info", host.http.clone().unwrap())).await;
    assert_eq!(info["name"], "from-file");
    assert_eq!(info["workers"], 7);
    assert_eq!(info["queue"], 9);
    assert_eq!(info["accepted_inputs"]["files"]["max_files_per_request"], 4);

    // Bad values and unknown keys are errors that name the key, before anything starts.
    std::fs::write(dir.path().join("agenthost.toml"), "wokers = 3\n").unwrap();
    let out = std::process::Command::new(agenthost_integration_tests::agenthost_bin())
        .args(["host", "--demo"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown key `wokers`"), "{err}");
    let out = agenthost(&["config", "--config", "/nonexistent/agenthost.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = std::process::Command::new(agenthost_integration_tests::agenthost_bin())
        .args(["config", "--config", "/dev/null"])
        .env("AGENTHOST_RESULT_TTL", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("env AGENTHOST_RESULT_TTL: result_ttl:"),
        "{err}"
    );
}

/// The agent's signed record in the relay's directory, as a fresh peer looking it up sees it.
async fn directory_record(relay_addr: &str, address: &str) -> Vec<agenthost::Multiaddr> {
    use agenthost::node::{Node, NodeConfig};
    let relay: agenthost::Multiaddr = relay_addr.parse().unwrap();
    let Some(libp2p::multiaddr::Protocol::P2p(relay_id)) = relay.iter().last() else {
        panic!("no /p2p in {relay_addr}");
    };
    let mut config = NodeConfig::new(agenthost::AgentKey::generate());
    config.mdns = false;
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    let node = Node::start(config).await.unwrap();
    node.handle()
        .connect_identified(relay_id, vec![relay.clone()], Duration::from_secs(10))
        .await
        .unwrap();
    let records = node
        .handle()
        .discover(relay_id, address.to_owned(), Duration::from_secs(10))
        .await
        .unwrap_or_default();
    records.into_iter().flat_map(|r| r.addrs).collect()
}

#[tokio::test]
async fn sigterm_leaves_the_relays_directory_where_a_crash_would_stay_listed() {
    let dir = tempfile::tempdir().unwrap();
    let (_relay, relay_addr) = agenthost_integration_tests::ServiceProcess::relay(dir.path());
    let args = [
        "--demo",
        "--no-mdns",
        "--no-http",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--relay",
        relay_addr.as_str(),
    ];
    let listed = |host: &HostProcess| {
        let address = host.address.clone();
        let relay_addr = relay_addr.clone();
        async move {
            for _ in 0..100 {
                if !directory_record(&relay_addr, &address).await.is_empty() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("the agent never appeared in the relay's directory");
        }
    };

    // A crash (SIGKILL) leaves the record behind until its TTL...
    let crashed = HostProcess::start(&args);
    listed(&crashed).await;
    let crashed_address = crashed.address.clone();
    crashed.kill_hard();
    assert!(!directory_record(&relay_addr, &crashed_address)
        .await
        .is_empty());

    // ...a graceful stop takes it out at once.
    let stopped = HostProcess::start(&args);
    listed(&stopped).await;
    let address = stopped.address.clone();
    stopped.sigterm();
    let (exit, lines) = stopped.wait_exit(Duration::from_secs(20));
    assert!(exit.success(), "exit {exit:?}; {lines:?}");
    assert!(directory_record(&relay_addr, &address).await.is_empty());
}
