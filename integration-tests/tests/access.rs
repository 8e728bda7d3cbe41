//! Access control and inputs through a hosted agent over real loopback sockets: a whitelist
//! edited while the host runs, a natural-language policy judged by a local OpenAI-compatible
//! server, and attachments that must be refused.

// Test helpers unwrap like the tests they serve: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use agenthost::{
    agent_fn,
    node::{llm::LlmConfig, llm::LlmJudge, FileInput, InputRequest, NodeConfig},
    AgentConnection, AgentKey, Client, Frame, Host, Input, RunningHost, Trust,
};
use axum::{routing::post, Json, Router};
use serde_json::{json, Value};

fn echo_host() -> Host<impl agenthost::Agent> {
    agenthost_integration_tests::init_tracing();
    Host::new(agent_fn("echo", |input: Input| async move {
        let files: Vec<String> = input
            .files
            .iter()
            .map(|f| format!("{}={}", f.name, f.path.display()))
            .collect();
        Ok(format!("{} {}", input.prompt, files.join(","))
            .trim()
            .to_owned())
    }))
    .key(AgentKey::generate())
    .listen("/ip4/127.0.0.1/tcp/0".parse().unwrap())
    .mdns(false)
    .http(false)
}

async fn connect_as(host: &RunningHost, key: AgentKey) -> AgentConnection {
    let mut config = NodeConfig::new(key);
    config.mdns = false;
    Client::start(config)
        .await
        .unwrap()
        .connect(&host.address().to_string(), host.listen_addrs())
        .await
        .unwrap()
}

async fn terminal(connection: &AgentConnection, request: InputRequest) -> Frame {
    connection
        .input_request(request)
        .await
        .unwrap()
        .terminal()
        .await
}

fn code(frame: &Frame) -> Option<&str> {
    match frame {
        Frame::Error(e) => e.code.as_deref(),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_the_whitelist_of_a_running_strict_host_admits_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let host = echo_host()
        .data_dir(dir.path())
        .trust(Trust::Strict)
        .start()
        .await
        .unwrap();
    let key = AgentKey::generate();
    let address = key.address();
    let connection = connect_as(&host, key).await;
    let refused = terminal(&connection, prompt("hi")).await;
    assert_eq!(code(&refused), Some("forbidden"), "{refused:?}");

    std::fs::write(
        dir.path().join("whitelist.txt"),
        format!("# added live\n{address}\n"),
    )
    .unwrap();
    let edited = Instant::now();
    loop {
        let request = prompt("hi");
        match terminal(&connection, request).await {
            Frame::Output(out) => {
                assert_eq!(out.result, "hi");
                break;
            }
            other => assert!(
                edited.elapsed() < Duration::from_secs(2),
                "not admitted 2 s after the edit: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A chat-completions server whose model allows signed-in peers named in the policy, counts
/// calls, and answers garbage when told to.
async fn llm_server(mode: &'static str, calls: Arc<AtomicUsize>) -> SocketAddr {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |Json(body): Json<Value>| {
            let calls = Arc::clone(&calls);
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                let text = body["messages"].to_string();
                assert!(
                    !text.contains("secret prompt"),
                    "the judge must never see the prompt"
                );
                // The facts travel as compact JSON inside the user message.
                let user = body["messages"][1]["content"].as_str().unwrap_or_default();
                let content = match mode {
                    "garbage" => "I am not sure, maybe?".to_owned(),
                    _ if user.contains(r#""transport":"p2p""#) => {
                        r#"{"decision":"allow","reason":"p2p callers are welcome"}"#.to_owned()
                    }
                    _ => r#"{"decision":"deny","reason":"only p2p callers"}"#.to_owned(),
                };
                Json(json!({"choices": [{"message": {"role": "assistant", "content": content}}]}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn policy_host(
    mode: &'static str,
    calls: Arc<AtomicUsize>,
) -> (RunningHost, tempfile::TempDir) {
    let llm = llm_server(mode, calls).await;
    let config = LlmConfig::from_env_map(|name| match name {
        "AGENTHOST_LLM_URL" => Some(format!("http://{llm}/v1")),
        "AGENTHOST_LLM_MODEL" => Some("judge-model".into()),
        _ => None,
    })
    .expect("configured");
    judged_host("Admit callers that come over p2p; refuse the rest.", config).await
}

/// An echo host whose policy is judged by the LLM `config` names.
async fn judged_host(policy: &str, config: LlmConfig) -> (RunningHost, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let host = echo_host()
        .data_dir(dir.path())
        .trust(Trust::Policy(policy.into()))
        .policy_judge(Arc::new(LlmJudge::from_config(config).unwrap()))
        .start()
        .await
        .unwrap();
    (host, dir)
}

/// A plain INPUT.
fn prompt(text: &str) -> InputRequest {
    InputRequest {
        prompt: Some(text.into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_is_judged_by_an_openai_compatible_server_and_cached_per_caller() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (host, _dir) = policy_host("judge", Arc::clone(&calls)).await;
    let connection = connect_as(&host, AgentKey::generate()).await;
    for _ in 0..3 {
        let request = prompt("secret prompt");
        match terminal(&connection, request).await {
            Frame::Output(out) => assert_eq!(out.result, "secret prompt"),
            other => panic!("a p2p caller is admitted by the policy: {other:?}"),
        }
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one judgement per caller, then the cache"
    );

    // The in-process operator is not a p2p caller: the model denies it.
    let reply = host.service().call(
        agenthost::Request::input("secret prompt"),
        agenthost::Caller::anonymous(
            agenthost::node::trust::Arrival::Http { loopback: false },
            None,
        ),
    );
    let refused = reply.terminal().await;
    assert_eq!(code(&refused), Some("forbidden"), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_verdict_or_a_dead_llm_refuses() {
    let (host, _dir) = policy_host("garbage", Arc::new(AtomicUsize::new(0))).await;
    let connection = connect_as(&host, AgentKey::generate()).await;
    let refused = terminal(&connection, prompt("x")).await;
    assert_eq!(code(&refused), Some("forbidden"), "{refused:?}");

    let dead = LlmConfig::from_env_map(|name| {
        (name == "AGENTHOST_LLM_URL").then(|| "http://127.0.0.1:1/v1".to_owned())
    })
    .unwrap();
    let (host, _dir) = judged_host("anyone", dead).await;
    let connection = connect_as(&host, AgentKey::generate()).await;
    let refused = terminal(&connection, prompt("x")).await;
    assert_eq!(code(&refused), Some("forbidden"), "{refused:?}");
}

fn file(name: &str, bytes: &[u8]) -> FileInput {
    use base64::Engine;
    FileInput {
        name: name.into(),
        data: format!(
            "data:text/plain;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ),
    }
}

fn with_files(files: Vec<FileInput>) -> InputRequest {
    InputRequest {
        prompt: Some("files".into()),
        files,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_are_saved_safely_and_bad_ones_refused_without_writing() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    let host = echo_host()
        .data_dir(&data_dir)
        .max_file_size_mb(1.0)
        .max_files_per_request(3)
        .start()
        .await
        .unwrap();
    let connection = connect_as(&host, AgentKey::generate()).await;

    // A good file lands in uploads/<session>/ and the agent gets its path.
    match terminal(&connection, with_files(vec![file("notes.txt", b"hello")])).await {
        Frame::Output(out) => {
            let path = out.result.split_once('=').unwrap().1;
            assert!(
                path.contains(&format!("uploads/{}/notes.txt", out.session_id)),
                "{path}"
            );
            assert_eq!(std::fs::read(path).unwrap(), b"hello");
        }
        other => panic!("{other:?}"),
    }

    let bad: Vec<(InputRequest, &str)> = vec![
        (
            with_files(vec![file("big.bin", &vec![7u8; 2 * 1024 * 1024])]),
            "too_large",
        ),
        (
            with_files((0..4).map(|i| file(&format!("f{i}"), b"x")).collect()),
            "too_large",
        ),
        (
            with_files(vec![FileInput {
                name: "x".into(),
                data: "data:text/plain;base64,@@@".into(),
            }]),
            "bad_request",
        ),
        (
            with_files(vec![FileInput {
                name: "x".into(),
                data: "not a data url".into(),
            }]),
            "bad_request",
        ),
        (
            InputRequest {
                prompt: Some("img".into()),
                images: vec!["data:text/plain;base64,aGk=".into()],
                ..Default::default()
            },
            "bad_request",
        ),
    ];
    for (request, expected) in bad {
        let frame = terminal(&connection, request).await;
        assert_eq!(code(&frame), Some(expected), "{frame:?}");
        if let Frame::Error(e) = &frame {
            assert!(!e.message.is_empty());
        }
    }

    // A traversal name is neutralised: the file stays inside the uploads folder.
    match terminal(
        &connection,
        with_files(vec![file("../../escape.txt", b"x")]),
    )
    .await
    {
        Frame::Output(out) => {
            let path = std::path::PathBuf::from(out.result.split_once('=').unwrap().1);
            let uploads = data_dir.join("uploads").canonicalize().unwrap();
            assert!(
                path.canonicalize().unwrap().starts_with(&uploads),
                "{path:?}"
            );
        }
        Frame::Error(e) => assert_eq!(e.code.as_deref(), Some("bad_request"), "{e:?}"),
        other => panic!("{other:?}"),
    }
    let outside: Vec<_> = walk(root.path())
        .into_iter()
        .filter(|p| !p.starts_with(&data_dir))
        .collect();
    assert!(
        outside.is_empty(),
        "written outside the data dir: {outside:?}"
    );

    // Wrong shapes in a raw frame, then the node still serves.
    for body in [
        json!({"type": "INPUT", "prompt": "x", "files": "notalist"}),
        json!({"type": "INPUT", "prompt": "x", "files": [{"name": 5, "data": "data:,x"}]}),
        json!({"type": "INPUT", "prompt": 12}),
    ] {
        let request: Result<agenthost::Request, _> = serde_json::from_value(body.clone());
        assert!(request.is_err(), "{body} must not even parse as a request");
    }
    let not_an_object = InputRequest {
        payload: Some(json!("not an object")),
        from: Some(AgentKey::generate().address().to_string()),
        signature: Some("00".repeat(64)),
        ..Default::default()
    };
    let frame = terminal(&connection, not_an_object).await;
    assert_eq!(code(&frame), Some("unauthorized"), "{frame:?}");
    match terminal(&connection, prompt("still")).await {
        Frame::Output(out) => assert_eq!(out.result, "still"),
        other => panic!("{other:?}"),
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
