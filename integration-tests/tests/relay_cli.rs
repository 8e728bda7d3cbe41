//! The relay path with real processes: `agenthost relay`, an agent started with `--relay`, and
//! a caller that knows only the relay and the agent's address.

use std::time::{Duration, Instant};

use agenthost_integration_tests::{agenthost, HostProcess, ServiceProcess};

#[test]
fn a_caller_reaches_an_agent_through_agenthost_relay() {
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, relay_addr) = ServiceProcess::relay(dir.path());
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
    relay.kill();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "echo: via the relay\n"
    );
}

/// The directory: the agent registers its signed peer record in the relay's rendezvous
/// directory under its own address; once AutoNAT (v2, the relay as server) has confirmed its
/// direct address, the record carries it, and a caller given only the relay and the address
/// finds it there and connects directly — with no hole punch (`--direct-wait 0` sends at once,
/// so a relayed connection would show as `relayed`).
#[test]
fn a_caller_given_only_a_relay_finds_the_agents_direct_address_in_its_directory() {
    use agenthost_integration_tests::netlab::LabProcess;
    let dir = tempfile::tempdir().unwrap();
    let ready = Duration::from_secs(30);
    let args = agenthost_integration_tests::local_relay_args(&dir.path().join("relay.key"), &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let relay = LabProcess::spawn_local(dir.path(), &args);
    let relay_addr = relay.wait_stdout(ready, agenthost_integration_tests::relay_tcp_addr);
    let host_dir = tempfile::tempdir().unwrap();
    let host = LabProcess::spawn_local(
        host_dir.path(),
        &[
            "host",
            "--demo",
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--relay",
            &relay_addr,
        ],
    );
    let address = host.wait_stdout(ready, |line| {
        line.strip_prefix("address: ").map(str::to_owned)
    });
    let direct = host.wait_stdout(ready, |line| {
        line.strip_prefix("listen: ").map(str::to_owned)
    });
    // First listed with the relayed address only; listed again once AutoNAT confirms the
    // direct one (the record follows the confirmed external addresses).
    host.wait_stderr(ready, |line| {
        line.contains("address reachable from outside")
            .then_some(())
    });
    host.wait_stderr(ready, |line| {
        line.contains("listed in the relay's directory")
            .then_some(())
    });

    let out = agenthost(&[
        "call",
        &address,
        "found by address",
        "--relay",
        &relay_addr,
        "--json",
        "--direct-wait",
        "0",
        "--timeout",
        "30",
    ]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let connection: serde_json::Value =
        serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(connection["type"], "CONNECTION");
    assert_eq!(connection["path"], "direct", "{connection}");
    assert_eq!(connection["remote_addr"], direct.as_str(), "{connection}");
    assert!(stdout.contains("echo: found by address"), "{stdout}");
}
