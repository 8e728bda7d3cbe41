//! [`McpBridge`]: an MCP server on stdin/stdout whose one tool is an agent reached over P2P,
//! directly, on the LAN or through a relay, so an MCP client that can only start a local
//! command (`agenthost mcp 0x…`) uses an agent behind any NAT. The calls go out over the
//! caller's own P2P connection, authenticated by the caller's key.

use std::time::Duration;

use agenthost_node::AgentConnection;
use rmcp::ServiceExt;

use super::{
    server::{AgentTools, Shared},
    upstream::Upstream,
};

/// The stdio MCP server in front of one remote agent.
pub struct McpBridge {
    tools: AgentTools,
}

/// Why the bridge stopped other than by its client leaving.
#[derive(Debug, thiserror::Error)]
pub enum McpBridgeError {
    /// The MCP session could not start (no `initialize`, or stdio failed).
    #[error("MCP session did not start: {0}")]
    Start(String),
    /// The session ended with an error.
    #[error("MCP session failed: {0}")]
    Run(String),
}

impl McpBridge {
    /// A bridge to the agent at the other end of `connection`; a turn that takes longer than
    /// `request_timeout` ends as failed.
    pub fn new(connection: AgentConnection, request_timeout: Duration) -> Self {
        let address = connection.address();
        McpBridge {
            tools: AgentTools::fixed(
                address,
                Upstream::Connection(connection),
                Shared::new(request_timeout),
            ),
        }
    }

    /// Serves MCP on stdin/stdout until the client closes stdin.
    pub async fn serve_stdio(self) -> Result<(), McpBridgeError> {
        let running = self
            .tools
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| McpBridgeError::Start(e.to_string()))?;
        running
            .waiting()
            .await
            .map(|_| ())
            .map_err(|e| McpBridgeError::Run(e.to_string()))
    }
}
