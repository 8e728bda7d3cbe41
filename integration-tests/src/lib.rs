//! Test harness for multi-process scenarios: builds the real `agenthost` binary (and the
//! examples) once, runs `agenthost host` or a hosting example as a child process and reads its
//! banner, and runs `agenthost call`; `openai_stub` stands in for an LLM endpoint;
//! `connectonion` runs ConnectOnion's own client and host from PyPI; `netlab` builds NAT labs
//! and LANs in network namespaces.
//!
//! Everything talks over real sockets on loopback; nothing is mocked.

pub mod connectonion;
pub mod mcp;
pub mod netlab;
pub mod openai_stub;
pub mod signing;
pub mod venv;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{mpsc, Arc, Mutex, OnceLock},
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
        cargo_build(&["-p", "agenthost", "--bin", "agenthost"], "agenthost")
    })
}

/// The executable of the root package's example `name` (`examples/NAME.rs` or
/// `examples/NAME/main.rs`), built once per test process with the same cargo that runs the
/// tests.
pub fn example_bin(name: &str) -> PathBuf {
    static BINS: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    // Held while building: cargo would serialize concurrent builds on its lock anyway.
    let mut bins = BINS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(bin) = bins.get(name) {
        return bin.clone();
    }
    let bin = cargo_build(&["-p", "agenthost", "--example", name], name);
    bins.insert(name.to_owned(), bin.clone());
    bin
}

/// Runs `cargo build <args>` in the workspace and returns the executable cargo reports for
/// the target `name`.
fn cargo_build(args: &[&str], name: &str) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .arg("build")
        .args(args)
        .arg("--message-format=json-render-diagnostics")
        .current_dir(&workspace)
        .stderr(Stdio::inherit())
        .output()
        .expect("running cargo build");
    assert!(out.status.success(), "cargo build {args:?} failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["target"]["name"] == name)
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo reported no {name} executable"))
}

/// A running `agenthost host` process, killed on drop.
pub struct HostProcess {
    child: Child,
    pub address: String,
    pub peer_id: String,
    /// Full listen multiaddrs from the banner (ending in `/p2p/<PeerId>`).
    pub listen: Vec<String>,
    /// The HTTP gateway's base URL from the banner (`http://127.0.0.1:PORT`), if serving HTTP.
    pub http: Option<String>,
    /// The banner's lines, up to "Waiting for requests".
    pub banner: Vec<String>,
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
    /// Without `--port` or `--no-http` in `args`, the gateway takes a free port (`--port 0`),
    /// so hosts in parallel tests never fight over 8000; its URL is in [`HostProcess::http`].
    pub fn start_in(dir: Arc<tempfile::TempDir>, args: &[&str]) -> HostProcess {
        Self::start_with_env(dir, args, &[])
    }

    /// [`HostProcess::start_in`] with extra environment variables.
    pub fn start_with_env(
        dir: Arc<tempfile::TempDir>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> HostProcess {
        let mut command = Command::new(agenthost_bin());
        command.arg("host");
        if !args.iter().any(|a| *a == "--port" || *a == "--no-http") {
            command.args(["--port", "0", "--http-bind", "127.0.0.1"]);
        }
        command.envs(env.iter().copied()).args(args);
        Self::spawn(command, dir)
    }

    /// Runs the example `name` with `args` in a fresh working directory, configured through
    /// the `AGENTHOST_*` variables for tests (loopback only, free ports, its own data folder,
    /// no mDNS) plus `env`, and waits for its banner.
    pub fn example(name: &str, args: &[&str], env: &[(&str, &str)]) -> HostProcess {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let mut command = Command::new(example_bin(name));
        command
            .args(args)
            .env("AGENTHOST_PORT", "0")
            .env("AGENTHOST_HTTP_BIND", "127.0.0.1")
            .env("AGENTHOST_DATA_DIR", dir.path().join(".agenthost"))
            .env("AGENTHOST_LISTEN", "/ip4/127.0.0.1/tcp/0")
            .env("AGENTHOST_MDNS", "false")
            .envs(env.iter().copied());
        Self::spawn(command, dir)
    }

    /// Runs `command` (anything that hosts an agent and prints the banner of
    /// `RunningHost::banner`) in `dir` and waits for the banner.
    pub fn spawn(mut command: Command, dir: Arc<tempfile::TempDir>) -> HostProcess {
        let (child, rx) = spawn_reading_lines(command.current_dir(dir.path()));
        let mut host = HostProcess {
            child,
            address: String::new(),
            peer_id: String::new(),
            listen: Vec::new(),
            http: None,
            banner: Vec::new(),
            lines: rx,
            dir,
        };
        loop {
            let line = host
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("{command:?} printed no banner within 60 s"));
            host.banner.push(line.clone());
            if let Some(v) = line.strip_prefix("address: ") {
                host.address = v.to_owned();
            } else if let Some(v) = line.strip_prefix("peer_id: ") {
                host.peer_id = v.to_owned();
            } else if let Some(v) = line.strip_prefix("listen: ") {
                host.listen.push(v.to_owned());
            } else if let Some(v) = line.strip_prefix("http: ") {
                host.http = v.split_whitespace().next().map(str::to_owned);
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

    /// Sends SIGTERM, as a process manager does to stop a service.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits up to `limit` for the process to exit; its status and the stdout lines it printed
    /// after the banner. Panics (killing it) if it does not exit in time.
    pub fn wait_exit(mut self, limit: Duration) -> (std::process::ExitStatus, Vec<String>) {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the host") {
                // The reader thread ends at EOF; whatever it read is in the channel.
                let mut lines = Vec::new();
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    lines.push(line);
                }
                return (status, lines);
            }
            if std::time::Instant::now() > deadline {
                panic!("the host did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
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

/// The stdout of a finished process that must have succeeded; otherwise panics showing both
/// of its outputs.
pub fn stdout_of_success(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
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

/// A long-running `agenthost <subcommand>` process (relay, gateway), killed on drop, with the
/// lines it printed before it was ready.
pub struct ServiceProcess {
    child: Child,
    pub banner: Vec<String>,
}

impl ServiceProcess {
    /// Runs `agenthost <args>` in `dir` and reads stdout until a line satisfies `ready`.
    pub fn start(dir: &std::path::Path, args: &[&str], ready: impl Fn(&str) -> bool) -> Self {
        Self::spawn(
            Command::new(agenthost_bin()).args(args).current_dir(dir),
            ready,
        )
    }

    /// Runs any `command` (e.g. a shell script that `exec`s agenthost) and reads its stdout until
    /// a line satisfies `ready`; the process is killed on drop.
    pub fn spawn(command: &mut Command, ready: impl Fn(&str) -> bool) -> Self {
        let (child, rx) = spawn_reading_lines(command);
        let mut banner = Vec::new();
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("{command:?} not ready within 60 s: {banner:?}"));
            let done = ready(&line);
            banner.push(line);
            if done {
                break;
            }
        }
        ServiceProcess { child, banner }
    }

    /// `agenthost relay` on loopback TCP; returns it with its full relay multiaddr.
    pub fn relay(dir: &std::path::Path) -> (Self, String) {
        let args = local_relay_args(&dir.join("relay.key"), &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let relay = Self::start(dir, &args, |line| relay_tcp_addr(line).is_some());
        let addr = relay
            .value("relay: ")
            .expect("the relay printed its address");
        (relay, addr)
    }

    /// `agenthost gateway` on loopback (a free port, no mDNS) with `extra` arguments; returns it
    /// with its base URL.
    pub fn gateway(dir: &std::path::Path, extra: &[&str]) -> (Self, String) {
        let mut args = vec![
            "gateway",
            "--port",
            "0",
            "--http-bind",
            "127.0.0.1",
            "--no-mdns",
        ];
        args.extend_from_slice(extra);
        let gateway = Self::start(dir, &args, |l| l.starts_with("Waiting for requests"));
        let url = gateway
            .value("http: ")
            .and_then(|v| v.split_whitespace().next().map(str::to_owned))
            .expect("the gateway printed its URL");
        (gateway, url)
    }

    /// The rest of the first banner line starting with `prefix`.
    pub fn value(&self, prefix: &str) -> Option<String> {
        self.banner
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::to_owned)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `GET url` and its JSON body, whatever the status.
pub async fn get_json(url: &str) -> serde_json::Value {
    reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: body is not JSON: {e}"))
}

/// Spawns `command` with stdout piped and returns the child and its stdout, line by line.
fn spawn_reading_lines(command: &mut Command) -> (Child, mpsc::Receiver<String>) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning agenthost");
    let stdout = child.stdout.take().expect("piped stdout");
    // A child's output lines, a handful per test: no bound needed.
    #[allow(clippy::disallowed_methods)]
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Arguments of `agenthost relay` on loopback TCP with its key in `key`, peered with `peers`.
pub fn local_relay_args(key: &Path, peers: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "relay",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--metrics-addr",
        "off",
        "--key-file",
    ]
    .map(str::to_owned)
    .into();
    args.push(key.to_str().expect("utf-8 path").to_owned());
    for peer in peers {
        args.extend(["--peer".to_owned(), (*peer).to_owned()]);
    }
    args
}

/// The relay's TCP multiaddr from one of its `relay: ` lines.
pub fn relay_tcp_addr(line: &str) -> Option<String> {
    line.strip_prefix("relay: ")
        .filter(|a| a.contains("/tcp/"))
        .map(str::to_owned)
}
