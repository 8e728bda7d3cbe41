//! The names of the settings and of the places their values come from.

use std::{fmt, path::PathBuf};

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Nobody set it.
    Default,
    /// Set in Rust, on [`Host`](crate::Host): the layer under the file.
    Code,
    /// From the configuration file at this path.
    File(PathBuf),
    /// From this environment variable.
    Env(&'static str),
    /// From an `agenthost host` flag.
    Flag,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::Code => f.write_str("code"),
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Env(var) => write!(f, "env {var}"),
            Source::Flag => f.write_str("flag"),
        }
    }
}

/// Every key, in the order `agenthost config` prints them, with its environment variable.
/// The flag is the key in kebab case (`--result-ttl`), except the lists' singular flags
/// (`--relay`, `--listen`, `--whitelist`, `--blacklist`, `--trusted-proxy`: repeat them) and the switches
/// `--no-http`, `--no-mdns`, `--reload`.
pub const KEYS: &[(&str, &str)] = &[
    ("name", "AGENTHOST_NAME"),
    ("trust", "AGENTHOST_TRUST"),
    ("whitelist", "AGENTHOST_WHITELIST"),
    ("blacklist", "AGENTHOST_BLACKLIST"),
    ("whitelist_file", "AGENTHOST_WHITELIST_FILE"),
    ("blacklist_file", "AGENTHOST_BLACKLIST_FILE"),
    ("port", "AGENTHOST_PORT"),
    ("http_bind", "AGENTHOST_HTTP_BIND"),
    ("http", "AGENTHOST_HTTP"),
    ("trusted_proxies", "AGENTHOST_TRUSTED_PROXIES"),
    ("http_header_timeout", "AGENTHOST_HTTP_HEADER_TIMEOUT"),
    ("http_max_connections", "AGENTHOST_HTTP_MAX_CONNECTIONS"),
    ("http_max_per_ip", "AGENTHOST_HTTP_MAX_PER_IP"),
    ("p2p_max_pending", "AGENTHOST_P2P_MAX_PENDING"),
    ("p2p_max_incoming", "AGENTHOST_P2P_MAX_INCOMING"),
    ("p2p_max_per_peer", "AGENTHOST_P2P_MAX_PER_PEER"),
    ("ws_max_connections", "AGENTHOST_WS_MAX_CONNECTIONS"),
    ("ws_replay_budget_mb", "AGENTHOST_WS_REPLAY_BUDGET_MB"),
    ("mcp_allowed_hosts", "AGENTHOST_MCP_ALLOWED_HOSTS"),
    ("mcp_allowed_origins", "AGENTHOST_MCP_ALLOWED_ORIGINS"),
    ("workers", "AGENTHOST_WORKERS"),
    ("queue", "AGENTHOST_QUEUE"),
    ("result_ttl", "AGENTHOST_RESULT_TTL"),
    ("relays", "AGENTHOST_RELAYS"),
    ("reload", "AGENTHOST_RELOAD"),
    ("listen", "AGENTHOST_LISTEN"),
    ("mdns", "AGENTHOST_MDNS"),
    ("data_dir", "AGENTHOST_DATA_DIR"),
    ("key_file", "AGENTHOST_KEY_FILE"),
    ("max_file_size", "AGENTHOST_MAX_FILE_SIZE"),
    ("max_files_per_request", "AGENTHOST_MAX_FILES_PER_REQUEST"),
    ("rate_limit", "AGENTHOST_RATE_LIMIT"),
    ("command_timeout", "AGENTHOST_COMMAND_TIMEOUT"),
    ("grace_period", "AGENTHOST_GRACE_PERIOD"),
    ("ws_ping_interval", "AGENTHOST_WS_PING_INTERVAL"),
    ("log_format", "AGENTHOST_LOG_FORMAT"),
    ("log", "AGENTHOST_LOG"),
];
