//! Calling an agent by its address.

use agenthost_node::{AgentConnection, Client, ClientError, Multiaddr};

/// Connects to the agent at `address` (`0x…` or `12D3KooW…`) found on the LAN, with a fresh
/// ephemeral caller identity. The connection is reused by every request made through it.
///
/// ```no_run
/// # async fn call() -> Result<(), agenthost::ClientError> {
/// let agent = agenthost::connect("0x…").await?;
/// let output = agent.input("hello").await?;
/// println!("{}", output.result);
/// # Ok(())
/// # }
/// ```
pub async fn connect(address: &str) -> Result<AgentConnection, ClientError> {
    connect_with(address, Vec::new()).await
}

/// Like [`connect`], dialing the given multiaddrs (e.g. those the host's banner prints).
pub async fn connect_with(
    address: &str,
    addrs: Vec<Multiaddr>,
) -> Result<AgentConnection, ClientError> {
    // The connection keeps the client's node alive through its handle.
    Client::ephemeral().await?.connect(address, addrs).await
}
