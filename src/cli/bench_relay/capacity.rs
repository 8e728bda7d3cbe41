//! How many reservations one relay holds at once, each by its own minimal relay-client
//! swarm, and what they cost the relay process.

use std::{
    path::Path,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use agenthost::{node::libp2p_multiaddr::Protocol, AgentKey, Multiaddr};
use futures::StreamExt;
use libp2p::{noise, relay, swarm::SwarmEvent, tcp, yamux, SwarmBuilder};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::relay_child::{rss_kib, RelayChild};

/// Holds `count` reservations on one relay, each from its own minimal swarm (TCP, Noise,
/// Yamux, the relay client; a relay grants one reservation slot per peer), all in this process.
pub(super) async fn capacity(
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
