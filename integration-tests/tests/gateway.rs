//! The standalone gateway: a relay, an agent reserved on it (no HTTP of its own), and
//! `agenthost gateway` knowing only the relay. HTTP and WebSocket reach the agent through it.

// Test helpers unwrap like the tests they serve: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use agenthost::AgentKey;
use agenthost_integration_tests::{
    get_json,
    signing::{signed_body, signed_get_headers, wire_vector_key},
    HostProcess, ServiceProcess,
};
use futures::{SinkExt, StreamExt};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::{connect_async, tungstenite::Message};

async fn post(url: &str, body: &Value) -> (StatusCode, Value) {
    let response = Client::new().post(url).json(body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_gateway_knowing_only_the_relay_reaches_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let (_relay, relay_addr) = ServiceProcess::relay(dir.path());
    let host = HostProcess::start(&["--demo", "--no-mdns", "--no-http", "--relay", &relay_addr]);
    assert!(host.http.is_none());
    let denied = AgentKey::generate().address().to_string();
    let banned_signer = AgentKey::generate();
    let (_gateway, url) = ServiceProcess::gateway(
        dir.path(),
        &[
            "--relay",
            &relay_addr,
            "--deny",
            &denied,
            "--deny",
            &banned_signer.address().to_string(),
        ],
    );
    let base = format!("{url}/agents/{}", host.address);

    // The agent reserves in the background: ask until it answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = loop {
        let (status, body) =
            post(&format!("{base}/input"), &json!({"prompt": "via gateway"})).await;
        if status == 200 || Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(out["result"], "echo: via gateway", "{out}");

    let health = get_json(&format!("{base}/health")).await;
    assert_eq!(health["agent"], "demo");
    let info = get_json(&format!("{base}/info")).await;
    assert_eq!(info["address"], host.address);
    assert_eq!(info["endpoints"][0], base);
    let found = get_json(&format!("{url}/api/agents/{}", host.address)).await;
    assert_eq!(found["online"], true);
    assert_eq!(found["endpoints"][0], base);

    // Signed requests travel unchanged: the agent verifies the original signer, so a replay
    // through the gateway is refused by the agent.
    let key = wire_vector_key();
    let body = signed_body(
        &key,
        Some(&host.address),
        json!({"prompt": "signed via gateway"}),
    );
    let (status, out) = post(&format!("{base}/input"), &body).await;
    assert_eq!(status, 200, "{out}");
    let id = out["session_id"].as_str().unwrap().to_owned();
    let (status, _) = post(&format!("{base}/input"), &body).await;
    assert_eq!(status, 401);
    // The signer's sessions through the gateway: a signed GET over the gateway's own path.
    let path = format!("/agents/{}/sessions", host.address);
    let mut request = Client::new().get(format!("{url}{path}"));
    for (name, value) in signed_get_headers(&key, &path) {
        request = request.header(name, value);
    }
    let list: Value = request.send().await.unwrap().json().await.unwrap();
    assert!(
        list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["session_id"] == id.as_str()),
        "{list}"
    );
    // Anonymous callers through a gateway all look alike: listing shows none.
    let anon = get_json(&format!("{base}/sessions")).await;
    assert_eq!(anon["sessions"], json!([]));

    // The door: a denied agent, a denied signer, a malformed address.
    let (status, err) = post(
        &format!("{url}/agents/{denied}/input"),
        &json!({"prompt": "x"}),
    )
    .await;
    assert_eq!(status, 403, "{err}");
    let (status, _) = post(
        &format!("{base}/input"),
        &signed_body(&banned_signer, Some(&host.address), json!({"prompt": "x"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = post(
        &format!("{url}/agents/0xnothex/input"),
        &json!({"prompt": "x"}),
    )
    .await;
    assert_eq!(status, 404);

    // WebSocket through the gateway, and the /ws/input alias routed by `to`.
    let ws_url = base.replace("http://", "ws://") + "/ws";
    let (mut socket, _) = connect_async(ws_url).await.unwrap();
    socket
        .send(Message::Text(
            json!({"type": "INPUT", "prompt": "ws via gateway"})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    assert_eq!(
        last_frame(&mut socket).await["result"],
        "echo: ws via gateway"
    );
    let alias = url.replace("http://", "ws://") + "/ws/input";
    let (mut socket, _) = connect_async(alias).await.unwrap();
    socket
        .send(Message::Text(
            json!({"type": "INPUT", "to": host.address, "prompt": "routed"})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    assert_eq!(last_frame(&mut socket).await["result"], "echo: routed");
}

async fn last_frame(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("a frame within 30 s")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["type"] == "OUTPUT" || v["type"] == "ERROR" {
                return v;
            }
        }
    }
}

#[tokio::test]
async fn an_unreachable_agent_is_a_gateway_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_gateway, url) = ServiceProcess::gateway(dir.path(), &[]);
    let nobody = AgentKey::generate().address();
    let (status, err) = post(
        &format!("{url}/agents/{nobody}/input"),
        &json!({"prompt": "x"}),
    )
    .await;
    assert!(
        status == StatusCode::BAD_GATEWAY || status == StatusCode::GATEWAY_TIMEOUT,
        "{status} {err}"
    );
    assert!(err["error"].is_string());
    let health = get_json(&format!("{url}/health")).await;
    assert_eq!(health["status"], "healthy");
}
