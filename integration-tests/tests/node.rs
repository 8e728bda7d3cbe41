//! The node under stress and abuse, through the library over real loopback sockets: isolation
//! of runs, backpressure, malformed input, cancellation, connection reuse.

// Test helpers unwrap like the tests they serve: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use agenthost::{
    agent_fn,
    node::{read_frame, InputRequest, NodeConfig},
    Agent, AgentConnection, AgentError, AgentKey, Client, Context, Frame, Host, Input, Output,
    RunningHost,
};
use futures::AsyncWriteExt;

async fn start<A: Agent>(host: Host<A>) -> RunningHost {
    agenthost_integration_tests::init_tracing();
    // Each host its own data folder (a store is one process's, one host's); it lives as long
    // as the test process.
    let dir = Box::leak(Box::new(tempfile::tempdir().expect("temp dir")));
    host.key(AgentKey::generate())
        .data_dir(dir.path())
        .listen("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .mdns(false)
        .http(false)
        .start()
        .await
        .expect("host starts")
}

async fn connect(host: &RunningHost) -> AgentConnection {
    let mut config = NodeConfig::new(AgentKey::generate());
    config.mdns = false;
    let client = Client::start(config).await.expect("client starts");
    client
        .connect(&host.address().to_string(), host.listen_addrs())
        .await
        .expect("connects")
}

/// Counts its own calls in a plain field: a fresh clone per run must always see zero.
#[derive(Clone, Default)]
struct Counter {
    calls: usize,
    shared: Option<Arc<AtomicUsize>>,
}

impl Agent for Counter {
    async fn input(&mut self, _input: Input, _cx: &Context) -> Result<Output, AgentError> {
        self.calls += 1;
        let seen = self.calls;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let shared = self
            .shared
            .as_ref()
            .map(|s| s.fetch_add(1, Ordering::SeqCst) + 1);
        Ok(Output::new(format!("{seen} {}", shared.unwrap_or(0))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_run_gets_a_fresh_clone_unless_state_is_shared_on_purpose() {
    let shared = Arc::new(AtomicUsize::new(0));
    let agent = Counter {
        calls: 0,
        shared: Some(Arc::clone(&shared)),
    };
    let host = start(Host::new(agent).workers(64)).await;
    let connection = connect(&host).await;
    let calls = (0..64).map(|_| {
        let c = connection.clone();
        tokio::spawn(async move { c.input("count").await })
    });
    let mut shared_counts = Vec::new();
    for call in futures::future::join_all(calls).await {
        let out = call.unwrap().expect("OUTPUT");
        let (own, shared) = out.result.split_once(' ').unwrap();
        assert_eq!(own, "1", "a run saw state left by another run");
        shared_counts.push(shared.parse::<usize>().unwrap());
    }
    shared_counts.sort_unstable();
    assert_eq!(shared_counts, (1..=64).collect::<Vec<_>>());
    assert_eq!(shared.load(Ordering::SeqCst), 64);
    assert_eq!(
        connection.connection_count().await.unwrap(),
        1,
        "one connection reused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_refused_at_once_and_nothing_hangs_or_is_lost() {
    let slow = agent_fn("slow", |input: Input| async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(input.prompt)
    });
    let host = start(Host::new(slow).workers(2).queue(8)).await;
    let connection = connect(&host).await;
    let calls = (0..50).map(|i| {
        let c = connection.clone();
        tokio::spawn(async move {
            let reply = c.input_stream(&format!("call {i}")).await.expect("sent");
            tokio::time::timeout(Duration::from_secs(60), reply.terminal())
                .await
                .expect("no call hangs")
        })
    });
    let (mut done, mut overloaded) = (0, 0);
    for call in futures::future::join_all(calls).await {
        match call.unwrap() {
            Frame::Output(_) => done += 1,
            Frame::Error(e) if e.code.as_deref() == Some("overloaded") => {
                assert_eq!(e.retry_after, Some(1));
                overloaded += 1;
            }
            other => panic!("unexpected terminal frame {other:?}"),
        }
    }
    assert_eq!(done + overloaded, 50);
    assert!(done >= 10, "workers + queue were all served: {done}");
    assert!(overloaded > 0, "the excess was refused");
    // Still serving.
    assert_eq!(connection.input("after").await.unwrap().result, "after");
}

/// Sends raw bytes on a fresh stream and returns what the agent answered: the frames it
/// sent, or `None` when it reset the stream without a word.
async fn raw_exchange(connection: &AgentConnection, bytes: &[u8], close_after: bool) -> Vec<Frame> {
    let mut stream = connection.open_stream().await.expect("stream opens");
    stream.write_all(bytes).await.expect("written");
    stream.flush().await.unwrap();
    if close_after {
        let _ = stream.close().await;
    }
    let mut frames = Vec::new();
    let read = async {
        while let Ok(Some(body)) = read_frame(&mut stream, 1 << 20).await {
            frames.push(Frame::from_json(&body).expect("agent frames are valid JSON"));
        }
    };
    tokio::time::timeout(Duration::from_secs(40), read)
        .await
        .expect("the agent answers or resets");
    frames
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut prefix = unsigned_varint::encode::usize_buffer();
    let mut out = unsigned_varint::encode::usize(body.len(), &mut prefix).to_vec();
    out.extend_from_slice(body);
    out
}

fn error_code(frames: &[Frame]) -> Option<String> {
    match frames {
        [Frame::Error(e)] => e.code.clone(),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_gets_an_error_or_a_reset_and_the_node_keeps_serving() {
    let host = start(Host::new(agenthost::DemoAgent)).await;
    let connection = connect(&host).await;

    // Garbage: a length prefix followed by bytes that are not JSON.
    let frames = raw_exchange(&connection, &framed(b"\xff\x00garbage{{"), false).await;
    assert_eq!(
        error_code(&frames).as_deref(),
        Some("bad_request"),
        "{frames:?}"
    );

    // Garbage without any framing at all: 0xff bytes make an endless varint.
    let frames = raw_exchange(&connection, &[0xff; 16], false).await;
    assert_eq!(
        error_code(&frames).as_deref(),
        Some("bad_request"),
        "{frames:?}"
    );

    // A length prefix far over the 16 MiB limit, with no body behind it.
    let mut prefix = unsigned_varint::encode::usize_buffer();
    let huge = unsigned_varint::encode::usize(1 << 40, &mut prefix).to_vec();
    let frames = raw_exchange(&connection, &huge, false).await;
    assert_eq!(
        error_code(&frames).as_deref(),
        Some("too_large"),
        "{frames:?}"
    );

    // Valid JSON of the wrong shapes.
    for body in [
        &br#"{"type":"DANCE"}"#[..],
        br#"["INPUT"]"#,
        br#"{"type":"INPUT"}"#,
        br#"{"type":"INPUT","prompt":{"nested":true}}"#,
        br#"{"type":"INPUT","prompt":"x","session":"not an object"}"#,
    ] {
        let frames = raw_exchange(&connection, &framed(body), false).await;
        assert_eq!(
            error_code(&frames).as_deref(),
            Some("bad_request"),
            "{frames:?}"
        );
    }

    // Closed mid-frame: the prefix promises 100 bytes, 3 arrive, then the stream closes.
    let mut partial = vec![100u8];
    partial.extend_from_slice(b"{\"t");
    let frames = raw_exchange(&connection, &partial, true).await;
    assert!(
        frames.is_empty(),
        "a truncated request gets a reset: {frames:?}"
    );

    // Closed before saying anything.
    let frames = raw_exchange(&connection, &[], true).await;
    assert!(frames.is_empty());

    assert_eq!(
        connection.input("still here").await.unwrap().result,
        "echo: still here"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_dropping_its_reply_cancels_the_run() {
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let cancelled = Arc::new(tokio::sync::Notify::new());
    let agent = {
        let (started, finished, cancelled) = (
            Arc::clone(&started),
            Arc::clone(&finished),
            Arc::clone(&cancelled),
        );
        agenthost::agent_fn_with_context("long", move |_input: Input, cx: Context| {
            let (started, finished, cancelled) = (
                Arc::clone(&started),
                Arc::clone(&finished),
                Arc::clone(&cancelled),
            );
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                // Notices cancellation the way a drop guard would: the run future is dropped
                // when the caller goes away, so `finished` must never be reached.
                let _on_drop = NotifyOnDrop(cancelled);
                for i in 0..600 {
                    cx.stream(format!("tick {i} ")).await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                finished.fetch_add(1, Ordering::SeqCst);
                Ok("done")
            }
        })
    };
    let host = start(Host::new(agent)).await;
    let connection = connect(&host).await;
    let mut reply = connection.input_stream("go").await.unwrap();
    assert!(matches!(
        reply.next_frame().await,
        Some(Frame::Stream { .. })
    ));
    let dropped = cancelled.notified();
    drop(reply);
    tokio::time::timeout(Duration::from_secs(10), dropped)
        .await
        .expect("the run was cancelled after the caller dropped its stream");
    assert_eq!(started.load(Ordering::SeqCst), 1);
    assert_eq!(finished.load(Ordering::SeqCst), 0);
    assert_eq!(connection.info().await.unwrap()["name"], "long");
}

/// An agent that watches its cancel token itself ends with an error in the very wake-up the
/// token fires. The turn was cancelled all the same, and is recorded so, not as failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_the_agent_ends_on_cancel_is_recorded_cancelled() {
    let agent =
        agenthost::agent_fn_with_context("watcher", |_input: Input, cx: Context| async move {
            cx.cancelled().await;
            Err::<&str, _>(AgentError::msg("stopped: the turn was cancelled"))
        });
    let host = start(Host::new(agent)).await;
    let connection = connect(&host).await;
    // Both are ready in the same poll, and `select!` starts from a random branch unless told
    // otherwise: twenty turns make a one-in-two race show.
    for _ in 0..20 {
        let request = InputRequest {
            prompt: Some("go".into()),
            detached: true,
            ..InputRequest::default()
        };
        let mut reply = connection.input_request(request).await.unwrap();
        let session_id = loop {
            match reply.next_frame().await {
                Some(Frame::Detached { session_id }) => break session_id,
                Some(_) => continue,
                None => panic!("no detached event"),
            }
        };
        connection.cancel(&session_id).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let record = loop {
            let record = connection.session(&session_id).await.unwrap();
            if record["status"] != "running" {
                break record;
            }
            assert!(tokio::time::Instant::now() < deadline, "still {record}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(record["status"], "cancelled", "{record}");
    }
}

struct NotifyOnDrop(Arc<tokio::sync::Notify>);

impl Drop for NotifyOnDrop {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_and_health_describe_the_agent() {
    let host = start(Host::new(agenthost::DemoAgent)).await;
    let connection = connect(&host).await;
    let info = connection.info().await.unwrap();
    assert_eq!(info["name"], "demo");
    assert_eq!(info["address"], host.address().to_string());
    assert_eq!(info["peer_id"], host.peer_id().to_string());
    assert!(info["listen_addrs"][0]
        .as_str()
        .unwrap()
        .contains("/p2p/12D3KooW"));
    let health = connection.health().await.unwrap();
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["agent"], "demo");
}
