//! The pinned Python venvs the suites of real clients run from: found, checked for the
//! pinned package, and skipped or failed as the suite's `AGENTHOST_REQUIRE_*` switch says.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// A venv's Python, checked.
pub struct PinnedPython<'a> {
    /// The variable that names another Python (`AGENTHOST_CO_PYTHON`).
    pub override_var: &'a str,
    /// The venv's Python when the variable is unset.
    pub default: PathBuf,
    /// Python code that exits 0 only when the pinned package is installed.
    pub check: &'a str,
    /// What is missing, and how to install it, for the skip or failure message.
    pub missing: String,
    /// The switch that turns a missing venv into a failed test.
    pub require_var: &'a str,
}

impl PinnedPython<'_> {
    /// The Python for `test`; `None` (the caller then skips) unless the require switch is
    /// set, when a missing venv fails the test.
    pub fn find(&self, test: &str) -> Option<PathBuf> {
        let python = std::env::var_os(self.override_var)
            .map(PathBuf::from)
            .unwrap_or_else(|| self.default.clone());
        if works(&python, self.check) {
            return Some(python);
        }
        let why = format!("{test}: {} at {}", self.missing, python.display());
        if std::env::var_os(self.require_var).is_some() {
            panic!("{why}");
        }
        eprintln!("SKIPPED {why}");
        None
    }
}

fn works(python: &Path, check: &str) -> bool {
    Command::new(python)
        .args(["-c", check])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
