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

use std::{
    collections::BTreeMap,
    fmt,
    net::{IpAddr, Ipv4Addr},
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use agenthost_identity::Address;
use agenthost_node::{trust::Trust, Multiaddr};

use crate::{DEFAULT_DATA_DIR, DEFAULT_HTTP_PORT, DEFAULT_RESULT_TTL};

/// The configuration file looked for in the working directory.
pub const CONFIG_FILE: &str = "agenthost.toml";

/// Names the configuration file instead of `./agenthost.toml` (as `--config` does).
pub const CONFIG_ENV: &str = "AGENTHOST_CONFIG";

/// How long runs may finish after SIGTERM/SIGINT (or a reload) before they are interrupted.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(30);

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(&'static str),
    Flag,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Env(var) => write!(f, "env {var}"),
            Source::Flag => f.write_str("flag"),
        }
    }
}

/// Log lines for people (`text`) or for machines (`json`, one object per line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
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

/// The resolved settings of one hosted agent.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The agent's name; `None` keeps the agent's own.
    pub name: Option<String>,
    pub trust: Trust,
    /// How `trust` was written (`strict`, a policy text or a policy file's path).
    pub trust_spec: String,
    pub whitelist: Vec<Address>,
    pub blacklist: Vec<Address>,
    /// `None`: `<data_dir>/whitelist.txt`.
    pub whitelist_file: Option<PathBuf>,
    pub blacklist_file: Option<PathBuf>,
    pub port: u16,
    pub http_bind: IpAddr,
    pub http: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the HTTP client (empty: none).
    pub trusted_proxies: Vec<IpAddr>,
    pub workers: usize,
    pub queue: usize,
    pub result_ttl: Duration,
    /// Relays to reserve on; empty (or `none`) = no relaying.
    pub relays: Vec<Multiaddr>,
    pub reload: bool,
    /// Empty: TCP and QUIC on every interface, any port.
    pub listen: Vec<Multiaddr>,
    pub mdns: bool,
    pub data_dir: PathBuf,
    /// `None`: `<data_dir>/keys/agent.key`.
    pub key_file: Option<PathBuf>,
    /// Largest attached file, in MB.
    pub max_file_size: f64,
    pub max_files_per_request: usize,
    /// Requests per minute per caller; `None` = unlimited.
    pub rate_limit: Option<u32>,
    pub command_timeout: Duration,
    pub grace_period: Duration,
    pub ws_ping_interval: Duration,
    pub log_format: LogFormat,
    /// A `RUST_LOG`-style filter; `None`: `RUST_LOG`, else `info`.
    pub log: Option<String>,
    /// The configuration file read, if any.
    pub config_file: Option<PathBuf>,
    sources: BTreeMap<&'static str, Source>,
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
        }
    }
}

/// A bad setting: which key, from where, and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{source_}: {key}: {message}")]
    BadValue {
        key: String,
        source_: Source,
        message: String,
    },
    #[error("{}: unknown key `{key}` (known keys: {})", path.display(), known_keys())]
    UnknownKey { key: String, path: PathBuf },
    #[error("reading the configuration file {}: {message}", path.display())]
    File { path: PathBuf, message: String },
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
        self.sources.insert(key, source);
        Ok(())
    }

    fn parse_into(&mut self, key: &str, raw: Raw<'_>) -> Result<(), String> {
        match key {
            "name" => {
                let name = raw.text()?;
                self.name = (!name.trim().is_empty()).then(|| name.trim().to_owned());
            }
            "trust" => {
                let spec = raw.text()?;
                self.trust = Trust::parse(&spec).map_err(|e| e.to_string())?;
                self.trust_spec = spec;
            }
            "whitelist" => self.whitelist = raw.list_of("an address (0x + 64 hex digits)")?,
            "blacklist" => self.blacklist = raw.list_of("an address (0x + 64 hex digits)")?,
            "whitelist_file" => self.whitelist_file = Some(raw.path()?),
            "blacklist_file" => self.blacklist_file = Some(raw.path()?),
            "port" => self.port = raw.number("a port number 0-65535")?,
            "http_bind" => self.http_bind = raw.parsed("an IP address such as 127.0.0.1")?,
            "http" => self.http = raw.boolean()?,
            "trusted_proxies" => {
                self.trusted_proxies = raw.list_of("an IP address such as 127.0.0.1")?
            }
            "workers" => {
                self.workers = raw.number("a whole number of workers, at least 1")?;
                if self.workers == 0 {
                    return Err("expected at least 1 worker, got 0".into());
                }
            }
            "queue" => self.queue = raw.number("a whole number")?,
            "result_ttl" => self.result_ttl = raw.duration()?,
            "relays" => {
                let relays = raw.list()?;
                self.relays = if relays.len() == 1 && relays[0].eq_ignore_ascii_case("none") {
                    Vec::new()
                } else {
                    relays
                        .iter()
                        .map(|r| relay_addr(r))
                        .collect::<Result<_, _>>()?
                };
            }
            "reload" => self.reload = raw.boolean()?,
            "listen" => self.listen = raw.list_of("a multiaddr such as /ip4/0.0.0.0/tcp/0")?,
            "mdns" => self.mdns = raw.boolean()?,
            "data_dir" => self.data_dir = raw.path()?,
            "key_file" => self.key_file = Some(raw.path()?),
            "max_file_size" => {
                let mb: f64 = raw.float()?;
                if !(mb.is_finite() && mb > 0.0) {
                    return Err(format!("expected a size in MB above 0, got {mb}"));
                }
                self.max_file_size = mb;
            }
            "max_files_per_request" => self.max_files_per_request = raw.number("a whole number")?,
            "rate_limit" => {
                let text = raw.text_or_number()?;
                self.rate_limit = if text.eq_ignore_ascii_case("none") || text == "0" {
                    None
                } else {
                    Some(text.parse().map_err(|_| {
                        format!(
                            "expected requests per minute (a whole number) or none, got {text:?}"
                        )
                    })?)
                };
            }
            "command_timeout" => self.command_timeout = raw.duration()?,
            "grace_period" => self.grace_period = raw.duration()?,
            "ws_ping_interval" => {
                self.ws_ping_interval = raw.duration()?.max(Duration::from_millis(10))
            }
            "log_format" => self.log_format = raw.text()?.parse()?,
            "log" => {
                let filter = raw.text()?;
                tracing_subscriber::EnvFilter::try_new(&filter)
                    .map_err(|e| format!("bad log filter {filter:?}: {e}"))?;
                self.log = Some(filter);
            }
            other => return Err(format!("unknown setting {other:?}")),
        }
        Ok(())
    }

    /// One line per setting, `key = value  (source)`, as `agenthost config` prints them.
    pub fn lines(&self) -> Vec<String> {
        let width = KEYS.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        KEYS.iter()
            .map(|(key, _)| {
                format!(
                    "{key:<width$} = {}  ({})",
                    self.display(key),
                    self.source(key)
                )
            })
            .collect()
    }

    /// `key`'s value as TOML would write it (`none` where unset).
    pub fn display(&self, key: &str) -> String {
        fn quoted(s: impl fmt::Display) -> String {
            toml::Value::String(s.to_string()).to_string()
        }
        fn list<T: fmt::Display>(items: &[T]) -> String {
            let items: Vec<String> = items.iter().map(quoted).collect();
            format!("[{}]", items.join(", "))
        }
        fn secs(d: Duration) -> String {
            let s = d.as_secs_f64();
            if s.fract() == 0.0 {
                format!("{}", d.as_secs())
            } else {
                format!("{s}")
            }
        }
        let path =
            |p: &Option<PathBuf>, default: PathBuf| quoted(p.clone().unwrap_or(default).display());
        match key {
            "name" => self.name.as_ref().map_or("none".into(), quoted),
            "trust" => quoted(&self.trust_spec),
            "whitelist" => list(&self.whitelist),
            "blacklist" => list(&self.blacklist),
            "whitelist_file" => path(&self.whitelist_file, self.data_dir.join("whitelist.txt")),
            "blacklist_file" => path(&self.blacklist_file, self.data_dir.join("blacklist.txt")),
            "port" => self.port.to_string(),
            "http_bind" => quoted(self.http_bind),
            "http" => self.http.to_string(),
            "trusted_proxies" => list(&self.trusted_proxies),
            "workers" => self.workers.to_string(),
            "queue" => self.queue.to_string(),
            "result_ttl" => secs(self.result_ttl),
            "relays" => list(&self.relays),
            "reload" => self.reload.to_string(),
            "listen" => list(&self.listen),
            "mdns" => self.mdns.to_string(),
            "data_dir" => quoted(self.data_dir.display()),
            "key_file" => path(&self.key_file, self.data_dir.join("keys").join("agent.key")),
            "max_file_size" => self.max_file_size.to_string(),
            "max_files_per_request" => self.max_files_per_request.to_string(),
            "rate_limit" => self.rate_limit.map_or("none".into(), |r| r.to_string()),
            "command_timeout" => secs(self.command_timeout),
            "grace_period" => secs(self.grace_period),
            "ws_ping_interval" => secs(self.ws_ping_interval),
            "log_format" => quoted(self.log_format),
            "log" => self.log.as_ref().map_or("none".into(), quoted),
            _ => String::new(),
        }
    }
}

/// A relay must name its PeerId: the reservation is made with that peer.
fn relay_addr(text: &str) -> Result<Multiaddr, String> {
    let addr: Multiaddr = text
        .parse()
        .map_err(|e| format!("bad relay multiaddr {text:?}: {e}"))?;
    if !addr
        .iter()
        .any(|p| matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
    {
        return Err(format!(
            "relay {text:?} must end in /p2p/<relay PeerId> (the relay prints its full address)"
        ));
    }
    Ok(addr)
}

impl Raw<'_> {
    fn found(&self) -> String {
        match self {
            Raw::Text(s) => format!("{s:?}"),
            Raw::Toml(v) => format!("{} {v}", v.type_str()),
        }
    }

    fn text(&self) -> Result<String, String> {
        match self {
            Raw::Text(s) => Ok((*s).to_owned()),
            Raw::Toml(toml::Value::String(s)) => Ok(s.clone()),
            _ => Err(format!("expected a string, got {}", self.found())),
        }
    }

    /// Text, or a TOML number written without quotes.
    fn text_or_number(&self) -> Result<String, String> {
        match self {
            Raw::Toml(toml::Value::Integer(i)) => Ok(i.to_string()),
            _ => self.text(),
        }
    }

    fn path(&self) -> Result<PathBuf, String> {
        let text = self.text()?;
        if text.trim().is_empty() {
            return Err("expected a path, got an empty string".into());
        }
        Ok(PathBuf::from(text))
    }

    fn boolean(&self) -> Result<bool, String> {
        match self {
            Raw::Toml(toml::Value::Boolean(b)) => Ok(*b),
            Raw::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(format!("expected true or false, got {s:?}")),
            },
            _ => Err(format!("expected true or false, got {}", self.found())),
        }
    }

    fn number<T: FromStr + TryFrom<i64>>(&self, what: &str) -> Result<T, String> {
        let bad = || format!("expected {what}, got {}", self.found());
        match self {
            Raw::Toml(toml::Value::Integer(i)) => T::try_from(*i).map_err(|_| bad()),
            Raw::Text(s) => s.trim().parse().map_err(|_| bad()),
            _ => Err(bad()),
        }
    }

    fn float(&self) -> Result<f64, String> {
        let bad = || format!("expected a number, got {}", self.found());
        match self {
            Raw::Toml(toml::Value::Integer(i)) => Ok(*i as f64),
            Raw::Toml(toml::Value::Float(f)) => Ok(*f),
            Raw::Text(s) => s.trim().parse().map_err(|_| bad()),
            _ => Err(bad()),
        }
    }

    fn parsed<T: FromStr>(&self, what: &str) -> Result<T, String> {
        let text = self.text()?;
        text.trim()
            .parse()
            .map_err(|_| format!("expected {what}, got {text:?}"))
    }

    /// Seconds (`86400`, `0.5`) or a duration with units (`24h`, `30m`, `1h 30m`).
    fn duration(&self) -> Result<Duration, String> {
        let bad = |found: String| {
            format!("expected seconds or a duration such as 30s, 15m or 24h, got {found}")
        };
        let secs = match self {
            Raw::Toml(toml::Value::Integer(i)) => *i as f64,
            Raw::Toml(toml::Value::Float(f)) => *f,
            _ => {
                let text = self.text().map_err(|_| bad(self.found()))?;
                match text.trim().parse::<f64>() {
                    Ok(secs) => secs,
                    Err(_) => {
                        return humantime::parse_duration(text.trim())
                            .map_err(|_| bad(format!("{text:?}")))
                    }
                }
            }
        };
        if !(secs.is_finite() && secs >= 0.0) || secs > 1e12 {
            return Err(bad(self.found()));
        }
        Ok(Duration::from_secs_f64(secs))
    }

    /// A list: a TOML array of strings, or comma-separated text (one string in the file is a
    /// one-item list).
    fn list(&self) -> Result<Vec<String>, String> {
        let items: Vec<String> = match self {
            Raw::Toml(toml::Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Err(format!(
                        "expected a list of strings, got {} {other}",
                        other.type_str()
                    )),
                })
                .collect::<Result<_, _>>()?,
            _ => self.text()?.split(',').map(str::to_owned).collect(),
        };
        Ok(items
            .into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect())
    }

    fn list_of<T: FromStr>(&self, what: &str) -> Result<Vec<T>, String> {
        self.list()?
            .iter()
            .map(|item| {
                item.parse()
                    .map_err(|_| format!("expected {what}, got {item:?}"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn each_place_overrides_the_one_below_and_is_named_as_the_source() {
        let mut s = Settings::default();
        s.read_toml(
            "port = 9000\nworkers = 4\nqueue = 7\nresult_ttl = \"2h\"\n",
            Path::new("agenthost.toml"),
        )
        .unwrap();
        s.read_env(env(&[("AGENTHOST_WORKERS", "8"), ("AGENTHOST_QUEUE", "9")]))
            .unwrap();
        s.set("queue", Raw::Text("10"), Source::Flag).unwrap();

        assert_eq!(s.port, 9000);
        assert_eq!(s.source("port"), Source::File("agenthost.toml".into()));
        assert_eq!(s.workers, 8);
        assert_eq!(s.source("workers"), Source::Env("AGENTHOST_WORKERS"));
        assert_eq!(s.queue, 10);
        assert_eq!(s.source("queue"), Source::Flag);
        assert_eq!(s.result_ttl, Duration::from_secs(7200));
        assert_eq!(s.source("mdns"), Source::Default);
        let lines = s.lines();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("port ") && l.ends_with("= 9000  (file agenthost.toml)")),
            "{lines:?}"
        );
        assert!(lines
            .iter()
            .any(|l| l.starts_with("queue ") && l.ends_with("= 10  (flag)")));
        assert!(lines
            .iter()
            .any(|l| l.starts_with("workers ") && l.ends_with("(env AGENTHOST_WORKERS)")));
        assert!(lines
            .iter()
            .any(|l| l.starts_with("mdns ") && l.ends_with("= true  (default)")));
        assert_eq!(lines.len(), KEYS.len());
    }

    #[test]
    fn bad_values_and_unknown_keys_name_the_key_and_the_place() {
        let mut s = Settings::default();
        let e = s
            .read_toml("prot = 9000\n", Path::new("a.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown key `prot`") && e.contains("a.toml"),
            "{e}"
        );
        let e = s
            .read_toml("port = \"eighty\"\n", Path::new("a.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("file a.toml: port: expected a port number"),
            "{e}"
        );
        let e = s
            .read_env(env(&[("AGENTHOST_PORT", "70000")]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("env AGENTHOST_PORT: port:"), "{e}");
        let e = s
            .set("mdns", Raw::Text("maybe"), Source::Flag)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "flag: mdns: expected true or false, got \"maybe\"");
        for (key, value) in [
            ("workers", "0"),
            ("result_ttl", "soon"),
            ("relays", "/ip4/1.2.3.4/tcp/1"),
            ("whitelist", "0x12"),
            ("listen", "not-a-multiaddr"),
            ("log_format", "xml"),
            ("max_file_size", "-1"),
            ("http_bind", "localhost:80"),
        ] {
            let e = s.set(key, Raw::Text(value), Source::Flag).unwrap_err();
            assert!(e.to_string().starts_with(&format!("flag: {key}: ")), "{e}");
        }
    }

    #[test]
    fn lists_come_as_arrays_or_comma_separated_and_none_clears_relays() {
        let relay =
            "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
        let mut s = Settings::default();
        s.read_toml(
            &format!("relays = [\"{relay}\"]\nrate_limit = 60\n"),
            Path::new("f.toml"),
        )
        .unwrap();
        assert_eq!(s.relays.len(), 1);
        assert_eq!(s.rate_limit, Some(60));
        s.set("relays", Raw::Text("none"), Source::Env("AGENTHOST_RELAYS"))
            .unwrap();
        assert!(s.relays.is_empty());
        s.set(
            "relays",
            Raw::Text(&format!("{relay}, {relay}")),
            Source::Flag,
        )
        .unwrap();
        assert_eq!(s.relays.len(), 2);
        s.set("grace_period", Raw::Text("1.5"), Source::Flag)
            .unwrap();
        assert_eq!(s.grace_period, Duration::from_millis(1500));
        assert_eq!(s.display("grace_period"), "1.5");
        s.set("trust", Raw::Text("strict"), Source::Flag).unwrap();
        assert_eq!(s.display("trust"), "\"strict\"");
    }
}
