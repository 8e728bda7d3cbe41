//! `agenthost bench p2p`: an echo agent hosted in this process, called over loopback through
//! the real stack (transport, Noise, Yamux, one stream per request), measured end to end.

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use agenthost::{agent_fn, AgentKey, Client, Host, Input};
use clap::{Subcommand, ValueEnum};

#[derive(Subcommand)]
pub(super) enum BenchCommand {
    /// Requests over one libp2p connection to an in-process echo agent.
    P2p {
        /// Measured requests (after warm-up).
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, value_enum, default_value_t = Transport::Tcp)]
        transport: Transport,
        /// Unmeasured requests first, to warm connections and allocators.
        #[arg(long, default_value_t = 500)]
        warmup: usize,
    },
    /// Relay capacity (reservations held, relay RSS and CPU), relayed vs direct throughput of a
    /// streamed reply, and a caller's cold start to first OUTPUT through a relay (loopback).
    Relay(super::bench_relay::RelayBenchArgs),
    /// `tools/call` throughput and latency of any MCP server over streamable HTTP.
    Mcp(super::bench_mcp::McpBenchArgs),
    /// INPUT and SESSION latency on a fresh session store, then again after filling it.
    Store {
        /// Results stored between the two measurements.
        #[arg(long, default_value_t = 100_000)]
        fill: usize,
        /// Measured calls per phase and kind.
        #[arg(long, default_value_t = 2_000)]
        samples: usize,
    },
    /// Prints signed `POST /input` bodies, one JSON object per line, each with its own prompt
    /// (signatures are single-use), timestamped now: load for `bench/http.sh`.
    SignedBodies {
        /// The agent's address (`to` of every payload).
        #[arg(long)]
        to: String,
        #[arg(long, default_value_t = 100_000)]
        count: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum Transport {
    Tcp,
    Quic,
}

pub(super) async fn run(command: BenchCommand) -> ExitCode {
    let result = match command {
        BenchCommand::P2p {
            requests,
            concurrency,
            transport,
            warmup,
        } => bench_p2p(requests, concurrency.max(1), transport, warmup).await,
        BenchCommand::Store { fill, samples } => bench_store(fill, samples.max(1)).await,
        BenchCommand::Relay(args) => super::bench_relay::bench_relay(args).await,
        BenchCommand::Mcp(args) => super::bench_mcp::bench_mcp(args).await,
        BenchCommand::SignedBodies { to, count } => {
            return match signed_bodies(&to, count) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => super::fail(e),
            }
        }
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(e),
    }
}

async fn bench_p2p(
    requests: usize,
    concurrency: usize,
    transport: Transport,
    warmup: usize,
) -> anyhow::Result<serde_json::Value> {
    let listen = match transport {
        Transport::Tcp => "/ip4/127.0.0.1/tcp/0",
        Transport::Quic => "/ip4/127.0.0.1/udp/0/quic-v1",
    };
    let dir = tempfile::tempdir()?;
    let (host, client, connection) =
        echo_pair(dir.path(), listen, concurrency, concurrency).await?;

    for _ in 0..warmup {
        connection.input("warm").await?;
    }

    let per_task = requests.div_ceil(concurrency);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let connection = connection.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_task);
            for _ in 0..per_task {
                let t = Instant::now();
                connection.input("hello").await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies: Vec<Duration> = Vec::with_capacity(per_task * concurrency);
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    let connections = connection.connection_count().await?;
    latencies.sort_unstable();
    let total = latencies.len();
    let pct = |p: f64| latencies[((total as f64 * p) as usize).min(total - 1)].as_micros() as u64;
    let result = serde_json::json!({
        "bench": "p2p",
        "transport": match transport { Transport::Tcp => "tcp", Transport::Quic => "quic" },
        "requests": total,
        "concurrency": concurrency,
        "connections": connections,
        "req_per_s": (total as f64 / elapsed.as_secs_f64()).round(),
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
    });
    drop(connection);
    drop(client);
    host.shutdown().await;
    Ok(result)
}

/// An echo agent hosted in this process with its data in `dir`, and a client connected to it.
async fn echo_pair(
    dir: &std::path::Path,
    listen: &str,
    workers: usize,
    queue: usize,
) -> anyhow::Result<(agenthost::RunningHost, Client, agenthost::AgentConnection)> {
    let echo = agent_fn("echo", |input: Input| async move { Ok(input.prompt) });
    let host = Host::new(echo)
        .key(AgentKey::generate())
        .data_dir(dir)
        .listen(listen.parse()?)
        .workers(workers)
        .queue(queue)
        .mdns(false)
        .http(false)
        .start()
        .await?;
    let mut config = agenthost::node::NodeConfig::new(AgentKey::generate());
    config.mdns = false;
    let client = Client::start(config).await?;
    let connection = client
        .connect(&host.address().to_string(), host.listen_addrs())
        .await?;
    Ok((host, client, connection))
}

/// Median of a sample, in microseconds.
fn median_us(samples: &mut [Duration]) -> u64 {
    samples.sort_unstable();
    samples[samples.len() / 2].as_micros() as u64
}

async fn bench_store(fill: usize, samples: usize) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let (host, client, connection) =
        echo_pair(dir.path(), "/ip4/127.0.0.1/tcp/0", 64, 1024).await?;

    // Each phase: sequential INPUTs, then SESSION lookups of the results just made (what a
    // caller does: fetch its recent result). Lookups of long-evicted records are a different
    // operation (a cache miss to SQLite) and are measured by node/examples/store_bench.rs.
    let measure = || {
        let connection = connection.clone();
        async move {
            let mut inputs = Vec::with_capacity(samples);
            let mut ids = Vec::with_capacity(samples);
            for i in 0..samples {
                let t = Instant::now();
                let out = connection.input(&format!("sample {i}")).await?;
                inputs.push(t.elapsed());
                ids.push(out.session_id);
            }
            let mut lookups = Vec::with_capacity(samples);
            for id in &ids {
                let t = Instant::now();
                let record = connection.session(id).await?;
                lookups.push(t.elapsed());
                anyhow::ensure!(record["status"] == "done", "lookup of {id}: {record}");
            }
            anyhow::Ok((median_us(&mut inputs), median_us(&mut lookups)))
        }
    };
    for _ in 0..200 {
        connection.input("warm").await?;
    }
    let (fresh_input, fresh_lookup) = measure().await?;

    // Fill through the in-process door: the same dispatcher and store, no network hop.
    let service = host.service();
    let started = Instant::now();
    let mut pending = futures::stream::FuturesUnordered::new();
    use futures::StreamExt;
    for i in 0..fill {
        let reply = service.call(
            agenthost::Request::input(format!("filler {i}")),
            agenthost::Caller::in_process(),
        );
        pending.push(reply.output());
        if pending.len() >= 256 {
            if let Some(done) = pending.next().await {
                done.map_err(|e| anyhow::anyhow!("filling: {e}"))?;
            }
        }
    }
    while let Some(done) = pending.next().await {
        done.map_err(|e| anyhow::anyhow!("filling: {e}"))?;
    }
    let fill_secs = started.elapsed().as_secs_f64();
    // Let the WAL checkpoint after the burst: the comparison is of steady states.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (full_input, full_lookup) = measure().await?;
    drop(connection);
    drop(client);
    host.shutdown().await;
    let ratio = |a: u64, b: u64| ((a as f64 / b.max(1) as f64) * 100.0).round() / 100.0;
    Ok(serde_json::json!({
        "bench": "store",
        "filled": fill,
        "fill_per_s": (fill as f64 / fill_secs).round(),
        "samples": samples,
        "fresh": {"input_p50_us": fresh_input, "session_p50_us": fresh_lookup},
        "filled_store": {"input_p50_us": full_input, "session_p50_us": full_lookup},
        "ratio": {"input": ratio(full_input, fresh_input), "session": ratio(full_lookup, fresh_lookup)},
    }))
}

fn signed_bodies(to: &str, count: usize) -> anyhow::Result<()> {
    use std::io::Write;
    let to = agenthost::Address::parse(to)?.to_string();
    let key = AgentKey::generate();
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in 0..count {
        let payload =
            serde_json::json!({"prompt": format!("bench {i}"), "to": to, "timestamp": timestamp});
        let envelope = agenthost::identity::SignedEnvelope::sign(payload, &key);
        serde_json::to_writer(&mut out, &envelope)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
