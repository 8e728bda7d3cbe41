//! Reachable through a relay: an agent holds a reservation on a real circuit relay v2 server,
//! a caller that knows only the relay and the agent's address reaches it through the circuit,
//! and after the relay restarts the agent reserves again by itself.

// Test helpers unwrap like the tests they serve: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use agenthost::{
    agent_fn, node::NodeConfig, AgentKey, Client, Host, Input, RelayState, RunningHost,
};
use futures::StreamExt;
use libp2p::{
    identify, multiaddr::Protocol, noise, ping, relay, swarm::NetworkBehaviour, swarm::SwarmEvent,
    tcp, yamux, Multiaddr, SwarmBuilder,
};

#[derive(NetworkBehaviour)]
struct RelayServer {
    relay: relay::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

/// A circuit relay v2 server on `port` (0 = any) with key `key`; returns its full address and
/// the task running it (abort it to take the relay down).
async fn start_relay(key: &AgentKey, port: u16) -> (Multiaddr, tokio::task::JoinHandle<()>) {
    let mut swarm = SwarmBuilder::with_existing_identity(key.to_libp2p_keypair())
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|k| RelayServer {
            relay: relay::Behaviour::new(k.public().to_peer_id(), relay::Config::default()),
            identify: identify::Behaviour::new(identify::Config::new(
                "/agenthost/1.0.0".into(),
                k.public(),
            )),
            ping: ping::Behaviour::default(),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    swarm
        .listen_on(format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap())
        .unwrap();
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address;
        }
    };
    // A relay refuses to relay until it has a confirmed external address (docs/decisions/0010-relay-limits.md).
    swarm.add_external_address(addr.clone());
    let task = tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    (addr.with(Protocol::P2p(key.peer_id())), task)
}

async fn wait_for(host: &RunningHost, want: impl Fn(&RelayState) -> bool, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let status = host.relay_status();
        if status.iter().all(|r| want(&r.state)) {
            return;
        }
        assert!(Instant::now() < deadline, "relay state still {status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reserved_on_a_relay_is_called_through_it_and_reserves_again_after_a_restart() {
    agenthost_integration_tests::init_tracing();
    let relay_key = AgentKey::generate();
    let (relay_addr, relay_task) = start_relay(&relay_key, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let host = Host::new(agent_fn(
        "echo",
        |input: Input| async move { Ok(input.prompt) },
    ))
    .key(AgentKey::generate())
    .data_dir(dir.path())
    .listen("/ip4/127.0.0.1/tcp/0".parse().unwrap())
    .relay(relay_addr.clone())
    .mdns(false)
    .http(false)
    .start()
    .await
    .unwrap();
    wait_for(
        &host,
        |s| *s == RelayState::Reserved,
        Duration::from_secs(15),
    )
    .await;
    assert!(host.banner().contains("relay: ✓ "), "{}", host.banner());
    assert!(host.banner().contains("(reserved"), "{}", host.banner());

    // The caller knows the relay and the agent's address, nothing else.
    let circuit = relay_addr
        .clone()
        .with(Protocol::P2pCircuit)
        .with(Protocol::P2p(host.peer_id()));
    let mut config = NodeConfig::new(AgentKey::generate());
    config.mdns = false;
    let client = Client::start(config).await.unwrap();
    let connection = client
        .connect(&host.address().to_string(), vec![circuit])
        .await
        .unwrap();
    assert_eq!(
        connection.input("through the relay").await.unwrap().result,
        "through the relay"
    );
    let info = connection.info().await.unwrap();
    assert_eq!(info["relays"][0]["state"], "reserved", "{info}");

    // The relay goes down and comes back on the same address: the agent notices, backs off,
    // and holds a reservation again without anyone restarting it.
    let port = relay_addr
        .iter()
        .find_map(|p| match p {
            Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap();
    relay_task.abort();
    let _ = relay_task.await;
    wait_for(
        &host,
        |s| matches!(s, RelayState::Retrying { .. }),
        Duration::from_secs(15),
    )
    .await;
    let (_relay_addr, _relay_task) = start_relay(&relay_key, port).await;
    wait_for(
        &host,
        |s| *s == RelayState::Reserved,
        Duration::from_secs(40),
    )
    .await;
}

/// After DCUtR opens a direct connection next to the relayed one, a request already running on
/// the relayed connection finishes there, new requests take the direct connection, and the
/// relayed connection is closed once its last stream has ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hole_punch_moves_new_requests_to_the_direct_connection_and_drains_the_relayed_one() {
    agenthost_integration_tests::init_tracing();
    let relay_key = AgentKey::generate();
    let (relay_addr, _relay_task) = start_relay(&relay_key, 0).await;
    let dir = tempfile::tempdir().unwrap();
    // The first request waits for the test's word, so it is still running when the direct
    // connection appears.
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let gate = std::sync::Arc::clone(&release);
    let host = Host::new(agent_fn("gated", move |input: Input| {
        let gate = std::sync::Arc::clone(&gate);
        async move {
            if input.prompt == "wait" {
                gate.notified().await;
            }
            Ok(input.prompt)
        }
    }))
    .key(AgentKey::generate())
    .data_dir(dir.path())
    .listen("/ip4/127.0.0.1/tcp/0".parse().unwrap())
    .relay(relay_addr.clone())
    .mdns(false)
    .start()
    .await
    .unwrap();
    wait_for(
        &host,
        |s| *s == RelayState::Reserved,
        Duration::from_secs(15),
    )
    .await;

    let circuit = relay_addr
        .clone()
        .with(Protocol::P2pCircuit)
        .with(Protocol::P2p(host.peer_id()));
    let mut config = NodeConfig::new(AgentKey::generate());
    config.mdns = false;
    // Listening makes the client's outgoing connections leave from that port: the port the
    // relay observes, which the hole punch then targets.
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    let mut client = Client::start(config).await.unwrap();
    // Send at once, over the relay, without waiting for the punch.
    client.set_direct_wait(Duration::ZERO);
    let connection = client
        .connect(&host.address().to_string(), vec![circuit])
        .await
        .unwrap();
    let (running, path) = connection
        .input_request_traced(agenthost::node::InputRequest {
            prompt: Some("wait".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(path.relayed, "{path:?}");
    assert_eq!(path.relay(), Some(relay_addr.clone()));

    assert!(
        client
            .node()
            .await_direct(host.peer_id(), Duration::from_secs(10))
            .await,
        "no direct connection after the relayed one"
    );
    // The running request keeps the relayed connection open.
    assert_eq!(connection.connection_count().await.unwrap(), 2);
    let (info, path) = connection
        .request_traced(&agenthost::Request::Info {})
        .await
        .unwrap();
    assert!(!path.relayed, "{path:?}");
    assert!(matches!(
        info.terminal().await,
        agenthost::Frame::Response(_)
    ));
    assert_eq!(connection.connection_count().await.unwrap(), 2);

    release.notify_one();
    assert_eq!(running.output().await.unwrap().result, "wait");
    // Drained: the relayed connection closes.
    let deadline = Instant::now() + Duration::from_secs(10);
    while connection.connection_count().await.unwrap() != 1 {
        assert!(
            Instant::now() < deadline,
            "relayed connection still open after its last stream ended"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (reply, path) = connection
        .input_request_traced(agenthost::node::InputRequest {
            prompt: Some("again".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!path.relayed, "{path:?}");
    assert_eq!(reply.output().await.unwrap().result, "again");
}
