//! Running a relay until SIGINT or SIGTERM: shared by the `agenthost-relay` binary and the
//! `agenthost relay` subcommand.

use std::process::ExitCode;

use crate::cli::RelayArgs;
use crate::{Relay, StartError};

/// Exit code for a config that is not valid (as sysexits' EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;

/// Starts the relay described by `args`, prints one `relay: <multiaddr>` line per address on
/// stdout, and serves until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn run(args: RelayArgs) -> ExitCode {
    let mut signals = match Signals::register() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("error: cannot register signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = match args.to_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let relay = match Relay::start(config).await {
        Ok(relay) => relay,
        Err(e) => {
            eprintln!("error: {e}");
            return match e {
                StartError::Config(_) => ExitCode::from(EXIT_CONFIG),
                _ => ExitCode::FAILURE,
            };
        }
    };
    // One line per address on stdout, so scripts can pick them up.
    for addr in relay.relay_addrs() {
        println!("relay: {addr}");
    }
    if let Some(addr) = relay.metrics_addr() {
        tracing::info!("metrics: http://{addr}/metrics");
    }

    signals.wait().await;
    tracing::info!("signal received, shutting down");
    relay.shutdown().await;
    ExitCode::SUCCESS
}

/// SIGINT and SIGTERM, registered up front: a signal arriving between the printed addresses
/// and the wait must still mean "shut down gracefully", not the default of dying at once.
#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn register() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn wait(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn register() -> std::io::Result<Signals> {
        Ok(Signals)
    }

    async fn wait(&mut self) {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
