//! [`ClientAddr`]: the HTTP client's address, seen through the reverse proxies the operator
//! trusts.
//!
//! Trust decides on it (`careful` admits anonymous callers only from this machine), so behind
//! nginx on the same host every client would look local. When the connection comes from a
//! trusted proxy, the client is the right-most `X-Forwarded-For` hop that is not itself a
//! trusted proxy: each proxy appends the address it received the request from, so entries
//! left of that are the client's own claims and are never read. Without trusted proxies (the
//! default) the header is ignored.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
};

use agenthost_node::{trust::Arrival, Caller};
use axum::{
    extract::{ConnectInfo, FromRef, FromRequestParts},
    http::{request::Parts, HeaderMap},
};

use crate::{config::GatewayConfig, error::ApiError};

/// The client's address (port 0 when it came from `X-Forwarded-For`), for handlers of any
/// front-end whose state gives the settings (`FromRef`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub SocketAddr);

impl<S> FromRequestParts<S> for ClientAddr
where
    Arc<GatewayConfig>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::internal("no peer address on this connection"))?;
        let config = Arc::<GatewayConfig>::from_ref(state);
        Ok(ClientAddr(client_addr(
            peer,
            &parts.headers,
            &config.trusted_proxies,
        )))
    }
}

/// The caller as HTTP knows it: anonymous until a signature says otherwise; loopback clients
/// are the operator's own machine.
pub(crate) fn http_caller(remote: SocketAddr) -> Caller {
    Caller::anonymous(
        Arrival::Http {
            loopback: remote.ip().is_loopback(),
        },
        Some(remote.to_string()),
    )
}

/// `peer` unless it is a trusted proxy; then the forwarded client (see the module doc). A
/// malformed hop yields an unspecified address: never local, never a guess.
pub(crate) fn client_addr(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> SocketAddr {
    if !trusted.contains(&peer.ip()) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return SocketAddr::new(ip, 0),
            Err(_) => return SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        }
    }
    // No header (or only proxies in it): the proxy itself is the client.
    peer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        headers
    }

    #[test]
    fn only_a_trusted_peer_is_looked_through_and_only_from_the_right() {
        let proxy: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let trusted = ["127.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        let forged = with_xff(&["127.0.0.1, 203.0.113.9"]);
        assert_eq!(
            client_addr(proxy, &forged, &[]),
            proxy,
            "no trusted proxies: header ignored"
        );
        assert_eq!(
            client_addr(proxy, &forged, &trusted).ip().to_string(),
            "203.0.113.9"
        );
        let chain = with_xff(&["198.51.100.1", "203.0.113.9, 10.0.0.2"]);
        assert_eq!(
            client_addr(proxy, &chain, &trusted).ip().to_string(),
            "203.0.113.9"
        );
        let direct: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        assert_eq!(
            client_addr(direct, &forged, &trusted),
            direct,
            "untrusted peer"
        );
        assert_eq!(client_addr(proxy, &HeaderMap::new(), &trusted), proxy);
        let bad = with_xff(&["not-an-ip"]);
        assert!(client_addr(proxy, &bad, &trusted).ip().is_unspecified());
    }
}
