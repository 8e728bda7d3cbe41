//! One parser per key, whatever place the value came from, so a bad value is the same clear
//! error everywhere.

use std::{path::PathBuf, str::FromStr, time::Duration};

use agenthost_node::{trust::Trust, Multiaddr};

use super::{Raw, Settings};

impl Settings {
    pub(super) fn parse_into(&mut self, key: &str, raw: Raw<'_>) -> Result<(), String> {
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
            "http_header_timeout" => {
                self.http_header_timeout = raw.duration()?.max(Duration::from_millis(10))
            }
            "http_max_connections" => {
                self.http_max_connections =
                    raw.number::<usize>("a whole number of connections")?.max(1)
            }
            "http_max_per_ip" => {
                self.http_max_per_ip = raw.number::<usize>("a whole number of connections")?.max(1)
            }
            "p2p_max_pending" => {
                self.p2p_inbound.pending =
                    raw.number::<u32>("a whole number of connections")?.max(1)
            }
            "p2p_max_incoming" => {
                self.p2p_inbound.established =
                    raw.number::<u32>("a whole number of connections")?.max(1)
            }
            "p2p_max_per_peer" => {
                self.p2p_inbound.per_peer =
                    raw.number::<u32>("a whole number of connections")?.max(1)
            }
            "ws_max_connections" => {
                self.ws_max_connections = raw.number::<usize>("a whole number of sockets")?.max(1)
            }
            "ws_replay_budget_mb" => {
                self.ws_replay_budget_mb = raw.number::<usize>("a whole number of MiB")?.max(1)
            }
            "mcp_allowed_hosts" => {
                self.mcp_allowed_hosts = raw.list_of("a host name, host:port or *")?
            }
            "mcp_allowed_origins" => {
                self.mcp_allowed_origins = raw.list_of("an origin such as https://app.example")?
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
