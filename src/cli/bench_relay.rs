//! `agenthost bench relay`: the relay's capacity (reservations held at once, with the relay
//! process's memory and CPU), relayed vs direct throughput of one streamed reply, and a caller's
//! cold start to its first OUTPUT through a relay. Everything runs on loopback over real
//! sockets; the relay is this binary's `relay` subcommand in a child process, so its figures
//! are its own.

use std::{
    path::Path,
    process::Stdio,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use agenthost::{
    agent_fn_with_context,
    node::{libp2p_multiaddr::Protocol, InputRequest, NodeConfig},
    AgentKey, Client, Context, Frame, Host, Input, Multiaddr, RelayState, RunningHost,
};
use anyhow::Context as _;
use clap::Args;
use futures::StreamExt;
use libp2p::{noise, relay, swarm::SwarmEvent, tcp, yamux, SwarmBuilder};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::Semaphore,
};
use tokio_util::sync::CancellationToken;

#[derive(Args)]
pub(super) struct RelayBenchArgs {
    /// Reservations to hold on one relay at once, each by its own peer (0: skip this part).
    #[arg(long, default_value_t = 10_000)]
    reservations: usize,
    /// Reservations being set up at once.
    #[arg(long, default_value_t = 256)]
    setup_concurrency: usize,
    /// Size of the streamed reply for the throughput part, in MiB (0: skip this part).
    #[arg(long, default_value_t = 64)]
    reply_mib: usize,
    /// Measured replies per path (direct, relayed); the median is reported.
    #[arg(long, default_value_t = 3)]
    throughput_runs: usize,
    /// Cold starts of a caller, per mode (0: skip this part).
    #[arg(long, default_value_t = 30)]
    cold_runs: usize,
}

/// `agenthost call --direct-wait`'s default.
const CALL_DIRECT_WAIT: Duration = Duration::from_secs(2);

/// One STREAM chunk of the throughput agent.
const CHUNK_BYTES: usize = 64 * 1024;

pub(super) async fn bench_relay(args: RelayBenchArgs) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let mut result = serde_json::json!({"bench": "relay"});
    if args.reservations > 0 {
        result["capacity"] = capacity(dir.path(), args.reservations, args.setup_concurrency.max(1))
            .await
            .context("relay capacity")?;
    }
    if args.reply_mib > 0 || args.cold_runs > 0 {
        let relay = RelayChild::start(&dir.path().join("relay-b"), 1_000).await?;
        let host = stream_host(dir.path(), &relay.addr).await?;
        if args.reply_mib > 0 {
            result["throughput"] = throughput(
                &host,
                &relay.addr,
                args.reply_mib,
                args.throughput_runs.max(1),
            )
            .await
            .context("throughput")?;
        }
        if args.cold_runs > 0 {
            result["cold_start"] = cold_start(&host, &relay.addr, args.cold_runs)
                .await
                .context("cold start")?;
        }
        host.shutdown().await;
        relay.stop().await;
    }
    Ok(result)
}

/// `agenthost relay` in a child process, on loopback TCP.
struct RelayChild {
    child: Child,
    pid: u32,
    /// Full multiaddr, ending in `/p2p/<relay>`.
    addr: Multiaddr,
}

impl RelayChild {
    async fn start(dir: &Path, max_reservations: usize) -> anyhow::Result<RelayChild> {
        std::fs::create_dir_all(dir)?;
        // Room for every reservation (plus the agent's and slack) and its connection.
        let config = format!(
            "[limits]\nmax_reservations = {}\nmax_connections = {}\nmax_pending_connections = 1024\n\n\
             [directory]\nmax_registrations = {}\n",
            max_reservations + 100,
            2 * max_reservations + 1_000,
            max_reservations + 100,
        );
        let config_path = dir.join("relay.toml");
        std::fs::write(&config_path, config)?;
        let mut child = Command::new(std::env::current_exe()?)
            .arg("relay")
            .arg("--config")
            .arg(&config_path)
            .arg("--listen")
            .arg("/ip4/127.0.0.1/tcp/0")
            .arg("--key-file")
            .arg(dir.join("relay.key"))
            .arg("--metrics-addr")
            .arg("off")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // The relay logs at its default level (info), as an operator would run it.
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting `agenthost relay`")?;
        let pid = child.id().context("relay child has no pid")?;
        let stdout = child.stdout.take().context("relay child has no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .context("the relay did not print its address within 30 s")??
                .context("the relay exited before printing its address")?;
            if let Some(addr) = line.strip_prefix("relay: ") {
                break addr.parse::<Multiaddr>()?;
            }
        };
        // Keep reading so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(RelayChild { child, pid, addr })
    }

    /// Resident memory, in KiB.
    fn rss_kib(&self) -> anyhow::Result<u64> {
        rss_kib(&format!("/proc/{}/status", self.pid))
    }

    /// User + system CPU time used so far, in seconds.
    fn cpu_secs(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        // Fields after the command name (which may hold spaces) start at field 3 (state);
        // utime and stime are fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux).
        let rest = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .context("unexpected /proc/<pid>/stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| -> anyhow::Result<u64> {
            Ok(fields
                .get(i)
                .context("short /proc/<pid>/stat")?
                .parse::<u64>()?)
        };
        Ok((ticks(11)? + ticks(12)?) as f64 / 100.0)
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

fn rss_kib(status_path: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(status_path)?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS line")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("malformed VmRSS line")?
        .parse()?)
}

/// Holds `count` reservations on one relay, each from its own minimal swarm (TCP, Noise,
/// Yamux, the relay client; a relay grants one reservation slot per peer), all in this process.
async fn capacity(
    dir: &Path,
    count: usize,
    setup_concurrency: usize,
) -> anyhow::Result<serde_json::Value> {
    let relay = RelayChild::start(&dir.join("relay-a"), count).await?;
    let idle_rss = relay.rss_kib()?;
    let idle_cpu = relay.cpu_secs()?;
    let circuit = relay.addr.clone().with(Protocol::P2pCircuit);

    let stop = CancellationToken::new();
    let setup = Arc::new(Semaphore::new(setup_concurrency));
    let lost = Arc::new(AtomicUsize::new(0));
    let (accepted_tx, mut accepted_rx) = tokio::sync::mpsc::channel::<Result<(), String>>(1024);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        let permit = setup.clone().acquire_owned().await?;
        let circuit = circuit.clone();
        let stop = stop.clone();
        let lost = lost.clone();
        let accepted = accepted_tx.clone();
        tasks.push(tokio::spawn(async move {
            hold_reservation(circuit, permit, accepted, stop, lost).await
        }));
    }
    drop(accepted_tx);
    let mut held = 0usize;
    let mut failures = Vec::new();
    while held + failures.len() < count {
        match accepted_rx.recv().await {
            Some(Ok(())) => held += 1,
            Some(Err(e)) => failures.push(e),
            None => break,
        }
    }
    let setup_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        failures.is_empty(),
        "{} of {count} reservations failed, first: {}",
        failures.len(),
        failures[0]
    );
    let rss = relay.rss_kib()?;
    let cpu = relay.cpu_secs()?;
    let clients_rss = rss_kib("/proc/self/status")?;
    let lost_while_held = lost.load(Ordering::Relaxed);

    stop.cancel();
    for task in tasks {
        let _ = task.await;
    }
    relay.stop().await;
    let round = |x: f64| (x * 100.0).round() / 100.0;
    Ok(serde_json::json!({
        "reservations_held": held,
        "lost_while_measuring": lost_while_held,
        "setup_s": round(setup_secs),
        "setup_per_s": (held as f64 / setup_secs).round(),
        "relay_rss_idle_mib": round(idle_rss as f64 / 1024.0),
        "relay_rss_held_mib": round(rss as f64 / 1024.0),
        "relay_rss_per_reservation_kib": round(rss.saturating_sub(idle_rss) as f64 / held.max(1) as f64),
        "relay_cpu_s_setup": round(cpu - idle_cpu),
        "relay_cpu_s_total": round(cpu),
        "clients_process_rss_mib": round(clients_rss as f64 / 1024.0),
    }))
}

/// One peer: reserves on the relay, reports the outcome, then keeps its swarm running (so the
/// reservation stays held) until `stop`.
async fn hold_reservation(
    circuit: Multiaddr,
    permit: tokio::sync::OwnedSemaphorePermit,
    accepted: tokio::sync::mpsc::Sender<Result<(), String>>,
    stop: CancellationToken,
    lost: Arc<AtomicUsize>,
) {
    let key = AgentKey::generate();
    let swarm = SwarmBuilder::with_existing_identity(key.to_libp2p_keypair())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| e.to_string())
        .and_then(|b| {
            b.with_relay_client(noise::Config::new, yamux::Config::default)
                .map_err(|e| e.to_string())
        })
        .and_then(|b| {
            b.with_behaviour(|_, relay: relay::client::Behaviour| relay)
                .map_err(|e| e.to_string())
        })
        .map(|b| {
            b.with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
                .build()
        });
    let mut swarm = match swarm {
        Ok(swarm) => swarm,
        Err(e) => {
            let _ = accepted.send(Err(e)).await;
            return;
        }
    };
    if let Err(e) = swarm.listen_on(circuit) {
        let _ = accepted.send(Err(e.to_string())).await;
        return;
    }
    let mut permit = Some(permit);
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return,
            event = swarm.select_next_some() => event,
        };
        match event {
            SwarmEvent::Behaviour(relay::client::Event::ReservationReqAccepted {
                renewal: false,
                ..
            }) => {
                permit.take();
                let _ = accepted.send(Ok(())).await;
            }
            SwarmEvent::ListenerClosed { reason, .. } => {
                if permit.take().is_some() {
                    let _ = accepted.send(Err(format!("{reason:?}"))).await;
                } else {
                    lost.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
            _ => {}
        }
    }
}

/// An agent that streams `mib` MiB as STREAM chunks of 64 KiB, then OUTPUT `done`; any other
/// prompt is answered at once. Reserved on `relay` and listening on loopback TCP.
async fn stream_host(dir: &Path, relay: &Multiaddr) -> anyhow::Result<RunningHost> {
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

async fn throughput(
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
async fn cold_start(
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
