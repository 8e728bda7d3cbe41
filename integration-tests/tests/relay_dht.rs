//! Beyond one relay: relays peered in their Kademlia DHT. An agent reserved (and listed) on
//! relay R1 is called by a caller that knows only relay R2 and the agent's address: R2's DHT
//! says R1 lists the agent, and the caller goes through R1. A relay outside the DHT cannot
//! find the agent, which shows the DHT is what did it.

use std::time::Duration;

use agenthost_integration_tests::{
    agenthost, local_relay_args, netlab::LabProcess, relay_tcp_addr,
};

fn relay(dir: &std::path::Path, name: &str, peers: &[&str]) -> (LabProcess, String) {
    let args = local_relay_args(&dir.join(format!("{name}.key")), peers);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let process = LabProcess::spawn_local(dir, &args);
    let addr = process.wait_stdout(Duration::from_secs(30), relay_tcp_addr);
    (process, addr)
}

#[test]
fn an_agent_listed_on_one_relay_is_called_through_another_relay_of_the_dht() {
    let dir = tempfile::tempdir().unwrap();
    let ready = Duration::from_secs(30);
    let (_r1, r1) = relay(dir.path(), "r1", &[]);
    // R2 knows R1, by name (relays resolve /dns4 peers); R1 learns R2 when R2 connects
    // (identify says R2 speaks the DHT).
    let r1_by_name = r1.replacen("/ip4/127.0.0.1/", "/dns4/localhost/", 1);
    assert_ne!(r1_by_name, r1, "R1 listens on loopback: {r1}");
    let (_r2, r2) = relay(dir.path(), "r2", &[&r1_by_name]);
    let (_r3, r3) = relay(dir.path(), "r3", &[]);

    let host_dir = tempfile::tempdir().unwrap();
    let host = LabProcess::spawn_local(
        host_dir.path(),
        &[
            "host",
            "--demo",
            "--no-mdns",
            "--no-http",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--relay",
            &r1,
        ],
    );
    let address = host.wait_stdout(ready, |line| {
        line.strip_prefix("address: ").map(str::to_owned)
    });
    // Listed in R1's directory: R1 has announced itself in the DHT as the agent's relay.
    host.wait_stderr(ready, |line| {
        line.contains("listed in the relay's directory")
            .then_some(())
    });

    let out = agenthost(&[
        "call",
        &address,
        "hi",
        "--relay",
        &r2,
        "--json",
        "--timeout",
        "30",
    ]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines[0]["type"], "CONNECTION", "{stdout}");
    let last = lines.last().expect("frames");
    assert_eq!(last["type"], "OUTPUT", "{stdout}");
    assert_eq!(last["result"], "echo: hi", "{stdout}");
    let r2_id = r2.rsplit('/').next().unwrap();
    if lines[0]["path"] == "relayed" {
        // Through R1, never R2 (the agent holds no reservation there).
        let via = lines[0]["relay"].as_str().unwrap_or_default();
        assert!(!via.contains(r2_id), "{stdout}");
    }

    // Control: a relay outside the DHT knows nothing of the agent.
    let out = agenthost(&[
        "call",
        &address,
        "hi",
        "--relay",
        &r3,
        "--direct-wait",
        "0",
        "--timeout",
        "30",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
