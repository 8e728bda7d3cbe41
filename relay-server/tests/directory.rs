//! The relay's directory over real sockets: an agent registers under its own address, a caller
//! that knows only that address finds the agent's PeerId and addresses.

mod common;

use agenthost_identity::AgentKey;
use common::*;
use futures::StreamExt;
use libp2p::rendezvous::{self, Namespace};
use libp2p::swarm::SwarmEvent;
use libp2p::{identity, Multiaddr, PeerId, Swarm};

/// Dials the relay and waits until connected.
async fn connect(swarm: &mut Swarm<DirectoryClient>, relay_addr: &Multiaddr, relay_id: PeerId) {
    swarm.dial(relay_addr.clone()).expect("dial relay");
    tokio::time::timeout(STEP_TIMEOUT, async {
        loop {
            if let SwarmEvent::ConnectionEstablished { peer_id, .. } =
                swarm.select_next_some().await
            {
                if peer_id == relay_id {
                    return;
                }
            }
        }
    })
    .await
    .expect("connected to relay in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_found_by_its_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(loopback_config(&dir)).await;
    let relay_addr = tcp_addr(&relay);
    let relay_id = relay.peer_id();

    let agent_key = AgentKey::generate();
    let namespace = Namespace::new(agent_key.address().to_string()).expect("namespace");
    let mut agent = directory_client(agent_key.to_libp2p_keypair());
    let agent_addr: Multiaddr = "/ip4/127.0.0.1/tcp/4999".parse().expect("multiaddr");
    agent.add_external_address(agent_addr.clone());
    connect(&mut agent, &relay_addr, relay_id).await;
    agent
        .behaviour_mut()
        .rendezvous
        .register(namespace.clone(), relay_id, None)
        .expect("register");
    tokio::time::timeout(STEP_TIMEOUT, async {
        loop {
            match agent.select_next_some().await {
                SwarmEvent::Behaviour(DirectoryClientEvent::Rendezvous(
                    rendezvous::client::Event::Registered { .. },
                )) => return,
                SwarmEvent::Behaviour(DirectoryClientEvent::Rendezvous(
                    rendezvous::client::Event::RegisterFailed { error, .. },
                )) => panic!("registration failed: {error:?}"),
                _ => {}
            }
        }
    })
    .await
    .expect("registered in time");

    let mut caller = directory_client(identity::Keypair::generate_ed25519());
    connect(&mut caller, &relay_addr, relay_id).await;
    caller
        .behaviour_mut()
        .rendezvous
        .discover(Some(namespace), None, None, relay_id);
    let registrations = tokio::time::timeout(STEP_TIMEOUT, async {
        loop {
            tokio::select! {
                event = caller.select_next_some() => match event {
                    SwarmEvent::Behaviour(DirectoryClientEvent::Rendezvous(
                        rendezvous::client::Event::Discovered { registrations, .. },
                    )) => return registrations,
                    SwarmEvent::Behaviour(DirectoryClientEvent::Rendezvous(
                        rendezvous::client::Event::DiscoverFailed { error, .. },
                    )) => panic!("discover failed: {error:?}"),
                    _ => {}
                },
                _ = agent.select_next_some() => {}
            }
        }
    })
    .await
    .expect("discovered in time");
    assert_eq!(registrations.len(), 1);
    let record = &registrations[0].record;
    assert_eq!(record.peer_id(), agent_key.peer_id());
    assert!(record.addresses().contains(&agent_addr));

    metrics_showing(
        relay.metrics_addr().expect("http"),
        &["agenthost_relay_directory_registrations_total 1"],
    )
    .await;
    relay.shutdown().await;
}
