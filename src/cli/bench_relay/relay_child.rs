//! The relay under test: `agenthost relay` in a child process, and its memory.

use std::{path::Path, process::Stdio, time::Duration};

use agenthost::Multiaddr;
use anyhow::Context as _;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// `agenthost relay` in a child process, on loopback TCP.
pub(super) struct RelayChild {
    child: Child,
    pid: u32,
    /// Full multiaddr, ending in `/p2p/<relay>`.
    pub(super) addr: Multiaddr,
}

impl RelayChild {
    pub(super) async fn start(dir: &Path, max_reservations: usize) -> anyhow::Result<RelayChild> {
        std::fs::create_dir_all(dir)?;
        // Room for every reservation (plus the agent's and slack) and its connection.
        let config = format!(
            "[limits]\nmax_reservations = {}\nmax_connections = {}\nmax_pending_connections = 1024\n\n\
             [directory]\nmax_registrations = {}\n",
            max_reservations + 100,
            2 * max_reservations + 1_000,
            max_reservations + 100,
        );
        let config_path = dir.join("relay.toml");
        std::fs::write(&config_path, config)?;
        let mut child = Command::new(std::env::current_exe()?)
            .arg("relay")
            .arg("--config")
            .arg(&config_path)
            .arg("--listen")
            .arg("/ip4/127.0.0.1/tcp/0")
            .arg("--key-file")
            .arg(dir.join("relay.key"))
            .arg("--metrics-addr")
            .arg("off")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // The relay logs at its default level (info), as an operator would run it.
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting `agenthost relay`")?;
        let pid = child.id().context("relay child has no pid")?;
        let stdout = child.stdout.take().context("relay child has no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .context("the relay did not print its address within 30 s")??
                .context("the relay exited before printing its address")?;
            if let Some(addr) = line.strip_prefix("relay: ") {
                break addr.parse::<Multiaddr>()?;
            }
        };
        // Keep reading so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(RelayChild { child, pid, addr })
    }

    /// Resident memory, in KiB.
    pub(super) fn rss_kib(&self) -> anyhow::Result<u64> {
        rss_kib(&format!("/proc/{}/status", self.pid))
    }

    /// User + system CPU time used so far, in seconds.
    pub(super) fn cpu_secs(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        // Fields after the command name (which may hold spaces) start at field 3 (state);
        // utime and stime are fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux).
        let rest = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .context("unexpected /proc/<pid>/stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| -> anyhow::Result<u64> {
            Ok(fields
                .get(i)
                .context("short /proc/<pid>/stat")?
                .parse::<u64>()?)
        };
        Ok((ticks(11)? + ticks(12)?) as f64 / 100.0)
    }

    pub(super) async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

pub(super) fn rss_kib(status_path: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(status_path)?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS line")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("malformed VmRSS line")?
        .parse()?)
}
