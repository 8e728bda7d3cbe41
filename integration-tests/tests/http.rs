//! The HTTP API of WIRE.md §3 against a real `agenthost host` process: every route, every
//! error status, signed requests built from the WIRE.md vectors' key with a current timestamp.

// Test helpers unwrap like the tests they serve: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use agenthost::AgentKey;
use agenthost_integration_tests::{
    signing::{signed_body, signed_get_headers, wire_vector_key},
    HostProcess,
};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

fn http(host: &HostProcess) -> String {
    host.http.clone().expect("the host serves HTTP")
}

async fn json_of(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let is_json = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("application/json"));
    let text = response.text().await.unwrap();
    assert!(is_json, "{status}: body is not JSON: {text}");
    (status, serde_json::from_str(&text).unwrap())
}

async fn post(url: &str, body: &Value) -> (StatusCode, Value) {
    json_of(Client::new().post(url).json(body).send().await.unwrap()).await
}

async fn get_signed(url: &str, path: &str, key: Option<&AgentKey>) -> (StatusCode, Value) {
    let mut request = Client::new().get(format!("{url}{path}"));
    if let Some(key) = key {
        for (name, value) in signed_get_headers(key, path) {
            request = request.header(name, value);
        }
    }
    json_of(request.send().await.unwrap()).await
}

#[tokio::test]
async fn plain_routes_answer_with_the_wire_shapes() {
    let host = HostProcess::start(&["--demo", "--no-mdns"]);
    let url = http(&host);

    let (status, body) = post(&format!("{url}/input"), &json!({"prompt": "hello"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "done");
    assert_eq!(body["result"], "echo: hello");
    assert!(body["duration_ms"].is_u64());
    let id = body["session_id"].as_str().unwrap().to_owned();
    assert_eq!(body["session"]["session_id"], id);
    assert_eq!(body["session"]["turn"], 1);
    assert_eq!(body["session"]["messages"][1]["content"], "echo: hello");

    // Turn 2 continues the conversation the session object carries.
    let (status, two) = post(
        &format!("{url}/input"),
        &json!({"prompt": "again", "session": body["session"]}),
    )
    .await;
    assert_eq!(status, 200, "{two}");
    assert_eq!(two["session_id"], id);
    assert_eq!(two["session"]["turn"], 2);
    assert_eq!(two["session"]["messages"].as_array().unwrap().len(), 4);

    // An anonymous session's id is its capability.
    let (status, record) = get_signed(&url, &format!("/sessions/{id}"), None).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["status"], "done");
    assert_eq!(record["result"], "echo: again");
    assert!(record["created"].is_number() && record["expires"].is_number());
    // The operator on loopback lists anonymous sessions.
    let (status, list) = get_signed(&url, "/sessions", None).await;
    assert_eq!(status, 200);
    assert!(list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["session_id"] == id));

    let (status, health) = get_signed(&url, "/health", None).await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["agent"], "demo");
    assert!(health["uptime"].is_u64());

    let (status, info) = get_signed(&url, "/info", None).await;
    assert_eq!(status, 200);
    assert_eq!(info["name"], "demo");
    assert_eq!(info["address"], host.address);
    assert_eq!(info["peer_id"], host.peer_id);
    assert_eq!(info["trust"], "careful");
    assert_eq!(
        info["accepted_inputs"]["files"]["max_files_per_request"],
        10
    );
    assert!(!info["listen_addrs"].as_array().unwrap().is_empty());
    assert_eq!(info["endpoints"][0], url);

    let (status, found) = get_signed(&url, &format!("/api/agents/{}", host.address), None).await;
    assert_eq!(status, 200);
    assert_eq!(found["online"], true);
    assert_eq!(found["address"], host.address);
    assert_eq!(found["endpoints"][0], url);
    let stranger = AgentKey::generate().address();
    let (status, _) = get_signed(&url, &format!("/api/agents/{stranger}"), None).await;
    assert_eq!(status, 404);

    let docs = Client::new()
        .get(format!("{url}/docs"))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(docs.text().await.unwrap().contains("<html"));

    let (status, doc) = get_signed(&url, "/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/input",
        "/sessions",
        "/sessions/{id}",
        "/health",
        "/info",
        "/docs",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from openapi.json"
        );
    }

    let metrics = Client::new()
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(
            r#"agenthost_gateway_http_requests_total{method="POST",route="/input",status="200"} 2"#
        ),
        "{text}"
    );
    // Latency is kept per route template, never per raw path.
    assert!(
        text.contains(r#"agenthost_gateway_http_request_duration_seconds_count{route="/input"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_request_duration_seconds_count{route="/sessions/{id}"}"#),
        "{text}"
    );
}

#[tokio::test]
async fn cors_404_405_and_bad_bodies_are_json() {
    let host = HostProcess::start(&["--demo", "--no-mdns", "--max-file-size", "0.01"]);
    let url = http(&host);
    let client = Client::new();

    let preflight = client
        .request(reqwest::Method::OPTIONS, format!("{url}/input"))
        .header("origin", "https://example.org")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-co-signature",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    let methods = h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_uppercase();
    assert!(methods.contains("POST") && methods.contains("GET") && methods.contains("OPTIONS"));
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(allowed.contains("x-co-signature") && allowed.contains("content-type"));

    // A cross-origin GET gets tower-http's CORS headers; a request without Origin (curl, an
    // SDK) only the constant allow-origin, the same answer a CORS request would read.
    let cross = client
        .get(format!("{url}/health"))
        .header("origin", "https://example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(cross.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        cross.headers()["access-control-expose-headers"],
        "retry-after"
    );
    let plain = client.get(format!("{url}/health")).send().await.unwrap();
    assert_eq!(plain.headers()["access-control-allow-origin"], "*");
    assert!(plain.headers().get("vary").is_none());

    let (status, body) = json_of(client.get(format!("{url}/nowhere")).send().await.unwrap()).await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
    let response = client.delete(format!("{url}/input")).send().await.unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    let (status, _) = json_of(response).await;
    assert_eq!(status, 405);

    let raw = |body: &'static str| {
        let client = client.clone();
        let url = url.clone();
        async move {
            json_of(
                client
                    .post(format!("{url}/input"))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    for bad in [
        "{not json",
        "[1,2]",
        "{}",
        r#"{"prompt": 42}"#,
        r#"{"session": "x", "prompt": "a"}"#,
    ] {
        let (status, body) = raw(bad).await;
        assert_eq!(status, 400, "{bad} -> {body}");
        assert!(body["error"].is_string());
    }

    // 0.01 MB files: the body limit follows the file limits; far beyond it is 413.
    let huge = "x".repeat(2 << 20);
    let (status, body) = post(&format!("{url}/input"), &json!({"prompt": huge})).await;
    assert_eq!(status, 413, "{body}");
    // Within the body limit but a file over its limit: 413 from the agent.
    let file = format!("data:text/plain;base64,{}", "QUFB".repeat(5000));
    let (status, body) = post(
        &format!("{url}/input"),
        &json!({"prompt": "f", "files": [{"name": "a.txt", "data": file}]}),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "too_large");

    let (status, _) = get_signed(&url, "/sessions/no-such-session", None).await;
    assert_eq!(status, 404);
    let (status, _) = json_of(
        client
            .get(format!("{url}/sessions?limit=lots"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    // A WebSocket route asked as plain HTTP says so, as JSON.
    let (status, _) = json_of(client.get(format!("{url}/ws")).send().await.unwrap()).await;
    assert!(status.is_client_error());
}

#[tokio::test]
async fn signed_requests_are_checked_end_to_end() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let banned = AgentKey::generate();
    std::fs::write(
        dir.path().join("blacklist.txt"),
        format!("{}\n", banned.address()),
    )
    .unwrap();
    let blacklist = dir.path().join("blacklist.txt");
    let host = HostProcess::start_in(
        dir.clone(),
        &[
            "--demo",
            "--no-mdns",
            "--blacklist-file",
            blacklist.to_str().unwrap(),
        ],
    );
    let url = http(&host);
    let input = format!("{url}/input");
    let key = wire_vector_key();

    let body = signed_body(&key, Some(&host.address), json!({"prompt": "signed hello"}));
    let (status, out) = post(&input, &body).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["result"], "echo: signed hello");
    let id = out["session_id"].as_str().unwrap().to_owned();

    // The same signature twice: a replay.
    let (status, err) = post(&input, &body).await;
    assert_eq!(status, 401, "{err}");
    assert!(
        err["error"].as_str().unwrap().contains("already used"),
        "{err}"
    );

    let other = AgentKey::generate().address().to_string();
    let (status, err) = post(
        &input,
        &signed_body(&key, Some(&other), json!({"prompt": "x"})),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        err["error"].as_str().unwrap().contains("wrong recipient"),
        "{err}"
    );

    let mut tampered = signed_body(&key, Some(&host.address), json!({"prompt": "x"}));
    tampered["payload"]["prompt"] = json!("y");
    let (status, err) = post(&input, &tampered).await;
    assert_eq!(status, 401);
    assert!(
        err["error"].as_str().unwrap().contains("invalid signature"),
        "{err}"
    );

    let mut old = json!({"prompt": "x", "to": host.address, "timestamp": 1_700_000_000});
    old =
        serde_json::to_value(agenthost::identity::SignedEnvelope::sign(old.take(), &key)).unwrap();
    let (status, err) = post(&input, &old).await;
    assert_eq!(status, 401);
    assert!(err["error"].as_str().unwrap().contains("expired"), "{err}");

    let (status, err) = post(
        &input,
        &signed_body(&banned, Some(&host.address), json!({"prompt": "x"})),
    )
    .await;
    assert_eq!(status, 403, "{err}");

    // Older clients put the fields beside the payload, unsigned; the signed copy wins.
    let mut beside = signed_body(&key, Some(&host.address), json!({"prompt": "signed"}));
    beside["prompt"] = json!("unsigned");
    let (status, out) = post(&input, &beside).await;
    assert_eq!(status, 200);
    assert_eq!(out["result"], "echo: signed");

    // Signed GETs: the signer sees its own sessions, nobody else's.
    let (status, list) = get_signed(&url, "/sessions", Some(&key)).await;
    assert_eq!(status, 200, "{list}");
    let ids: Vec<&str> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&id.as_str()));
    let (status, record) = get_signed(&url, &format!("/sessions/{id}"), Some(&key)).await;
    assert_eq!(status, 200);
    assert_eq!(record["result"], "echo: signed hello");
    let stranger = AgentKey::generate();
    let (status, _) = get_signed(&url, &format!("/sessions/{id}"), Some(&stranger)).await;
    assert_eq!(status, 404);
    let (status, list) = get_signed(&url, "/sessions", Some(&stranger)).await;
    assert_eq!(status, 200);
    assert_eq!(list["sessions"], json!([]));
    // Anonymous loopback callers see anonymous sessions only.
    let (_, anon) = get_signed(&url, "/sessions", None).await;
    assert!(!anon["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["session_id"] == id));
    // A signed GET for another path, or replayed, or by a blacklisted signer.
    let headers = signed_get_headers(&key, "/sessions");
    let mut request = Client::new().get(format!("{url}/sessions/{id}"));
    for (n, v) in &headers {
        request = request.header(*n, v);
    }
    assert_eq!(request.send().await.unwrap().status(), 401);
    let (status, _) = get_signed(&url, "/sessions", Some(&banned)).await;
    assert_eq!(status, 403);
    let mut request = Client::new()
        .get(format!("{url}/sessions"))
        .header("x-co-from", key.address().to_string());
    request = request.header("x-co-timestamp", "1");
    assert_eq!(request.send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn strict_hosts_want_identity_and_a_recipient() {
    let host = HostProcess::start(&["--demo", "--no-mdns", "--trust", "strict"]);
    let url = http(&host);
    let input = format!("{url}/input");
    let (status, err) = post(&input, &json!({"prompt": "anyone?"})).await;
    assert!(status == 401 || status == 403, "{status} {err}");
    let key = wire_vector_key();
    let (status, err) = post(&input, &signed_body(&key, None, json!({"prompt": "x"}))).await;
    assert_eq!(status, 401, "{err}");
    // Signed and addressed, but not whitelisted: refused by trust.
    let (status, err) = post(
        &input,
        &signed_body(&key, Some(&host.address), json!({"prompt": "x"})),
    )
    .await;
    assert_eq!(status, 403, "{err}");
}

/// A hosted command that takes its time, to hold a session or a worker.
fn slow_agent_args(seconds: &str) -> Vec<String> {
    vec![
        "--".into(),
        "sh".into(),
        "-c".into(),
        format!("sleep {seconds}; echo slow done"),
    ]
}

#[tokio::test]
async fn busy_overloaded_and_rate_limited_say_so() {
    let mut args = vec![
        "--no-mdns".to_owned(),
        "--workers".into(),
        "2".into(),
        "--queue".into(),
        "0".into(),
    ];
    args.extend(slow_agent_args("2"));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let host = HostProcess::start(&argv);
    let url = http(&host);
    let input = format!("{url}/input");

    let session = json!({"session_id": "shared-session", "messages": [], "turn": 0});
    let first = {
        let input = input.clone();
        let session = session.clone();
        tokio::spawn(
            async move { post(&input, &json!({"prompt": "one", "session": session})).await },
        )
    };
    // Wait until the first turn holds the session (its record is running).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, record) = get_signed(&url, "/sessions/shared-session", None).await;
        if status == 200 && record["status"] == "running" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first turn never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, err) = post(&input, &json!({"prompt": "two", "session": session})).await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["code"], "busy");
    // Two workers, no queue: a second slow session takes the other worker, a third is
    // refused with Retry-After.
    let second = {
        let input = input.clone();
        tokio::spawn(async move { post(&input, &json!({"prompt": "three"})).await })
    };
    loop {
        let (_, list) = get_signed(&url, "/sessions", None).await;
        let running = list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["status"] == "running")
            .count();
        if running == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second turn never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let response = Client::new()
        .post(&input)
        .json(&json!({"prompt": "four"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(second.await.unwrap().0, 200);
    let (status, out) = first.await.unwrap();
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["result"], "slow done");

    let limited = HostProcess::start(&[
        "--demo",
        "--no-mdns",
        "--trust",
        "open",
        "--rate-limit",
        "1",
    ]);
    let url = http(&limited);
    let key = AgentKey::generate();
    let mut statuses = Vec::new();
    let mut retry_after = false;
    for i in 0..3 {
        let body = signed_body(
            &key,
            Some(&limited.address),
            json!({"prompt": format!("r{i}")}),
        );
        let response = Client::new()
            .post(format!("{url}/input"))
            .json(&body)
            .send()
            .await
            .unwrap();
        retry_after |= response.headers().contains_key("retry-after");
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses[0], 200, "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(retry_after);
}

#[tokio::test]
async fn a_failing_agent_is_a_500_with_its_code() {
    let host = HostProcess::start(&["--no-mdns", "--", "sh", "-c", "echo boom >&2; exit 3"]);
    let (status, err) = post(&format!("{}/input", http(&host)), &json!({"prompt": "x"})).await;
    assert_eq!(status, 500, "{err}");
    assert_eq!(err["code"], "agent_error");
    assert!(err["error"].is_string());
}

#[tokio::test]
async fn a_trusted_proxy_forwards_the_clients_address_to_careful_trust() {
    let behind = HostProcess::start(&["--demo", "--no-mdns", "--trusted-proxy", "127.0.0.1"]);
    let open = HostProcess::start(&["--demo", "--no-mdns"]);
    let ask = |url: String, forwarded: Option<&'static str>| async move {
        let mut request = Client::new()
            .post(format!("{url}/input"))
            .json(&json!({"prompt": "who am i"}));
        if let Some(xff) = forwarded {
            request = request.header("x-forwarded-for", xff);
        }
        json_of(request.send().await.unwrap()).await
    };

    // Through the trusted proxy, a remote client is anonymous and not local: careful refuses.
    let (status, body) = ask(http(&behind), Some("203.0.113.9")).await;
    assert_eq!(status, 401, "{body}");
    // What a client writes left of the proxy's own entry is never read.
    let (status, body) = ask(http(&behind), Some("127.0.0.1, 203.0.113.9")).await;
    assert_eq!(status, 401, "{body}");
    // The proxy's own request (no forwarded client) is local.
    let (status, body) = ask(http(&behind), None).await;
    assert_eq!(status, 200, "{body}");
    // Without trusted proxies the header is ignored: the loopback peer is the client.
    let (status, body) = ask(http(&open), Some("203.0.113.9")).await;
    assert_eq!(status, 200, "{body}");
}

/// A replay ledger that cannot answer (here: the store's file locked by another process) is no
/// fault of the caller: 503 `unavailable` with Retry-After, and the request goes through once
/// the store is back.
#[tokio::test]
async fn a_ledger_outage_is_503_unavailable() {
    let host = HostProcess::start(&["--demo", "--no-mdns"]);
    let url = http(&host);
    let key = wire_vector_key();
    let (status, _) = post(
        &format!("{url}/input"),
        &signed_body(&key, Some(&host.address), json!({"prompt": "before"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let db = host.dir.path().join(".agenthost/sessions.db");
    let locker = rusqlite::Connection::open(&db).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let response = Client::new()
        .post(format!("{url}/input"))
        .json(&signed_body(
            &key,
            Some(&host.address),
            json!({"prompt": "locked out"}),
        ))
        .send()
        .await
        .unwrap();
    let retry_after = response.headers().get("retry-after").cloned();
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "unavailable", "{body}");
    assert_eq!(body["error"], "replay ledger unavailable");
    assert!(retry_after.is_some(), "no Retry-After");

    locker.execute_batch("ROLLBACK").unwrap();
    let (status, body) = post(
        &format!("{url}/input"),
        &signed_body(&key, Some(&host.address), json!({"prompt": "after"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "echo: after");
}
