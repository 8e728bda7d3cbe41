//! ConnectOnion 1.9.2's own client against agenthost, installed from PyPI in a venv
//! (`integration-tests/connectonion/`): `connect(address, keys, relay_url)` then `input()`
//! several times on one RemoteAgent, directly on loopback, through a standalone gateway given
//! as its relay, and on a LAN address where only SEAL lets it go direct; SEAL's edge cases
//! with its own `sealed.py`; a socket lost mid-turn; a strict agent; our `/info`, `/` and
//! `OPTIONS` against its own `host()`; and its TypeScript client (npm, v1 CONNECT).

// Test helpers unwrap like the tests they serve: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::{path::Path, time::Duration};

use agenthost_integration_tests::{
    agenthost_bin,
    connectonion::{json_lines, python, script, ReferenceHost},
    netlab, HostProcess, ServiceProcess,
};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(120);

/// `co_turns.py`: the turn lines (and the caller's address, dropped here).
fn turns(
    python: &Path,
    address: &str,
    relay_url: &str,
    count: u32,
    gap: f64,
    extra: &[&str],
) -> Vec<Value> {
    let home = tempfile::tempdir().unwrap();
    let (count, gap) = (count.to_string(), gap.to_string());
    let mut args = vec![address, relay_url, count.as_str(), gap.as_str()];
    args.extend_from_slice(extra);
    let lines = json_lines(script(python, home.path(), "co_turns.py", &args), LIMIT);
    for line in &lines {
        println!("{line}");
    }
    lines
        .into_iter()
        .filter(|l| l.get("turn").is_some())
        .collect()
}

/// Each reply names its own prompt, every socket was sealed, one conversation throughout.
fn assert_each_turn_answered(lines: &[Value], count: u64, direct: bool) {
    assert_eq!(lines.len() as u64, count, "{lines:?}");
    assert!(lines.iter().all(|l| l.get("error").is_none()), "{lines:?}");
    for (i, line) in lines.iter().enumerate() {
        let turn = i as u64 + 1;
        assert_eq!(
            line["reply"],
            format!("echo: t {turn}"),
            "turn {turn}: {lines:?}"
        );
        assert_eq!(line["sealed"], true, "turn {turn} went unsealed: {lines:?}");
        assert_eq!(line["direct"], direct, "turn {turn}: {lines:?}");
        assert_eq!(line["session_turn"], turn, "{lines:?}");
        assert_eq!(line["session_id"], lines[0]["session_id"], "{lines:?}");
    }
}

fn ws_url(http: &str) -> String {
    http.replace("http://", "ws://")
}

#[test]
fn three_turns_on_loopback_each_answer_their_own_prompt() {
    let Some(python) = python("three_turns_on_loopback_each_answer_their_own_prompt") else {
        return;
    };
    let host = HostProcess::start(&["--demo", "--no-mdns"]);
    let relay_url = ws_url(host.http.as_ref().unwrap());
    // Three turns in one second: their CONNECTs are the same bytes, which a seal admits.
    let quick = turns(&python, &host.address, &relay_url, 3, 0.0, &[]);
    assert_each_turn_answered(&quick, 3, true);
    // Three turns a second apart.
    let slow = turns(&python, &host.address, &relay_url, 3, 1.1, &[]);
    assert_each_turn_answered(&slow, 3, true);
}

#[test]
fn a_socket_lost_mid_turn_is_reopened_and_gets_the_rest_once() {
    let Some(python) = python("a_socket_lost_mid_turn_is_reopened_and_gets_the_rest_once") else {
        return;
    };
    // Streams six chunks, 300 ms apart.
    let script_text = r#"for i in 1 2 3 4 5 6; do printf '{"type":"STREAM","content":"%s "}\n' $i; sleep 0.3; done; echo '{"type":"OUTPUT","result":"1 2 3 4 5 6"}'"#;
    let host = HostProcess::start(&["--no-mdns", "--", "sh", "-c", script_text]);
    let home = tempfile::tempdir().unwrap();
    let relay_url = ws_url(host.http.as_ref().unwrap());
    let report = json_lines(
        script(
            &python,
            home.path(),
            "co_reconnect.py",
            &[&host.address, &relay_url],
        ),
        LIMIT,
    );
    let report = &report[0];
    println!("{report}");
    assert_eq!(report["reply"], "1 2 3 4 5 6", "{report}");
    assert_eq!(report["sockets"], 2, "the client reopened once: {report}");
    assert_eq!(report["sealed"], true);
    // Each chunk once, in order: the reattach resumed after the last `id` the client saw.
    let chunks: Vec<&str> = report["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(chunks.concat(), "1 2 3 4 5 6 ", "{report}");
}

#[test]
fn a_strict_agent_admits_its_whitelisted_client_and_refuses_others_at_connect() {
    let Some(python) =
        python("a_strict_agent_admits_its_whitelisted_client_and_refuses_others_at_connect")
    else {
        return;
    };
    let seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    let member = agenthost::AgentKey::from_seed(hex::decode(seed).unwrap().try_into().unwrap());
    let member = member.address().to_string();
    let host = HostProcess::start(&[
        "--demo",
        "--no-mdns",
        "--trust",
        "strict",
        "--whitelist",
        &member,
    ]);
    let relay_url = ws_url(host.http.as_ref().unwrap());
    let admitted = turns(
        &python,
        &host.address,
        &relay_url,
        2,
        0.0,
        &["--seed", seed],
    );
    assert_each_turn_answered(&admitted, 2, true);
    // A stranger is told at CONNECT, as ConnectOnion's host tells it.
    let refused = turns(&python, &host.address, &relay_url, 1, 0.0, &[]);
    let error = refused[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("ConnectionError: Auth error: forbidden"),
        "{refused:?}"
    );
}

/// ConnectOnion's TypeScript client (npm `connectonion`, pinned in `connectonion/js`), which
/// opens with a v1 CONNECT and sends plain INPUTs.
#[test]
fn connectonions_typescript_client_runs_three_turns() {
    let js = agenthost_integration_tests::connectonion::scripts().join("js");
    if !js.join("node_modules/connectonion").exists() {
        let why = "connectonions_typescript_client_runs_three_turns: npm ci --prefix integration-tests/connectonion/js first";
        assert!(
            std::env::var_os("AGENTHOST_REQUIRE_CONNECTONION").is_none(),
            "{why}"
        );
        eprintln!("SKIPPED {why}");
        return;
    }
    let host = HostProcess::start(&["--demo", "--no-mdns"]);
    let home = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new("node");
    command
        .arg(js.join("turns.mjs"))
        .args([host.address.as_str(), host.http.as_ref().unwrap(), "3"])
        .current_dir(&js)
        .env("HOME", home.path());
    let lines = json_lines(command, LIMIT);
    for line in &lines {
        println!("{line}");
    }
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (i, line) in lines.iter().enumerate() {
        let turn = i + 1;
        assert_eq!(line["reply"], format!("echo: t {turn}"), "{lines:?}");
        assert_eq!(line["session_turn"], turn, "{lines:?}");
        assert_eq!(line["session_id"], lines[0]["session_id"], "{lines:?}");
    }
}

#[test]
fn through_a_standalone_gateway_as_its_relay() {
    let Some(python) = python("through_a_standalone_gateway_as_its_relay") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_relay, relay_addr) = ServiceProcess::relay(dir.path());
    let host = HostProcess::start(&["--demo", "--no-mdns", "--no-http", "--relay", &relay_addr]);
    let (_gateway, url) = ServiceProcess::gateway(dir.path(), &["--relay", &relay_addr]);
    // The client resolves the agent at the gateway (`/api/agents/…`) and opens
    // `/agents/{address}/ws`; the socket is carried to the agent and sealed there.
    let resolved = turns(&python, &host.address, &ws_url(&url), 3, 0.0, &[]);
    assert_each_turn_answered(&resolved, 3, true);
    // Without an endpoint it goes the relay way: `/ws/input`, routed by the SEAL's `to`.
    let relayed = turns(
        &python,
        &host.address,
        &ws_url(&url),
        3,
        0.0,
        &["--relay-path"],
    );
    assert_each_turn_answered(&relayed, 3, false);
}

#[test]
fn on_a_lan_address_the_client_goes_direct_only_because_it_seals() {
    if netlab::skip_lan("on_a_lan_address_the_client_goes_direct_only_because_it_seals") {
        return;
    }
    let Some(python) = python("on_a_lan_address_the_client_goes_direct_only_because_it_seals")
    else {
        return;
    };
    let lan = netlab::Lan::build();
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut command = lan.command(agenthost_bin());
    command.args([
        "host",
        "--demo",
        "--no-mdns",
        "--port",
        "8000",
        "--http-bind",
        "0.0.0.0",
    ]);
    let host = HostProcess::spawn(command, dir);
    // Plain ws:// to 10.x: ConnectOnion's client sends a signed frame there only inside a seal.
    let relay_url = format!("ws://{}:8000", lan.ns_ip);
    let lines = turns(&python, &host.address, &relay_url, 3, 0.0, &[]);
    assert_each_turn_answered(&lines, 3, true);
    // The same client, told the host cannot seal, refuses to go direct (and the agent's own
    // gateway is no relay): the turn fails.
    let unsealed = turns(&python, &host.address, &relay_url, 1, 0.0, &["--no-seal"]);
    assert!(unsealed[0]["error"].is_string(), "{unsealed:?}");
    assert!(unsealed[0].get("reply").is_none(), "{unsealed:?}");
}

#[test]
fn seal_edge_cases_are_refused_and_the_host_keeps_serving() {
    let Some(python) = python("seal_edge_cases_are_refused_and_the_host_keeps_serving") else {
        return;
    };
    let host = HostProcess::start(&["--demo", "--no-mdns"]);
    let home = tempfile::tempdir().unwrap();
    let url = format!("{}/ws", ws_url(host.http.as_ref().unwrap()));
    let cases = json_lines(
        script(
            &python,
            home.path(),
            "co_seal_edges.py",
            &[&host.address, &url],
        ),
        LIMIT,
    );
    let case = |name: &str| {
        cases
            .iter()
            .find(|c| c["case"] == name)
            .unwrap_or_else(|| panic!("no case {name}: {cases:?}"))
            .clone()
    };
    for line in &cases {
        println!("{line}");
    }
    // Refused handshakes: an ERROR saying why, then the socket closes.
    for (name, why) in [
        ("bad_signature", "seal refused: invalid signature"),
        ("stale_timestamp", "seal refused: signature expired"),
        ("wrong_recipient", "seal refused: wrong recipient"),
        ("replayed_hello", "seal refused: signature already used"),
        ("missing_field", "seal refused: SEAL is missing ephemeral"),
    ] {
        let c = case(name);
        assert_eq!(c["frames"][0]["type"], "ERROR", "{c}");
        assert_eq!(c["frames"][0]["message"], why, "{c}");
        assert_eq!(c["closed"], true, "{name} left the socket open: {c}");
    }
    let first = case("first_hello");
    assert_eq!(first["frames"][0]["type"], "SEALED_OK", "{first}");
    assert_eq!(first["frames"][0]["from"], host.address.as_str());
    // Broken channels: the counter going back, garbage, plaintext where a box belongs.
    let back = case("counter_back");
    assert_eq!(back["frames"][0]["type"], "CONNECTED", "{back}");
    assert_eq!(
        back["frames"][1]["message"],
        "sealed frame rejected: sealed frame out of order"
    );
    assert_eq!(back["closed"], true);
    for (name, why) in [
        (
            "garbage_ciphertext",
            "sealed frame rejected: sealed frame does not open",
        ),
        (
            "plaintext_on_sealed",
            "sealed frame rejected: expected a SEALED frame",
        ),
    ] {
        let c = case(name);
        assert_eq!(c["frames"][0]["message"], why, "{c}");
        assert_eq!(c["closed"], true, "{c}");
    }
    // A CONNECT inside the seal by another signer is refused; the socket stays and answers.
    let other = case("connect_by_another");
    assert_eq!(
        other["frames"][0]["message"],
        "unauthorized: CONNECT is not signed by the sealed peer"
    );
    assert_eq!(other["closed"], false);
    assert_eq!(case("plaintext_ping")["frames"][0]["type"], "PONG");

    // And the host still serves ConnectOnion's client.
    let lines = turns(
        &python,
        &host.address,
        &ws_url(host.http.as_ref().unwrap()),
        2,
        0.0,
        &[],
    );
    assert_each_turn_answered(&lines, 2, true);
}

#[test]
fn info_index_and_preflight_have_connectonions_shape() {
    let Some(python) = python("info_index_and_preflight_have_connectonions_shape") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let reference = ReferenceHost::start(&python, home.path());
    let host = HostProcess::start(&["--demo", "--no-mdns"]);
    let report = json_lines(
        script(
            &python,
            home.path(),
            "co_info_shape.py",
            &[&reference.url, host.http.as_ref().unwrap()],
        ),
        LIMIT,
    );
    let report = &report[0];
    println!("ConnectOnion's /info: {}", report["reference_info"]);
    println!("our /info: {}", report["our_info"]);
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
}
