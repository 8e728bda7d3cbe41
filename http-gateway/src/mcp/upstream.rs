//! [`Upstream`]: where an MCP server sends the agent requests its tools make, and as whom.

use std::sync::Arc;

use agenthost_identity::Address;
use agenthost_node::{
    AgentConnection, AgentService, Caller, ErrorCode, Reply, Request, SignedFields,
};

/// What `tools/list` and `tools/call` need to know of the HTTP request that carried them:
/// `entry.rs` puts it in the request's extensions, `server.rs` reads it there.
#[derive(Clone)]
pub(crate) struct Route {
    pub address: Address,
    pub upstream: Upstream,
}

/// Where requests go.
#[derive(Clone)]
pub(crate) enum Upstream {
    /// The door of an agent a gateway fronts (in process, or remote behind it), with the
    /// caller the HTTP request showed and its signature, if it carried one.
    Door {
        service: Arc<dyn AgentService>,
        caller: Caller,
        signed: SignedFields,
    },
    /// A P2P connection to the agent, made with the caller's own key: the agent sees that key
    /// as the caller (Noise authenticates it), as with `agenthost call`.
    Connection(AgentConnection),
}

impl Upstream {
    /// Sends `request`; a connection that cannot open a stream answers `unreachable`.
    pub(crate) async fn send(&self, request: Request) -> Reply {
        match self {
            Upstream::Door {
                service, caller, ..
            } => service.call(request, caller.clone()),
            Upstream::Connection(connection) => match connection.request(&request).await {
                Ok(reply) => reply,
                Err(e) => Reply::error(
                    ErrorCode::Unreachable,
                    format!("agent {} is unreachable: {e}", connection.address().short()),
                ),
            },
        }
    }

    /// The signature of the HTTP request that carried the call: it travels with the INPUT,
    /// and the agent verifies it (WIRE.md §2.6).
    pub(crate) fn signed(&self) -> SignedFields {
        match self {
            Upstream::Door { signed, .. } => signed.clone(),
            Upstream::Connection(_) => SignedFields::default(),
        }
    }
}
