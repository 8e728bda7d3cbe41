//! Configuration errors: what makes a [`crate::trust::Gatekeeper`] refuse to start. Refusing a
//! request is not an error of this kind; that is a [`crate::trust::Refusal`].

use std::path::PathBuf;

/// Why a gatekeeper could not be built from its trust settings.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// `--trust ""` or a policy file with nothing but whitespace in it.
    #[error("trust policy is empty: give a level (open, careful, strict), a policy text or a policy file")]
    EmptyPolicy,

    /// The trust argument names a file that cannot be read as a policy.
    #[error("cannot read trust policy file {}: {source}", path.display())]
    PolicyFile {
        /// The policy file.
        path: PathBuf,
        /// The error reading it.
        #[source]
        source: std::io::Error,
    },

    /// A whitelist, blacklist or admins file exists but cannot be read at startup.
    #[error("cannot read {list} file {}: {source}", path.display())]
    ListFile {
        /// Which list: `"whitelist"`, `"blacklist"` or `"admins"`.
        list: &'static str,
        /// The list file.
        path: PathBuf,
        /// The error reading it.
        #[source]
        source: std::io::Error,
    },

    /// A rate limit of zero requests per minute or a burst of zero.
    #[error("invalid rate limit: {0}")]
    InvalidRateLimit(String),
}
