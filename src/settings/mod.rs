//! [`Settings`]: every setting of a hosted agent, one truth read from four places.
//!
//! Precedence, highest first: `agenthost host` flags, `AGENTHOST_*` environment variables, the
//! `agenthost.toml` file (the working directory's, or `--config FILE` / `AGENTHOST_CONFIG`),
//! then the defaults. In Rust, the values an author sets on [`Host`](crate::Host) in code are
//! the defaults: [`Host::load_settings`](crate::Host::load_settings) (which [`host`](crate::host)
//! calls) lays file and environment over them, so an operator reconfigures a compiled agent
//! without rebuilding it.
//!
//! Every place uses the same names: the file key `result_ttl` is the variable
//! `AGENTHOST_RESULT_TTL` and the flag `--result-ttl`. Values are parsed by one function per
//! key whatever their place, so a bad value is the same clear error everywhere, naming the key
//! and where the value came from; an unknown key in the file is an error too (a typo must not
//! fall back to a default silently).
//!
//! - `source.rs`: [`KEYS`] (every key with its variable) and [`Source`] (where a value came from);
//! - `parse.rs`: one parser per key;
//! - `display.rs`: the values as `agenthost config` prints them;
//! - this file: [`Settings`], its defaults, and its layers read and laid over each other.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
    path::{Path, PathBuf},
    time::Duration,
};

use agenthost_identity::Address;
use agenthost_node::{trust::Trust, InboundLimits, Multiaddr};

mod display;
mod parse;
mod source;
#[cfg(test)]
mod tests;

use crate::logging::LogFormat;
pub use source::{Source, KEYS};

/// The configuration file looked for in the working directory.
pub const CONFIG_FILE: &str = "agenthost.toml";

/// Names the configuration file instead of `./agenthost.toml` (as `--config` does).
pub const CONFIG_ENV: &str = "AGENTHOST_CONFIG";

/// The HTTP port of a hosted agent unless told otherwise.
pub const DEFAULT_HTTP_PORT: u16 = 8000;

/// Where everything an agent keeps lives, unless [`Host::data_dir`](crate::Host::data_dir)
/// says otherwise.
pub const DEFAULT_DATA_DIR: &str = ".agenthost";

/// How long results stay fetchable by default: 24 hours.
pub const DEFAULT_RESULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How long runs may finish after SIGTERM/SIGINT (or a reload) before they are interrupted.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(30);

/// The resolved settings of one hosted agent.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The agent's name; `None` keeps the agent's own.
    pub name: Option<String>,
    /// Who may call (`careful` by default).
    pub trust: Trust,
    /// How `trust` was written (`strict`, a policy text or a policy file's path).
    pub trust_spec: String,
    /// Callers always admitted (unless blacklisted), besides the whitelist file's.
    pub whitelist: Vec<Address>,
    /// Callers always refused, besides the blacklist file's.
    pub blacklist: Vec<Address>,
    /// `None`: `<data_dir>/whitelist.txt`.
    pub whitelist_file: Option<PathBuf>,
    /// `None`: `<data_dir>/blacklist.txt`.
    pub blacklist_file: Option<PathBuf>,
    /// The HTTP gateway's port (8000; 0 picks a free one).
    pub port: u16,
    /// The interface the HTTP gateway binds (0.0.0.0: every interface).
    pub http_bind: IpAddr,
    /// Whether the agent serves HTTP, WebSocket and /docs at all.
    pub http: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the HTTP client (empty: none).
    pub trusted_proxies: Vec<IpAddr>,
    /// How long an HTTP client has to send a request's headers (10 s); then the connection
    /// is closed.
    pub http_header_timeout: Duration,
    /// HTTP connections held at once (2048); one more is answered 503 and closed.
    pub http_max_connections: usize,
    /// HTTP connections from one address (256); trusted proxies are not counted.
    pub http_max_per_ip: usize,
    /// Inbound P2P connections at once: in handshake (128), established (1024), with one
    /// peer (8). One over is dropped before its handshake completes.
    pub p2p_inbound: InboundLimits,
    /// WebSockets open at once (1024); one more is answered 503.
    pub ws_max_connections: usize,
    /// MiB all live WebSocket turns keep for rejoining clients (256).
    pub ws_replay_budget_mb: usize,
    /// `Host` values `/mcp` accepts (DNS rebinding); `*` any. Default: loopback names.
    pub mcp_allowed_hosts: Vec<String>,
    /// Browser `Origin`s `/mcp` accepts; `*` any. Default: loopback origins.
    pub mcp_allowed_origins: Vec<String>,
    /// Runs executing at once (16).
    pub workers: usize,
    /// Admitted runs waiting for a worker (128); beyond it callers get `overloaded`.
    pub queue: usize,
    /// How long results stay fetchable by session id (24 h).
    pub result_ttl: Duration,
    /// Relays to reserve on; empty (or `none`) = no relaying.
    pub relays: Vec<Multiaddr>,
    /// Whether file changes in the working directory retire the runs in flight.
    pub reload: bool,
    /// Empty: TCP and QUIC on every interface, any port.
    pub listen: Vec<Multiaddr>,
    /// LAN announcement and discovery by mDNS.
    pub mdns: bool,
    /// The folder for the key, the session database, access lists and uploads.
    pub data_dir: PathBuf,
    /// `None`: `<data_dir>/keys/agent.key`.
    pub key_file: Option<PathBuf>,
    /// Largest attached file, in MB.
    pub max_file_size: f64,
    /// Most files (and most images) in one request.
    pub max_files_per_request: usize,
    /// Requests per minute per caller; `None` = unlimited.
    pub rate_limit: Option<u32>,
    /// How long one run of a hosted command may take (`agenthost host -- CMD`).
    pub command_timeout: Duration,
    /// How long runs may finish after a signal or reload before they are interrupted.
    pub grace_period: Duration,
    /// How often WebSocket clients get `{"type":"PING"}`.
    pub ws_ping_interval: Duration,
    /// Log lines as text or JSON.
    pub log_format: LogFormat,
    /// A `RUST_LOG`-style filter; `None`: `RUST_LOG`, else `info`.
    pub log: Option<String>,
    /// The configuration file read, if any.
    pub config_file: Option<PathBuf>,
    sources: BTreeMap<&'static str, Source>,
    /// Each value as its place gave it, in order, so these settings can be laid over others.
    given: Vec<(&'static str, Given, Source)>,
}

/// A value as a place gave it, kept to be parsed again when laid over other settings.
#[derive(Debug, Clone)]
enum Given {
    Text(String),
    Toml(toml::Value),
}

impl Given {
    fn raw(&self) -> Raw<'_> {
        match self {
            Given::Text(text) => Raw::Text(text),
            Given::Toml(value) => Raw::Toml(value),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            name: None,
            trust: Trust::Careful,
            trust_spec: "careful".into(),
            whitelist: Vec::new(),
            blacklist: Vec::new(),
            whitelist_file: None,
            blacklist_file: None,
            port: DEFAULT_HTTP_PORT,
            http_bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            http: true,
            trusted_proxies: Vec::new(),
            http_header_timeout: agenthost_gateway::DEFAULT_HEADER_READ_TIMEOUT,
            http_max_connections: agenthost_gateway::DEFAULT_MAX_CONNECTIONS,
            http_max_per_ip: agenthost_gateway::DEFAULT_MAX_CONNECTIONS_PER_IP,
            p2p_inbound: InboundLimits::default(),
            ws_max_connections: agenthost_gateway::DEFAULT_WS_MAX_CONNECTIONS,
            ws_replay_budget_mb: agenthost_gateway::DEFAULT_WS_REPLAY_BUDGET_MB,
            mcp_allowed_hosts: strings(agenthost_gateway::DEFAULT_MCP_ALLOWED_HOSTS),
            mcp_allowed_origins: strings(agenthost_gateway::DEFAULT_MCP_ALLOWED_ORIGINS),
            workers: 16,
            queue: 128,
            result_ttl: DEFAULT_RESULT_TTL,
            relays: Vec::new(),
            reload: false,
            listen: Vec::new(),
            mdns: true,
            data_dir: DEFAULT_DATA_DIR.into(),
            key_file: None,
            max_file_size: 10.0,
            max_files_per_request: 10,
            rate_limit: None,
            command_timeout: agenthost_node::DEFAULT_COMMAND_TIMEOUT,
            grace_period: DEFAULT_GRACE_PERIOD,
            ws_ping_interval: Duration::from_secs(30),
            log_format: LogFormat::Text,
            log: None,
            config_file: None,
            sources: BTreeMap::new(),
            given: Vec::new(),
        }
    }
}

/// A bad setting: which key, from where, and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A value its key's parser refuses.
    #[error("{source_}: {key}: {message}")]
    BadValue {
        /// The key, as the file writes it.
        key: String,
        /// Where the value came from.
        source_: Source,
        /// What is wrong with it.
        message: String,
    },
    /// A key in the file that no setting has (a typo must not fall back to a default).
    #[error("{}: unknown key `{key}` (known keys: {})", path.display(), known_keys())]
    UnknownKey {
        /// The unknown key.
        key: String,
        /// The file it is in.
        path: PathBuf,
    },
    /// The file cannot be read or is not TOML.
    #[error("reading the configuration file {}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why it cannot be used.
        message: String,
    },
}

fn known_keys() -> String {
    KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
}

/// One value as a place gave it, before the key's parser reads it.
#[derive(Debug, Clone, Copy)]
pub enum Raw<'a> {
    /// From a flag or an environment variable.
    Text(&'a str),
    /// From the TOML file, typed.
    Toml(&'a toml::Value),
}

impl Settings {
    /// Reads the file (`config`, else `$AGENTHOST_CONFIG`, else `./agenthost.toml` if it
    /// exists) and the environment over the defaults, then `flags` (key, value) over both.
    pub fn load(
        config: Option<&Path>,
        flags: &[(&'static str, String)],
    ) -> Result<Self, SettingsError> {
        let mut settings = Settings::default();
        settings.read_file(config)?;
        settings.read_env(|var| std::env::var(var).ok())?;
        for (key, value) in flags {
            settings.set(key, Raw::Text(value), Source::Flag)?;
        }
        Ok(settings)
    }

    /// Where `key`'s value came from.
    pub fn source(&self, key: &str) -> Source {
        self.sources.get(key).cloned().unwrap_or(Source::Default)
    }

    /// Whether `key` was set anywhere but the defaults.
    pub fn is_set(&self, key: &str) -> bool {
        self.sources.contains_key(key)
    }

    /// The file layer. An explicitly named file must exist; `./agenthost.toml` may not.
    pub fn read_file(&mut self, config: Option<&Path>) -> Result<(), SettingsError> {
        let named = config
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from));
        let path = match named {
            Some(path) => path,
            None if Path::new(CONFIG_FILE).is_file() => PathBuf::from(CONFIG_FILE),
            None => return Ok(()),
        };
        let text = std::fs::read_to_string(&path).map_err(|e| SettingsError::File {
            path: path.clone(),
            message: e.to_string(),
        })?;
        self.read_toml(&text, &path)?;
        self.config_file = Some(path);
        Ok(())
    }

    /// Applies a TOML document as the file layer (`path` names it in errors and sources).
    pub fn read_toml(&mut self, text: &str, path: &Path) -> Result<(), SettingsError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| SettingsError::File {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        for (key, value) in &table {
            let Some((key, _)) = KEYS.iter().find(|(k, _)| k == key) else {
                return Err(SettingsError::UnknownKey {
                    key: key.clone(),
                    path: path.to_owned(),
                });
            };
            self.set(key, Raw::Toml(value), Source::File(path.to_owned()))?;
        }
        Ok(())
    }

    /// The environment layer, reading variables through `lookup` (tests pass their own).
    pub fn read_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), SettingsError> {
        for (key, var) in KEYS {
            if let Some(value) = lookup(var) {
                self.set(key, Raw::Text(&value), Source::Env(var))?;
            }
        }
        Ok(())
    }

    /// Parses one value for `key` and records where it came from.
    pub fn set(
        &mut self,
        key: &'static str,
        raw: Raw<'_>,
        source: Source,
    ) -> Result<(), SettingsError> {
        self.parse_into(key, raw)
            .map_err(|message| SettingsError::BadValue {
                key: key.to_owned(),
                source_: source.clone(),
                message,
            })?;
        let given = match raw {
            Raw::Text(text) => Given::Text(text.to_owned()),
            Raw::Toml(value) => Given::Toml(value.clone()),
        };
        self.given.push((key, given, source.clone()));
        self.sources.insert(key, source);
        Ok(())
    }

    /// Lays every value set here (file, environment, flags) over `under`, each parsed by its
    /// key's parser again; what was not set here keeps `under`'s value.
    pub fn lay_over(&self, under: &mut Settings) -> Result<(), SettingsError> {
        for (key, given, source) in &self.given {
            under.set(key, given.raw(), source.clone())?;
        }
        if self.config_file.is_some() {
            under.config_file = self.config_file.clone();
        }
        Ok(())
    }

    /// Records that `key` was set in code ([`Source::Code`]), below the file and environment.
    pub(crate) fn set_in_code(&mut self, key: &'static str) {
        self.sources.insert(key, Source::Code);
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}
