//! Access list over real sockets: circuit deny list, trusted peers exempt from rate limits.

mod common;

use common::*;
use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{identity, relay, Multiaddr, PeerId, Swarm};

use agenthost_relay::RateConfig;

/// Asks for one more reservation; true if accepted, false if the relay refused it.
async fn try_reserve(swarm: &mut Swarm<Client>, relay_addr: &Multiaddr) -> bool {
    let id = swarm
        .listen_on(relay_addr.clone().with(Protocol::P2pCircuit))
        .expect("listen on circuit");
    tokio::time::timeout(STEP_TIMEOUT, async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(ClientEvent::Relay(
                    relay::client::Event::ReservationReqAccepted { .. },
                )) => return true,
                SwarmEvent::ListenerClosed { listener_id, .. } if listener_id == id => {
                    return false
                }
                _ => {}
            }
        }
    })
    .await
    .expect("relay answers in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_peer_skips_the_reservation_rate_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trusted_key = identity::Keypair::generate_ed25519();
    let mut config = loopback_config(&dir);
    config.limits.reservation_rate_per_peer = Some(RateConfig {
        burst: 1,
        interval_secs: 3600,
    });
    config.access.trusted = vec![PeerId::from_public_key(&trusted_key.public()).to_string()];
    let relay = start_relay(config).await;
    let relay_addr = tcp_addr(&relay);

    let mut plain = client(identity::Keypair::generate_ed25519());
    assert!(
        try_reserve(&mut plain, &relay_addr).await,
        "first reservation"
    );
    assert!(
        !try_reserve(&mut plain, &relay_addr).await,
        "second reservation within the interval must be rate limited"
    );

    let mut trusted = client(trusted_key);
    assert!(try_reserve(&mut trusted, &relay_addr).await);
    assert!(
        try_reserve(&mut trusted, &relay_addr).await,
        "a trusted peer is not rate limited"
    );
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_source_cannot_open_a_circuit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let caller_key = identity::Keypair::generate_ed25519();
    let caller_id = PeerId::from_public_key(&caller_key.public());
    let mut config = loopback_config(&dir);
    config.access.circuit_deny = vec![caller_id.to_string()];
    let relay = start_relay(config).await;
    let relay_addr = tcp_addr(&relay);

    let mut agent = client(identity::Keypair::generate_ed25519());
    let agent_id = *agent.local_peer_id();
    assert!(try_reserve(&mut agent, &relay_addr).await);

    let mut caller = client(caller_key);
    caller
        .dial(
            relay_addr
                .with(Protocol::P2pCircuit)
                .with(Protocol::P2p(agent_id)),
        )
        .expect("dial");
    let connected = tokio::time::timeout(STEP_TIMEOUT, async {
        loop {
            tokio::select! {
                event = caller.select_next_some() => match event {
                    SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == agent_id => return true,
                    SwarmEvent::OutgoingConnectionError { peer_id: Some(p), .. } if p == agent_id => return false,
                    _ => {}
                },
                _ = agent.select_next_some() => {}
            }
        }
    })
    .await
    .expect("dial resolves in time");
    assert!(!connected, "a denied source must not get a circuit");

    metrics_showing(
        relay.metrics_addr().expect("http"),
        &["agenthost_relay_circuits_denied_by_access_list_total 1"],
    )
    .await;
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_peer_cannot_use_the_relay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = identity::Keypair::generate_ed25519();
    let mut config = loopback_config(&dir);
    config.access.blocked = vec![PeerId::from_public_key(&key.public()).to_string()];
    let relay = start_relay(config).await;
    let relay_addr = tcp_addr(&relay);

    let mut blocked = client(key);
    assert!(!try_reserve(&mut blocked, &relay_addr).await);
    let mut other = client(identity::Keypair::generate_ed25519());
    assert!(try_reserve(&mut other, &relay_addr).await);
    relay.shutdown().await;
}
