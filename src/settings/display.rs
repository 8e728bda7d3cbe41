//! Settings as `agenthost config` prints them: `key = value  (source)`.

use std::{fmt, path::PathBuf, time::Duration};

use super::{Settings, KEYS};

impl Settings {
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
            "http_header_timeout" => secs(self.http_header_timeout),
            "http_max_connections" => self.http_max_connections.to_string(),
            "http_max_per_ip" => self.http_max_per_ip.to_string(),
            "p2p_max_pending" => self.p2p_inbound.pending.to_string(),
            "p2p_max_incoming" => self.p2p_inbound.established.to_string(),
            "p2p_max_per_peer" => self.p2p_inbound.per_peer.to_string(),
            "ws_max_connections" => self.ws_max_connections.to_string(),
            "ws_replay_budget_mb" => self.ws_replay_budget_mb.to_string(),
            "mcp_allowed_hosts" => list(&self.mcp_allowed_hosts),
            "mcp_allowed_origins" => list(&self.mcp_allowed_origins),
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
