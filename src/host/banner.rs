//! The start-up banner: one `key: value` line per fact, so people and scripts can read it.

use agenthost_node::NatStatus;

use super::RunningHost;

impl RunningHost {
    /// The start-up banner: one `key: value` line per fact, so scripts can read it.
    pub fn banner(&self) -> String {
        let mut lines = vec![format!(
            "agenthost {} hosting \"{}\"",
            env!("CARGO_PKG_VERSION"),
            self.name
        )];
        lines.push(format!("address: {}", self.address()));
        lines.push(format!("peer_id: {}", self.peer_id()));
        if let Some(path) = &self.key_file {
            let note = if self.key_created { " (new)" } else { "" };
            lines.push(format!("key_file: {}{note}", path.display()));
        }
        for addr in self.listen_addrs() {
            lines.push(format!("listen: {addr}"));
        }
        for relay in self.node.handle().relay_status() {
            let mark = if relay.state == agenthost_node::RelayState::Reserved {
                "✓"
            } else {
                "✗"
            };
            let listed = if relay.listed { ", listed" } else { "" };
            lines.push(format!(
                "relay: {mark} {} ({}{listed})",
                relay.relay, relay.state
            ));
        }
        let reach = self.node.handle().reachability();
        let how = match reach.status() {
            NatStatus::Public => format!(
                "public (AutoNAT reached {})",
                reach
                    .confirmed
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            NatStatus::Private => {
                "private (AutoNAT reached no address; callers come through relays)".into()
            }
            NatStatus::Unknown if self.node.handle().relay_status().is_empty() => {
                "unknown (no relay to ask: reachable on this network; add --relay to be reachable from anywhere)".into()
            }
            NatStatus::Unknown => "unknown (AutoNAT has not answered yet; changes are logged)".into(),
        };
        lines.push(format!("reachability: {how}"));
        if let Some(url) = self.http_url() {
            let bind = self.http_addr.map(|a| a.to_string()).unwrap_or_default();
            lines.push(format!("http: {url} (bound to {bind})"));
            lines.push(format!("docs: {url}/docs"));
            lines.push(
                "routes: POST /input, GET /sessions, GET /sessions/{id}, GET /health, GET /info, \
                 GET /ws (WebSocket), GET /docs, GET /openapi.json, GET /metrics"
                    .into(),
            );
            lines.push(format!(
                "try: curl -s {url}/input -H 'content-type: application/json' -d '{{\"prompt\":\"hello\"}}'"
            ));
            lines.push(format!(
                "try: (echo '{{\"type\":\"INPUT\",\"prompt\":\"hello\"}}'; sleep 1) | websocat {}/ws",
                url.replacen("http://", "ws://", 1)
            ));
        }
        if let Some(listen) = self
            .listen_addrs()
            .into_iter()
            .find(|a| a.to_string().starts_with("/ip4/127.0.0.1/tcp/"))
        {
            lines.push(format!(
                "try: {} call {} hello --addr {listen}",
                cli_command(),
                self.address()
            ));
        }
        lines.push(format!("trust: {}", self.trust));
        if let Some(path) = &self.config_file {
            lines.push(format!("config: {}", path.display()));
        }
        lines.push(format!("data_dir: {}", self.data_dir.display()));
        if self.reload {
            lines.push(
                "reload: on (file changes retire runs in flight; new runs use the new files)"
                    .into(),
            );
        }
        lines.push(format!(
            "workers: {} (queue {})",
            self.limits.workers, self.limits.queue
        ));
        lines.push("Waiting for requests (Ctrl-C to stop)".into());
        lines.join("\n")
    }
}

/// How the banner names the `agenthost` CLI so its `try:` line runs as printed: `agenthost` when
/// that is what `PATH` finds, else the full path of this executable when it is the CLI (as
/// under `cargo run`), else `agenthost` (a Rust program hosting its own agent).
fn cli_command() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "agenthost".into();
    };
    if exe.file_stem() != Some("agenthost".as_ref()) {
        return "agenthost".into();
    }
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            let candidate = dir.join(exe.file_name().unwrap_or_default());
            candidate.canonicalize().ok() == exe.canonicalize().ok()
        })
    });
    if on_path {
        "agenthost".into()
    } else {
        exe.display().to_string()
    }
}
