//! The /docs page in a real browser: headless Debian Chromium, driven by the scripts in
//! `integration-tests/browser/` (playwright-core), against a real `agenthost host --demo`.
//! Needs `/usr/bin/chromium`, `node` and `npm ci --prefix integration-tests/browser`; .ci/run
//! installs them and sets AGENTHOST_REQUIRE_BROWSER=1, so CI fails rather than skips.

use std::{path::Path, process::Command};

use agenthost_integration_tests::{stdout_of_success, HostProcess};

fn browser_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/browser"))
}

/// Whether the browser tools are here; without them the test skips, unless CI requires them.
fn tools_present() -> bool {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let present = Path::new(&chromium).exists()
        && Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        && browser_dir().join("node_modules/playwright-core").exists();
    if !present {
        let required = std::env::var_os("AGENTHOST_REQUIRE_BROWSER").is_some_and(|v| v == "1");
        assert!(
            !required,
            "AGENTHOST_REQUIRE_BROWSER=1 but chromium, node or the npm packages are missing"
        );
        eprintln!(
            "SKIPPED: browser test needs {chromium}, node and `npm ci --prefix integration-tests/browser`"
        );
    }
    present
}

fn run_node(args: &[&str]) -> std::process::Output {
    Command::new("node")
        .args(args)
        .current_dir(browser_dir())
        .output()
        .expect("running node")
}

#[test]
fn the_docs_page_signs_like_the_wire_vectors() {
    if !tools_present() {
        return;
    }
    stdout_of_success(&run_node(&["--test", "canonical.test.mjs"]));
}

#[test]
fn the_docs_page_chats_streams_and_signs_in_chromium() {
    if !tools_present() {
        return;
    }
    let host = HostProcess::start(&["--demo", "--no-mdns"]);
    let url = host.http.clone().expect("the host serves HTTP");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs-page");
    let out = run_node(&["docs_page.mjs", &url, shots.to_str().expect("utf-8 path")]);
    let stdout = stdout_of_success(&out);
    println!("{stdout}");
    for shot in ["docs-desktop.png", "docs-phone.png", "docs-insecure.png"] {
        let path = shots.join(shot);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{} is missing or empty", path.display());
        println!("screenshot: {}", path.display());
    }
}
