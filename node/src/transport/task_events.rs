//! What the swarm task does with each swarm event: listen addresses, relay reservations,
//! the directory and the DHT, AutoNAT, connections opening and closing (and the callers
//! waiting on them), LAN discovery, identify and hole punching.

use libp2p::{
    autonat, core::ConnectedPoint, dcutr, identify, mdns, relay, swarm::SwarmEvent, PeerId,
};

use super::{behaviour::BehaviourEvent, config::NodeError, lock::write, task::NodeTask};

impl NodeTask {
    pub(super) fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let mut addrs = write(&self.listen_addrs);
                if !addrs.contains(&address) {
                    addrs.push(address);
                }
            }
            SwarmEvent::IncomingConnectionError {
                error,
                send_back_addr,
                ..
            } => self.denied.on_error(&error, &send_back_addr),
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                write(&self.listen_addrs).retain(|a| a != &address);
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                write(&self.listen_addrs).retain(|a| !addresses.contains(a));
                let reason = match reason {
                    Ok(()) => "the relay closed the reservation".to_owned(),
                    Err(e) => e.to_string(),
                };
                self.reservations.on_listener_closed(listener_id, reason);
            }
            SwarmEvent::Behaviour(BehaviourEvent::RelayClient(
                relay::client::Event::ReservationReqAccepted { relay_peer_id, .. },
            )) => {
                self.reservations.on_reserved(&relay_peer_id);
                // The relayed address is now a confirmed external address: (re-)register it
                // (a restarted relay has forgotten us; a renewal refreshes the record).
                self.directory.register(
                    &mut self.swarm.behaviour_mut().rendezvous,
                    &mut self.reservations,
                    relay_peer_id,
                );
            }
            SwarmEvent::Behaviour(BehaviourEvent::Rendezvous(event)) => {
                self.directory.on_event(&mut self.reservations, event)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self
                .dht
                .on_event(&mut self.swarm.behaviour_mut().kad, event),
            SwarmEvent::Behaviour(BehaviourEvent::Autonat(autonat::v2::client::Event {
                tested_addr,
                server,
                result,
                ..
            })) => {
                match &result {
                    Ok(()) => {
                        tracing::info!(addr = %tested_addr, %server, "address reachable from outside (AutoNAT)")
                    }
                    Err(e) => {
                        tracing::debug!(addr = %tested_addr, %server, error = %e, "address not reachable from outside (AutoNAT)")
                    }
                }
                write(&self.reachability).record(tested_addr, result.is_ok());
            }
            SwarmEvent::Dialing {
                peer_id: Some(peer),
                connection_id,
            } => {
                self.outstanding_dials
                    .entry(peer)
                    .or_default()
                    .insert(connection_id);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                self.dial_done(&peer_id, connection_id);
                let relayed = endpoint.is_relayed();
                self.paths
                    .entry(peer_id)
                    .or_default()
                    .push((connection_id, relayed));
                if !relayed {
                    for waiter in self.direct_waiters.remove(&peer_id).unwrap_or_default() {
                        let _ = waiter.send(true);
                    }
                }
                self.connection_counts
                    .insert(peer_id, num_established.get() as usize);
                write(&self.connected).insert(peer_id);
                let remote = match &endpoint {
                    ConnectedPoint::Dialer { address, .. } => address,
                    ConnectedPoint::Listener { send_back_addr, .. } => send_back_addr,
                };
                tracing::debug!(%peer_id, %remote, "connection established");
                for waiter in self.dial_waiters.remove(&peer_id).unwrap_or_default() {
                    let _ = waiter.send(Ok(()));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                cause,
                ..
            } => {
                tracing::debug!(%peer_id, ?cause, "connection closed");
                if let Some(paths) = self.paths.get_mut(&peer_id) {
                    paths.retain(|(id, _)| *id != connection_id);
                    if paths.is_empty() {
                        self.paths.remove(&peer_id);
                    }
                }
                if num_established == 0 {
                    self.identified.remove(&peer_id);
                    for waiter in self.identify_waiters.remove(&peer_id).unwrap_or_default() {
                        let _ = waiter.send(Err(NodeError::Dial {
                            peer: peer_id,
                            reason: "the connection closed before identify".into(),
                        }));
                    }
                    self.directory
                        .on_disconnected(&mut self.reservations, &peer_id);
                    for waiter in self.direct_waiters.remove(&peer_id).unwrap_or_default() {
                        let _ = waiter.send(false);
                    }
                    self.connection_counts.remove(&peer_id);
                    write(&self.connected).remove(&peer_id);
                    self.reservations.on_disconnected(&peer_id);
                } else {
                    self.connection_counts
                        .insert(peer_id, num_established as usize);
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                connection_id,
                error,
            } => {
                tracing::debug!(%peer, %error, "dial failed");
                self.dial_done(&peer, connection_id);
                if self.reservations.is_relay(&peer) && !self.swarm.is_connected(&peer) {
                    self.reservations.on_dial_failed(&peer, error.to_string());
                }
                // Another dial (a fallback, say) may still succeed: wait for it.
                let dialing = self.outstanding_dials.contains_key(&peer);
                if !self.swarm.is_connected(&peer) && !dialing {
                    let waiters = self
                        .dial_waiters
                        .remove(&peer)
                        .unwrap_or_default()
                        .into_iter()
                        .chain(self.identify_waiters.remove(&peer).unwrap_or_default());
                    for waiter in waiters {
                        let _ = waiter.send(Err(NodeError::Dial {
                            peer,
                            reason: error.to_string(),
                        }));
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    tracing::debug!(%peer, %addr, "discovered on the LAN");
                    let known = self.discovered.entry(peer).or_default();
                    if !known.contains(&addr) {
                        known.push(addr);
                    }
                }
                let ready: Vec<PeerId> = self
                    .awaiting_discovery
                    .keys()
                    .filter(|p| self.discovered.contains_key(p))
                    .copied()
                    .collect();
                for peer in ready {
                    let addrs = self.discovered.get(&peer).cloned().unwrap_or_default();
                    for waiter in self.awaiting_discovery.remove(&peer).unwrap_or_default() {
                        self.dial(peer, addrs.clone(), false, waiter);
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Expired(gone))) => {
                for (peer, addr) in gone {
                    if let Some(known) = self.discovered.get_mut(&peer) {
                        known.retain(|a| a != &addr);
                        if known.is_empty() {
                            self.discovered.remove(&peer);
                        }
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                tracing::trace!(%peer_id, agent = %info.agent_version, observed = %info.observed_addr, "identified");
                self.identified.insert(peer_id);
                for waiter in self.identify_waiters.remove(&peer_id).unwrap_or_default() {
                    let _ = waiter.send(Ok(()));
                }
                if self.reservations.is_relay(&peer_id) {
                    let actions = self.reservations.on_identified(&peer_id);
                    self.apply(actions);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(dcutr::Event {
                remote_peer_id,
                result,
            })) => match result {
                Ok(_) => {
                    tracing::info!(peer = %remote_peer_id, "hole punch succeeded: direct connection")
                }
                Err(error) => {
                    tracing::info!(peer = %remote_peer_id, %error, "hole punch failed; staying on the relay");
                    for waiter in self
                        .direct_waiters
                        .remove(&remote_peer_id)
                        .unwrap_or_default()
                    {
                        let _ = waiter.send(false);
                    }
                }
            },
            _ => {}
        }
    }
}
