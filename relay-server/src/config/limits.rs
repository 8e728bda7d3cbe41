//! Relay limits: the `[limits]` table of the config and its translation to `relay::Config`.
//!
//! libp2p's defaults (2 minutes and 128 KiB per circuit, 128 reservations, 16 circuits) are made
//! for a public bootstrap relay that only helps hole punching; agents stream long replies through
//! the relay when punching fails, so our defaults are sized for that (docs/decisions/0010-relay-limits.md).

use std::num::NonZeroU32;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Token bucket: `burst` requests at once, then one more every `interval_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    /// Requests allowed at once (the bucket size); at least 1.
    pub burst: u32,
    /// Seconds to earn back one request; at least 1.
    pub interval_secs: u64,
}

impl RateConfig {
    fn validate(&self, key: &str) -> Result<(NonZeroU32, Duration), ConfigError> {
        let burst = NonZeroU32::new(self.burst)
            .ok_or_else(|| ConfigError::invalid(format!("{key}.burst"), "must be at least 1"))?;
        if self.interval_secs == 0 {
            return Err(ConfigError::invalid(
                format!("{key}.interval_secs"),
                "must be at least 1",
            ));
        }
        Ok((burst, Duration::from_secs(self.interval_secs)))
    }
}

/// Every limit of the relay server. Durations are in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Reservations held at once, whole relay (~46 KiB each). A full relay refuses renewals too.
    pub max_reservations: usize,
    /// Reservations per peer; 2 lets a reconnecting agent take a slot before the old one expires.
    pub max_reservations_per_peer: usize,
    /// How long a reservation lasts; clients renew at 3/4 of it.
    pub reservation_duration_secs: u64,
    /// Relayed connections at once, whole relay (~85 KiB idle each).
    pub max_circuits: usize,
    /// Relayed connections per peer; a gateway holds many.
    pub max_circuits_per_peer: usize,
    /// Lifetime of one relayed connection. Never 0: libp2p closes such a circuit at once.
    pub max_circuit_duration_secs: u64,
    /// Bytes per circuit, both directions summed; 0 = unlimited.
    pub max_circuit_bytes: u64,
    /// Reservation requests per peer (renewals count). `None` = unlimited.
    pub reservation_rate_per_peer: Option<RateConfig>,
    /// Reservation requests per source IP. Off by default: many agents sit behind one NAT.
    pub reservation_rate_per_ip: Option<RateConfig>,
    /// Circuit requests per source peer.
    pub circuit_rate_per_peer: Option<RateConfig>,
    /// Circuit requests per source IP. Off by default, as for reservations.
    pub circuit_rate_per_ip: Option<RateConfig>,
    /// Established connections at once, whole relay: bounds memory under a connection flood.
    pub max_connections: u32,
    /// Established connections per peer.
    pub max_connections_per_peer: u32,
    /// Incoming connections still handshaking at once.
    pub max_pending_connections: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_reservations: 10_000,
            max_reservations_per_peer: 2,
            reservation_duration_secs: 60 * 60,
            max_circuits: 4_096,
            max_circuits_per_peer: 64,
            max_circuit_duration_secs: 24 * 60 * 60,
            max_circuit_bytes: 0,
            reservation_rate_per_peer: Some(RateConfig {
                burst: 10,
                interval_secs: 30,
            }),
            reservation_rate_per_ip: None,
            circuit_rate_per_peer: Some(RateConfig {
                burst: 60,
                interval_secs: 5,
            }),
            circuit_rate_per_ip: None,
            // One connection per agent plus both ends of every circuit, with headroom.
            max_connections: 16_384,
            max_connections_per_peer: 8,
            max_pending_connections: 512,
        }
    }
}

/// The rate limiters a `LimitsConfig` asks for, built by libp2p (its token bucket is private,
/// so we let `relay::Config` build them and take them out again to wrap them).
pub struct BuiltLimits {
    /// `relay::Config` with empty rate limiter lists.
    pub config: libp2p::relay::Config,
    /// Reservation rate limiters (per peer, per IP), as configured.
    pub reservation_limiters: Vec<Box<dyn libp2p::relay::RateLimiter>>,
    /// Circuit rate limiters (per source peer, per source IP), as configured.
    pub circuit_limiters: Vec<Box<dyn libp2p::relay::RateLimiter>>,
}

impl LimitsConfig {
    /// Checks every value, naming the offending key as `limits.<field>`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("max_reservations", self.max_reservations as u64),
            (
                "max_reservations_per_peer",
                self.max_reservations_per_peer as u64,
            ),
            ("reservation_duration_secs", self.reservation_duration_secs),
            ("max_circuits", self.max_circuits as u64),
            ("max_circuits_per_peer", self.max_circuits_per_peer as u64),
            ("max_circuit_duration_secs", self.max_circuit_duration_secs),
            ("max_connections", u64::from(self.max_connections)),
            (
                "max_connections_per_peer",
                u64::from(self.max_connections_per_peer),
            ),
            (
                "max_pending_connections",
                u64::from(self.max_pending_connections),
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError::invalid(
                    format!("limits.{key}"),
                    "must be at least 1",
                ));
            }
        }
        // relay::Config panics above u32::MAX seconds (the wire format carries u32).
        for (key, value) in [
            ("reservation_duration_secs", self.reservation_duration_secs),
            ("max_circuit_duration_secs", self.max_circuit_duration_secs),
        ] {
            if value > u64::from(u32::MAX) {
                return Err(ConfigError::invalid(
                    format!("limits.{key}"),
                    format!("must be at most {}", u32::MAX),
                ));
            }
        }
        self.rates()?;
        Ok(())
    }

    #[allow(clippy::type_complexity)]
    fn rates(&self) -> Result<[Option<(NonZeroU32, Duration)>; 4], ConfigError> {
        let check = |key: &str, rate: &Option<RateConfig>| {
            rate.as_ref()
                .map(|r| r.validate(&format!("limits.{key}")))
                .transpose()
        };
        Ok([
            check("reservation_rate_per_peer", &self.reservation_rate_per_peer)?,
            check("reservation_rate_per_ip", &self.reservation_rate_per_ip)?,
            check("circuit_rate_per_peer", &self.circuit_rate_per_peer)?,
            check("circuit_rate_per_ip", &self.circuit_rate_per_ip)?,
        ])
    }

    /// Connection limits for libp2p's `connection_limits` behaviour.
    pub fn connection_limits(&self) -> libp2p::connection_limits::ConnectionLimits {
        libp2p::connection_limits::ConnectionLimits::default()
            .with_max_established(Some(self.max_connections))
            .with_max_established_per_peer(Some(self.max_connections_per_peer))
            .with_max_pending_incoming(Some(self.max_pending_connections))
    }

    /// Builds libp2p's relay config and the rate limiters, to be wrapped by the access list.
    pub fn build(&self) -> Result<BuiltLimits, ConfigError> {
        self.validate()?;
        let [res_peer, res_ip, circ_peer, circ_ip] = self.rates()?;
        let mut config = libp2p::relay::Config {
            max_reservations: self.max_reservations,
            max_reservations_per_peer: self.max_reservations_per_peer,
            reservation_duration: Duration::from_secs(self.reservation_duration_secs),
            reservation_rate_limiters: Vec::new(),
            max_circuits: self.max_circuits,
            max_circuits_per_peer: self.max_circuits_per_peer,
            max_circuit_duration: Duration::from_secs(self.max_circuit_duration_secs),
            max_circuit_bytes: self.max_circuit_bytes,
            circuit_src_rate_limiters: Vec::new(),
        };
        if let Some((limit, interval)) = res_peer {
            config = config.reservation_rate_per_peer(limit, interval);
        }
        if let Some((limit, interval)) = res_ip {
            config = config.reservation_rate_per_ip(limit, interval);
        }
        if let Some((limit, interval)) = circ_peer {
            config = config.circuit_src_per_peer(limit, interval);
        }
        if let Some((limit, interval)) = circ_ip {
            config = config.circuit_src_per_ip(limit, interval);
        }
        let reservation_limiters = std::mem::take(&mut config.reservation_rate_limiters);
        let circuit_limiters = std::mem::take(&mut config.circuit_src_rate_limiters);
        Ok(BuiltLimits {
            config,
            reservation_limiters,
            circuit_limiters,
        })
    }
}
