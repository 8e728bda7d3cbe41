//! The `agenthost-relay` binary: prints its addresses, stops cleanly on SIGTERM, and refuses a
//! bad config with the key named.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_agenthost-relay");

fn relay_command() -> Command {
    let mut cmd = Command::new(BIN);
    for var in [
        "AGENTHOST_RELAY_CONFIG",
        "AGENTHOST_RELAY_KEY_FILE",
        "AGENTHOST_RELAY_METRICS_ADDR",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

#[test]
fn prints_relay_addresses_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = relay_command()
        .args(["--listen", "/ip4/127.0.0.1/tcp/0"])
        .args(["--listen", "/ip4/127.0.0.1/udp/0/quic-v1"])
        .arg("--key-file")
        .arg(dir.path().join("relay.key"))
        .args(["--metrics-addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn relay");

    let stdout = child.stdout.take().expect("stdout");
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
    let mut addrs = Vec::new();
    while addrs.len() < 2 {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("relay prints its addresses");
        let addr = line
            .strip_prefix("relay: ")
            .expect("line prefixed `relay: `");
        let addr: libp2p::Multiaddr = addr.parse().expect("a multiaddr");
        addrs.push(addr);
    }
    for addr in &addrs {
        let text = addr.to_string();
        assert!(text.contains("/p2p/12D3KooW"), "{text}");
    }
    assert!(addrs.iter().any(|a| a.to_string().contains("/tcp/")));
    assert!(addrs.iter().any(|a| a.to_string().contains("/quic-v1/")));

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("relay did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn bad_config_exits_with_the_key_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("relay.toml");
    std::fs::write(&file, "[limits]\nmax_circuit_duration_secs = 0\n").expect("write");
    let out = relay_command()
        .arg("--config")
        .arg(&file)
        .output()
        .expect("run relay");
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("limits.max_circuit_duration_secs"),
        "{stderr}"
    );
}
