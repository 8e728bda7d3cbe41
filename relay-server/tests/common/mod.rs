//! Helpers for the socket tests: a relay on 127.0.0.1 and a small relay-client swarm.

#![allow(dead_code)]

use std::time::Duration;

use agenthost_relay::{Relay, RelayConfig, RunningRelay};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{identify, identity, noise, ping, relay, tcp, yamux, Multiaddr, Swarm, SwarmBuilder};

/// Long enough for a loaded CI machine, short enough to fail a hung test quickly.
pub(crate) const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Relay config on loopback with free ports, a fresh key and HTTP on a free port.
pub(crate) fn loopback_config(dir: &tempfile::TempDir) -> RelayConfig {
    RelayConfig {
        listen: vec![
            "/ip4/127.0.0.1/tcp/0".parse().expect("tcp multiaddr"),
            "/ip4/127.0.0.1/udp/0/quic-v1"
                .parse()
                .expect("quic multiaddr"),
        ],
        key_file: dir.path().join("relay.key"),
        metrics_addr: Some("127.0.0.1:0".parse().expect("socket addr")),
        ..RelayConfig::default()
    }
}

pub(crate) async fn start_relay(config: RelayConfig) -> RunningRelay {
    Relay::start(config).await.expect("relay starts")
}

/// The relay's TCP address, ending in `/p2p/<relay>`.
pub(crate) fn tcp_addr(relay: &RunningRelay) -> Multiaddr {
    relay
        .listen_addrs()
        .iter()
        .find(|a| a.iter().any(|p| matches!(p, Protocol::Tcp(_))))
        .cloned()
        .expect("relay listens on tcp")
}

/// The relay's QUIC address, ending in `/p2p/<relay>`.
pub(crate) fn quic_addr(relay: &RunningRelay) -> Multiaddr {
    relay
        .listen_addrs()
        .iter()
        .find(|a| a.iter().any(|p| matches!(p, Protocol::QuicV1)))
        .cloned()
        .expect("relay listens on quic")
}

#[derive(NetworkBehaviour)]
pub(crate) struct Client {
    pub relay: relay::client::Behaviour,
    pub stream: libp2p_stream::Behaviour,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
}

pub(crate) fn client(key: identity::Keypair) -> Swarm<Client> {
    SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp transport")
        .with_quic()
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .expect("relay client transport")
        .with_behaviour(|key, relay| Client {
            relay,
            stream: libp2p_stream::Behaviour::new(),
            identify: identify::Behaviour::new(identify::Config::new(
                "/ipfs/id/1.0.0".into(),
                key.public(),
            )),
            ping: ping::Behaviour::new(
                ping::Config::new().with_interval(Duration::from_millis(200)),
            ),
        })
        .expect("client behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// GET `path` over plain HTTP/1.0; returns (status line, body).
pub(crate) async fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect http");
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("read response");
    let status = response.lines().next().unwrap_or_default().to_string();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A peer that only uses the relay's directory (rendezvous client).
#[derive(NetworkBehaviour)]
pub(crate) struct DirectoryClient {
    pub rendezvous: libp2p::rendezvous::client::Behaviour,
    pub ping: ping::Behaviour,
}

pub(crate) fn directory_client(key: identity::Keypair) -> Swarm<DirectoryClient> {
    SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp transport")
        .with_behaviour(|key| DirectoryClient {
            rendezvous: libp2p::rendezvous::client::Behaviour::new(key.clone()),
            ping: ping::Behaviour::default(),
        })
        .expect("client behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// `/metrics` once it shows every one of `lines`. The relay counts an event in its own event
/// loop, which may run a moment after the peer that caused it has seen the outcome, so a
/// single read would race; this polls for up to [`STEP_TIMEOUT`].
pub(crate) async fn metrics_showing(addr: std::net::SocketAddr, lines: &[&str]) -> String {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        let (_, metrics) = http_get(addr, "/metrics").await;
        if lines.iter().all(|line| metrics.contains(line)) {
            return metrics;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "metrics never showed {lines:?}:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
