//! Builds the relay's swarm: TCP + QUIC transports, bandwidth metrics, the behaviours.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::{
    allow_block_list, autonat, connection_limits, identify, noise, ping, relay, rendezvous, tcp,
    yamux, Swarm, SwarmBuilder,
};
use prometheus_client::registry::Registry;

use crate::behaviour::{RelayBehaviour, IDENTIFY_PROTOCOL};
use crate::config::RelayConfig;
use crate::config::{limiter_chain, AccessGate, AccessList};
use crate::error::StartError;
use crate::metrics::RelayMetrics;

/// Builds the relay's swarm (TCP, QUIC, DNS) with `config`'s limits and the `access` list,
/// registering libp2p's bandwidth metrics in `registry`.
pub(crate) fn build(
    keypair: Keypair,
    config: &RelayConfig,
    access: AccessList,
    metrics: &RelayMetrics,
    registry: &mut Registry,
) -> Result<Swarm<RelayBehaviour>, StartError> {
    let limits = config.limits.build()?;
    let trusted = Arc::new(access.trusted.clone());
    let relay_config = relay::Config {
        reservation_rate_limiters: limiter_chain(
            AccessGate::new(
                access.reservation.clone(),
                metrics.reservations_denied_by_access_list.clone(),
                "reservation",
            ),
            &trusted,
            limits.reservation_limiters,
        ),
        circuit_src_rate_limiters: limiter_chain(
            AccessGate::new(
                access.circuit.clone(),
                metrics.circuits_denied_by_access_list.clone(),
                "circuit",
            ),
            &trusted,
            limits.circuit_limiters,
        ),
        ..limits.config
    };
    let directory = config.directory.to_libp2p();
    let blocked: HashSet<_> = access.blocked.clone();
    let connection_limits = config.limits.connection_limits();
    let idle = Duration::from_secs(config.idle_connection_timeout_secs);

    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| StartError::Transport(e.to_string()))?
        .with_quic()
        // Peers and announce addresses may be names (`/dns4/relay2.example.com/...`).
        .with_dns()
        .map_err(|e| StartError::Transport(e.to_string()))?
        .with_bandwidth_metrics(registry)
        .with_behaviour(|key| {
            let local = key.public().to_peer_id();
            let mut blocked_behaviour = allow_block_list::Behaviour::default();
            for peer in blocked {
                blocked_behaviour.block_peer(peer);
            }
            RelayBehaviour {
                blocked: blocked_behaviour,
                limits: connection_limits::Behaviour::new(connection_limits),
                relay: relay::Behaviour::new(local, relay_config),
                identify: identify::Behaviour::new(
                    identify::Config::new(IDENTIFY_PROTOCOL.to_string(), key.public())
                        .with_agent_version(format!(
                            "agenthost-relay/{}",
                            env!("CARGO_PKG_VERSION")
                        )),
                ),
                ping: ping::Behaviour::default(),
                autonat: autonat::v2::server::Behaviour::default(),
                directory: rendezvous::server::Behaviour::new(directory),
                kad: crate::dht::behaviour(local, &config.directory),
            }
        })
        .map_err(|e| StartError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build();
    Ok(swarm)
}
