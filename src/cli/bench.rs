//! `agenthost bench p2p`: an echo agent hosted in this process, called over loopback through
//! the real stack (transport, Noise, Yamux, one stream per request), measured end to end.

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use agenthost::{agent_fn, AgentKey, Client, Host, Input};
use clap::{Subcommand, ValueEnum};

#[derive(Subcommand)]
pub enum BenchCommand {
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
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Transport {
    Tcp,
    Quic,
}

pub async fn run(command: BenchCommand) -> ExitCode {
    let BenchCommand::P2p {
        requests,
        concurrency,
        transport,
        warmup,
    } = command;
    match bench_p2p(requests, concurrency.max(1), transport, warmup).await {
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
    let echo = agent_fn("echo", |input: Input| async move { Ok(input.prompt) });
    let host = Host::new(echo)
        .key(AgentKey::generate())
        .listen(listen.parse()?)
        .workers(concurrency)
        .queue(concurrency)
        .mdns(false)
        .start()
        .await?;
    let mut config = agenthost::node::NodeConfig::new(AgentKey::generate());
    config.mdns = false;
    let client = Client::start(config).await?;
    let connection = client
        .connect(&host.address().to_string(), host.listen_addrs())
        .await?;

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
