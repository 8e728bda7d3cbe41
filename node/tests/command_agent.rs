//! CommandAgent through the public path: a Dispatcher hosting it, called like any service.

use std::time::{Duration, Instant};

use agenthost_identity::AgentKey;
use agenthost_node::{
    AgentService, Caller, CommandAgent, Dispatcher, DispatcherConfig, ErrorFrame, Frame,
    HostIdentity, OutputFrame, Reply, Request,
};
use serde_json::Value;

fn dispatcher(agent: CommandAgent) -> Dispatcher<CommandAgent> {
    let key = AgentKey::generate();
    let identity = HostIdentity {
        address: key.address(),
        peer_id: key.peer_id(),
    };
    // The store and uploads live as long as the test process.
    let dir = Box::leak(Box::new(tempfile::tempdir().expect("temp dir")));
    let config = DispatcherConfig::in_dir(identity, dir.path()).expect("dispatcher config");
    Dispatcher::new(agent, config)
}

fn sh(script: &str) -> CommandAgent {
    CommandAgent::new("sh", vec!["-c".into(), script.into()])
}

fn python(code: &str) -> CommandAgent {
    CommandAgent::new("python3", vec!["-c".into(), code.into()])
}

fn call(agent: CommandAgent, prompt: &str) -> Reply {
    dispatcher(agent).call(Request::input(prompt), Caller::in_process())
}

/// Every frame of the reply, the terminal one last.
async fn frames(mut reply: Reply) -> Vec<Frame> {
    let mut frames = Vec::new();
    while let Some(frame) = reply.next_frame().await {
        frames.push(frame);
    }
    frames
}

async fn output(agent: CommandAgent, prompt: &str) -> OutputFrame {
    match call(agent, prompt).output().await {
        Ok(out) => out,
        Err(err) => panic!("expected OUTPUT, got ERROR: {err}"),
    }
}

async fn error(agent: CommandAgent, prompt: &str) -> ErrorFrame {
    match call(agent, prompt).output().await {
        Ok(out) => panic!("expected ERROR, got OUTPUT: {out:?}"),
        Err(err) => err,
    }
}

#[tokio::test]
async fn plain_stdout_becomes_the_result() {
    let out = output(sh("echo hello; echo; echo world"), "hi").await;
    assert_eq!(out.result, "hello\n\nworld");
    assert_eq!(out.session["turn"], 1);
    assert_eq!(out.session["messages"][1]["content"], "hello\n\nworld");
}

#[tokio::test]
async fn plain_lines_are_not_streamed_and_non_event_json_is_plain() {
    let script = r#"echo 'plain'; echo '[1,2]'; echo '{"type":3}'; echo '{"no":"type"}'"#;
    let frames = frames(call(sh(script), "hi")).await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    let Frame::Output(out) = &frames[0] else {
        panic!("expected OUTPUT, got {frames:?}");
    };
    assert_eq!(out.result, "plain\n[1,2]\n{\"type\":3}\n{\"no\":\"type\"}");
}

#[tokio::test]
async fn events_arrive_in_order_and_the_last_output_wins() {
    let code = r#"
import json, sys
def say(**event):
    print(json.dumps(event), flush=True)
say(type="STREAM", content="Hel")
say(type="tool_call", name="add", args={"a": 1})
print("ignored plain text")
say(type="STREAM", content="lo")
say(type="OUTPUT", result="first")
say(type="OUTPUT", result="Hello")
"#;
    let frames = frames(call(python(code), "hi")).await;
    assert_eq!(frames.len(), 4, "{frames:?}");
    assert_eq!(
        frames[0],
        Frame::Stream {
            content: "Hel".into()
        }
    );
    let Frame::Event(event) = &frames[1] else {
        panic!("expected a tool_call event, got {:?}", frames[1]);
    };
    assert_eq!(event["type"], "tool_call");
    assert_eq!(event["name"], "add");
    assert_eq!(event["args"]["a"], 1);
    assert_eq!(
        frames[2],
        Frame::Stream {
            content: "lo".into()
        }
    );
    let Frame::Output(out) = &frames[3] else {
        panic!("expected OUTPUT, got {:?}", frames[3]);
    };
    assert_eq!(out.result, "Hello");
    // The event is kept in the session's trace, like any agent's events.
    assert_eq!(out.session["trace"][0]["type"], "tool_call");
}

#[tokio::test]
async fn a_non_string_output_result_is_json_encoded() {
    let out = output(
        sh(r#"echo '{"type":"OUTPUT","result":{"answer":42}}'"#),
        "hi",
    )
    .await;
    assert_eq!(out.result, r#"{"answer":42}"#);
}

#[tokio::test]
async fn an_error_line_fails_the_turn_with_its_message() {
    let err = error(
        sh(r#"echo '{"type":"ERROR","message":"no API key"}'; sleep 30"#),
        "hi",
    )
    .await;
    assert_eq!(err.message, "no API key");
    assert_eq!(err.code.as_deref(), Some("agent_error"));
}

#[tokio::test]
async fn stdin_carries_one_json_line_with_prompt_session_and_caller() {
    // Echo back the whole of stdin as the result, plus the environment it ran with.
    let code = r#"
import json, os, sys
data = sys.stdin.read()
print(json.dumps({"type": "OUTPUT", "result": json.dumps({
    "stdin": data,
    "session_env": os.environ.get("AGENTHOST_SESSION_ID"),
    "caller_env": os.environ.get("AGENTHOST_CALLER"),
    "extra_env": os.environ.get("EXTRA"),
})}))
"#;
    let out = output(python(code).env("EXTRA", "yes"), "what is 2+2?").await;
    let seen: Value = serde_json::from_str(&out.result).unwrap();
    let stdin = seen["stdin"].as_str().unwrap();
    assert!(stdin.ends_with('\n'), "one line: {stdin:?}");
    assert_eq!(stdin.matches('\n').count(), 1, "one line: {stdin:?}");
    let request: Value = serde_json::from_str(stdin).unwrap();
    assert_eq!(request["prompt"], "what is 2+2?");
    assert_eq!(request["session"]["session_id"], out.session_id.as_str());
    assert_eq!(request["session"]["turn"], 0);
    assert!(request["session"]["messages"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(request["images"], serde_json::json!([]));
    assert_eq!(request["files"], serde_json::json!([]));
    assert_eq!(request["caller"], Value::Null);
    assert_eq!(seen["session_env"], out.session_id.as_str());
    assert_eq!(seen["caller_env"], "");
    assert_eq!(seen["extra_env"], "yes");
}

#[tokio::test]
async fn a_continued_session_reaches_the_command() {
    let agent = python(
        r#"
import json, sys
req = json.loads(sys.stdin.readline())
print(len(req["session"]["messages"]), req["session"]["turn"])
"#,
    );
    let service = dispatcher(agent);
    let first = service
        .call(Request::input("one"), Caller::in_process())
        .output()
        .await
        .unwrap();
    assert_eq!(first.result, "0 0");
    let again = agenthost_node::InputRequest {
        prompt: Some("two".into()),
        session: Some(first.session),
        ..Default::default()
    };
    let second = service
        .call(Request::Input(again), Caller::in_process())
        .output()
        .await
        .unwrap();
    assert_eq!(second.result, "2 1");
    assert_eq!(second.session_id, first.session_id);
}

#[tokio::test]
async fn a_non_zero_exit_is_an_error_with_the_stderr_tail() {
    let err = error(
        sh("echo partial; echo 'first problem' >&2; echo 'model not found' >&2; exit 3"),
        "hi",
    )
    .await;
    assert!(
        err.message
            .starts_with("command exited with status 3: first problem\nmodel not found"),
        "{}",
        err.message
    );
    assert_eq!(err.code.as_deref(), Some("agent_error"));
}

#[tokio::test]
async fn a_timeout_kills_the_command() {
    let agent = sh("echo 'thinking hard' >&2; exec sleep 30").timeout(Duration::from_millis(500));
    let err = error(agent, "hi").await;
    assert_eq!(
        err.message, "command timed out after 500ms: thinking hard",
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_missing_program_is_named_in_the_error() {
    let agent = CommandAgent::new("no-such-agenthost-program", vec![]);
    let err = error(agent, "hi").await;
    assert!(
        err.message.contains("`no-such-agenthost-program`")
            && err.message.contains("program not found"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_missing_working_directory_is_named_in_the_error() {
    let agent = sh("true").current_dir("/no/such/agenthost/dir");
    let err = error(agent, "hi").await;
    assert!(
        err.message.contains("/no/such/agenthost/dir"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn the_working_directory_can_be_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(sh("pwd").current_dir(dir.path()), "hi").await;
    assert_eq!(
        std::fs::canonicalize(&out.result).unwrap(),
        std::fs::canonicalize(dir.path()).unwrap()
    );
}

#[tokio::test]
async fn dropping_the_reply_kills_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let script = format!(
        "echo $$ > '{}'; echo '{{\"type\":\"STREAM\",\"content\":\"started\"}}'; exec sleep 30",
        pid_file.display()
    );
    let mut reply = call(sh(&script), "hi");
    // The STREAM frame comes after the pid file is written.
    assert_eq!(
        reply.next_frame().await,
        Some(Frame::Stream {
            content: "started".into()
        })
    );
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(is_running(pid), "the command should run until the drop");
    drop(reply);

    let deadline = Instant::now() + Duration::from_secs(5);
    while is_running(pid) {
        assert!(
            Instant::now() < deadline,
            "process {pid} still runs after the reply was dropped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether `pid` exists and is not a zombie (a killed child not yet reaped is dead enough).
fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name: `pid (comm) S ...`.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

#[tokio::test]
async fn a_large_stderr_does_not_deadlock() {
    // 1 MiB of stderr is far more than a pipe holds: the command would block forever if the
    // host read stdout to the end before draining stderr.
    let code = r#"
import sys
line = "x" * 1023 + "\n"
for _ in range(1024):
    sys.stderr.write(line)
sys.stderr.flush()
print("done")
"#;
    let agent = python(code).timeout(Duration::from_secs(60));
    let out = output(agent, "hi").await;
    assert_eq!(out.result, "done");
}

#[tokio::test]
async fn a_large_request_does_not_deadlock() {
    // A prompt bigger than a pipe's buffer, and a command that writes a lot before reading it.
    let code = r#"
import sys
sys.stderr.write("e" * 200000)
sys.stderr.flush()
data = sys.stdin.read()
print(len(data) > 300000)
"#;
    let prompt = "p".repeat(300_000);
    let out = output(python(code).timeout(Duration::from_secs(60)), &prompt).await;
    assert_eq!(out.result, "True");
}

#[tokio::test]
async fn output_over_the_limit_is_an_error() {
    let long_line = sh("head -c 5000 /dev/zero | tr '\\0' a; echo").max_output_bytes(1000);
    let err = error(long_line, "hi").await;
    assert!(
        err.message.contains("longer than 1000 bytes"),
        "{}",
        err.message
    );

    let many_lines = sh("i=0; while [ $i -lt 200 ]; do echo 0123456789; i=$((i+1)); done")
        .max_output_bytes(1000);
    let err = error(many_lines, "hi").await;
    assert!(
        err.message.contains("more than 1000 bytes of plain output"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn info_names_the_command() {
    let service = dispatcher(CommandAgent::new(
        "/usr/bin/python3",
        vec!["agent.py".into()],
    ));
    assert_eq!(service.info().name, "python3");
    assert_eq!(
        service.info().description.as_deref(),
        Some("Runs `/usr/bin/python3 agent.py` per request")
    );
    let named = dispatcher(sh("true").name("helper"));
    assert_eq!(named.info().name, "helper");
}
