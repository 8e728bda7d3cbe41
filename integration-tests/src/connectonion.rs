//! ConnectOnion 1.9.2 from PyPI, for real: its own client (`connect()`), its `sealed.py` and
//! its `host()`, driven by the scripts in `integration-tests/connectonion/` from a venv that
//! `.ci/run` makes (`integration-tests/connectonion/.venv`, from the pinned requirements.txt).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

/// The venv's Python: `$AGENTHOST_CO_PYTHON`, else `connectonion/.venv/bin/python`. `None`
/// (the caller then skips) unless `AGENTHOST_REQUIRE_CONNECTONION` is set, when a missing
/// venv fails the test.
pub fn python(test: &str) -> Option<PathBuf> {
    crate::venv::PinnedPython {
        override_var: "AGENTHOST_CO_PYTHON",
        default: scripts().join(".venv/bin/python"),
        check: "import connectonion, sys; sys.exit(connectonion.__version__ != '1.9.2')",
        missing: "ConnectOnion 1.9.2 is not installed (python3 -m venv \
                  integration-tests/connectonion/.venv && \
                  integration-tests/connectonion/.venv/bin/pip install -r \
                  integration-tests/connectonion/requirements.txt)"
            .into(),
        require_var: "AGENTHOST_REQUIRE_CONNECTONION",
    }
    .find(test)
}

/// The folder of the scripts.
pub fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("connectonion")
}

/// A command running `script` with `python`, at home in `home`: ConnectOnion writes to
/// `~/.claude/`, `~/.co/` and `./.co/`, never the real home's.
pub fn script(python: &Path, home: &Path, script: &str, args: &[&str]) -> Command {
    let mut command = Command::new(python);
    command
        .arg(scripts().join(script))
        .args(args)
        .current_dir(home)
        .env("HOME", home)
        .env("PYTHONUNBUFFERED", "1")
        .env("NO_COLOR", "1");
    command
}

/// Runs a script to its end (at most `limit`) and returns its stdout's JSON lines; panics with
/// its output if it fails.
pub fn json_lines(mut command: Command, limit: Duration) -> Vec<Value> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting python");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("waiting for python").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("python's output");
            panic!(
                "{command:?} did not finish within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("python's output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{command:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// ConnectOnion's own `host()` with an offline echo LLM (`co_echo_host.py`), killed on drop.
pub struct ReferenceHost {
    child: Child,
    pub url: String,
}

impl ReferenceHost {
    pub fn start(python: &Path, home: &Path) -> ReferenceHost {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = script(python, home, "co_echo_host.py", &[&port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting ConnectOnion's host");
        let host = ReferenceHost {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "ConnectOnion's host did not listen within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        host
    }
}

impl Drop for ReferenceHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
