//! MCP, the Model Context Protocol: every agent a gateway fronts is an MCP server whose one
//! tool is the agent (docs/mcp.md). Streamable HTTP at `/mcp` (embedded) or
//! `/agents/{address}/mcp` (standalone), on rmcp, the official Rust SDK: it speaks the
//! protocol (initialize and its version negotiation, sessions, SSE, ping, cancellation,
//! Host/Origin checks); these files map it onto the agent, along a call's path:
//! - `entry.rs`: the route. Which agent, who calls (the client's address, or the `X-Co-*`
//!   signature bound to the body), then rmcp's service;
//! - `server.rs`: [`AgentTools`], rmcp's `ServerHandler`: `initialize`, `tools/list`,
//!   `tools/call`, for the agent of each request;
//! - `upstream.rs`: where a call goes: the agent's door (through a gateway) or a P2P
//!   connection (the stdio bridge);
//! - `tool.rs`: the tool (name, description, schemas) from the agent's INFO;
//! - `call.rs`: one `tools/call` through the door: STREAM frames as progress, the result,
//!   cancellation;
//! - `error.rs`: the door's answers as tool errors or JSON-RPC errors, in one place;
//! - `bridge.rs`: [`McpBridge`], the same server on stdio, in front of one remote agent.

mod bridge;
mod call;
mod entry;
mod error;
mod server;
mod tool;
mod upstream;

pub use bridge::{McpBridge, McpBridgeError};
pub(crate) use entry::Mcp;
