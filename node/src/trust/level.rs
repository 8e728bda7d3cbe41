//! The four forms of trust: a level (`open`, `careful`, `strict`), a natural-language policy,
//! or a custom Rust [`TrustPolicy`].

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use crate::trust::{CallerFacts, Refusal, TrustError};

/// What decides, once the lists have had their say, whether a caller is admitted.
#[derive(Clone, Default)]
pub enum Trust {
    /// Anyone not blacklisted, anonymous callers included.
    Open,
    /// Any authenticated identity (a libp2p peer or a signed request); anonymous callers only
    /// from this machine (in-process or HTTP on loopback). The default.
    #[default]
    Careful,
    /// Whitelisted and admin identities only.
    Strict,
    /// A natural-language policy (the text itself), judged per caller by a
    /// [`crate::trust::PolicyJudge`].
    Policy(String),
    /// A policy written in Rust.
    Custom(Arc<dyn TrustPolicy>),
}

/// A custom admission rule, asked after the blacklist, whitelist and admins.
///
/// Return `Ok(())` to admit, or the [`Refusal`] the caller should see. Boxed futures keep the
/// trait object-safe without `async-trait`.
pub trait TrustPolicy: Send + Sync + 'static {
    /// Admits the caller described by `facts` with `Ok(())`, or returns the refusal it is told.
    fn decide<'a>(
        &'a self,
        facts: &'a CallerFacts,
    ) -> Pin<Box<dyn Future<Output = Result<(), Refusal>> + Send + 'a>>;
}

impl Trust {
    /// Reads a `--trust` value: `open`, `careful` or `strict` in any case; otherwise the path of
    /// an existing file holding the policy text; otherwise the policy text itself.
    pub fn parse(s: &str) -> Result<Trust, TrustError> {
        let trimmed = s.trim();
        if trimmed.is_empty() {
            return Err(TrustError::EmptyPolicy);
        }
        match trimmed.to_ascii_lowercase().as_str() {
            "open" => return Ok(Trust::Open),
            "careful" => return Ok(Trust::Careful),
            "strict" => return Ok(Trust::Strict),
            _ => {}
        }
        // `exists` is false for anything the OS cannot even look up (a long policy text, one
        // with a NUL byte), which then reads as policy text.
        let path = Path::new(s);
        let text = if path.exists() {
            std::fs::read_to_string(path).map_err(|source| TrustError::PolicyFile {
                path: path.to_path_buf(),
                source,
            })?
        } else {
            s.to_string()
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(TrustError::EmptyPolicy);
        }
        Ok(Trust::Policy(text.to_string()))
    }

    /// `"open"`, `"careful"`, `"strict"`, `"policy"` or `"custom"` (what `/info` reports).
    pub fn name(&self) -> &str {
        match self {
            Trust::Open => "open",
            Trust::Careful => "careful",
            Trust::Strict => "strict",
            Trust::Policy(_) => "policy",
            Trust::Custom(_) => "custom",
        }
    }
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trust::Open => f.write_str("Open"),
            Trust::Careful => f.write_str("Careful"),
            Trust::Strict => f.write_str("Strict"),
            Trust::Policy(text) => f.debug_tuple("Policy").field(text).finish(),
            Trust::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}
