//! Configuration of the LLM endpoint.

use std::fmt;
use std::time::Duration;

/// Model used when `AGENTHOST_LLM_MODEL` is unset or empty.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

/// Whole-request timeout used unless the caller sets another.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how to reach an OpenAI-compatible chat-completions endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct LlmConfig {
    /// Base URL of the API, e.g. `http://127.0.0.1:8080/v1`; requests go to
    /// `{base_url}/chat/completions`. A trailing `/` is ignored.
    pub base_url: String,
    /// Model name sent in every request.
    pub model: String,
    /// Sent as `Authorization: Bearer <key>` when set.
    pub api_key: Option<String>,
    /// Bound on one whole request: connect, send, and reading the answer.
    pub timeout: Duration,
}

impl LlmConfig {
    /// A configuration with no API key and the default timeout.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        LlmConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Reads the process environment; see [`LlmConfig::from_env_map`].
    pub fn from_env() -> Option<LlmConfig> {
        Self::from_env_map(|name| std::env::var(name).ok())
    }

    /// Builds a configuration from `lookup`, which maps a variable name to
    /// its value:
    /// - `AGENTHOST_LLM_URL` — required; `None` when unset or blank.
    /// - `AGENTHOST_LLM_MODEL` — defaults to [`DEFAULT_MODEL`] when unset
    ///   or blank.
    /// - `AGENTHOST_LLM_API_KEY` — optional; blank counts as unset.
    ///
    /// Values are trimmed; the timeout is [`DEFAULT_TIMEOUT`].
    pub fn from_env_map(lookup: impl Fn(&str) -> Option<String>) -> Option<LlmConfig> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let base_url = get("AGENTHOST_LLM_URL")?;
        Some(LlmConfig {
            base_url,
            model: get("AGENTHOST_LLM_MODEL").unwrap_or_else(|| DEFAULT_MODEL.to_owned()),
            api_key: get("AGENTHOST_LLM_API_KEY"),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The full URL requests are posted to.
    pub fn endpoint(&self) -> String {
        format!("{}/chat/completions", self.base_url.trim_end_matches('/'))
    }
}

/// Never prints the API key.
impl fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}
