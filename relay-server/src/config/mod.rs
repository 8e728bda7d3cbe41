//! `RelayConfig`: the relay's TOML config file, its defaults and its validation.
//!
//! Every table denies unknown keys, and every error names the key it is about (as
//! `limits.max_circuits` or `listen[1]`), because a relay operator's typo must not silently
//! fall back to a default.
//!
//! ```toml
//! listen = ["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"]
//! announce = ["/dns4/relay.example.com/tcp/4001"]
//! key_file = ".agenthost/keys/relay.key"
//! metrics_addr = "127.0.0.1:9464"
//! peers = ["/dns4/relay2.example.com/tcp/4001/p2p/12D3KooW…"]   # Kademlia between relays
//!
//! [limits]
//! max_circuit_bytes = 0            # unlimited
//! reservation_rate_per_peer = { burst = 10, interval_secs = 30 }
//!
//! [access]
//! trusted = ["12D3KooW…"]
//!
//! [directory]
//! max_registrations = 10000
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

mod access;
mod directory;
mod limits;

pub(crate) use access::{limiter_chain, AccessGate};
pub use access::{AccessConfig, AccessList};
pub use directory::DirectoryConfig;
pub use limits::{LimitsConfig, RateConfig};

use crate::error::ConfigError;

/// Where the relay keeps its identity unless told otherwise.
pub const DEFAULT_RELAY_KEY_FILE: &str = ".agenthost/keys/relay.key";

/// Everything the relay needs to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    /// Addresses to listen on (TCP and QUIC). Port 0 picks a free port.
    #[serde(with = "multiaddr_list")]
    pub listen: Vec<Multiaddr>,
    /// Public addresses, confirmed as external at start: libp2p's relay refuses to relay until
    /// it has one. Empty = announce the actual listen addresses (fine on a LAN or loopback).
    #[serde(with = "multiaddr_list")]
    pub announce: Vec<Multiaddr>,
    /// Persistent identity (agenthost key file; created on first start).
    pub key_file: PathBuf,
    /// HTTP address for `/metrics` and `/health`; `"off"` in the file (`None`) = no HTTP server.
    #[serde(with = "metrics_addr")]
    pub metrics_addr: Option<SocketAddr>,
    /// Other relays to join in the Kademlia DHT (full multiaddrs ending in `/p2p/<relay>`): an
    /// agent reserved on any relay of the DHT is found through any other.
    #[serde(with = "multiaddr_list")]
    pub peers: Vec<Multiaddr>,
    /// Seconds an idle connection stays open (libp2p's 10 s makes agents churn).
    pub idle_connection_timeout_secs: u64,
    /// The `[limits]` table: reservation, circuit and connection limits.
    pub limits: LimitsConfig,
    /// The `[access]` table: blocked, allowed, denied and trusted peers.
    pub access: AccessConfig,
    /// The `[directory]` table: bounds on the agent directory and the DHT store.
    pub directory: DirectoryConfig,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            listen: vec![
                multiaddr_const("/ip4/0.0.0.0/tcp/4001"),
                multiaddr_const("/ip4/0.0.0.0/udp/4001/quic-v1"),
            ],
            announce: Vec::new(),
            peers: Vec::new(),
            key_file: PathBuf::from(DEFAULT_RELAY_KEY_FILE),
            metrics_addr: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
            idle_connection_timeout_secs: 120,
            limits: LimitsConfig::default(),
            access: AccessConfig::default(),
            directory: DirectoryConfig::default(),
        }
    }
}

/// Parses a constant written in this file; a typo here is a bug caught by the tests.
fn multiaddr_const(text: &str) -> Multiaddr {
    text.parse().unwrap_or_else(|_| Multiaddr::empty())
}

impl RelayConfig {
    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<RelayConfig, ConfigError> {
        let deserializer = toml::Deserializer::parse(text).map_err(|e| ConfigError::Parse {
            key: "(syntax)".into(),
            message: e.to_string(),
        })?;
        let config: RelayConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::Parse {
                key: if key == "." {
                    "(top level)".into()
                } else {
                    key
                },
                message: e.into_inner().message().trim().to_string(),
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a config file.
    pub fn load(path: impl AsRef<Path>) -> Result<RelayConfig, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        RelayConfig::from_toml(&text)
    }

    /// Checks every value; the error names the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.is_empty() {
            return Err(ConfigError::invalid("listen", "needs at least one address"));
        }
        for (i, addr) in self.listen.iter().enumerate() {
            if !crate::transport::is_listenable(addr) {
                return Err(ConfigError::invalid(
                    format!("listen[{i}]"),
                    format!("`{addr}` is neither /ip4|ip6/…/tcp/PORT nor …/udp/PORT/quic-v1"),
                ));
            }
        }
        for (i, addr) in self.announce.iter().enumerate() {
            if addr.is_empty() {
                return Err(ConfigError::invalid(format!("announce[{i}]"), "is empty"));
            }
        }
        for (i, addr) in self.peers.iter().enumerate() {
            if crate::dht::peer_of(addr).is_none() {
                return Err(ConfigError::invalid(
                    format!("peers[{i}]"),
                    format!("`{addr}` does not end in /p2p/<relay PeerId>"),
                ));
            }
        }
        if self.idle_connection_timeout_secs == 0 {
            return Err(ConfigError::invalid(
                "idle_connection_timeout_secs",
                "must be at least 1",
            ));
        }
        self.limits.validate()?;
        self.access.parse()?;
        self.directory.validate()?;
        Ok(())
    }
}

/// `HOST:PORT` or `off` (TOML has no null, so "no HTTP server" needs a spelling).
pub(crate) mod metrics_addr {
    use std::net::SocketAddr;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Parses `HOST:PORT`, or `off` / `none` / empty for no HTTP server.
    pub(crate) fn parse(text: &str) -> Result<Option<SocketAddr>, String> {
        match text.trim() {
            "" | "off" | "none" => Ok(None),
            t => t
                .parse()
                .map(Some)
                .map_err(|_| format!("`{t}` is neither HOST:PORT (e.g. 127.0.0.1:9464) nor `off`")),
        }
    }

    /// Writes the address as `HOST:PORT`, or `off` for `None`.
    pub(crate) fn serialize<S: Serializer>(
        addr: &Option<SocketAddr>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match addr {
            Some(a) => s.serialize_str(&a.to_string()),
            None => s.serialize_str("off"),
        }
    }

    /// Reads a string accepted by [`parse`].
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SocketAddr>, D::Error> {
        parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Multiaddrs as TOML strings (libp2p's serde support is not enabled in this workspace).
mod multiaddr_list {
    use libp2p::Multiaddr;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(list: &[Multiaddr], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(list.iter().map(|a| a.to_string()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Multiaddr>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| {
                t.parse::<Multiaddr>()
                    .map_err(|e| serde::de::Error::custom(format!("`{t}` is not a multiaddr: {e}")))
            })
            .collect()
    }
}
