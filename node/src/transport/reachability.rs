//! [`Reachability`]: whether this node's own addresses can be dialed from outside, as the
//! AutoNAT v2 servers (the relays) found by dialing them back, and its [`NatStatus`].

use libp2p::Multiaddr;

/// Whether this node's own addresses can be dialed from outside, as AutoNAT v2 servers (the
/// relays) found by dialing them back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reachability {
    /// Addresses a server reached.
    pub confirmed: Vec<Multiaddr>,
    /// Addresses a server tried and could not reach.
    pub refuted: Vec<Multiaddr>,
}

/// What [`Reachability`] amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatStatus {
    /// Some address was reached from outside.
    Public,
    /// Tried, none reached: callers come through relays.
    Private,
    /// No AutoNAT server has answered yet.
    Unknown,
}

impl std::fmt::Display for NatStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NatStatus::Public => "public",
            NatStatus::Private => "private",
            NatStatus::Unknown => "unknown",
        })
    }
}

impl Reachability {
    /// `Public` once any address was reached, `Private` once some were tried and none reached,
    /// `Unknown` before any answer.
    pub fn status(&self) -> NatStatus {
        if !self.confirmed.is_empty() {
            NatStatus::Public
        } else if !self.refuted.is_empty() {
            NatStatus::Private
        } else {
            NatStatus::Unknown
        }
    }
}

impl Reachability {
    /// Takes one AutoNAT v2 result for `tested`: confirmed or refuted, logged when the
    /// verdict changes.
    pub(super) fn record(&mut self, tested: Multiaddr, reached: bool) {
        let before = self.status();
        if reached {
            self.refuted.retain(|a| a != &tested);
            if !self.confirmed.contains(&tested) {
                self.confirmed.push(tested);
            }
        } else {
            self.confirmed.retain(|a| a != &tested);
            if !self.refuted.contains(&tested) {
                self.refuted.push(tested);
            }
        }
        if self.status() != before {
            tracing::info!(reachability = %self.status(), confirmed = ?self.confirmed, "reachability changed (AutoNAT)");
        }
    }
}
