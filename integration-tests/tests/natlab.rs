//! NAT lab: a public relay and two hosts, each behind its own NAT router, in network
//! namespaces (see `netlab`). Real `agenthost relay`, `agenthost host --relay` and
//! `agenthost call --relay --json` processes; the caller knows only the relay and the agent's
//! address. Needs root, `ip netns` and nftables; elsewhere each test prints why it skips.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use agenthost_integration_tests::netlab::{self, Lab, LabConfig, LabProcess, Nat, RELAY_IP};
use serde_json::Value;

/// Fixed ports: peers listen before they dial the relay, so the NAT mappings the relay
/// observes are the ports a hole punch must reach.
const AGENT_TCP: &str = "/ip4/0.0.0.0/tcp/4001";
const AGENT_QUIC: &str = "/ip4/0.0.0.0/udp/4001/quic-v1";
const READY: Duration = Duration::from_secs(30);

/// `agenthost relay` in the WAN namespace; returns it with its TCP relay address.
fn start_relay(lab: &Lab, dir: &Path) -> (LabProcess, String) {
    start_relay_with(lab, dir, 4001, &[])
}

/// `agenthost relay` on `port`, its key in `dir` (the same `dir` restarts the same relay).
fn start_relay_with(lab: &Lab, dir: &Path, port: u16, extra: &[&str]) -> (LabProcess, String) {
    let key = dir.join("relay.key");
    let listen = format!("/ip4/{RELAY_IP}/tcp/{port}");
    let mut args = vec![
        "relay",
        "--listen",
        &listen,
        "--announce",
        &listen,
        "--metrics-addr",
        "off",
        "--key-file",
        key.to_str().expect("utf-8 temp path"),
    ];
    args.extend_from_slice(extra);
    let relay = lab.spawn("wan", dir, &args);
    let addr = relay.wait_stdout(READY, |line| {
        line.strip_prefix("relay: ")
            .filter(|a| a.contains("/tcp/"))
            .map(str::to_owned)
    });
    (relay, addr)
}

/// An agent behind router 1, reserved on the relay: returns once the reservation is accepted
/// (its log says so), with the agent's address.
fn start_agent(lab: &Lab, dir: &Path, relay: &str, agent: &[&str]) -> (LabProcess, String) {
    start_agent_on(lab, dir, &[relay], agent)
}

/// An agent reserved on every relay of `relays`: returns once each reservation is accepted.
fn start_agent_on(lab: &Lab, dir: &Path, relays: &[&str], agent: &[&str]) -> (LabProcess, String) {
    let mut args = vec![
        "host",
        "--no-mdns",
        "--listen",
        AGENT_TCP,
        "--listen",
        AGENT_QUIC,
    ];
    for relay in relays {
        args.extend(["--relay", relay]);
    }
    args.extend_from_slice(agent);
    let host = lab.spawn("h1", dir, &args);
    let address = host.wait_stdout(READY, |line| {
        line.strip_prefix("address: ").map(str::to_owned)
    });
    host.wait_stdout(READY, |line| {
        line.starts_with("Waiting for requests").then_some(())
    });
    for _ in relays {
        host.wait_stderr(READY, |line| {
            line.contains("relay reservation accepted").then_some(())
        });
    }
    (host, address)
}

/// `agenthost call --json` from host 2; the CONNECTION line and the frames after it.
fn call(lab: &Lab, dir: &Path, address: &str, relay: &str, extra: &[&str]) -> (Value, Vec<Value>) {
    let mut args = vec![
        "call",
        address,
        "hello through the lab",
        "--relay",
        relay,
        "--json",
        "--timeout",
        "120",
    ];
    args.extend_from_slice(extra);
    let out = lab.run("h2", dir, &args);
    assert!(
        out.status.success(),
        "call failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = std::str::from_utf8(&out.stdout)
        .expect("utf-8 output")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("one JSON object per line"));
    let connection = lines.next().expect("a CONNECTION line");
    assert_eq!(connection["type"], "CONNECTION", "{connection}");
    (connection, lines.collect())
}

fn output(frames: &[Value]) -> &Value {
    let last = frames.last().expect("a terminal frame");
    assert_eq!(last["type"], "OUTPUT", "{last}");
    last
}

fn lab(nat1: Nat, nat2: Nat, block_udp: bool) -> Lab {
    Lab::new(LabConfig {
        nat1,
        nat2,
        block_udp,
    })
}

#[test]
fn cone_behind_cone_hole_punch_goes_direct() {
    if netlab::skip("cone_behind_cone_hole_punch_goes_direct") {
        return;
    }
    let _one_lab_at_a_time = netlab::serialize();
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(Nat::Cone, Nat::Cone, false);
    let (_relay, relay_addr) = start_relay(&lab, dir.path());
    let (_agent, address) = start_agent(&lab, dir.path(), &relay_addr, &["--demo"]);

    let (connection, frames) = call(&lab, dir.path(), &address, &relay_addr, &[]);
    assert_eq!(connection["path"], "direct", "{connection}");
    assert_eq!(connection["relay"], Value::Null, "{connection}");
    // The direct connection goes to the agent's router, never to a private address.
    let remote = connection["remote_addr"].as_str().unwrap();
    assert!(remote.starts_with("/ip4/198.51.100.2/"), "{connection}");
    assert_eq!(output(&frames)["result"], "echo: hello through the lab");
}

#[test]
fn symmetric_behind_symmetric_stays_relayed_and_streams_64_mib() {
    if netlab::skip("symmetric_behind_symmetric_stays_relayed_and_streams_64_mib") {
        return;
    }
    let _one_lab_at_a_time = netlab::serialize();
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(Nat::Symmetric, Nat::Symmetric, false);
    let (_relay, relay_addr) = start_relay(&lab, dir.path());
    let (_agent, address) = start_agent(
        &lab,
        dir.path(),
        &relay_addr,
        &["--", "python3", "-c", STREAM_64_MIB],
    );

    let started = Instant::now();
    let (connection, frames) = call(&lab, dir.path(), &address, &relay_addr, &[]);
    let took = started.elapsed();
    assert_eq!(connection["path"], "relayed", "{connection}");
    assert_eq!(connection["relay"], relay_addr.as_str(), "{connection}");
    assert_eq!(output(&frames)["result"], "done");
    let streamed: usize = frames
        .iter()
        .filter(|f| f["type"] == "STREAM")
        .map(|f| f["content"].as_str().map_or(0, str::len))
        .sum();
    assert_eq!(streamed, 64 * 1024 * 1024);
    eprintln!("64 MiB streamed over the relay in {took:?} (call start to exit)");
}

/// A hosted command that streams 1,024 STREAM chunks of 64 KiB, then the OUTPUT `done`.
const STREAM_64_MIB: &str = "import sys\n\
    line = '{\"type\":\"STREAM\",\"content\":\"' + 'a' * 65536 + '\"}\\n'\n\
    for _ in range(1024): sys.stdout.write(line)\n\
    sys.stdout.write('{\"type\":\"OUTPUT\",\"result\":\"done\"}\\n')\n";

/// The same reply through a relay run with libp2p's default circuit limits (128 KiB, 2 min)
/// fails, with an error that points at the relay: our relay defaults are what make it work.
#[test]
fn a_relay_with_libp2p_default_limits_cuts_a_large_reply_with_a_clear_error() {
    if netlab::skip("a_relay_with_libp2p_default_limits_cuts_a_large_reply_with_a_clear_error") {
        return;
    }
    let _one_lab_at_a_time = netlab::serialize();
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(Nat::Symmetric, Nat::Symmetric, false);
    let config = dir.path().join("libp2p-defaults.toml");
    std::fs::write(
        &config,
        "[limits]\nmax_circuit_bytes = 131072\nmax_circuit_duration_secs = 120\n",
    )
    .unwrap();
    let (_relay, relay_addr) = start_relay_with(
        &lab,
        dir.path(),
        4001,
        &["--config", config.to_str().unwrap()],
    );
    let (_agent, address) = start_agent(
        &lab,
        dir.path(),
        &relay_addr,
        &["--", "python3", "-c", STREAM_64_MIB],
    );
    let out = lab.run(
        "h2",
        dir.path(),
        &[
            "call",
            &address,
            "too much for a default relay",
            "--relay",
            &relay_addr,
            "--timeout",
            "120",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        out.stdout.len() < 64 * 1024 * 1024,
        "the whole reply came through"
    );
    assert!(
        stderr.contains("went through the relay") && stderr.contains("limits"),
        "{stderr}"
    );
    eprintln!("the caller's error: {}", stderr.trim());
}

#[test]
fn with_udp_blocked_tcp_still_works() {
    if netlab::skip("with_udp_blocked_tcp_still_works") {
        return;
    }
    let _one_lab_at_a_time = netlab::serialize();
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(Nat::Cone, Nat::Cone, true);
    let (_relay, relay_addr) = start_relay(&lab, dir.path());
    let (_agent, address) = start_agent(&lab, dir.path(), &relay_addr, &["--demo"]);

    let (connection, frames) = call(&lab, dir.path(), &address, &relay_addr, &[]);
    assert_eq!(output(&frames)["result"], "echo: hello through the lab");
    assert_eq!(connection["path"], "direct", "{connection}");
    let remote = connection["remote_addr"].as_str().unwrap();
    assert!(remote.contains("/tcp/"), "{connection}");
}

#[test]
fn an_agent_is_callable_within_5_s_of_its_relay_restarting() {
    if netlab::skip("an_agent_is_callable_within_5_s_of_its_relay_restarting") {
        return;
    }
    let _one_lab_at_a_time = netlab::serialize();
    let dir = tempfile::tempdir().unwrap();
    // Symmetric NATs: the call can only go through the relay.
    let lab = lab(Nat::Symmetric, Nat::Symmetric, false);
    let (mut relay, relay_addr) = start_relay(&lab, dir.path());
    let (agent, address) = start_agent(&lab, dir.path(), &relay_addr, &["--demo"]);
    let (connection, _) = call(
        &lab,
        dir.path(),
        &address,
        &relay_addr,
        &["--direct-wait", "0"],
    );
    assert_eq!(connection["path"], "relayed", "{connection}");

    relay.kill();
    agent.wait_stderr(READY, |line| {
        line.contains("relay reservation lost").then_some(())
    });
    // Same key, same address: the relay is back.
    let (_relay, again) = start_relay(&lab, dir.path());
    assert_eq!(again, relay_addr);
    let back = Instant::now();
    agent.wait_stderr(READY, |line| {
        line.contains("relay reservation restored").then_some(())
    });
    let (connection, frames) = call(
        &lab,
        dir.path(),
        &address,
        &relay_addr,
        &["--direct-wait", "0"],
    );
    let callable = back.elapsed();
    assert_eq!(connection["path"], "relayed", "{connection}");
    assert_eq!(output(&frames)["result"], "echo: hello through the lab");
    eprintln!("agent callable {callable:?} after the relay came back");
    assert!(
        callable < Duration::from_secs(5),
        "callable only {callable:?} after the relay's return"
    );
}

/// An agent reserved on two relays stays callable, with no gap, when either relay is killed:
/// the caller knows both relays, and each call right after a kill goes through the other one.
#[test]
fn an_agent_on_two_relays_stays_callable_when_either_is_killed() {
    if netlab::skip("an_agent_on_two_relays_stays_callable_when_either_is_killed") {
        return;
    }
    let _one_lab_at_a_time = netlab::serialize();
    let dir = tempfile::tempdir().unwrap();
    let (dir1, dir2) = (dir.path().join("relay1"), dir.path().join("relay2"));
    std::fs::create_dir_all(&dir1).unwrap();
    std::fs::create_dir_all(&dir2).unwrap();
    // Symmetric NATs: every call goes through a relay.
    let lab = lab(Nat::Symmetric, Nat::Symmetric, false);
    let (mut relay1, addr1) = start_relay_with(&lab, &dir1, 4001, &[]);
    let (mut relay2, addr2) = start_relay_with(&lab, &dir2, 4002, &[]);
    let (agent, address) = start_agent_on(&lab, dir.path(), &[&addr1, &addr2], &["--demo"]);
    // `call` passes relay 1; the caller knows relay 2 as well.
    let also = ["--relay", addr2.as_str(), "--direct-wait", "0"];

    let (connection, frames) = call(&lab, dir.path(), &address, &addr1, &also);
    assert_eq!(connection["path"], "relayed", "{connection}");
    assert_eq!(output(&frames)["result"], "echo: hello through the lab");

    relay1.kill();
    let started = Instant::now();
    let (connection, frames) = call(&lab, dir.path(), &address, &addr1, &also);
    eprintln!("call with relay 1 down: {:?}", started.elapsed());
    assert_eq!(connection["relay"], addr2.as_str(), "{connection}");
    assert_eq!(output(&frames)["result"], "echo: hello through the lab");

    // Relay 1 comes back; once the agent holds its reservation again, relay 2 goes down.
    let (_relay1, again) = start_relay_with(&lab, &dir1, 4001, &[]);
    assert_eq!(again, addr1);
    agent.wait_stderr(READY, |line| {
        line.contains("relay reservation restored").then_some(())
    });
    relay2.kill();
    let started = Instant::now();
    let (connection, frames) = call(&lab, dir.path(), &address, &addr1, &also);
    eprintln!("call with relay 2 down: {:?}", started.elapsed());
    assert_eq!(connection["relay"], addr1.as_str(), "{connection}");
    assert_eq!(output(&frames)["result"], "echo: hello through the lab");
}

/// Hole-punch success over 20 cone×cone runs, each from scratch: a new lab, relay, agent and
/// caller, so start-up races count too. Run with
/// `cargo test -p agenthost-integration-tests --test natlab -- --ignored --nocapture`.
#[test]
#[ignore = "measurement: 20 labs from scratch"]
fn measure_hole_punch_success_over_20_cone_runs() {
    if netlab::skip("measure_hole_punch_success_over_20_cone_runs") {
        return;
    }
    let _one_lab_at_a_time = netlab::serialize();
    let mut direct = 0;
    for run in 1..=20 {
        let dir = tempfile::tempdir().unwrap();
        let lab = lab(Nat::Cone, Nat::Cone, false);
        let (_relay, relay_addr) = start_relay(&lab, dir.path());
        let (_agent, address) = start_agent(&lab, dir.path(), &relay_addr, &["--demo"]);
        let started = Instant::now();
        let (connection, frames) = call(&lab, dir.path(), &address, &relay_addr, &[]);
        let took = started.elapsed();
        assert_eq!(output(&frames)["result"], "echo: hello through the lab");
        direct += usize::from(connection["path"] == "direct");
        eprintln!(
            "run {run}: {} {} (call {took:?})",
            connection["path"], connection["remote_addr"]
        );
    }
    eprintln!("hole punch: {direct}/20 direct");
    assert!(direct >= 19, "hole punch succeeded in {direct}/20 runs");
}
