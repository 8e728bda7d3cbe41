//! Command-line flags of the relay. They override the config file, key by key.
//!
//! Kept in the library (as `clap::Args`) so that `agenthost relay` can flatten the same flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use libp2p::Multiaddr;

use crate::{config::RelayConfig, error::ConfigError};

/// Command-line flags of the relay; each overrides the same key of the config file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RelayArgs {
    /// TOML config file; flags given here override its keys.
    #[arg(long, value_name = "F", env = "AGENTHOST_RELAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Listen address (repeatable), e.g. /ip4/0.0.0.0/tcp/4001 or /ip4/0.0.0.0/udp/4001/quic-v1.
    #[arg(long = "listen", value_name = "MULTIADDR")]
    pub listen: Vec<Multiaddr>,
    /// Public address to announce (repeatable); confirmed as external at start.
    #[arg(long = "announce", value_name = "MULTIADDR")]
    pub announce: Vec<Multiaddr>,
    /// Another relay to join in the Kademlia DHT (repeatable; full multiaddr ending in
    /// /p2p/RELAY_PEER_ID), so agents reserved there are found here and the other way round.
    #[arg(long = "peer", value_name = "MULTIADDR")]
    pub peer: Vec<Multiaddr>,
    /// The relay's identity key file (created if missing).
    #[arg(long, value_name = "F", env = "AGENTHOST_RELAY_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Where to serve /metrics and /health, or `off`.
    #[arg(
        long,
        value_name = "HOST:PORT",
        env = "AGENTHOST_RELAY_METRICS_ADDR",
        value_parser = parse_metrics_addr
    )]
    pub metrics_addr: Option<MetricsAddr>,
}

/// `--metrics-addr` value: an address, or `None` for `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsAddr(pub Option<SocketAddr>);

fn parse_metrics_addr(text: &str) -> Result<MetricsAddr, String> {
    crate::config::metrics_addr::parse(text).map(MetricsAddr)
}

impl RelayArgs {
    /// The config file (or the defaults) with the flags applied, validated.
    pub fn to_config(&self) -> Result<RelayConfig, ConfigError> {
        let mut config = match &self.config {
            Some(path) => RelayConfig::load(path)?,
            None => RelayConfig::default(),
        };
        if !self.listen.is_empty() {
            config.listen = self.listen.clone();
        }
        if !self.announce.is_empty() {
            config.announce = self.announce.clone();
        }
        if !self.peer.is_empty() {
            config.peers = self.peer.clone();
        }
        if let Some(path) = &self.key_file {
            config.key_file = path.clone();
        }
        if let Some(MetricsAddr(addr)) = self.metrics_addr {
            config.metrics_addr = addr;
        }
        config.validate()?;
        Ok(config)
    }
}
