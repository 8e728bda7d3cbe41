//! `agenthost bench relay`: the relay's capacity (reservations held at once, with the relay
//! process's memory and CPU), relayed vs direct throughput of one streamed reply, and a caller's
//! cold start to its first OUTPUT through a relay. Everything runs on loopback over real
//! sockets; the relay is this binary's `relay` subcommand in a child process, so its figures
//! are its own.

use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

mod capacity;
mod paths;
mod relay_child;

use capacity::capacity;
use paths::{cold_start, stream_host, throughput};
use relay_child::RelayChild;

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
