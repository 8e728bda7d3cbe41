//! [`AgentTools`]: the MCP server of an agent, as rmcp's `ServerHandler`. rmcp handles the
//! protocol; this answers `initialize` (tools only), `tools/list` (the agent's one tool) and
//! `tools/call` (a turn), for the agent each request is for: the one the HTTP route named
//! (`entry.rs` puts its `Route` in the request), or the bridge's one remote agent.

use std::{sync::Arc, time::Duration};

use agenthost_identity::Address;
use agenthost_node::{Frame, Request};
use moka::future::Cache;
use rmcp::{
    model::{
        CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
        PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    },
    service::{RequestContext, RoleServer},
    ErrorData as McpError, ServerHandler,
};

use super::{
    call::{call_agent, Progress},
    tool::agent_tool,
    upstream::{Route, Upstream},
};

/// How long an agent's tool is reused before its INFO is asked again: a `tools/call` needs
/// the tool's name, and asking for each call would double the requests.
const TOOL_TTL: Duration = Duration::from_secs(30);

/// What the handler instances of one MCP endpoint share.
pub(crate) struct Shared {
    /// Each agent's tool, by address, for [`TOOL_TTL`].
    tools: Cache<Address, Arc<Tool>>,
    /// Longest wait for a turn before the call ends as failed.
    request_timeout: Duration,
}

impl Shared {
    pub(crate) fn new(request_timeout: Duration) -> Arc<Self> {
        Arc::new(Shared {
            tools: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(TOOL_TTL)
                .build(),
            request_timeout,
        })
    }
}

/// Which agent a handler serves.
#[derive(Clone)]
enum Agent {
    /// The one each HTTP request names (`entry.rs` put its [`Route`] in the request).
    PerRequest,
    /// One agent over one P2P connection: the stdio bridge.
    Fixed(Arc<(Address, Upstream)>),
}

/// The MCP server of an agent. One instance per MCP session; clones are cheap.
#[derive(Clone)]
pub(crate) struct AgentTools {
    agent: Agent,
    shared: Arc<Shared>,
}

impl AgentTools {
    /// The handler of an HTTP endpoint: each request carries its agent.
    pub(crate) fn per_request(shared: Arc<Shared>) -> Self {
        AgentTools {
            agent: Agent::PerRequest,
            shared,
        }
    }

    /// The handler of the stdio bridge: every request goes to `address` over `upstream`.
    pub(crate) fn fixed(address: Address, upstream: Upstream, shared: Arc<Shared>) -> Self {
        AgentTools {
            agent: Agent::Fixed(Arc::new((address, upstream))),
            shared,
        }
    }

    /// The agent this request is for and how to reach it.
    fn route(&self, context: &RequestContext<RoleServer>) -> Result<(Address, Upstream), McpError> {
        match &self.agent {
            Agent::Fixed(fixed) => Ok((fixed.0, fixed.1.clone())),
            Agent::PerRequest => context
                .extensions
                .get::<axum::http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<Route>())
                .map(|route| (route.address, route.upstream.clone()))
                .ok_or_else(|| McpError::internal_error("the request names no agent", None)),
        }
    }

    /// The agent's tool, from INFO (asked once per [`TOOL_TTL`]).
    async fn tool(&self, address: Address, upstream: &Upstream) -> Result<Arc<Tool>, McpError> {
        self.shared
            .tools
            .try_get_with(address, async {
                match upstream.send(Request::Info {}).await.terminal().await {
                    Frame::Response(info) => Ok(Arc::new(agent_tool(&info))),
                    Frame::Error(e) => Err(super::error::call_error(&e, None)
                        .err()
                        .unwrap_or_else(|| McpError::internal_error(e.message, None))),
                    other => Err(McpError::internal_error(
                        format!("the agent answered INFO with {}", other.to_json()),
                        None,
                    )),
                }
            })
            .await
            .map_err(|e| McpError::clone(&e))
    }
}

impl ServerHandler for AgentTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("agenthost", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "The one tool is an AI agent: give it a prompt; pass the session_id of a result \
                 back to continue that conversation.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let (address, upstream) = self.route(&context)?;
        let tool = self.tool(address, &upstream).await?;
        Ok(ListToolsResult::with_all_items(vec![Tool::clone(&tool)]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let (address, upstream) = self.route(&context)?;
        let tool = self.tool(address, &upstream).await?;
        if request.name != tool.name {
            return Err(McpError::invalid_params(
                format!(
                    "unknown tool {:?}; this agent's tool is {:?}",
                    request.name, tool.name
                ),
                None,
            ));
        }
        let progress = context.meta.get_progress_token().map(|token| Progress {
            token,
            peer: context.peer.clone(),
        });
        let result = call_agent(
            &upstream,
            request.arguments,
            progress,
            context.ct.clone(),
            self.shared.request_timeout,
        )
        .await?;
        Ok(result.into())
    }
}
