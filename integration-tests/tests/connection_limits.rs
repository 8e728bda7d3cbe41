//! The gateway's listener against clients that hold sockets open: half-sent headers are cut
//! at the header timeout, idle kept-alive connections too, and connections over the per-address
//! cap are answered 503 at once; the host keeps serving throughout, and `/metrics` counts it.

// Test helpers unwrap like the tests they serve: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use agenthost_integration_tests::HostProcess;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Reads until the peer closes (or `limit` passes); what it sent, and whether it closed.
async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into(), false),
        }
    }
}

#[tokio::test]
async fn half_sent_headers_are_cut_and_the_cap_answers_503_while_the_host_serves() {
    let host = HostProcess::start(&[
        "--demo",
        "--no-mdns",
        "--http-header-timeout",
        "1",
        "--http-max-per-ip",
        "40",
    ]);
    let http = host.http.clone().unwrap();
    let addr = http.trim_start_matches("http://").to_owned();
    // A client already connected keeps being served: it asks every 100 ms, well within the
    // header timeout, over one kept-alive connection.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    assert_eq!(
        client
            .get(format!("{http}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // 120 sockets from the same address, each sending half a request and nothing more.
    let mut sockets = Vec::new();
    for _ in 0..120 {
        let mut socket = TcpStream::connect(&addr).await.unwrap();
        socket
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        sockets.push(socket);
    }
    let started = Instant::now();
    let health = {
        let (client, http) = (client.clone(), http.clone());
        tokio::spawn(async move {
            let mut answered = 0;
            while started.elapsed() < Duration::from_secs(3) {
                let response = client.get(format!("{http}/health")).send().await.unwrap();
                assert_eq!(response.status(), 200);
                answered += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            answered
        })
    };
    let mut refused = 0;
    let mut cut = 0;
    for socket in &mut sockets {
        let (said, closed) = read_to_close(socket, Duration::from_secs(4)).await;
        assert!(
            closed,
            "a socket was held past the header timeout: {said:?}"
        );
        if said.starts_with("HTTP/1.1 503") {
            assert!(said.contains("retry-after: 1"), "{said}");
            refused += 1;
        } else {
            cut += 1;
        }
    }
    let elapsed = started.elapsed();
    println!("{cut} cut at the header timeout, {refused} refused at once, all within {elapsed:?}");
    // The well-behaved client holds one of the 40 places.
    assert_eq!(cut, 39, "cut {cut}, refused {refused}");
    assert_eq!(refused, 81);
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    assert!(health.await.unwrap() >= 20, "the host stopped answering");

    let metrics = client
        .get(format!("{http}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
    };
    assert_eq!(value("agenthost_gateway_header_timeouts_total"), 39.0);
    assert_eq!(
        value("agenthost_gateway_connections_refused_total{cap=\"per_ip\"}"),
        81.0
    );
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_header_timeout() {
    let host = HostProcess::start(&["--demo", "--no-mdns", "--http-header-timeout", "1"]);
    let addr = host
        .http
        .clone()
        .unwrap()
        .trim_start_matches("http://")
        .to_owned();
    let mut socket = TcpStream::connect(&addr).await.unwrap();
    socket
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = socket.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Kept alive, then silent: closed once the next request's headers are overdue.
    let started = Instant::now();
    let (_, closed) = read_to_close(&mut socket, Duration::from_secs(5)).await;
    assert!(closed, "an idle connection was held");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

/// Inbound P2P connections over the cap are refused by libp2p's connection limits: with room
/// for two, two callers are served, a third is turned away, and a place that frees up is
/// taken again.
#[tokio::test]
async fn inbound_p2p_connections_over_the_cap_are_refused() {
    let host = HostProcess::start(&[
        "--demo",
        "--no-mdns",
        "--no-http",
        "--p2p-max-incoming",
        "2",
    ]);
    let addr: agenthost::Multiaddr = host.loopback_addr("tcp").parse().unwrap();
    let connect = || agenthost::connect_with(&host.address, vec![addr.clone()]);
    let first = connect().await.unwrap();
    let second = connect().await.unwrap();
    assert_eq!(first.input("one").await.unwrap().result, "echo: one");
    assert_eq!(second.input("two").await.unwrap().result, "echo: two");

    let third = tokio::time::timeout(Duration::from_secs(30), async {
        let connection = connect().await?;
        connection.input("three").await
    })
    .await
    .expect("the refused caller got an answer, not a hang");
    assert!(third.is_err(), "a third caller was served: {third:?}");

    drop(first);
    // The host notices the closed connection; then the place is free again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = async { connect().await?.input("four").await };
        match tokio::time::timeout(Duration::from_secs(10), attempt).await {
            Ok(Ok(out)) => {
                assert_eq!(out.result, "echo: four");
                break;
            }
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            other => panic!("the freed place was not taken: {other:?}"),
        }
    }
    assert_eq!(second.input("still").await.unwrap().result, "echo: still");
}

/// WebSockets over `ws_max_connections` are answered 503 before the upgrade; a closed one
/// frees its place.
#[tokio::test]
async fn websockets_over_the_cap_are_refused_before_the_upgrade() {
    let host = HostProcess::start(&["--demo", "--no-mdns", "--ws-max-connections", "2"]);
    let url = format!(
        "{}/ws",
        host.http.as_ref().unwrap().replace("http://", "ws://")
    );
    let (first, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (_second, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
            assert_eq!(response.headers()["retry-after"], "1");
        }
        other => panic!("a third WebSocket was let in: {:?}", other.map(|_| ())),
    }
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio_tungstenite::connect_async(&url).await {
            Ok(_) => break,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("the freed place was not taken: {e}"),
        }
    }
}
