//! The official MCP Python SDK (`mcp` 2.3.0 from PyPI), for real: `mcp_client.py` in
//! `integration-tests/mcp/` drives it from a venv that `.ci/run` makes
//! (`integration-tests/mcp/.venv`, from the pinned requirements.txt).

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// The venv's Python: `$AGENTHOST_MCP_PYTHON`, else `mcp/.venv/bin/python`. `None` (the caller
/// then skips) unless `AGENTHOST_REQUIRE_MCP` is set, when a missing venv fails the test.
pub fn python(test: &str) -> Option<PathBuf> {
    let python = std::env::var_os("AGENTHOST_MCP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| scripts().join(".venv/bin/python"));
    let works = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m, sys; sys.exit(m.version('mcp') != '2.3.0')",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if works {
        return Some(python);
    }
    let why = format!(
        "{test}: the MCP Python SDK 2.3.0 is not installed at {} \
         (python3 -m venv integration-tests/mcp/.venv && \
         integration-tests/mcp/.venv/bin/pip install -r integration-tests/mcp/requirements.txt)",
        python.display()
    );
    if std::env::var_os("AGENTHOST_REQUIRE_MCP").is_some() {
        panic!("{why}");
    }
    eprintln!("SKIPPED {why}");
    None
}

/// The folder of the scripts.
pub fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mcp")
}

/// A command running `mcp_client.py <args>` with `python`.
pub fn client(python: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(python);
    command
        .arg(scripts().join("mcp_client.py"))
        .args(args)
        .env("PYTHONUNBUFFERED", "1");
    command
}
