//! A streamed reply larger than libp2p's default circuit budget (128 KiB) gets through our
//! relay; a relay configured with a small `max_circuit_bytes` cuts it, proving the limit in the
//! config is the one in force.

mod common;

use common::*;
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{identity, relay, StreamProtocol};

const BULK: StreamProtocol = StreamProtocol::new("/agenthost-test/bulk/1");
const REPLY_BYTES: usize = 1 << 20;

/// Answers a one-byte request with a 1 MiB reply, from an agent reserved on the relay to a
/// caller dialing through it;
/// returns how many bytes the caller received.
async fn relayed_reply_bytes(config: agenthost_relay::RelayConfig) -> usize {
    let relay = start_relay(config).await;
    let relay_addr = tcp_addr(&relay);

    let mut agent = client(identity::Keypair::generate_ed25519());
    let agent_id = *agent.local_peer_id();
    agent
        .listen_on(relay_addr.clone().with(Protocol::P2pCircuit))
        .expect("listen on circuit");
    tokio::time::timeout(STEP_TIMEOUT, async {
        loop {
            if let SwarmEvent::Behaviour(ClientEvent::Relay(
                relay::client::Event::ReservationReqAccepted { .. },
            )) = agent.select_next_some().await
            {
                return;
            }
        }
    })
    .await
    .expect("reservation in time");

    let mut incoming = agent
        .behaviour()
        .stream
        .new_control()
        .accept(BULK)
        .expect("accept bulk protocol");
    tokio::spawn(async move {
        while let Some((_, mut stream)) = incoming.next().await {
            tokio::spawn(async move {
                // Reply only to a request: the caller sends it once its `open_stream` has
                // returned, so a small budget cannot cut the circuit while the caller is
                // still negotiating the stream (then the open failed instead of the read).
                let mut request = [0u8; 1];
                if stream.read_exact(&mut request).await.is_err() {
                    return;
                }
                let chunk = vec![7u8; 16 * 1024];
                for _ in 0..REPLY_BYTES / chunk.len() {
                    if stream.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
                let _ = stream.close().await;
            });
        }
    });
    tokio::spawn(async move {
        loop {
            agent.select_next_some().await;
        }
    });

    let mut caller = client(identity::Keypair::generate_ed25519());
    let mut control = caller.behaviour().stream.new_control();
    caller
        .dial(
            relay_addr
                .with(Protocol::P2pCircuit)
                .with(Protocol::P2p(agent_id)),
        )
        .expect("dial");
    tokio::time::timeout(STEP_TIMEOUT, async {
        loop {
            if let SwarmEvent::ConnectionEstablished { peer_id, .. } =
                caller.select_next_some().await
            {
                if peer_id == agent_id {
                    return;
                }
            }
        }
    })
    .await
    .expect("relayed connection in time");
    tokio::spawn(async move {
        loop {
            caller.select_next_some().await;
        }
    });

    // open_stream can hang under load (rust-libp2p #6157): always bounded.
    let mut stream = tokio::time::timeout(STEP_TIMEOUT, control.open_stream(agent_id, BULK))
        .await
        .expect("stream opened in time")
        .expect("open stream");
    stream.write_all(&[1]).await.expect("send the request");
    stream.flush().await.expect("send the request");
    let mut received = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let _ = tokio::time::timeout(STEP_TIMEOUT, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received += n,
            }
        }
    })
    .await;
    relay.shutdown().await;
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mib_reply_passes_with_our_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let received = relayed_reply_bytes(loopback_config(&dir)).await;
    assert_eq!(received, REPLY_BYTES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_circuit_budget_cuts_the_reply() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = loopback_config(&dir);
    config.limits.max_circuit_bytes = 128 * 1024; // libp2p's default
    let received = relayed_reply_bytes(config).await;
    assert!(received < REPLY_BYTES, "received {received} bytes");
}
