//! The directory: a rendezvous server where agents register their signed peer record under
//! their own address (the namespace), so a caller that knows only an address and a relay can
//! find every way to reach the agent. The `[directory]` table bounds its memory.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Longest registration TTL libp2p's rendezvous server accepts by default (72 h).
const MAX_TTL_SECS: u64 = libp2p::rendezvous::MAX_TTL;

/// The `[directory]` table: bounds on the rendezvous directory and the DHT provider store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryConfig {
    /// Registrations held at once, whole relay (one per agent address).
    pub max_registrations: usize,
    /// Registrations per peer; an agent registers under its own address, plus a little slack.
    pub max_registrations_per_peer: usize,
    /// Longest registration lifetime granted, in seconds.
    pub max_ttl_secs: u64,
    /// Keys (agent addresses) whose provider records the relay keeps in the Kademlia DHT, its
    /// own agents' and other relays' together (a few hundred bytes each).
    pub max_dht_keys: usize,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        DirectoryConfig {
            max_registrations: 10_000,
            max_registrations_per_peer: 4,
            max_ttl_secs: MAX_TTL_SECS,
            max_dht_keys: 100_000,
        }
    }
}

impl DirectoryConfig {
    /// Checks every value, naming the offending key as `directory.<field>`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_registrations == 0 {
            return Err(ConfigError::invalid(
                "directory.max_registrations",
                "must be at least 1",
            ));
        }
        if self.max_registrations_per_peer == 0 {
            return Err(ConfigError::invalid(
                "directory.max_registrations_per_peer",
                "must be at least 1",
            ));
        }
        if self.max_dht_keys < self.max_registrations {
            return Err(ConfigError::invalid(
                "directory.max_dht_keys",
                "must be at least directory.max_registrations (each listed agent is one key)",
            ));
        }
        // Below the protocol's minimum TTL every registration would be refused.
        if !(libp2p::rendezvous::MIN_TTL..=u64::from(u32::MAX)).contains(&self.max_ttl_secs) {
            return Err(ConfigError::invalid(
                "directory.max_ttl_secs",
                format!(
                    "must be between {} and {}",
                    libp2p::rendezvous::MIN_TTL,
                    u32::MAX
                ),
            ));
        }
        Ok(())
    }

    /// libp2p's rendezvous server config with these limits.
    pub fn to_libp2p(&self) -> libp2p::rendezvous::server::Config {
        libp2p::rendezvous::server::Config::default()
            .with_max_registration_total(self.max_registrations)
            .with_max_registration_per_peer(self.max_registrations_per_peer)
            .with_max_ttl(self.max_ttl_secs)
    }
}
