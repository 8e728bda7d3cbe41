//! Access list: who may reserve, who may open circuits, who skips the rate limits.
//!
//! libp2p's relay has no access control of its own, but it asks every `RateLimiter` in its
//! config before accepting a reservation or a circuit, and stops at the first refusal. So the
//! access list is a `RateLimiter` placed first (a denied peer never spends a token), and the
//! real token buckets are wrapped so that trusted peers (our own gateways) bypass them.
//! Circuits are checked by their source peer; a peer that cannot reserve can never be a
//! destination, so `reservation_deny` covers that side.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;

use libp2p::relay::RateLimiter;
use libp2p::{Multiaddr, PeerId};
use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};
use std::time::Instant;

use crate::error::ConfigError;

/// The `[access]` table. Entries are PeerIds (`12D3KooW…`) or agent addresses (`0x…`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// Refused at connection time: they cannot use the relay, its directory or anything else.
    pub blocked: Vec<String>,
    /// When not empty, only these peers may hold a reservation.
    pub reservation_allow: Vec<String>,
    /// Never get a reservation (wins over the allow list).
    pub reservation_deny: Vec<String>,
    /// When not empty, only these peers may open circuits (as the source).
    pub circuit_allow: Vec<String>,
    /// Never open circuits (wins over the allow list).
    pub circuit_deny: Vec<String>,
    /// Exempt from the reservation and circuit rate limits (not from deny lists).
    pub trusted: Vec<String>,
}

/// Parsed form of [`AccessConfig`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessList {
    /// Peers refused at connection time (`blocked`).
    pub blocked: HashSet<PeerId>,
    /// Who may hold a reservation (`reservation_allow`, `reservation_deny`).
    pub reservation: PeerRule,
    /// Who may open circuits as the source (`circuit_allow`, `circuit_deny`).
    pub circuit: PeerRule,
    /// Peers exempt from the reservation and circuit rate limits.
    pub trusted: HashSet<PeerId>,
}

/// Allow/deny rule for one kind of request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerRule {
    /// `None` = everyone not denied.
    pub allow: Option<HashSet<PeerId>>,
    /// Always refused, even when also allowed.
    pub deny: HashSet<PeerId>,
}

impl PeerRule {
    /// Whether `peer` is not denied and, when there is an allow list, is on it.
    pub fn permits(&self, peer: &PeerId) -> bool {
        !self.deny.contains(peer) && self.allow.as_ref().is_none_or(|a| a.contains(peer))
    }
}

impl AccessConfig {
    /// Parses every entry, naming the bad one as `access.<list>[<index>]`.
    pub fn parse(&self) -> Result<AccessList, ConfigError> {
        let set = |key: &str, list: &[String]| -> Result<HashSet<PeerId>, ConfigError> {
            list.iter()
                .enumerate()
                .map(|(i, text)| {
                    parse_peer(text).ok_or_else(|| {
                        ConfigError::invalid(
                            format!("access.{key}[{i}]"),
                            format!("`{text}` is neither a PeerId nor an agent address"),
                        )
                    })
                })
                .collect()
        };
        let allow = |key: &str, list: &[String]| {
            Ok::<_, ConfigError>(if list.is_empty() {
                None
            } else {
                Some(set(key, list)?)
            })
        };
        Ok(AccessList {
            blocked: set("blocked", &self.blocked)?,
            reservation: PeerRule {
                allow: allow("reservation_allow", &self.reservation_allow)?,
                deny: set("reservation_deny", &self.reservation_deny)?,
            },
            circuit: PeerRule {
                allow: allow("circuit_allow", &self.circuit_allow)?,
                deny: set("circuit_deny", &self.circuit_deny)?,
            },
            trusted: set("trusted", &self.trusted)?,
        })
    }
}

fn parse_peer(text: &str) -> Option<PeerId> {
    let text = text.trim();
    PeerId::from_str(text).ok().or_else(|| {
        agenthost_identity::Address::parse(text)
            .ok()
            .map(|a| a.to_peer_id())
    })
}

/// First limiter in the relay's list: refuses peers the rule does not permit.
pub(crate) struct AccessGate {
    rule: PeerRule,
    denied: Counter,
    kind: &'static str,
}

impl AccessGate {
    /// `denied` counts refusals; `kind` ("reservation"/"circuit") is for the log.
    pub(crate) fn new(rule: PeerRule, denied: Counter, kind: &'static str) -> AccessGate {
        AccessGate { rule, denied, kind }
    }
}

impl RateLimiter for AccessGate {
    fn try_next(&mut self, peer: PeerId, addr: &Multiaddr, _now: Instant) -> bool {
        let ok = self.rule.permits(&peer);
        if !ok {
            self.denied.inc();
            tracing::info!(%peer, %addr, kind = self.kind, "refused by access list");
        }
        ok
    }
}

/// Wraps a real rate limiter so that trusted peers skip it (and do not drain its bucket).
pub(super) struct TrustedExempt {
    trusted: Arc<HashSet<PeerId>>,
    inner: Box<dyn RateLimiter>,
}

impl RateLimiter for TrustedExempt {
    fn try_next(&mut self, peer: PeerId, addr: &Multiaddr, now: Instant) -> bool {
        self.trusted.contains(&peer) || self.inner.try_next(peer, addr, now)
    }
}

/// The full limiter list for one kind of request: the gate, then the exempt-wrapped limiters.
pub(crate) fn limiter_chain(
    gate: AccessGate,
    trusted: &Arc<HashSet<PeerId>>,
    limiters: Vec<Box<dyn RateLimiter>>,
) -> Vec<Box<dyn RateLimiter>> {
    let mut chain: Vec<Box<dyn RateLimiter>> = vec![Box::new(gate)];
    chain.extend(limiters.into_iter().map(|inner| {
        Box::new(TrustedExempt {
            trusted: Arc::clone(trusted),
            inner,
        }) as Box<dyn RateLimiter>
    }));
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> PeerId {
        PeerId::random()
    }

    #[test]
    fn deny_wins_over_allow() {
        let p = peer();
        let rule = PeerRule {
            allow: Some([p].into()),
            deny: [p].into(),
        };
        assert!(!rule.permits(&p));
    }

    #[test]
    fn allow_list_excludes_others() {
        let (a, b) = (peer(), peer());
        let rule = PeerRule {
            allow: Some([a].into()),
            deny: HashSet::new(),
        };
        assert!(rule.permits(&a));
        assert!(!rule.permits(&b));
        assert!(PeerRule::default().permits(&b));
    }

    #[test]
    fn trusted_skip_the_bucket() {
        let (t, other) = (peer(), peer());
        let never: Box<dyn RateLimiter> = Box::new(|_: PeerId, _: &Multiaddr, _: Instant| false);
        let trusted = Arc::new(HashSet::from([t]));
        let gate = AccessGate::new(PeerRule::default(), Counter::default(), "reservation");
        let mut chain = limiter_chain(gate, &trusted, vec![never]);
        let addr = Multiaddr::empty();
        let now = Instant::now();
        assert!(chain.iter_mut().all(|l| l.try_next(t, &addr, now)));
        assert!(!chain.iter_mut().all(|l| l.try_next(other, &addr, now)));
    }

    #[test]
    fn bad_entry_names_its_key() {
        let config = AccessConfig {
            circuit_deny: vec![PeerId::random().to_string(), "nonsense".into()],
            ..AccessConfig::default()
        };
        let err = config.parse().unwrap_err().to_string();
        assert!(err.contains("access.circuit_deny[1]"), "{err}");
    }
}
