//! Circuit relay addresses, `<relay>/p2p/<relay id>/p2p-circuit[/p2p/<peer>]`, written and read
//! in one place.

use libp2p::{multiaddr::Protocol, Multiaddr, PeerId};

/// The circuit through `relay` (a full address ending in `/p2p/<relay id>`): what a node
/// listens on to be reachable through that relay, and what a caller dials to reach a peer
/// reserved there (the dial names the peer).
pub(crate) fn circuit_through(relay: &Multiaddr) -> Multiaddr {
    relay.clone().with(Protocol::P2pCircuit)
}

/// The address of `peer` through `relay`: what a caller dials to reach a peer reserved at a
/// relay it already knows.
pub fn circuit_to(relay: &Multiaddr, peer: PeerId) -> Multiaddr {
    circuit_through(relay).with(Protocol::P2p(peer))
}

/// Whether `addr` goes through a relay.
pub(crate) fn is_circuit(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| p == Protocol::P2pCircuit)
}

/// The relay's part of a circuit address, everything before `/p2p-circuit`; `None` for a
/// direct address.
pub(crate) fn relay_part(addr: &Multiaddr) -> Option<Multiaddr> {
    is_circuit(addr).then(|| {
        addr.iter()
            .take_while(|p| *p != Protocol::P2pCircuit)
            .collect()
    })
}
