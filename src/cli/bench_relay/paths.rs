//! The relayed and direct paths: throughput of one streamed reply, and a caller's cold start
//! to its first OUTPUT through a relay.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use agenthost::{
    agent_fn_with_context,
    node::{libp2p_multiaddr::Protocol, InputRequest, NodeConfig},
    AgentKey, Client, Context, Frame, Host, Input, Multiaddr, RelayState, RunningHost,
};

use super::{CALL_DIRECT_WAIT, CHUNK_BYTES};

/// An agent that streams `mib` MiB as STREAM chunks of 64 KiB, then OUTPUT `done`; any other
/// prompt is answered at once. Reserved on `relay` and listening on loopback TCP.
pub(super) async fn stream_host(dir: &Path, relay: &Multiaddr) -> anyhow::Result<RunningHost> {
    let agent = agent_fn_with_context("stream", |input: Input, cx: Context| async move {
        if let Some(mib) = input.prompt.strip_prefix("stream ") {
            let mib: usize = mib.parse().unwrap_or(0);
            let chunk = "x".repeat(CHUNK_BYTES);
            for _ in 0..mib * (1024 * 1024 / CHUNK_BYTES) {
                cx.stream(chunk.as_str()).await;
            }
            return Ok("done".to_string());
        }
        Ok(input.prompt)
    });
    let host = Host::new(agent)
        .key(AgentKey::generate())
        .data_dir(dir.join("agent"))
        .listen("/ip4/127.0.0.1/tcp/0".parse()?)
        .relay(relay.clone())
        .mdns(false)
        .http(false)
        .start()
        .await?;
    // Polling the status the node keeps: there is no event to wait on from outside.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !host
        .relay_status()
        .iter()
        .all(|r| r.state == RelayState::Reserved && r.listed)
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the agent did not reserve on the relay within 30 s: {:?}",
            host.relay_status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(host)
}

fn circuit_to(relay: &Multiaddr, host: &RunningHost) -> Multiaddr {
    relay
        .clone()
        .with(Protocol::P2pCircuit)
        .with(Protocol::P2p(host.peer_id()))
}

/// A caller node as `agenthost call` makes one: fresh key, no mDNS, listening (TCP and QUIC,
/// any port) when it goes through a relay.
async fn caller(listen: bool, direct_wait: Duration) -> anyhow::Result<Client> {
    let mut config = NodeConfig::new(AgentKey::generate());
    config.mdns = false;
    if listen {
        config.listen = NodeConfig::default_listen();
    }
    let mut client = Client::start(config).await?;
    client.set_direct_wait(direct_wait);
    Ok(client)
}

/// Streams one reply of `mib` MiB over a connection of `client`; returns MB/s and whether the
/// stream went through the relay.
async fn one_reply(
    connection: &agenthost::AgentConnection,
    mib: usize,
) -> anyhow::Result<(f64, bool)> {
    let started = Instant::now();
    let request = InputRequest {
        prompt: Some(format!("stream {mib}")),
        ..InputRequest::default()
    };
    let (mut reply, path) = connection.input_request_traced(request).await?;
    let mut bytes = 0usize;
    loop {
        match reply.next_frame().await {
            Some(Frame::Stream { content }) => bytes += content.len(),
            Some(Frame::Output(_)) => break,
            Some(Frame::Error(e)) => anyhow::bail!("the agent answered {e}"),
            Some(_) => {}
            None => anyhow::bail!("the reply ended without OUTPUT"),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(bytes == mib * 1024 * 1024, "streamed {bytes} bytes");
    Ok((bytes as f64 / 1e6 / secs, path.relayed))
}

pub(super) async fn throughput(
    host: &RunningHost,
    relay: &Multiaddr,
    mib: usize,
    runs: usize,
) -> anyhow::Result<serde_json::Value> {
    let address = host.address().to_string();
    let circuit = circuit_to(relay, host);
    let mut direct = Vec::with_capacity(runs);
    let mut relayed = Vec::with_capacity(runs);
    let mut punched_first = 0usize;
    // One warm-up of each path, then the measured runs, alternating.
    for run in 0..=runs {
        let client = caller(false, Duration::ZERO).await?;
        let connection = client.connect(&address, host.listen_addrs()).await?;
        let (mbps, through_relay) = one_reply(&connection, mib).await?;
        anyhow::ensure!(!through_relay, "the direct reply went through the relay");
        if run > 0 {
            direct.push(mbps);
        }
        drop(connection);
        drop(client);

        // Dialing the circuit itself skips the directory (which would offer the agent's direct
        // address); with no wait, the reply starts on the relayed connection. A hole punch may
        // still open a direct connection meanwhile, but a stream never moves.
        let client = caller(false, Duration::ZERO).await?;
        let connection = dial_circuit(&client, host, &circuit).await?;
        let (mbps, through_relay) = one_reply(&connection, mib).await?;
        if !through_relay {
            // The punch won the race for this stream: not a relayed figure.
            punched_first += 1;
        } else if run > 0 {
            relayed.push(mbps);
        }
    }
    anyhow::ensure!(!relayed.is_empty(), "no reply went through the relay");
    let direct_mbps = median_f64(&mut direct);
    let relayed_mbps = median_f64(&mut relayed);
    let round = |x: f64| (x * 10.0).round() / 10.0;
    Ok(serde_json::json!({
        "reply_mib": mib,
        "runs": runs,
        "direct_mb_per_s": round(direct_mbps),
        "relayed_mb_per_s": round(relayed_mbps),
        "relayed_vs_direct": (relayed_mbps / direct_mbps * 100.0).round() / 100.0,
        "relayed_runs_lost_to_hole_punch": punched_first,
    }))
}

/// A fresh caller (new node, new key) until its first OUTPUT, in two modes: straight to the
/// circuit with no wait for a hole punch, and `agenthost call --relay R` as is (directory
/// look-up, direct addresses first, 2 s allowed for a punch when the connection is relayed).
pub(super) async fn cold_start(
    host: &RunningHost,
    relay: &Multiaddr,
    runs: usize,
) -> anyhow::Result<serde_json::Value> {
    let address = host.address().to_string();
    let circuit = circuit_to(relay, host);
    let mut modes = serde_json::Map::new();
    for mode in ["circuit_no_wait", "call_default"] {
        let mut times = Vec::with_capacity(runs);
        let mut relayed = 0usize;
        // One unmeasured run first (page cache, allocator).
        for run in 0..=runs {
            let started = Instant::now();
            let (client, connection) = if mode == "circuit_no_wait" {
                let client = caller(true, Duration::ZERO).await?;
                let connection = dial_circuit(&client, host, &circuit).await?;
                (client, connection)
            } else {
                let client = caller(true, CALL_DIRECT_WAIT).await?;
                let connection = client.connect(&address, vec![circuit.clone()]).await?;
                (client, connection)
            };
            let (reply, path) = connection
                .input_request_traced(InputRequest {
                    prompt: Some("hi".into()),
                    ..InputRequest::default()
                })
                .await?;
            reply
                .output()
                .await
                .map_err(|e| anyhow::anyhow!("the agent answered {e}"))?;
            let took = started.elapsed();
            if run > 0 {
                times.push(took);
                relayed += usize::from(path.relayed);
            }
            drop(connection);
            drop(client);
        }
        times.sort_unstable();
        let ms = |d: Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
        modes.insert(
            mode.to_string(),
            serde_json::json!({
                "runs": runs,
                "median_ms": ms(times[times.len() / 2]),
                "p90_ms": ms(times[(times.len() * 9 / 10).min(times.len() - 1)]),
                "min_ms": ms(times[0]),
                "first_output_relayed": relayed,
            }),
        );
    }
    Ok(serde_json::Value::Object(modes))
}

fn median_f64(samples: &mut [f64]) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[samples.len() / 2]
}

/// Connects `client` to the agent through `circuit` only (no directory, no direct address).
async fn dial_circuit(
    client: &Client,
    host: &RunningHost,
    circuit: &Multiaddr,
) -> anyhow::Result<agenthost::AgentConnection> {
    client
        .node()
        .connect(
            host.peer_id(),
            vec![circuit.clone()],
            Duration::from_secs(15),
        )
        .await?;
    Ok(client
        .connect(&host.address().to_string(), vec![circuit.clone()])
        .await?)
}
