//! [`Node`]: one libp2p swarm, owned by one task (`task.rs`). Everything else talks to that
//! task through a [`NodeHandle`] (`handle.rs`) with typed commands (`command.rs`), and opens or
//! accepts request streams through the [`StreamControl`] it hands out.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
    time::Duration,
};

use futures::StreamExt;
use libp2p::{
    core::transport::ListenerId, multiaddr::Protocol, noise, swarm::SwarmEvent, tcp, yamux,
    Multiaddr, Swarm, SwarmBuilder,
};
use tokio::sync::mpsc;

use super::handle::SharedAddrs;
use super::{
    behaviour::Behaviour,
    config::{NodeConfig, NodeError},
    dht::DhtLookups,
    directory::Directory,
    handle::NodeHandle,
    lock::write,
    reachability::Reachability,
    reservations::Reservations,
    task::NodeTask,
};
use crate::stream::{AgentStreams, InboundStreams, StreamControl, INBOUND_QUEUE};

/// A running libp2p peer.
pub struct Node {
    handle: NodeHandle,
    control: StreamControl,
    incoming: Option<InboundStreams>,
}

impl Node {
    /// Builds the swarm, starts listening and waits until every listener is bound, so the
    /// addresses it reports are real (ports resolved).
    pub async fn start(config: NodeConfig) -> Result<Node, NodeError> {
        let keypair = config.key.to_libp2p_keypair();
        let (streams, control, incoming) = AgentStreams::new(config.serve);
        let reservations = Reservations::new(&config.relays).map_err(NodeError::Relay)?;
        let mut swarm = SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                // Nagle would hold back small frames waiting for an ACK: latency for nothing.
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| NodeError::Transport(e.to_string()))?
            .with_quic()
            .with_dns()
            .map_err(|e| NodeError::Transport(e.to_string()))?
            .with_relay_client(noise::Config::new, yamux::Config::default)
            .map_err(|e| NodeError::Transport(e.to_string()))?
            .with_behaviour(|key, relay_client| {
                // Only agents need to learn which of their addresses others can dial.
                Behaviour::new(
                    key,
                    config.mdns,
                    config.serve,
                    streams,
                    relay_client,
                    config.inbound.to_libp2p(),
                )
            })
            .map_err(|e| NodeError::Transport(e.to_string()))?
            .with_swarm_config(|c| {
                c.with_idle_connection_timeout(config.idle_timeout)
                    // Bursts of concurrent requests negotiate many streams at once; the default
                    // of 128 would drop the excess before our own overload handling sees it.
                    .with_max_negotiating_inbound_streams(INBOUND_QUEUE)
            })
            .build();

        let listen_addrs: SharedAddrs = Arc::new(RwLock::new(Vec::new()));
        // A caller listens only so its connections leave from a known port (hole punching);
        // it reports no addresses, so it need not wait for every interface's.
        bind_listeners(&mut swarm, &config.listen, &listen_addrs, config.serve).await?;

        let (commands, command_rx) = mpsc::channel(256);
        let connected = Arc::new(RwLock::new(HashSet::new()));
        let reachability = Arc::new(RwLock::new(Reachability::default()));
        let handle = NodeHandle {
            peer_id: *swarm.local_peer_id(),
            address: config.key.address(),
            commands,
            listen_addrs: Arc::clone(&listen_addrs),
            connected: Arc::clone(&connected),
            relays: reservations.shared(),
            reachability: Arc::clone(&reachability),
        };
        let task = NodeTask {
            reachability,
            swarm,
            commands: command_rx,
            listen_addrs,
            connected,
            dial_waiters: HashMap::new(),
            awaiting_discovery: HashMap::new(),
            discovered: HashMap::new(),
            connection_counts: HashMap::new(),
            reservations,
            paths: HashMap::new(),
            identified: HashSet::new(),
            identify_waiters: HashMap::new(),
            direct_waiters: HashMap::new(),
            outstanding_dials: HashMap::new(),
            directory: Directory::new(&config.key.address()).map_err(NodeError::Relay)?,
            dht: DhtLookups::default(),
            stopping: None,
            denied: Default::default(),
        };
        tokio::spawn(task.run());
        Ok(Node {
            handle,
            control,
            incoming,
        })
    }

    /// The handle for reading the node's state and sending it commands; clone it to share.
    pub fn handle(&self) -> &NodeHandle {
        &self.handle
    }

    /// A control to open request streams from this node.
    pub fn control(&self) -> StreamControl {
        self.control.clone()
    }

    /// The inbound request streams, once, for the server (`None` unless `serve` was set).
    pub fn take_incoming(&mut self) -> Option<InboundStreams> {
        self.incoming.take()
    }
}

/// Listens on each address and waits for each listener's first address (or its failure).
async fn bind_listeners(
    swarm: &mut Swarm<Behaviour>,
    listen: &[Multiaddr],
    listen_addrs: &SharedAddrs,
    settle: bool,
) -> Result<(), NodeError> {
    let mut pending: HashMap<ListenerId, Multiaddr> = HashMap::new();
    for addr in listen {
        let id = swarm
            .listen_on(addr.clone())
            .map_err(|e| NodeError::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
        pending.insert(id, addr.clone());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !pending.is_empty() {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
            .await
            .map_err(|_| NodeError::Listen {
                addr: pending
                    .values()
                    .next()
                    .cloned()
                    .unwrap_or(Multiaddr::empty()),
                reason: "no listen address within 10 s".into(),
            })?;
        match event {
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                pending.remove(&listener_id);
                write(listen_addrs).push(address);
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                if let Some(addr) = pending.remove(&listener_id) {
                    let reason = match reason {
                        Err(e) => e.to_string(),
                        Ok(()) => "closed".into(),
                    };
                    return Err(NodeError::Listen { addr, reason });
                }
            }
            SwarmEvent::ListenerError { listener_id, error } => {
                if let Some(addr) = pending.remove(&listener_id) {
                    return Err(NodeError::Listen {
                        addr,
                        reason: error.to_string(),
                    });
                }
            }
            _ => {}
        }
    }
    // A wildcard listener reports one address per interface, not all at once: collect the
    // ones that follow right away so the first report is complete.
    let wildcard = listen.iter().any(|a| {
        a.iter().any(|p| {
            matches!(p, Protocol::Ip4(ip) if ip.is_unspecified())
                || matches!(p, Protocol::Ip6(ip) if ip.is_unspecified())
        })
    });
    if !wildcard || !settle {
        return Ok(());
    }
    let settle = tokio::time::Instant::now() + Duration::from_millis(100);
    while let Ok(event) = tokio::time::timeout_at(settle, swarm.select_next_some()).await {
        if let SwarmEvent::NewListenAddr { address, .. } = event {
            write(listen_addrs).push(address);
        }
    }
    Ok(())
}
