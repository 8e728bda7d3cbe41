//! The log subscriber every command installs: a `RUST_LOG`-style filter, text for people or one
//! JSON object per line for machines, always on stderr (stdout carries banners and results).

use std::{fmt, str::FromStr};

use tracing_subscriber::EnvFilter;

/// Log lines for people (`text`) or for machines (`json`, one object per line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("expected text or json, got {s:?}")),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

/// Installs the global logger unless one is installed already (a Rust program hosting an agent
/// may have its own); returns whether this call installed it. The filter is `filter` if given,
/// else `$RUST_LOG`, else `default`.
pub fn init_logging(format: LogFormat, filter: Option<&str>, default: &str) -> bool {
    let filter = filter
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.try_init().is_ok(),
        LogFormat::Json => builder.json().try_init().is_ok(),
    }
}

/// The default filter of long-running commands: libp2p's own info lines (peer id, mDNS
/// interfaces) repeat what the banner says.
pub const SERVICE_LOG_FILTER: &str = "info,libp2p_swarm=warn,libp2p_mdns=warn,libp2p_kad=error";
