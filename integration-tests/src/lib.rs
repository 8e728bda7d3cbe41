//! Test harness for multi-process scenarios: builds the real `agenthost` binary once, runs
//! `agenthost host` as a child process and reads its banner, and runs `agenthost call`.
//!
//! Everything talks over real sockets on loopback; nothing is mocked.

pub mod netlab;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{mpsc, Arc, OnceLock},
    time::Duration,
};

/// The `agenthost` binary: `$AGENTHOST_BIN` if set, else built once per test process with the
/// same cargo that runs the tests.
pub fn agenthost_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("AGENTHOST_BIN") {
            return PathBuf::from(bin);
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "-p", "agenthost", "--bin", "agenthost"])
            .arg("--message-format=json-render-diagnostics")
            .current_dir(&workspace)
            .stderr(Stdio::inherit())
            .output()
            .expect("running cargo build");
        assert!(out.status.success(), "cargo build of agenthost failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|msg| msg["target"]["name"] == "agenthost")
            .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
            .expect("cargo reported no agenthost executable")
    })
}

/// A running `agenthost host` process, killed on drop.
pub struct HostProcess {
    child: Child,
    pub address: String,
    pub peer_id: String,
    /// Full listen multiaddrs from the banner (ending in /p2p/<PeerId>).
    pub listen: Vec<String>,
    /// Stdout lines after the banner, as they come.
    pub lines: mpsc::Receiver<String>,
    pub dir: Arc<tempfile::TempDir>,
}

impl HostProcess {
    /// Runs `agenthost host <args>` in a fresh working directory and waits for its banner.
    pub fn start(args: &[&str]) -> HostProcess {
        Self::start_in(Arc::new(tempfile::tempdir().expect("temp dir")), args)
    }

    /// Runs `agenthost host <args>` in `dir` (shared, so a restarted host finds its data).
    pub fn start_in(dir: Arc<tempfile::TempDir>, args: &[&str]) -> HostProcess {
        let mut child = Command::new(agenthost_bin())
            .arg("host")
            .args(args)
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning agenthost host");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut host = HostProcess {
            child,
            address: String::new(),
            peer_id: String::new(),
            listen: Vec::new(),
            lines: rx,
            dir,
        };
        loop {
            let line = host
                .lines
                .recv_timeout(Duration::from_secs(60))
                .expect("agenthost host printed no banner within 60 s");
            if let Some(v) = line.strip_prefix("address: ") {
                host.address = v.to_owned();
            } else if let Some(v) = line.strip_prefix("peer_id: ") {
                host.peer_id = v.to_owned();
            } else if let Some(v) = line.strip_prefix("listen: ") {
                host.listen.push(v.to_owned());
            } else if line.starts_with("Waiting for requests") {
                break;
            }
        }
        host
    }

    /// The banner's listen address on loopback for the given transport (`tcp` or `quic-v1`).
    pub fn loopback_addr(&self, transport: &str) -> String {
        self.listen
            .iter()
            .find(|a| a.starts_with("/ip4/127.0.0.1/") && a.contains(&format!("/{transport}")))
            .cloned()
            .unwrap_or_else(|| panic!("no loopback {transport} address in {:?}", self.listen))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the host gets no chance to clean up, as in a crash.
    pub fn kill_hard(mut self) -> Arc<tempfile::TempDir> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        Arc::clone(&self.dir)
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `agenthost <args>` to completion.
pub fn agenthost(args: &[&str]) -> Output {
    Command::new(agenthost_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running agenthost")
}

/// Logs to the test output, filtered by `RUST_LOG` (silent by default).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
