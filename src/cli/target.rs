//! The arguments every caller command shares — which agent, where, as whom — and the connection
//! they make.

use std::path::PathBuf;

use std::time::Duration;

use agenthost::node::{circuit_to, NodeConfig};
use agenthost::{identity, AgentConnection, AgentKey, Client, Multiaddr};
use clap::Args;

#[derive(Args)]
pub(super) struct Target {
    /// The agent's address (`0x…`) or PeerId.
    pub address: String,
    /// A multiaddr where the agent listens (repeatable); without one, the agent is looked up
    /// on the LAN.
    #[arg(long = "addr", value_name = "MULTIADDR")]
    pub addr: Vec<Multiaddr>,
    /// A relay the agent is reserved on (full multiaddr ending in /p2p/<relay>; repeatable):
    /// the agent is dialed through it, after any direct address.
    #[arg(long = "relay", value_name = "MULTIADDR")]
    pub relay: Vec<Multiaddr>,
    /// Call with this identity; default: a fresh ephemeral one. Sessions belong to the identity
    /// that started them, so fetching or cancelling one later needs the same key.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// When the connection comes up through a relay, wait up to this long for the hole punch
    /// to open a direct one before sending the request over the relay (0: do not wait).
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    pub direct_wait: f64,
}

impl Target {
    /// Connects to the agent; the connection keeps the client node alive.
    pub(super) async fn connect(&self) -> anyhow::Result<AgentConnection> {
        let key = match &self.key_file {
            Some(path) => identity::load_key(path)?,
            None => AgentKey::generate(),
        };
        let mut config = NodeConfig::new(key);
        if !self.relay.is_empty() {
            // Hole punching needs listeners: outgoing connections then leave from the listening
            // ports, so the relay observes (and NATs map) the ports a punch will target.
            config.listen = NodeConfig::default_listen();
        }
        let mut client = Client::start(config).await?;
        let wait = Duration::try_from_secs_f64(self.direct_wait)
            .map_err(|e| anyhow::anyhow!("--direct-wait {}: {e}", self.direct_wait))?;
        client.set_direct_wait(wait);
        let agent = agenthost::Address::parse(&self.address)?.to_peer_id();
        // Address -> PeerId is pure computation, so the circuit address needs no lookup.
        let circuits = self.relay.iter().map(|relay| circuit_to(relay, agent));
        let addrs = self.addr.iter().cloned().chain(circuits).collect();
        Ok(client.connect(&self.address, addrs).await?)
    }
}
