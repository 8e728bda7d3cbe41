//! [`Client`]: a libp2p peer that finds an agent by its address (given addresses, mDNS, the
//! relays' directories, then their DHT) and dials it, direct first, relayed alongside.

use std::time::Duration;

use agenthost_identity::{Address, AgentKey};
use libp2p::{multiaddr::Protocol, Multiaddr, PeerId};

use super::{
    connection::{AgentConnection, CONNECT_TIMEOUT},
    error::ClientError,
};
use crate::{
    transport::{Node, NodeConfig, NodeHandle},
    wire::{circuit_through, is_circuit, relay_part, DEFAULT_MAX_FRAME_BYTES},
};

/// How long direct addresses have before the relayed ones are dialed too.
const DIRECT_FIRST: Duration = Duration::from_secs(2);

/// Bound on one directory look-up.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a caller whose connection came up through a relay waits for the hole punch
/// (DCUtR) before sending its first request over the relay anyway. A punch that works takes a
/// few round trips; one that does not would take a dial timeout to say so.
const DEFAULT_DIRECT_WAIT: Duration = Duration::from_secs(2);

/// A libp2p peer that calls agents.
pub struct Client {
    node: Node,
    direct_wait: Duration,
}

impl Client {
    /// A dial-only client with a fresh, ephemeral identity.
    pub async fn ephemeral() -> Result<Client, ClientError> {
        Client::with_key(AgentKey::generate()).await
    }

    /// A dial-only client with the given identity (the agent sees this key as the caller).
    pub async fn with_key(key: AgentKey) -> Result<Client, ClientError> {
        Client::start(NodeConfig::new(key)).await
    }

    /// A client on a node started from `config` (its own identity, listen addresses and relays).
    pub async fn start(config: NodeConfig) -> Result<Client, ClientError> {
        Ok(Client {
            node: Node::start(config).await?,
            direct_wait: DEFAULT_DIRECT_WAIT,
        })
    }

    /// Uses an already running node (an agent calling other agents, say).
    pub fn from_node(node: Node) -> Client {
        Client {
            node,
            direct_wait: DEFAULT_DIRECT_WAIT,
        }
    }

    /// How long [`Client::connect`] waits for a relayed connection to be upgraded to a direct
    /// one before returning (zero: not at all; requests then start on the relay and move to
    /// the direct connection once there is one).
    pub fn set_direct_wait(&mut self, wait: Duration) {
        self.direct_wait = wait;
    }

    /// The handle of the client's libp2p node.
    pub fn node(&self) -> &NodeHandle {
        self.node.handle()
    }

    /// Connects to the agent at `address` (`0x…` or a PeerId), dialing `addrs` if given, or
    /// addresses found on the LAN otherwise. The connection is kept and reused by every request.
    ///
    /// Circuit addresses (`<relay>/p2p-circuit/...`) are dialed after the relay has answered
    /// identify, so this node knows the address the relay sees it at. Given only circuit
    /// addresses, the agent's signed record is looked up in each relay's directory (namespace:
    /// the agent's address) and its addresses added. Direct addresses are dialed first; the
    /// relayed ones join after 2 s or a failure. When the connection comes up
    /// through a relay, the hole punch that follows (DCUtR) is given a moment to succeed (see
    /// [`Client::set_direct_wait`]).
    pub async fn connect(
        &self,
        address: &str,
        addrs: Vec<Multiaddr>,
    ) -> Result<AgentConnection, ClientError> {
        let address = Address::parse(address)?;
        let peer = address.to_peer_id();
        // A full multiaddr ending in /p2p/<id> is accepted; the id must be the agent's own.
        let mut addrs = addrs
            .into_iter()
            .map(|a| strip_p2p(a, &peer))
            .collect::<Result<Vec<_>, _>>()?;
        let node = self.node.handle();
        if !node.is_connected(&peer) {
            // Without a direct address, ask each relay's directory for the agent's record.
            let look_up = addrs.iter().all(is_circuit);
            let mut relays: Vec<(PeerId, Multiaddr)> = Vec::new();
            for relay in addrs.iter().filter_map(relay_of) {
                if !relays.iter().any(|(id, _)| *id == relay.0) {
                    relays.push(relay);
                }
            }
            let mut found = look_up_in(node, &relays, &address, look_up).await;
            if look_up && found.is_empty() && !relays.is_empty() {
                // None of our relays lists the agent: ask their DHT which relay does, and go
                // through that one (its directory first, then its circuit).
                match node
                    .find_relays(relays.clone(), address, LOOKUP_TIMEOUT)
                    .await
                {
                    Ok(others) => {
                        let mut more = Vec::new();
                        for (relay, relay_addrs) in others {
                            for relay_addr in relay_addrs {
                                let relay_addr = strip_any_p2p(relay_addr);
                                tracing::debug!(%peer, %relay, addr = %relay_addr, "relay from the DHT");
                                found.push(circuit_through(
                                    &relay_addr.clone().with(Protocol::P2p(relay)),
                                ));
                                if !more.iter().any(|(id, _)| *id == relay) {
                                    more.push((relay, relay_addr));
                                }
                            }
                        }
                        found.extend(look_up_in(node, &more, &address, true).await);
                    }
                    Err(e) => tracing::debug!(%peer, error = %e, "DHT look-up failed"),
                }
            }
            for found in found {
                match strip_p2p(found, &peer) {
                    Ok(found) if !addrs.contains(&found) => {
                        tracing::debug!(%peer, addr = %found, "address from a relay's directory");
                        addrs.push(found);
                    }
                    _ => {}
                }
            }
        }
        let (relayed, direct): (Vec<Multiaddr>, Vec<Multiaddr>) =
            addrs.iter().cloned().partition(is_circuit);
        if direct.is_empty() || relayed.is_empty() || node.is_connected(&peer) {
            node.connect(peer, addrs.clone(), CONNECT_TIMEOUT).await?;
        } else if let Err(e) = node.connect(peer, direct, DIRECT_FIRST).await {
            // Direct addresses first; the relays as fallback, alongside any direct attempt
            // still under way.
            tracing::debug!(%peer, error = %e, "no direct connection; dialing through the relays");
            node.connect_alongside(peer, relayed, CONNECT_TIMEOUT)
                .await?;
        }
        if !self.direct_wait.is_zero() && addrs.iter().any(is_circuit) {
            let direct = node.await_direct(peer, self.direct_wait).await;
            tracing::debug!(%peer, direct, "direct connection after the relayed one");
        }
        Ok(AgentConnection {
            address,
            peer,
            node: self.node.handle().clone(),
            control: self.node.control(),
            addrs,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
        })
    }
}

/// Connects to each relay (waiting for identify, which hole punching needs) and, when
/// `look_up`, asks its directory for the agent's signed record: the addresses found.
async fn look_up_in(
    node: &NodeHandle,
    relays: &[(PeerId, Multiaddr)],
    address: &Address,
    look_up: bool,
) -> Vec<Multiaddr> {
    let peer = address.to_peer_id();
    let lookups = relays
        .iter()
        .cloned()
        .map(|(relay, relay_addr)| async move {
            if let Err(e) = node
                .connect_identified(relay, vec![relay_addr], CONNECT_TIMEOUT)
                .await
            {
                // The circuit dial reports the failure with its own error.
                tracing::debug!(%relay, error = %e, "relay not reached before the circuit dial");
                return Vec::new();
            }
            if !look_up {
                return Vec::new();
            }
            match node
                .discover(relay, address.to_string(), LOOKUP_TIMEOUT)
                .await
            {
                // Records are signed: only the agent's own counts.
                Ok(records) => records
                    .into_iter()
                    .filter(|r| r.peer == peer)
                    .flat_map(|r| r.addrs)
                    .collect(),
                Err(e) => {
                    tracing::debug!(%relay, error = %e, "directory look-up failed");
                    Vec::new()
                }
            }
        });
    futures::future::join_all(lookups)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// `addr` without a trailing `/p2p/<id>`.
fn strip_any_p2p(mut addr: Multiaddr) -> Multiaddr {
    if let Some(Protocol::P2p(_)) = addr.iter().last() {
        addr.pop();
    }
    addr
}

/// The relay of a circuit address: its PeerId and its own address (without `/p2p/<relay>`).
fn relay_of(addr: &Multiaddr) -> Option<(PeerId, Multiaddr)> {
    let mut relay = relay_part(addr)?;
    match relay.pop() {
        Some(Protocol::P2p(id)) => Some((id, relay)),
        _ => None,
    }
}

fn strip_p2p(mut addr: Multiaddr, expected: &PeerId) -> Result<Multiaddr, ClientError> {
    if let Some(libp2p::multiaddr::Protocol::P2p(id)) = addr.iter().last() {
        if &id != expected {
            return Err(ClientError::Protocol(format!(
                "address {addr} names peer {id}, not the agent {expected}"
            )));
        }
        addr.pop();
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relay_of_a_circuit_address_is_its_peer_and_address() {
        let relay = AgentKey::generate().peer_id();
        let agent = AgentKey::generate().peer_id();
        let base: Multiaddr = "/ip4/198.51.100.1/tcp/4001".parse().unwrap();
        let circuit = base
            .clone()
            .with(Protocol::P2p(relay))
            .with(Protocol::P2pCircuit)
            .with(Protocol::P2p(agent));
        assert_eq!(relay_of(&circuit), Some((relay, base.clone())));
        // A direct address has no relay; a circuit without the relay's id names none.
        assert_eq!(relay_of(&base), None);
        assert_eq!(relay_of(&base.clone().with(Protocol::P2pCircuit)), None);
        assert_eq!(strip_p2p(circuit.clone(), &agent).unwrap(), {
            let mut c = circuit.clone();
            c.pop();
            c
        });
        assert!(strip_p2p(circuit, &relay).is_err());
    }
}
