//! A NAT lab on one Linux host: network namespaces, veth pairs, a bridge and nftables, with
//! real `agenthost` processes running inside the namespaces (`ip netns exec`).
//!
//! ```text
//!            ns <p>-wan: bridge br0, 198.51.100.1/24 (the relay runs here)
//!              |                                   |
//!   <p>-r1: wan 198.51.100.2, lan 10.0.1.1     <p>-r2: wan 198.51.100.3, lan 10.0.2.1
//!              |                                   |
//!   <p>-h1: eth0 10.0.1.2 (the agent)          <p>-h2: eth0 10.0.2.2 (the caller)
//! ```
//!
//! Each router forwards, masquerades its LAN behind its WAN address (`snat to <addr>`: ports
//! kept, so a mapping does not depend on the destination — cone-like; or `snat ... random`:
//! a new port per connection — symmetric), has an empty nat prerouting chain (without one
//! conntrack does not reverse-translate replies), forwards WAN→LAN only for established flows,
//! and drops new inbound flows on its WAN side silently (an RST or ICMP answer to an early
//! punch packet makes hole punching fail). Nothing is routed out of the lab.
//!
//! Namespace names carry the process id and a counter, so labs of parallel tests never meet;
//! [`Lab`] deletes its namespaces on drop (also when a test panics), and a new lab first
//! removes namespaces left behind by test processes that no longer exist.

use std::{
    io::{BufRead, BufReader, Read},
    path::Path,
    process::{Child, Command, Output, Stdio},
    sync::{
        atomic::{AtomicU32, Ordering},
        mpsc, Mutex, MutexGuard,
    },
    time::{Duration, Instant},
};

use crate::agenthost_bin;

/// Prefix of every lab namespace: `ahlab-<pid>-<n>-<role>`.
const PREFIX: &str = "ahlab-";

/// The relay's address on the lab's WAN.
pub const RELAY_IP: &str = "198.51.100.1";

/// How a router translates its LAN's outgoing connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// Source ports kept: one mapping per local port, whatever the destination.
    Cone,
    /// A random source port per connection: the relay sees a port no peer can reach.
    Symmetric,
}

/// Options of one lab.
#[derive(Debug, Clone, Copy)]
pub struct LabConfig {
    pub nat1: Nat,
    pub nat2: Nat,
    /// Drop all UDP at both routers (QUIC cannot pass; TCP must do).
    pub block_udp: bool,
}

/// Why the lab cannot run here (the test then skips).
pub fn unavailable() -> Option<String> {
    missing(&[("ip", &["netns", "list"]), ("nft", &["--version"])])
}

/// What the lab needs that this machine lacks: root, and each `(tool, args)` running.
fn missing(tools: &[(&str, &[&str])]) -> Option<String> {
    // The effective uid, from `id -u` (no libc dependency for one number).
    let uid = Command::new("id").arg("-u").output().ok().and_then(|o| {
        String::from_utf8(o.stdout)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
    });
    if uid != Some(0) {
        return Some("not running as root".into());
    }
    for &(tool, args) in tools {
        match Command::new(tool)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
        {
            Ok(status) if status.success() => {}
            _ => return Some(format!("`{tool} {}` is unavailable", args.join(" "))),
        }
    }
    None
}

/// Prints why a lab test is skipped when the lab cannot run; `true` means skip.
pub fn skip(test: &str) -> bool {
    match unavailable() {
        Some(why) => {
            eprintln!("SKIPPED {test}: NAT lab needs root, `ip netns` and nftables ({why})");
            true
        }
        None => false,
    }
}

/// Prints why a [`Lan`] test is skipped when namespaces cannot be made; `true` means skip.
pub fn skip_lan(test: &str) -> bool {
    match missing(&[("ip", &["netns", "list"])]) {
        Some(why) => {
            eprintln!("SKIPPED {test}: a LAN in a namespace needs root and `ip netns` ({why})");
            true
        }
        None => false,
    }
}

/// Labs run one at a time: hole punching is timing-sensitive, and the machine has few cores.
pub fn serialize() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running lab; its namespaces are deleted on drop.
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
}

impl Lab {
    /// Builds the topology. Panics (after tearing down what it built) if a command fails.
    pub fn new(config: LabConfig) -> Lab {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        remove_stale_namespaces();
        let prefix = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let mut lab = Lab {
            prefix,
            namespaces: Vec::new(),
        };
        lab.build(config);
        lab
    }

    /// The namespace of a role: `wan` (relay), `r1`, `r2` (routers), `h1`, `h2` (hosts).
    pub fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    fn add_ns(&mut self, role: &str) -> String {
        let ns = self.ns(role);
        run("ip", &["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        ip(&ns, &["link", "set", "lo", "up"]);
        ns
    }

    fn build(&mut self, config: LabConfig) {
        let wan = self.add_ns("wan");
        ip(&wan, &["link", "add", "br0", "type", "bridge"]);
        ip(
            &wan,
            &["addr", "add", &format!("{RELAY_IP}/24"), "dev", "br0"],
        );
        ip(&wan, &["link", "set", "br0", "up"]);
        for (i, nat) in [(1u8, config.nat1), (2u8, config.nat2)] {
            let router = self.add_ns(&format!("r{i}"));
            let host = self.add_ns(&format!("h{i}"));
            let wan_ip = format!("198.51.100.{}", i + 1);
            let lan_net = format!("10.0.{i}.0/24");
            let lan_gw = format!("10.0.{i}.1");
            // Router WAN side, its peer plugged into the bridge.
            let port = format!("r{i}");
            ip(
                &router,
                &[
                    "link", "add", "wan", "type", "veth", "peer", "name", &port, "netns", &wan,
                ],
            );
            ip(&wan, &["link", "set", &port, "master", "br0", "up"]);
            ip(
                &router,
                &["addr", "add", &format!("{wan_ip}/24"), "dev", "wan"],
            );
            ip(&router, &["link", "set", "wan", "up"]);
            // Router LAN side and the host behind it.
            ip(
                &router,
                &[
                    "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", &host,
                ],
            );
            ip(
                &router,
                &["addr", "add", &format!("{lan_gw}/24"), "dev", "lan"],
            );
            ip(&router, &["link", "set", "lan", "up"]);
            ip(
                &host,
                &["addr", "add", &format!("10.0.{i}.2/24"), "dev", "eth0"],
            );
            ip(&host, &["link", "set", "eth0", "up"]);
            ip(&host, &["route", "add", "default", "via", &lan_gw]);
            // /proc/sys/net belongs to the namespace of the process that writes it (no need
            // for procps' sysctl).
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &router,
                    "sh",
                    "-c",
                    "echo 1 > /proc/sys/net/ipv4/ip_forward",
                ],
            );
            let rules = router_rules(&wan_ip, &lan_net, nat, config.block_udp);
            nft(&router, &rules);
        }
    }

    /// Starts `agenthost <args>` inside the namespace of `role`, in `dir`.
    pub fn spawn(&self, role: &str, dir: &Path, args: &[&str]) -> LabProcess {
        LabProcess::spawn(Some(&self.ns(role)), dir, args)
    }

    /// Runs `agenthost <args>` to completion inside the namespace of `role`.
    pub fn run(&self, role: &str, dir: &Path, args: &[&str]) -> Output {
        netns_command(&self.ns(role), dir, args)
            .stdin(Stdio::null())
            .output()
            .expect("running agenthost in the lab")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip")
                .args(["netns", "delete", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The nftables ruleset of one router.
fn router_rules(wan_ip: &str, lan_net: &str, nat: Nat, block_udp: bool) -> String {
    let random = match nat {
        Nat::Cone => "",
        Nat::Symmetric => " random",
    };
    let udp = if block_udp {
        "    meta l4proto udp drop\n"
    } else {
        ""
    };
    format!(
        "table ip nat {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname \"wan\" ip saddr {lan_net} snat to {wan_ip}{random}
  }}
}}
table inet filter {{
  chain forward {{
    type filter hook forward priority filter; policy drop;
{udp}    iifname \"lan\" oifname \"wan\" accept
    iifname \"wan\" oifname \"lan\" ct state established,related accept
  }}
  chain input {{
    type filter hook input priority filter; policy accept;
    iifname \"wan\" ct state new drop
  }}
}}
"
    )
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip(ns: &str, args: &[&str]) {
    let mut full = vec!["-n", ns];
    full.extend_from_slice(args);
    run("ip", &full);
}

fn nft(ns: &str, rules: &str) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running nft");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(rules.as_bytes()).expect("writing rules");
    }
    let out = child.wait_with_output().expect("nft finished");
    assert!(
        out.status.success(),
        "nft in {ns}: {}\n{rules}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One namespace joined to this machine by a veth pair: a LAN of two, for what must cross a
/// real non-loopback interface (a client on this machine, a server in the namespace).
pub struct Lan {
    ns: String,
    /// This machine's address on the LAN.
    pub local_ip: String,
    /// The namespace's address on the LAN.
    pub ns_ip: String,
}

impl Lan {
    /// Builds it. Panics if a command fails (what was built goes with the namespace).
    pub fn build() -> Lan {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        remove_stale(LAN_PREFIX);
        let pid = std::process::id();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        // Interface names have 15 bytes; the subnet differs per process and per LAN.
        let veth = format!("ahl{}x{n}", pid % 100_000);
        let net = format!("10.{}.{}", 200 + pid % 50, n % 250);
        let lan = Lan {
            ns: format!("{LAN_PREFIX}{pid}-{n}"),
            local_ip: format!("{net}.1"),
            ns_ip: format!("{net}.2"),
        };
        run("ip", &["netns", "add", &lan.ns]);
        ip(&lan.ns, &["link", "set", "lo", "up"]);
        run(
            "ip",
            &[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &lan.ns,
            ],
        );
        run(
            "ip",
            &["addr", "add", &format!("{}/24", lan.local_ip), "dev", &veth],
        );
        run("ip", &["link", "set", &veth, "up"]);
        ip(
            &lan.ns,
            &["addr", "add", &format!("{}/24", lan.ns_ip), "dev", "eth0"],
        );
        ip(&lan.ns, &["link", "set", "eth0", "up"]);
        lan
    }

    /// `program` run inside the namespace.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.ns]).arg(program);
        command
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // The veth pair goes with its namespace end.
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.ns])
            .stderr(Stdio::null())
            .status();
    }
}

/// Prefix of every [`Lan`] namespace: `ahlan-<pid>-<n>`.
const LAN_PREFIX: &str = "ahlan-";

/// Deletes lab namespaces whose test process is gone (a run killed before its drops ran).
fn remove_stale_namespaces() {
    remove_stale(PREFIX);
}

/// Deletes the namespaces named `<prefix><pid>-…` whose process is gone.
fn remove_stale(prefix: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "delete", name]).status();
        }
    }
}

fn netns_command(ns: &str, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", ns])
        .arg(agenthost_bin())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1");
    command
}

fn local_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(agenthost_bin());
    command.args(args).current_dir(dir).env("NO_COLOR", "1");
    command
}

/// An `agenthost` process in a lab namespace (`ip netns exec` execs it: same pid) or on this
/// host ([`LabProcess::spawn_local`]), killed on drop. Its stdout and stderr lines are read as
/// they come; stderr is echoed to the test's.
pub struct LabProcess {
    child: Child,
    name: String,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl LabProcess {
    /// Runs `agenthost <args>` in `dir` in this host's own network namespace.
    pub fn spawn_local(dir: &Path, args: &[&str]) -> LabProcess {
        LabProcess::spawn(None, dir, args)
    }

    fn spawn(ns: Option<&str>, dir: &Path, args: &[&str]) -> LabProcess {
        let mut command = match ns {
            Some(ns) => netns_command(ns, dir, args),
            None => local_command(dir, args),
        };
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning agenthost in the lab");
        let name = format!(
            "{} agenthost {}",
            ns.unwrap_or("local"),
            args.first().copied().unwrap_or("")
        );
        let stdout = lines(child.stdout.take().expect("piped stdout"), None);
        let stderr = lines(
            child.stderr.take().expect("piped stderr"),
            Some(name.clone()),
        );
        LabProcess {
            child,
            name,
            stdout,
            stderr,
        }
    }

    /// Waits for a stdout line for which `pick` returns something.
    pub fn wait_stdout<T>(&self, within: Duration, pick: impl FnMut(&str) -> Option<T>) -> T {
        wait_line(&self.stdout, &self.name, "stdout", within, pick)
    }

    /// Waits for a stderr (log) line for which `pick` returns something.
    pub fn wait_stderr<T>(&self, within: Duration, pick: impl FnMut(&str) -> Option<T>) -> T {
        wait_line(&self.stderr, &self.name, "stderr", within, pick)
    }

    /// SIGKILL, as in a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn lines(source: impl Read + Send + 'static, echo: Option<String>) -> mpsc::Receiver<String> {
    // A child's output lines, a handful per test: no bound needed.
    #[allow(clippy::disallowed_methods)]
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(source).lines().map_while(Result::ok) {
            if let Some(name) = &echo {
                eprintln!("[{name}] {line}");
            }
            // The receiver may be gone; keep draining so the process never blocks on a pipe.
            let _ = tx.send(line);
        }
    });
    rx
}

fn wait_line<T>(
    rx: &mpsc::Receiver<String>,
    name: &str,
    which: &str,
    within: Duration,
    mut pick: impl FnMut(&str) -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(found) = pick(&line) {
                    return found;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("{name}: the expected {which} line did not come within {within:?}")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("{name}: exited before printing the expected {which} line")
            }
        }
    }
}
