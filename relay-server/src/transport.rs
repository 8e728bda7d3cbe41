//! Which listen addresses the relay's transports (TCP and QUIC v1, IPv4 and IPv6) accept.

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;

/// `/ip4|ip6/HOST/tcp/PORT` or `/ip4|ip6/HOST/udp/PORT/quic-v1`, nothing after.
pub(crate) fn is_listenable(addr: &Multiaddr) -> bool {
    let parts: Vec<Protocol<'_>> = addr.iter().collect();
    matches!(
        parts.as_slice(),
        [Protocol::Ip4(_) | Protocol::Ip6(_), Protocol::Tcp(_)]
            | [
                Protocol::Ip4(_) | Protocol::Ip6(_),
                Protocol::Udp(_),
                Protocol::QuicV1
            ]
    )
}

/// `addr` with `/p2p/<peer>` appended unless it already ends in a `/p2p/…`.
pub(crate) fn with_peer_id(addr: &Multiaddr, peer: libp2p::PeerId) -> Multiaddr {
    match addr.iter().last() {
        Some(Protocol::P2p(_)) => addr.clone(),
        _ => addr.clone().with(Protocol::P2p(peer)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_and_quic_are_listenable() {
        for ok in ["/ip4/0.0.0.0/tcp/0", "/ip6/::/udp/4001/quic-v1"] {
            assert!(is_listenable(&ok.parse().unwrap()), "{ok}");
        }
        for bad in [
            "/ip4/0.0.0.0/udp/1",
            "/dns4/x/tcp/1",
            "/ip4/1.2.3.4/tcp/1/ws",
        ] {
            assert!(!is_listenable(&bad.parse().unwrap()), "{bad}");
        }
    }
}
