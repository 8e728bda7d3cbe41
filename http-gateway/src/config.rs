//! [`GatewayConfig`]: the settings of a gateway.

use std::time::Duration;

/// Settings of a gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Largest request body; derive it from the agent's file limits
    /// (`InputLimits::max_request_bytes`), so every request the agent could accept fits.
    pub max_body_bytes: usize,
    /// How often a WebSocket gets `{"type":"PING"}` (WIRE.md §4: 30 s).
    pub ws_ping_interval: Duration,
    /// Frames a WebSocket client may fall behind a live turn before it is told and dropped.
    pub ws_lag_frames: usize,
    /// How long a write to a WebSocket may block before the client is dropped.
    pub ws_send_timeout: Duration,
    /// Longest wait for an HTTP answer (`POST /input` included) before 504.
    pub request_timeout: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`client_addr.rs`); empty:
    /// the TCP peer is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `Host` values `/mcp` accepts, names or `name:port` (DNS rebinding, as MCP asks); `*`
    /// accepts any. Default: loopback names only.
    pub mcp_allowed_hosts: Vec<String>,
    /// `Origin` values `/mcp` accepts from browsers (`scheme://host[:port]`, `:*` for any
    /// port); `*` accepts any. A request without an `Origin` (not from a browser) always
    /// passes. Default: loopback origins only.
    pub mcp_allowed_origins: Vec<String>,
    /// WebSockets open at once; one more is answered 503 before the upgrade.
    pub ws_max_connections: usize,
    /// Bytes all live WebSocket turns keep for rejoining clients, together.
    pub ws_replay_budget_bytes: usize,
    /// How long a client has to send a request's headers, on a new connection and between
    /// requests of a kept-alive one; then the connection is closed (`listener.rs`).
    pub header_read_timeout: Duration,
    /// Connections held at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Connections held at once from one client address (a trusted proxy is not counted).
    pub max_connections_per_ip: usize,
}

/// WebSockets open at once by default.
pub const DEFAULT_WS_MAX_CONNECTIONS: usize = 1024;
/// MiB all live WebSocket turns keep for rejoining clients by default.
pub const DEFAULT_WS_REPLAY_BUDGET_MB: usize = 256;

/// How long a client has to send a request's headers by default.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections a gateway holds at once by default: a small VPS's share of its descriptors
/// (the deploy units raise the limit to 65,536).
pub const DEFAULT_MAX_CONNECTIONS: usize = 2048;
/// Connections from one address by default: room for a NATed office, not for one client to
/// take the whole gateway.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 256;

/// The `Host` names `/mcp` accepts by default: this machine's.
pub const DEFAULT_MCP_ALLOWED_HOSTS: &[&str] = &["localhost", "127.0.0.1", "::1", "[::1]"];

/// The browser origins `/mcp` accepts by default: pages served from this machine.
pub const DEFAULT_MCP_ALLOWED_ORIGINS: &[&str] = &[
    "http://localhost:*",
    "http://127.0.0.1:*",
    "http://[::1]:*",
    "https://localhost:*",
    "https://127.0.0.1:*",
    "https://[::1]:*",
];

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            max_body_bytes: agenthost_node::inputs::InputLimits::default().max_request_bytes(),
            ws_ping_interval: Duration::from_secs(30),
            ws_lag_frames: 1024,
            ws_send_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(600),
            trusted_proxies: Vec::new(),
            mcp_allowed_hosts: DEFAULT_MCP_ALLOWED_HOSTS
                .iter()
                .map(|h| h.to_string())
                .collect(),
            mcp_allowed_origins: DEFAULT_MCP_ALLOWED_ORIGINS
                .iter()
                .map(|o| o.to_string())
                .collect(),
            ws_max_connections: DEFAULT_WS_MAX_CONNECTIONS,
            ws_replay_budget_bytes: DEFAULT_WS_REPLAY_BUDGET_MB << 20,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
        }
    }
}
