//! The CLI end to end: real `agenthost` processes talking over loopback.

// Test helpers unwrap like the tests they serve: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use agenthost_integration_tests::{agenthost, HostProcess};
use serde_json::Value;

const SEED_1: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn keys_show_prints_the_wire_vector_identity() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("agent.key");
    std::fs::write(&key_file, hex::decode(SEED_1).unwrap()).unwrap();
    let out = agenthost(&["keys", "show", "--key-file", key_file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout(&out),
        "address: 0xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n\
         peer_id: 12D3KooWQK1wnefoLrcVHbbnf5tLzbopUd3K3bFAoJpA7YJgL5pV\n"
    );
}

#[test]
fn keys_new_then_show_agree_and_missing_or_existing_files_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("keys/agent.key");
    let key_file = key_file.to_str().unwrap();

    let missing = agenthost(&["keys", "show", "--key-file", key_file]);
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("error:") && err.contains("agent.key"), "{err}");

    let created = agenthost(&["keys", "new", "--key-file", key_file]);
    assert!(created.status.success(), "{created:?}");
    let shown = agenthost(&["keys", "show", "--key-file", key_file]);
    assert_eq!(stdout(&created), stdout(&shown));
    assert!(stdout(&shown).starts_with("address: 0x"));

    let again = agenthost(&["keys", "new", "--key-file", key_file]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "keys new must not overwrite a key"
    );
}

fn call_json(host: &HostProcess, transport: &str, prompt: &str) -> Vec<Value> {
    let addr = host.loopback_addr(transport);
    let out = agenthost(&["call", &host.address, prompt, "--addr", &addr, "--json"]);
    assert!(out.status.success(), "{out:?}");
    let mut lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON frame"))
        .collect();
    // First the connection the request went over: a direct one to the address given.
    let connection = lines.remove(0);
    assert_eq!(connection["type"], "CONNECTION", "{connection}");
    assert_eq!(connection["path"], "direct", "{connection}");
    assert_eq!(connection["relay"], Value::Null, "{connection}");
    assert!(
        connection["remote_addr"]
            .as_str()
            .is_some_and(|a| a.starts_with(addr.split("/p2p/").next().unwrap())),
        "{connection} vs {addr}"
    );
    lines
}

fn assert_streamed_echo(frames: &[Value], expected: &str) {
    let (last, chunks) = frames.split_last().expect("at least one frame");
    assert_eq!(last["type"], "OUTPUT", "terminal frame last: {frames:?}");
    assert_eq!(last["result"], expected);
    assert!(chunks.len() > 1, "streamed word by word: {frames:?}");
    let joined: String = chunks
        .iter()
        .map(|f| {
            assert_eq!(f["type"], "STREAM");
            f["content"].as_str().unwrap()
        })
        .collect();
    assert_eq!(joined, expected);
}

#[test]
fn demo_host_answers_a_call_over_tcp_and_quic() {
    let host = HostProcess::start(&["--demo", "--no-mdns"]);
    assert!(host.address.starts_with("0x") && host.address.len() == 66);
    assert!(host
        .listen
        .iter()
        .all(|a| a.ends_with(&format!("/p2p/{}", host.peer_id))));

    let out = agenthost(&[
        "call",
        &host.address,
        "hello",
        "--addr",
        &host.loopback_addr("tcp"),
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "echo: hello\n");

    assert_streamed_echo(
        &call_json(&host, "tcp", "hello there world"),
        "echo: hello there world",
    );
    assert_streamed_echo(
        &call_json(&host, "quic-v1", "hello over quic"),
        "echo: hello over quic",
    );
}

#[test]
fn call_accepts_the_peer_id_form_of_the_address() {
    let host = HostProcess::start(&["--demo", "--no-mdns"]);
    let out = agenthost(&[
        "call",
        &host.peer_id,
        "hi",
        "--addr",
        &host.loopback_addr("tcp"),
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "echo: hi\n");
}

#[test]
fn call_exit_codes_distinguish_agent_errors_from_usage_errors() {
    let host = HostProcess::start(&["--no-mdns", "--", "sh", "-c", "echo broken >&2; exit 3"]);
    let out = agenthost(&[
        "call",
        &host.address,
        "hi",
        "--addr",
        &host.loopback_addr("tcp"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken"));

    let bad_address = agenthost(&["call", "0x1234", "hi"]);
    assert_eq!(bad_address.status.code(), Some(2));

    // A port nothing listens on: a connection error.
    let unreachable = agenthost(&[
        "call",
        &host.address,
        "hi",
        "--addr",
        "/ip4/127.0.0.1/tcp/1",
    ]);
    assert_eq!(unreachable.status.code(), Some(2), "{unreachable:?}");
}

#[test]
fn host_without_an_agent_is_a_usage_error() {
    let out = agenthost(&["host", "--no-mdns"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--demo"));
}

#[test]
fn call_without_an_address_finds_the_agent_on_the_lan_by_mdns() {
    let host = HostProcess::start(&["--demo"]);
    let out = agenthost(&["call", &host.address, "found you"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "echo: found you\n");
}

#[test]
fn call_timeout_gives_up_with_exit_code_2() {
    let host = HostProcess::start(&["--no-mdns", "--", "sleep", "30"]);
    let out = agenthost(&[
        "call",
        &host.address,
        "hi",
        "--addr",
        &host.loopback_addr("tcp"),
        "--timeout",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no answer within 1 s"));
}
