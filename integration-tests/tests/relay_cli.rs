//! The relay path with real processes: `agenthost relay`, an agent started with `--relay`, and
//! a caller that knows only the relay and the agent's address.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use agenthost_integration_tests::{agenthost, agenthost_bin, HostProcess};

/// Runs `agenthost relay` on loopback and returns it with its TCP relay address.
fn start_relay(dir: &std::path::Path) -> (std::process::Child, String) {
    let key = dir.join("relay.key");
    let mut child = Command::new(agenthost_bin())
        .args([
            "relay",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--metrics-addr",
            "off",
        ])
        .arg("--key-file")
        .arg(&key)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning agenthost relay");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("agenthost relay printed its addresses")
            .expect("readable stdout");
        if let Some(addr) = line.strip_prefix("relay: ") {
            if addr.contains("/tcp/") {
                break addr.to_owned();
            }
        }
    };
    (child, addr)
}

#[test]
fn a_caller_reaches_an_agent_through_agenthost_relay() {
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, relay_addr) = start_relay(dir.path());
    assert!(relay_addr.contains("/p2p/12D3KooW"), "{relay_addr}");
    let host = HostProcess::start(&["--demo", "--no-mdns", "--relay", &relay_addr]);

    // The reservation is made in the background; call until it is in place.
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = loop {
        let out = agenthost(&[
            "call",
            &host.address,
            "via the relay",
            "--relay",
            &relay_addr,
            "--timeout",
            "10",
        ]);
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = relay.kill();
    let _ = relay.wait();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "echo: via the relay\n"
    );
}
