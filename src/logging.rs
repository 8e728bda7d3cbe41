//! The log subscriber every command installs: a `RUST_LOG`-style filter, text for people or one
//! JSON object per line for machines, always on stderr (stdout carries banners and results).

use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

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
