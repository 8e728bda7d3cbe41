//! Real sockets on 127.0.0.1: reservations, a relayed connection, access lists, HTTP.

mod common;

use common::*;
use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, identity, ping, relay, PeerId};

/// Drives `swarm` until it holds a reservation on the relay.
async fn reserve(swarm: &mut libp2p::Swarm<Client>, relay_addr: &libp2p::Multiaddr) {
    swarm
        .listen_on(relay_addr.clone().with(Protocol::P2pCircuit))
        .expect("listen on circuit");
    tokio::time::timeout(STEP_TIMEOUT, async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(ClientEvent::Relay(
                    relay::client::Event::ReservationReqAccepted { .. },
                )) => return,
                SwarmEvent::ListenerClosed { reason, .. } => {
                    panic!("circuit listener closed: {reason:?}")
                }
                _ => {}
            }
        }
    })
    .await
    .expect("reservation accepted in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservation_and_relayed_ping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(loopback_config(&dir)).await;
    let relay_addr = tcp_addr(&relay);
    relayed_ping(&relay, relay_addr).await;

    tokio::time::timeout(STEP_TIMEOUT, relay.shutdown())
        .await
        .expect("shutdown in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservation_and_relayed_ping_over_quic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(loopback_config(&dir)).await;
    let relay_addr = quic_addr(&relay);
    relayed_ping(&relay, relay_addr).await;
    relay.shutdown().await;
}

/// An agent reserves on the relay at `relay_addr`; a caller dials it through the relay and
/// pings it over the relayed connection.
async fn relayed_ping(relay: &agenthost_relay::RunningRelay, relay_addr: libp2p::Multiaddr) {
    assert!(relay_addr
        .to_string()
        .ends_with(&format!("/p2p/{}", relay.peer_id())));

    let mut agent = client(identity::Keypair::generate_ed25519());
    let agent_id = *agent.local_peer_id();
    reserve(&mut agent, &relay_addr).await;

    let mut caller = client(identity::Keypair::generate_ed25519());
    let target = relay_addr
        .clone()
        .with(Protocol::P2pCircuit)
        .with(Protocol::P2p(agent_id));
    caller.dial(target).expect("dial through relay");

    // Both swarms must be driven: the agent accepts the circuit, the caller pings over it.
    let pinged = tokio::time::timeout(STEP_TIMEOUT, async {
        let mut relayed = false;
        loop {
            tokio::select! {
                event = caller.select_next_some() => match event {
                    SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } if peer_id == agent_id => {
                        relayed = endpoint.get_remote_address().iter().any(|p| p == Protocol::P2pCircuit);
                    }
                    SwarmEvent::Behaviour(ClientEvent::Ping(ping::Event { peer, result: Ok(rtt), .. }))
                        if peer == agent_id => return (relayed, rtt),
                    SwarmEvent::OutgoingConnectionError { peer_id: Some(p), error, .. } if p == agent_id => {
                        panic!("dial through relay failed: {error}")
                    }
                    _ => {}
                },
                _ = agent.select_next_some() => {}
            }
        }
    })
    .await
    .expect("ping through relay in time");
    assert!(pinged.0, "connection to the agent went through the relay");

    metrics_showing(
        relay.metrics_addr().expect("http"),
        &[
            "agenthost_relay_reservations_accepted_total 1",
            "agenthost_relay_circuits_accepted_total 1",
            "agenthost_relay_circuits_active 1",
            "libp2p_bandwidth_bytes_total",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_peer_gets_no_reservation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = identity::Keypair::generate_ed25519();
    let denied = PeerId::from_public_key(&key.public());
    let mut config = loopback_config(&dir);
    config.access.reservation_deny = vec![denied.to_string()];
    let relay = start_relay(config).await;
    let relay_addr = tcp_addr(&relay);

    let mut swarm = client(key);
    swarm
        .listen_on(relay_addr.with(Protocol::P2pCircuit))
        .expect("listen on circuit");
    let refused = tokio::time::timeout(STEP_TIMEOUT, async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(ClientEvent::Relay(
                    relay::client::Event::ReservationReqAccepted { .. },
                )) => return false,
                SwarmEvent::ListenerClosed { .. } | SwarmEvent::ListenerError { .. } => {
                    return true
                }
                _ => {}
            }
        }
    })
    .await
    .expect("relay answers in time");
    assert!(refused, "a denied peer must not get a reservation");

    metrics_showing(
        relay.metrics_addr().expect("http"),
        &[
            "agenthost_relay_reservations_denied_by_access_list_total 1",
            "agenthost_relay_reservations_active 0",
        ],
    )
    .await;
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_over_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(loopback_config(&dir)).await;
    assert!(relay.key_created());
    let (status, body) = http_get(relay.metrics_addr().expect("http"), "/health").await;
    assert!(status.contains("200"), "{status}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json body");
    assert_eq!(json["status"], "healthy");
    assert_eq!(json["peer_id"], relay.peer_id().to_string());
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_file_keeps_the_identity() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = start_relay(loopback_config(&dir)).await;
    let id = first.peer_id();
    first.shutdown().await;
    let second = start_relay(loopback_config(&dir)).await;
    assert!(!second.key_created());
    assert_eq!(second.peer_id(), id);
    assert!(second
        .listen_addrs()
        .iter()
        .all(|a| a.iter().last() == Some(Protocol::P2p(id))));
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_speaks_standard_protocols() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(loopback_config(&dir)).await;
    let mut peer = client(identity::Keypair::generate_ed25519());
    peer.dial(tcp_addr(&relay)).expect("dial relay");
    let info = tokio::time::timeout(STEP_TIMEOUT, async {
        loop {
            if let SwarmEvent::Behaviour(ClientEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) = peer.select_next_some().await
            {
                if peer_id == relay.peer_id() {
                    return info;
                }
            }
        }
    })
    .await
    .expect("identify from relay in time");
    let protocols: Vec<String> = info.protocols.iter().map(|p| p.to_string()).collect();
    // The libp2p spec names, so peers of other implementations find what they look for.
    for expected in [
        "/libp2p/circuit/relay/0.2.0/hop",
        "/ipfs/id/1.0.0",
        "/ipfs/ping/1.0.0",
        "/libp2p/autonat/2/dial-request",
        "/rendezvous/1.0.0",
    ] {
        assert!(
            protocols.iter().any(|p| p == expected),
            "{expected} missing from {protocols:?}"
        );
    }
    assert!(info.agent_version.starts_with("agenthost-relay/"));
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservation_gauge_follows_the_agent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(loopback_config(&dir)).await;
    let http = relay.metrics_addr().expect("http");
    let mut agent = client(identity::Keypair::generate_ed25519());
    reserve(&mut agent, &tcp_addr(&relay)).await;
    // The client hears "accepted" before the relay's own event loop has counted it: poll.
    tokio::time::timeout(STEP_TIMEOUT, async {
        loop {
            let (_, body) = http_get(http, "/health").await;
            let json: serde_json::Value = serde_json::from_str(&body).expect("json");
            if json["reservations_active"] == 1 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the reservation gauge counts the agent");

    drop(agent);
    // The relay sees the TCP connection close; poll until the gauge follows.
    tokio::time::timeout(STEP_TIMEOUT, async {
        loop {
            let (_, body) = http_get(http, "/health").await;
            let json: serde_json::Value = serde_json::from_str(&body).expect("json");
            if json["reservations_active"] == 0 && json["connections_active"] == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("gauges drop to 0 after the agent leaves");
    relay.shutdown().await;
}
