//! The banner's `try:` lines run exactly as printed (curl over HTTP, websocat over WebSocket,
//! `agenthost call` over P2P), as a newcomer would paste them into a shell.
//!
//! websocat is not part of a fresh machine: CI installs it and sets
//! `AGENTHOST_REQUIRE_WEBSOCAT=1`; elsewhere a missing websocat skips only its line.

use std::process::Command;

use agenthost_integration_tests::HostProcess;

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn every_try_line_of_the_banner_answers_as_printed() {
    let host = HostProcess::start(&["--demo", "--no-mdns"]);
    let tries: Vec<&str> = host
        .banner
        .iter()
        .filter_map(|l| l.strip_prefix("try: "))
        .collect();
    assert_eq!(tries.len(), 3, "{:?}", host.banner);
    for line in tries {
        let program = line
            .trim_start_matches('(')
            .split_whitespace()
            .next()
            .unwrap();
        if line.contains("| websocat ") && !have("websocat") {
            assert!(
                std::env::var_os("AGENTHOST_REQUIRE_WEBSOCAT").is_none(),
                "websocat is required (AGENTHOST_REQUIRE_WEBSOCAT) but not installed"
            );
            println!("SKIPPED the websocat line: websocat is not installed");
            continue;
        }
        // Run from another folder, as a second terminal would.
        let out = Command::new("sh")
            .args(["-c", line])
            .current_dir(std::env::temp_dir())
            .output()
            .unwrap_or_else(|e| panic!("running {program}: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{line}\nexit {:?}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("echo: hello"), "{line}\n{stdout}");
    }
}
