//! The official MCP Python SDK (`mcp` 2.3.0 from PyPI), for real: `mcp_client.py` in
//! `integration-tests/mcp/` drives it from a venv that `.ci/run` makes
//! (`integration-tests/mcp/.venv`, from the pinned requirements.txt).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The venv's Python: `$AGENTHOST_MCP_PYTHON`, else `mcp/.venv/bin/python`. `None` (the caller
/// then skips) unless `AGENTHOST_REQUIRE_MCP` is set, when a missing venv fails the test.
pub fn python(test: &str) -> Option<PathBuf> {
    crate::venv::PinnedPython {
        override_var: "AGENTHOST_MCP_PYTHON",
        default: scripts().join(".venv/bin/python"),
        check: "import importlib.metadata as m, sys; sys.exit(m.version('mcp') != '2.3.0')",
        missing: "the MCP Python SDK 2.3.0 is not installed (python3 -m venv \
                  integration-tests/mcp/.venv && integration-tests/mcp/.venv/bin/pip install \
                  -r integration-tests/mcp/requirements.txt)"
            .into(),
        require_var: "AGENTHOST_REQUIRE_MCP",
    }
    .find(test)
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
