//! WebSocket `/ws` (WIRE.md §4) against a real `agenthost host` process with a real client
//! library: both forms, PING/PONG, reconnect-and-replay, and a slow reader.

// Test helpers unwrap like the tests they serve: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use agenthost::{identity::SignedEnvelope, AgentKey};
use agenthost_integration_tests::{
    get_json,
    signing::{now, wire_vector_key},
    HostProcess,
};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::{connect_async, tungstenite::Message, MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(host: &HostProcess) -> Socket {
    let url = host.http.as_ref().unwrap().replace("http://", "ws://") + "/ws";
    connect_async(url).await.expect("websocket opens").0
}

async fn send(socket: &mut Socket, frame: Value) {
    socket
        .send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

/// The next JSON frame, skipping PINGs; panics after 30 s or at close.
async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("a frame within 30 s")
            .expect("the socket is open")
            .expect("a readable frame");
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] != "PING" {
                return value;
            }
        }
    }
}

/// Frames up to and including the terminal one.
async fn turn(socket: &mut Socket) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = next(socket).await;
        let done = frame["type"] == "OUTPUT" || frame["type"] == "ERROR";
        frames.push(frame);
        if done {
            return frames;
        }
    }
}

/// A simple-form INPUT and the result of its terminal frame.
async fn ask(socket: &mut Socket, prompt: &str) -> Value {
    send(socket, json!({"type": "INPUT", "prompt": prompt})).await;
    turn(socket).await.last().unwrap()["result"].clone()
}

fn streamed(frames: &[Value]) -> String {
    frames
        .iter()
        .filter(|f| f["type"] == "STREAM")
        .map(|f| f["content"].as_str().unwrap())
        .collect()
}

fn signed_command(key: &AgentKey, to: &str, mut payload: Value) -> Value {
    payload["to"] = json!(to);
    payload["timestamp"] = json!(now());
    payload["nonce"] = json!(uuid());
    serde_json::to_value(SignedEnvelope::sign(payload, key)).unwrap()
}

fn connect_frame(key: &AgentKey, to: &str, extra: Value) -> Value {
    // A nonce keeps a quick reconnect's CONNECT from repeating the last one's signature.
    let payload = json!({"to": to, "timestamp": now(), "signed_commands": 1, "nonce": uuid()});
    signed_connect(key, payload, extra)
}

/// A v1 CONNECT (ConnectOnion's older clients): no `signed_commands`, plain commands after it.
fn v1_connect_frame(key: &AgentKey, to: &str, extra: Value) -> Value {
    signed_connect(
        key,
        json!({"to": to, "timestamp": now(), "nonce": uuid()}),
        extra,
    )
}

fn signed_connect(key: &AgentKey, payload: Value, extra: Value) -> Value {
    let mut frame = serde_json::to_value(SignedEnvelope::sign(payload, key)).unwrap();
    frame["type"] = json!("CONNECT");
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            frame[k] = v;
        }
    }
    frame
}

fn uuid() -> String {
    format!("{:032x}", rand_u128())
}

fn rand_u128() -> u128 {
    let key = AgentKey::generate();
    u128::from_le_bytes(key.seed()[..16].try_into().unwrap())
}

#[tokio::test]
async fn simple_form_streams_then_ends_with_one_output() {
    let host = HostProcess::start(&["--demo", "--no-mdns"]);
    let mut socket = open(&host).await;
    send(
        &mut socket,
        json!({"type": "INPUT", "prompt": "hello over ws"}),
    )
    .await;
    let frames = turn(&mut socket).await;
    let output = frames.last().unwrap();
    assert_eq!(output["type"], "OUTPUT", "{frames:?}");
    assert_eq!(output["result"], "echo: hello over ws");
    assert!(frames.len() > 2, "streamed in chunks: {frames:?}");
    assert_eq!(streamed(&frames), "echo: hello over ws");
    let ids: Vec<u64> = frames
        .iter()
        .map(|f| f["msg_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (1..=frames.len() as u64).collect::<Vec<_>>());

    // Turn 2 on the same socket, with the session kept.
    send(
        &mut socket,
        json!({"type": "INPUT", "prompt": "again", "session": output["session"]}),
    )
    .await;
    let two = turn(&mut socket).await;
    let out = two.last().unwrap();
    assert_eq!(out["session"]["turn"], 2);
    assert_eq!(out["session_id"], output["session_id"]);

    // Unknown types, a SEAL that is not a socket's first frame, garbage and early signed
    // commands are errors, and the socket stays usable.
    send(&mut socket, json!({"type": "NO_SUCH_THING"})).await;
    let err = next(&mut socket).await;
    assert_eq!(err["message"], "unknown message type: 'NO_SUCH_THING'");
    send(&mut socket, json!({"type": "SEAL", "public_key": "00"})).await;
    let err = next(&mut socket).await;
    assert_eq!(err["type"], "ERROR");
    assert_eq!(
        err["message"],
        "SEAL must be the first frame of a socket; open a new one"
    );
    socket.send(Message::Text("{oops".into())).await.unwrap();
    assert_eq!(next(&mut socket).await["type"], "ERROR");
    let key = wire_vector_key();
    send(
        &mut socket,
        signed_command(&key, &host.address, json!({"type": "INPUT", "prompt": "x"})),
    )
    .await;
    let err = next(&mut socket).await;
    assert_eq!(err["type"], "ERROR");
    assert!(
        err["message"].as_str().unwrap().contains("CONNECT"),
        "{err}"
    );
    send(&mut socket, json!({"type": "INPUT"})).await;
    assert_eq!(next(&mut socket).await["type"], "ERROR");
    assert_eq!(ask(&mut socket, "still here").await, "echo: still here");
}

#[tokio::test]
async fn authenticated_form_checks_connect_and_every_command() {
    let host = HostProcess::start(&["--demo", "--no-mdns"]);
    let key = wire_vector_key();
    let mut socket = open(&host).await;

    // A CONNECT for another agent, or without `to`, is refused; the socket stays open.
    let other = AgentKey::generate().address().to_string();
    send(&mut socket, connect_frame(&key, &other, json!({}))).await;
    let err = next(&mut socket).await;
    assert_eq!(err["type"], "ERROR");
    assert!(
        err["message"].as_str().unwrap().contains("wrong recipient"),
        "{err}"
    );

    let connect = connect_frame(&key, &host.address, json!({}));
    send(&mut socket, connect.clone()).await;
    let connected = next(&mut socket).await;
    assert_eq!(connected["type"], "CONNECTED", "{connected}");
    assert_eq!(connected["status"], "new");
    let session_id = connected["session_id"].as_str().unwrap().to_owned();

    let input = signed_command(
        &key,
        &host.address,
        json!({"type": "INPUT", "input_id": uuid(), "prompt": "signed ws"}),
    );
    send(&mut socket, input.clone()).await;
    let frames = turn(&mut socket).await;
    let out = frames.last().unwrap();
    assert_eq!(out["type"], "OUTPUT", "{frames:?}");
    assert_eq!(out["result"], "echo: signed ws");
    assert_eq!(out["session_id"], session_id.as_str());

    // The same command again is a replay; unsigned commands and other signers are refused.
    send(&mut socket, input).await;
    let err = next(&mut socket).await;
    assert_eq!(err["type"], "ERROR");
    assert!(
        err["message"].as_str().unwrap().contains("already used"),
        "{err}"
    );
    send(&mut socket, json!({"type": "INPUT", "prompt": "unsigned"})).await;
    assert_eq!(next(&mut socket).await["type"], "ERROR");
    let stranger = AgentKey::generate();
    send(
        &mut socket,
        signed_command(
            &stranger,
            &host.address,
            json!({"type": "INPUT", "prompt": "x"}),
        ),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "ERROR");

    // A replayed CONNECT on a fresh socket is refused.
    let mut again = open(&host).await;
    send(&mut again, connect).await;
    let err = next(&mut again).await;
    assert_eq!(err["type"], "ERROR");
    assert!(
        err["message"].as_str().unwrap().contains("already used"),
        "{err}"
    );
}

#[tokio::test]
async fn the_server_pings_and_a_pong_keeps_the_socket() {
    let host = HostProcess::start(&["--demo", "--no-mdns", "--ws-ping-interval", "0.2"]);
    let mut socket = open(&host).await;
    let mut pings = 0;
    while pings < 2 {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a PING within 10 s")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(value["type"], "PING");
            pings += 1;
            send(&mut socket, json!({"type": "PONG"})).await;
        }
    }
    assert_eq!(ask(&mut socket, "after pings").await, "echo: after pings");
}

#[tokio::test]
async fn a_client_that_reconnects_gets_what_it_missed_then_the_rest() {
    // Streams six chunks, 300 ms apart.
    let script = r#"for i in 1 2 3 4 5 6; do printf '{"type":"STREAM","content":"%s "}\n' $i; sleep 0.3; done; echo '{"type":"OUTPUT","result":"1 2 3 4 5 6"}'"#;
    let host = HostProcess::start(&["--no-mdns", "--", "sh", "-c", script]);
    let key = wire_vector_key();
    let mut socket = open(&host).await;
    send(&mut socket, connect_frame(&key, &host.address, json!({}))).await;
    let connected = next(&mut socket).await;
    let session_id = connected["session_id"].as_str().unwrap().to_owned();
    send(
        &mut socket,
        signed_command(
            &key,
            &host.address,
            json!({"type": "INPUT", "input_id": uuid(), "prompt": "count"}),
        ),
    )
    .await;
    let first = next(&mut socket).await;
    assert_eq!(first["type"], "STREAM", "{first}");
    assert_eq!(first["msg_id"], 1);
    drop(socket);

    let mut socket = open(&host).await;
    send(
        &mut socket,
        connect_frame(
            &key,
            &host.address,
            json!({"session_id": session_id, "last_msg_id": 1}),
        ),
    )
    .await;
    let connected = next(&mut socket).await;
    assert_eq!(connected["type"], "CONNECTED", "{connected}");
    assert_eq!(connected["status"], "running");
    assert_eq!(connected["session_id"], session_id.as_str());
    let rest = turn(&mut socket).await;
    let ids: Vec<u64> = rest.iter().map(|f| f["msg_id"].as_u64().unwrap()).collect();
    assert_eq!(
        ids,
        (2..2 + rest.len() as u64).collect::<Vec<_>>(),
        "{rest:?}"
    );
    assert_eq!(
        format!("{}{}", first["content"].as_str().unwrap(), streamed(&rest)),
        "1 2 3 4 5 6 "
    );
    assert_eq!(rest.last().unwrap()["result"], "1 2 3 4 5 6");
}

#[tokio::test]
async fn a_slow_reader_is_dropped_and_blocks_nobody() {
    let host = HostProcess::start(&["--demo", "--no-mdns"]);
    let url = host.http.clone().unwrap();
    let words = 300_000;
    let prompt = "w ".repeat(words);
    let mut slow = open(&host).await;
    send(&mut slow, json!({"type": "INPUT", "prompt": prompt})).await;
    // Read only the first frame, to learn the session; then stop reading.
    let first = next(&mut slow).await;
    let session_id = first["session_id"].as_str().unwrap().to_owned();

    // Meanwhile other clients are served, and the slow client's run finishes and is stored.
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let fast: Value = client
            .post(format!("{url}/input"))
            .json(&json!({"prompt": "fast"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(fast["result"], "echo: fast");
        let record = get_json(&format!("{url}/sessions/{session_id}")).await;
        if record["status"] == "done" {
            assert_eq!(
                record["result"].as_str().unwrap().len(),
                "echo: ".len() + 2 * words
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run never finished: {record}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The slow socket was told (or just closed) and never got an OUTPUT.
    let mut saw_output = false;
    let mut lagged = false;
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_secs(30), slow.next()).await
    {
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).unwrap();
            saw_output |= value["type"] == "OUTPUT";
            lagged |= value["code"] == "lagged";
        }
    }
    assert!(!saw_output, "a client that far behind must be dropped");
    println!("slow reader told it lagged: {lagged}");
}

/// ConnectOnion's rule for a CONNECT naming a session (its `ws_router/connect.py`):
/// `connected` and nothing replayed when the session's last turn is over; `new` under a fresh
/// id for an unknown or someone else's session; a socket's identity is fixed by its CONNECT.
#[tokio::test]
async fn a_finished_turn_is_never_replayed_and_each_turn_answers_its_own_prompt() {
    let host = HostProcess::start(&["--demo", "--no-mdns"]);
    let key = wire_vector_key();
    let mut session: Option<(String, Value)> = None;
    for prompt in ["t 1", "t 2", "t 3"] {
        // A fresh socket per turn, as ConnectOnion's client opens them.
        let mut socket = open(&host).await;
        let mut extra = json!({});
        if let Some((id, conversation)) = &session {
            extra = json!({"session_id": id, "session": conversation});
        }
        send(&mut socket, connect_frame(&key, &host.address, extra)).await;
        let connected = next(&mut socket).await;
        assert_eq!(connected["type"], "CONNECTED", "{connected}");
        assert_eq!(connected["protocol"]["name"], "oip");
        match &session {
            None => assert_eq!(connected["status"], "new"),
            Some((id, _)) => {
                assert_eq!(connected["status"], "connected", "{connected}");
                assert_eq!(connected["session_id"], id.as_str());
            }
        }
        send(
            &mut socket,
            signed_command(
                &key,
                &host.address,
                json!({"type": "INPUT", "input_id": uuid(), "prompt": prompt}),
            ),
        )
        .await;
        // The first frame after CONNECTED belongs to this turn, and so does the OUTPUT.
        let frames = turn(&mut socket).await;
        let out = frames.last().unwrap();
        assert_eq!(out["type"], "OUTPUT", "{frames:?}");
        assert_eq!(out["result"], format!("echo: {prompt}"), "{frames:?}");
        assert_eq!(streamed(&frames), format!("echo: {prompt}"));
        session = Some((
            out["session_id"].as_str().unwrap().to_owned(),
            out["session"].clone(),
        ));
    }
    let (id, conversation) = session.unwrap();
    assert_eq!(conversation["turn"], 3, "one conversation: {conversation}");

    // SESSION_STATUS (ConnectOnion's): the owner learns it is idle; nobody else learns it exists.
    let mut socket = open(&host).await;
    let status = json!({"type": "SESSION_STATUS", "session": {"session_id": id}});
    send(&mut socket, status.clone()).await;
    assert_eq!(next(&mut socket).await["status"], "not_found");
    send(&mut socket, connect_frame(&key, &host.address, json!({}))).await;
    assert_eq!(next(&mut socket).await["type"], "CONNECTED");
    send(&mut socket, status).await;
    let answer = next(&mut socket).await;
    assert_eq!(answer["type"], "SESSION_STATUS", "{answer}");
    assert_eq!(answer["status"], "connected", "{answer}");

    // Unknown, and someone else's: a new session under a new id.
    let mut socket = open(&host).await;
    let unknown = "01900000-0000-7000-8000-000000000000";
    send(
        &mut socket,
        connect_frame(&key, &host.address, json!({"session_id": unknown})),
    )
    .await;
    let connected = next(&mut socket).await;
    assert_eq!(connected["status"], "new", "{connected}");
    assert_ne!(connected["session_id"], unknown);
    let stranger = AgentKey::generate();
    let mut socket = open(&host).await;
    send(
        &mut socket,
        connect_frame(&stranger, &host.address, json!({"session_id": id})),
    )
    .await;
    let connected = next(&mut socket).await;
    assert_eq!(connected["status"], "new", "{connected}");
    assert_ne!(connected["session_id"], id.as_str());

    // On an authenticated socket the same CONNECT is answered again; another identity or
    // session is refused: that takes a new socket.
    send(
        &mut socket,
        connect_frame(&stranger, &host.address, json!({})),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "CONNECTED");
    send(&mut socket, connect_frame(&key, &host.address, json!({}))).await;
    let err = next(&mut socket).await;
    assert_eq!(
        err["message"],
        "already authenticated: open a new connection"
    );

    // A signed command whose payload is not an INPUT is not taken for one.
    let mut socket = open(&host).await;
    send(&mut socket, connect_frame(&key, &host.address, json!({}))).await;
    assert_eq!(next(&mut socket).await["type"], "CONNECTED");
    let mut disguised = signed_command(
        &key,
        &host.address,
        json!({"type": "mode_change", "prompt": "x"}),
    );
    disguised["type"] = json!("INPUT");
    send(&mut socket, disguised).await;
    let err = next(&mut socket).await;
    assert_eq!(err["message"], "unauthorized: signed command type mismatch");
}

/// A v1 CONNECT (no `signed_commands`) admits plain commands, run as the CONNECT's signer: a
/// strict agent that whitelists the signer answers them. v2 keeps requiring signed ones.
#[tokio::test]
async fn a_v1_connect_admits_plain_commands_as_its_signer() {
    let key = wire_vector_key();
    let signer = key.address().to_string();
    let host = HostProcess::start(&[
        "--demo",
        "--no-mdns",
        "--trust",
        "strict",
        "--whitelist",
        &signer,
    ]);
    // Without CONNECT a strict agent refuses a plain INPUT.
    let mut socket = open(&host).await;
    send(&mut socket, json!({"type": "INPUT", "prompt": "who?"})).await;
    let err = next(&mut socket).await;
    assert_eq!(err["type"], "ERROR", "{err}");

    send(
        &mut socket,
        v1_connect_frame(&key, &host.address, json!({})),
    )
    .await;
    let connected = next(&mut socket).await;
    assert_eq!(connected["type"], "CONNECTED", "{connected}");
    send(
        &mut socket,
        json!({"type": "INPUT", "input_id": uuid(), "prompt": "v1 turn", "to": host.address}),
    )
    .await;
    let frames = turn(&mut socket).await;
    let out = frames.last().unwrap();
    assert_eq!(out["result"], "echo: v1 turn", "{frames:?}");
    assert_eq!(out["session_id"], connected["session_id"]);

    // The turn is the signer's: another caller cannot see it.
    let record = get_json(&format!(
        "{}/sessions/{}",
        host.http.as_ref().unwrap(),
        out["session_id"].as_str().unwrap()
    ))
    .await;
    assert_eq!(record["code"], "not_found", "{record}");

    // A stranger's CONNECT is refused right there, as ConnectOnion's host refuses it.
    let mut socket = open(&host).await;
    let stranger = AgentKey::generate();
    send(
        &mut socket,
        connect_frame(&stranger, &host.address, json!({})),
    )
    .await;
    let err = next(&mut socket).await;
    assert_eq!(err["code"], "forbidden", "{err}");
    assert_eq!(err["message"], "forbidden: not whitelisted");

    // v2 on a fresh socket: a plain command is refused.
    let mut socket = open(&host).await;
    send(&mut socket, connect_frame(&key, &host.address, json!({}))).await;
    assert_eq!(next(&mut socket).await["type"], "CONNECTED");
    send(&mut socket, json!({"type": "INPUT", "prompt": "plain"})).await;
    let err = next(&mut socket).await;
    assert!(
        err["message"].as_str().unwrap().contains("must be signed"),
        "{err}"
    );
}
