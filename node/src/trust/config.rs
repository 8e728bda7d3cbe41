//! [`TrustConfig`]: everything a [`crate::trust::Gatekeeper`] is built from.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agenthost_identity::Address;

use crate::trust::{PolicyJudge, RateLimit, Trust};

/// How long a policy verdict is remembered per caller unless configured otherwise.
pub const DEFAULT_POLICY_CACHE_TTL: Duration = Duration::from_secs(10 * 60);

/// The trust settings of one hosted agent.
#[derive(Clone)]
pub struct TrustConfig {
    /// Who may call: a level (`open`, `careful`, `strict`), a policy text, or a custom rule.
    pub trust: Trust,
    /// The agent's own address: always an admin.
    pub own_address: Address,
    /// Addresses given in code or flags, merged with the files'.
    pub whitelist: Vec<Address>,
    /// Addresses refused before anything else is checked, merged with the blacklist file's.
    pub blacklist: Vec<Address>,
    /// List files, re-read when they change; a missing file is an empty list.
    pub whitelist_file: Option<PathBuf>,
    /// The blacklist file, one address a line, re-read when it changes.
    pub blacklist_file: Option<PathBuf>,
    /// The admins file: addresses admitted whatever the rule and never rate limited.
    pub admins_file: Option<PathBuf>,
    /// Judges [`Trust::Policy`]; without one a policy refuses every caller the lists do not admit.
    pub judge: Option<Arc<dyn PolicyJudge>>,
    /// How long a policy verdict is remembered per caller.
    pub policy_cache_ttl: Duration,
    /// Per-caller rate limit for everyone but admins; `None` = off.
    pub rate_limit: Option<RateLimit>,
}

impl TrustConfig {
    /// No lists, no files, no judge, a 10 minute verdict cache, no rate limit.
    pub fn new(trust: Trust, own_address: Address) -> Self {
        TrustConfig {
            trust,
            own_address,
            whitelist: Vec::new(),
            blacklist: Vec::new(),
            whitelist_file: None,
            blacklist_file: None,
            admins_file: None,
            judge: None,
            policy_cache_ttl: DEFAULT_POLICY_CACHE_TTL,
            rate_limit: None,
        }
    }

    /// Uses the list files of a data folder (e.g. `.agenthost/`): `whitelist.txt`,
    /// `blacklist.txt` and `admins.txt`.
    pub fn with_data_dir(mut self, dir: &Path) -> Self {
        self.whitelist_file = Some(dir.join("whitelist.txt"));
        self.blacklist_file = Some(dir.join("blacklist.txt"));
        self.admins_file = Some(dir.join("admins.txt"));
        self
    }
}

impl fmt::Debug for TrustConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustConfig")
            .field("trust", &self.trust)
            .field("own_address", &self.own_address)
            .field("whitelist", &self.whitelist)
            .field("blacklist", &self.blacklist)
            .field("whitelist_file", &self.whitelist_file)
            .field("blacklist_file", &self.blacklist_file)
            .field("admins_file", &self.admins_file)
            .field("judge", &self.judge.as_ref().map(|_| ".."))
            .field("policy_cache_ttl", &self.policy_cache_ttl)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}
