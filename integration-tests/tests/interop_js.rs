//! Another libp2p implementation against ours: js-libp2p (from npm) dials `agenthost relay`
//! (TCP, Noise, Yamux, identify, ping), reserves on it and is dialed through it by a second js
//! node (circuit relay v2 hop and stop), and calls an `agenthost host --demo` agent over
//! `/agenthost/agent/1`, through the circuit and directly. The script and its pinned packages
//! are in `integration-tests/interop/js/`; .ci/run installs them and sets
//! AGENTHOST_REQUIRE_INTEROP=1, so CI fails rather than skips.

use std::{path::Path, process::Command};

use agenthost_integration_tests::{agenthost_bin, stdout_of_success};

#[test]
fn js_libp2p_uses_our_relay_and_calls_our_agent() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/interop/js"));
    let present = dir.join("node_modules/libp2p").exists()
        && Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !present {
        let required = std::env::var_os("AGENTHOST_REQUIRE_INTEROP").is_some_and(|v| v == "1");
        assert!(
            !required,
            "AGENTHOST_REQUIRE_INTEROP=1 but node or the npm packages are missing"
        );
        eprintln!("SKIPPED: needs node and `npm ci --prefix integration-tests/interop/js`");
        return;
    }
    let out = Command::new(dir.join("run-local.sh"))
        .arg(agenthost_bin())
        .output()
        .expect("running run-local.sh");
    let stdout = stdout_of_success(&out);
    println!("{stdout}");
    assert!(stdout.contains("all interop checks passed"), "{stdout}");
}
