//! The examples of `examples/`, each run as a real process and exercised over real sockets:
//! HTTP `POST /input`, WebSocket `/ws`, and P2P. Hosting examples are configured by the
//! `AGENTHOST_*` variables (free ports on loopback, a temporary data folder, no mDNS; see
//! `HostProcess::example`); their banner says where they listen.

// Test helpers unwrap like the tests they serve: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::{path::Path, process::Command, time::Duration};

use agenthost::{AgentKey, Frame, Multiaddr};
use agenthost_integration_tests::{
    example_bin, get_json, openai_stub::OpenAiStub, signing::signed_body, stdout_of_success,
    HostProcess,
};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::{connect_async, tungstenite::Message};

fn repo_path(relative: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
        .canonicalize()
        .unwrap_or_else(|e| panic!("{relative}: {e}"))
        .to_str()
        .expect("utf-8 path")
        .to_owned()
}

fn http(host: &HostProcess) -> String {
    host.http.clone().expect("the host serves HTTP")
}

/// `POST {url}/input` with `body`: the status and the JSON answer.
async fn post_input(host: &HostProcess, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/input", http(host)))
        .json(body)
        .send()
        .await
        .expect("POST /input");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

/// A prompt over `POST /input`, expecting 200; returns the answer.
async fn ask_http(host: &HostProcess, body: Value) -> Value {
    let (status, answer) = post_input(host, &body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// One turn over `/ws` (simple form): every frame up to and including the terminal one,
/// keep-alive PINGs left out.
async fn ws_turn(host: &HostProcess, input: Value) -> Vec<Value> {
    let url = http(host).replacen("http://", "ws://", 1) + "/ws";
    let (mut socket, _) = connect_async(url).await.expect("the WebSocket opens");
    socket
        .send(Message::Text(input.to_string().into()))
        .await
        .expect("INPUT sent");
    let mut frames = Vec::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("a frame within 30 s")
            .expect("the socket stays open until the answer")
            .expect("a readable frame");
        let Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text).expect("a JSON frame");
        if frame["type"] == "PING" {
            continue;
        }
        let done = frame["type"] == "OUTPUT" || frame["type"] == "ERROR";
        frames.push(frame);
        if done {
            return frames;
        }
    }
}

fn types(frames: &[Value]) -> Vec<&str> {
    frames
        .iter()
        .map(|f| f["type"].as_str().expect("every frame has a type"))
        .collect()
}

fn streamed(frames: &[Value]) -> String {
    frames
        .iter()
        .filter(|f| f["type"] == "STREAM")
        .map(|f| f["content"].as_str().expect("STREAM content"))
        .collect()
}

/// The host's loopback TCP multiaddr, parsed.
fn loopback(host: &HostProcess) -> Multiaddr {
    host.loopback_addr("tcp").parse().expect("a multiaddr")
}

#[tokio::test]
async fn echo_answers_over_http_and_p2p() {
    let host = HostProcess::example("echo", &[], &[]);
    let answer = ask_http(&host, json!({"prompt": "hello"})).await;
    assert_eq!(answer["result"], "you said: hello");

    let agent = agenthost::connect_with(&host.address, vec![loopback(&host)])
        .await
        .expect("the example is reachable over P2P");
    let output = agent.input("over p2p").await.expect("an answer");
    assert_eq!(output.result, "you said: over p2p");
}

#[tokio::test]
async fn streaming_sends_its_answer_in_several_chunks() {
    let host = HostProcess::example("streaming", &[], &[]);
    let frames = ws_turn(&host, json!({"type": "INPUT", "prompt": "why"})).await;
    let kinds = types(&frames);
    let chunks = kinds.iter().filter(|t| **t == "STREAM").count();
    assert!(
        chunks >= 5,
        "expected the answer in many chunks: {frames:?}"
    );
    assert_eq!(kinds.last(), Some(&"OUTPUT"), "{frames:?}");
    let result = frames.last().unwrap()["result"].as_str().unwrap();
    assert_eq!(result, "You asked: why. Here is the answer, word by word.");
    assert_eq!(streamed(&frames), result, "the chunks add up to the result");

    // Over P2P the same chunks arrive as separate frames before the OUTPUT.
    let agent = agenthost::connect_with(&host.address, vec![loopback(&host)])
        .await
        .expect("reachable over P2P");
    let mut reply = agent.input_stream("how").await.expect("a reply");
    let (mut chunks, mut text) = (0, String::new());
    let output = loop {
        match reply.next_frame().await.expect("a terminal frame") {
            Frame::Stream { content } => {
                chunks += 1;
                text.push_str(&content);
            }
            Frame::Output(output) => break output,
            other => panic!("unexpected frame {}", other.to_json()),
        }
    };
    assert!(chunks >= 5, "{chunks} chunks");
    assert_eq!(text, output.result);
}

#[tokio::test]
async fn tools_announces_its_tool_call_and_result_before_answering() {
    let host = HostProcess::example("tools", &[], &[]);
    let info = get_json(&format!("{}/info", http(&host))).await;
    assert_eq!(info["tools"], json!(["calculator"]), "{info}");

    let frames = ws_turn(
        &host,
        json!({"type": "INPUT", "prompt": "what is 12*(3+4) - 2?"}),
    )
    .await;
    assert_eq!(
        types(&frames),
        ["thinking", "tool_call", "tool_result", "OUTPUT"],
        "{frames:?}"
    );
    assert_eq!(frames[1]["name"], "calculator");
    assert_eq!(frames[1]["args"], json!({"expression": "12*(3+4) - 2"}));
    assert_eq!(frames[2]["name"], "calculator");
    assert_eq!(frames[2]["status"], "success");
    assert_eq!(frames[2]["result"], "82");
    let output = &frames[3];
    assert_eq!(output["result"], "12*(3+4) - 2 = 82");
    // The host keeps the events in the session's trace, for clients that show them later.
    let trace: Vec<&Value> = output["session"]["trace"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(
        trace
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["thinking", "tool_call", "tool_result"]
    );

    // A failing tool is reported as such, and the answer says why.
    let answer = ask_http(&host, json!({"prompt": "what is 1/(2-2)?"})).await;
    assert_eq!(
        answer["result"],
        "I could not calculate 1/(2-2): division by zero"
    );
    let trace = &answer["session"]["trace"];
    assert_eq!(trace[2]["status"], "error", "{trace}");

    // No arithmetic, no tool.
    let answer = ask_http(&host, json!({"prompt": "hello"})).await;
    assert_eq!(answer["session"]["trace"], json!([{"type": "thinking"}]));
}

/// The stub's answer: which turn it saw, so a test can tell the agent passed history on.
fn stub_answer(body: &Value) -> String {
    let messages = body["messages"].as_array().unwrap();
    let last = messages.last().unwrap()["content"].as_str().unwrap();
    format!("model heard {} messages, last: {last}", messages.len())
}

#[tokio::test]
async fn llm_answers_from_the_model_and_sends_it_the_conversation() {
    let stub = OpenAiStub::start(stub_answer);
    let base = stub.base_url();
    let host = HostProcess::example(
        "llm",
        &[],
        &[
            ("AGENTHOST_LLM_URL", base.as_str()),
            ("AGENTHOST_LLM_MODEL", "tiny-test-model"),
            ("AGENTHOST_LLM_API_KEY", "sk-example"),
        ],
    );
    let info = get_json(&format!("{}/info", http(&host))).await;
    assert_eq!(info["name"], "llm", "{info}");

    let first = ask_http(&host, json!({"prompt": "hi there"})).await;
    assert_eq!(first["result"], "model heard 2 messages, last: hi there");
    let second = ask_http(
        &host,
        json!({"prompt": "and again", "session": first["session"]}),
    )
    .await;
    assert_eq!(second["result"], "model heard 4 messages, last: and again");

    let seen = stub.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for request in &seen {
        assert_eq!(request.authorization.as_deref(), Some("Bearer sk-example"));
        assert_eq!(request.body["model"], "tiny-test-model");
    }
    let messages = &seen[1].body["messages"];
    assert_eq!(messages[0]["role"], "system");
    assert_eq!(
        messages.as_array().unwrap()[1..],
        [
            json!({"role": "user", "content": "hi there"}),
            json!({"role": "assistant", "content": "model heard 2 messages, last: hi there"}),
            json!({"role": "user", "content": "and again"}),
        ]
    );
}

#[tokio::test]
async fn llm_reads_the_openai_variable_names_too() {
    let stub = OpenAiStub::start(stub_answer);
    let base = stub.base_url();
    let host = HostProcess::example(
        "llm",
        &[],
        &[
            ("OPENAI_BASE_URL", base.as_str()),
            ("OPENAI_MODEL", "openai-named-model"),
            ("OPENAI_API_KEY", "sk-openai-named"),
        ],
    );
    let frames = ws_turn(&host, json!({"type": "INPUT", "prompt": "ping"})).await;
    assert_eq!(types(&frames), ["thinking", "OUTPUT"], "{frames:?}");
    assert_eq!(frames[1]["result"], "model heard 2 messages, last: ping");
    let seen = stub.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].body["model"], "openai-named-model");
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer sk-openai-named")
    );
}

#[test]
fn llm_without_an_endpoint_says_what_to_set() {
    let out = Command::new(example_bin("llm"))
        .env_remove("AGENTHOST_LLM_URL")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY")
        .output()
        .expect("running the llm example");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AGENTHOST_LLM_URL"), "{stderr}");
}

#[tokio::test]
async fn multi_turn_remembers_within_a_session_only() {
    let host = HostProcess::example("multi_turn", &[], &[]);
    let first = ask_http(&host, json!({"prompt": "remember the door code is 4711"})).await;
    assert_eq!(first["result"], "Noted: the door code is 4711.");
    let second = ask_http(
        &host,
        json!({"prompt": "what did I ask you to remember?", "session": first["session"]}),
    )
    .await;
    assert_eq!(
        second["result"],
        "You asked me to remember: the door code is 4711."
    );
    assert_eq!(second["session"]["turn"], 2);

    // Over /ws with the session passed back, a third turn still knows.
    let frames = ws_turn(
        &host,
        json!({"type": "INPUT", "prompt": "remember anything?", "session": second["session"]}),
    )
    .await;
    assert_eq!(
        frames.last().unwrap()["result"],
        "You asked me to remember: the door code is 4711.",
        "{frames:?}"
    );

    // The memory is the session's, not the agent's: a new conversation knows nothing.
    let fresh = ask_http(&host, json!({"prompt": "what did I ask you to remember?"})).await;
    assert_eq!(
        fresh["result"],
        "You have not asked me to remember anything yet."
    );
}

/// Runs the `client` example with `args`, killing it if it hangs.
fn run_client(args: &[&str]) -> std::process::Output {
    let child = Command::new(example_bin("client"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running the client example");
    wait_with_timeout(child, Duration::from_secs(60))
}

fn wait_with_timeout(mut child: std::process::Child, limit: Duration) -> std::process::Output {
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().expect("waiting").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("its output")
}

#[test]
fn client_prints_the_answer_streamed_by_an_agent_it_calls_by_address() {
    // The demo agent streams `echo: <prompt>` word by word.
    let host = HostProcess::start(&["--demo", "--no-mdns"]);
    let addr = host.loopback_addr("tcp");
    let out = run_client(&[&host.address, &addr, "hello", "over", "p2p"]);
    let stdout = stdout_of_success(&out);
    assert_eq!(stdout, "echo: hello over p2p\n");

    // Any spelling of the address works: here the PeerId.
    let out = run_client(&[&host.peer_id, &addr, "again"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "echo: again\n");
}

#[test]
fn client_reports_a_refusal_and_exits_1() {
    let host = HostProcess::start(&["--demo", "--no-mdns", "--trust", "strict"]);
    let out = run_client(&[&host.address, &host.loopback_addr("tcp"), "let me in"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("forbidden"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn trust_policy_admits_the_whitelisted_signer_and_refuses_others() {
    let friend = AgentKey::generate();
    let stranger = AgentKey::generate();
    let friend_address = friend.address().to_string();
    let host = HostProcess::example("trust_policy", &[&friend_address], &[]);
    let to = Some(host.address.as_str());

    let (status, body) = post_input(
        &host,
        &signed_body(&stranger, to, json!({"prompt": "let me in"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = post_input(&host, &json!({"prompt": "anonymous"})).await;
    assert!(status == 401 || status == 403, "{status} {body}");

    let answer = ask_http(
        &host,
        signed_body(&friend, to, json!({"prompt": "it's me"})),
    )
    .await;
    assert_eq!(answer["result"], "welcome, member. you said: it's me");

    // The same rule holds over P2P: the caller's key is its libp2p identity.
    let friend_client = agenthost::Client::with_key(friend.clone())
        .await
        .expect("a client node");
    let agent = friend_client
        .connect(&host.address, vec![loopback(&host)])
        .await
        .expect("connected");
    assert_eq!(
        agent.input("p2p").await.expect("admitted").result,
        "welcome, member. you said: p2p"
    );
    let stranger_agent = agenthost::connect_with(&host.address, vec![loopback(&host)])
        .await
        .expect("connected");
    let refused = stranger_agent.input("p2p").await.expect_err("refused");
    assert!(refused.to_string().contains("forbidden"), "{refused}");
}

#[tokio::test]
async fn trust_policy_asks_the_judge_about_strangers_but_never_shows_it_the_prompt() {
    // The judge model admits signed callers only, reading the facts the host sends.
    let stub = OpenAiStub::start(|body| {
        let facts = body["messages"][1]["content"].as_str().unwrap_or("");
        if facts.contains("\"signed\":true") {
            r#"{"decision":"allow","reason":"signed callers are welcome"}"#.to_owned()
        } else {
            r#"{"decision":"deny","reason":"the policy wants a signature"}"#.to_owned()
        }
    });
    let base = stub.base_url();
    let friend = AgentKey::generate();
    let stranger = AgentKey::generate();
    let friend_address = friend.address().to_string();
    let policy = "Only callers who sign their requests may use this agent";
    let host = HostProcess::example(
        "trust_policy",
        &["--policy", policy, &friend_address],
        &[("AGENTHOST_LLM_URL", base.as_str())],
    );
    let to = Some(host.address.as_str());

    let (status, body) = post_input(&host, &json!({"prompt": "secret anonymous prompt"})).await;
    assert_eq!(status, 403, "{body}");
    let answer = ask_http(
        &host,
        signed_body(&stranger, to, json!({"prompt": "secret signed prompt"})),
    )
    .await;
    assert_eq!(
        answer["result"],
        "welcome, member. you said: secret signed prompt"
    );
    ask_http(&host, signed_body(&friend, to, json!({"prompt": "hi"}))).await;

    let seen = stub.requests();
    assert_eq!(seen.len(), 2, "one verdict per stranger: {seen:?}");
    let asked = serde_json::to_string(&seen.iter().map(|r| &r.body).collect::<Vec<_>>()).unwrap();
    assert!(asked.contains(policy), "the judge saw the policy: {asked}");
    assert!(!asked.contains("secret"), "the judge never sees prompts");
    assert!(
        asked.contains(&stranger.address().to_string()) && !asked.contains(&friend_address),
        "whitelisted callers are admitted without asking the judge"
    );
}

#[tokio::test]
async fn python_agent_streams_events_through_agenthost_host() {
    let script = repo_path("examples/python/agent.py");
    let host = HostProcess::start(&["--no-mdns", "--", "python3", &script]);
    let frames = ws_turn(&host, json!({"type": "INPUT", "prompt": "hello big world"})).await;
    let kinds = types(&frames);
    assert_eq!(kinds[..2], ["tool_call", "tool_result"], "{frames:?}");
    assert_eq!(frames[1]["result"], 3);
    assert!(
        kinds[2..kinds.len() - 1].iter().all(|t| *t == "STREAM") && kinds.len() >= 6,
        "{frames:?}"
    );
    let output = frames.last().unwrap();
    assert_eq!(output["type"], "OUTPUT");
    assert_eq!(output["result"], "Turn 1: your prompt has 3 words.");
    assert_eq!(streamed(&frames), "Turn 1: your prompt has 3 words.");

    // The script reads the session the host hands it: turn 2 of the same conversation.
    let answer = ask_http(
        &host,
        json!({"prompt": "two words", "session": output["session"]}),
    )
    .await;
    assert_eq!(answer["result"], "Turn 2: your prompt has 2 words.");

    let (status, body) = post_input(&host, &json!({"prompt": "  "})).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("empty prompt"),
        "{body}"
    );
}

/// Whether `node` runs; without it the JS tests skip, unless CI requires the browser tools.
fn node_present() -> bool {
    let present = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        assert!(
            std::env::var_os("AGENTHOST_REQUIRE_BROWSER").is_none_or(|v| v != "1"),
            "AGENTHOST_REQUIRE_BROWSER=1 but node is missing"
        );
        eprintln!("SKIPPED: the JS client example needs node");
    }
    present
}

#[test]
fn js_ws_client_prints_the_streamed_answer_in_node() {
    if !node_present() {
        return;
    }
    let script = repo_path("examples/python/agent.py");
    let host = HostProcess::start(&["--no-mdns", "--", "python3", &script]);
    let ws = http(&host).replacen("http://", "ws://", 1) + "/ws";
    // Node 20's WebSocket (the browser API) is behind this flag; later versions accept it.
    let child = Command::new("node")
        .args([
            "--experimental-websocket",
            &repo_path("examples/js/ws_client.mjs"),
        ])
        .args([ws.as_str(), "count", "these", "words"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running node");
    let out = wait_with_timeout(child, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Turn 1: your prompt has 3 words.\n"
    );
    // Events go to stderr, one JSON line each, in order.
    let events: Vec<Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(types(&events), ["tool_call", "tool_result"], "{stderr}");
}

#[test]
fn js_ws_client_streams_in_chromium() {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let present = node_present()
        && Path::new(&chromium).exists()
        && browser_dir.join("node_modules/playwright-core").exists();
    if !present {
        assert!(
            std::env::var_os("AGENTHOST_REQUIRE_BROWSER").is_none_or(|v| v != "1"),
            "AGENTHOST_REQUIRE_BROWSER=1 but chromium or the npm packages are missing"
        );
        eprintln!(
            "SKIPPED: needs {chromium}, node and `npm ci --prefix integration-tests/browser`"
        );
        return;
    }
    let script = repo_path("examples/python/agent.py");
    let host = HostProcess::start(&["--no-mdns", "--", "python3", &script]);
    let child = Command::new("node")
        .arg("ws_client_example.mjs")
        .args([
            &http(&host),
            &repo_path("examples/js/ws_client.mjs"),
            "one two",
        ])
        .current_dir(&browser_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running node");
    let out = wait_with_timeout(child, Duration::from_secs(90));
    let stdout = stdout_of_success(&out);
    let outcome: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(outcome["result"], "Turn 1: your prompt has 2 words.");
    let chunks = outcome["chunks"].as_array().unwrap();
    assert!(chunks.len() >= 5, "{outcome}");
    let joined: String = chunks.iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(joined, "Turn 1: your prompt has 2 words.");
    assert_eq!(
        types(outcome["events"].as_array().unwrap()),
        ["tool_call", "tool_result"]
    );
}

#[test]
fn every_example_has_its_run_line_and_a_readme_entry() {
    let readme = std::fs::read_to_string(repo_path("examples/README.md")).expect("README");
    for (name, file) in [
        ("echo", "examples/echo.rs"),
        ("streaming", "examples/streaming.rs"),
        ("tools", "examples/tools/main.rs"),
        ("llm", "examples/llm.rs"),
        ("multi_turn", "examples/multi_turn.rs"),
        ("client", "examples/client.rs"),
        ("trust_policy", "examples/trust_policy.rs"),
    ] {
        let run = format!("cargo run --example {name}");
        let source = std::fs::read_to_string(repo_path(file)).expect("the example");
        let doc: String = source
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(doc.contains(&run), "{file}'s top comment lacks `{run}`");
        assert!(readme.contains(&run), "examples/README.md lacks `{run}`");
    }
    for run in [
        "agenthost host -- python3 examples/python/agent.py",
        "node --experimental-websocket examples/js/ws_client.mjs",
    ] {
        assert!(readme.contains(run), "examples/README.md lacks `{run}`");
    }
}
