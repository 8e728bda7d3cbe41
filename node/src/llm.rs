//! LLM support: an OpenAI-compatible chat-completions client and a policy
//! judge that asks the model whether a caller may use an agent.
//!
//! Layout:
//! - [`config`] — [`LlmConfig`]: endpoint, model, API key and timeout, read
//!   from `AGENTHOST_LLM_URL`, `AGENTHOST_LLM_MODEL` (default
//!   `gpt-4o-mini`) and `AGENTHOST_LLM_API_KEY`.
//! - [`client`] — [`LlmClient`], [`ChatMessage`] and [`LlmError`]: one
//!   `POST {base_url}/chat/completions` per call with `temperature: 0`,
//!   bearer auth when a key is set, a bounded response body (1 MiB by
//!   default) and the answer taken from `choices[0].message.content`.
//! - [`judge`] — [`LlmJudge`], trust's [`PolicyJudge`](crate::trust::PolicyJudge) as an LLM:
//!   builds the gatekeeper prompt from the operator's policy and the facts about the
//!   caller (never the caller's prompt), and parses the model's
//!   `{"decision":"allow"|"deny","reason":"..."}` answer strictly. Every
//!   failure (transport, HTTP status, unparseable or ambiguous answer) is an
//!   `Err`, on which the caller refuses.

pub mod client;
pub mod config;
pub mod judge;

pub use client::{ChatMessage, LlmClient, LlmError, DEFAULT_MAX_RESPONSE_BYTES};
pub use config::{LlmConfig, DEFAULT_MODEL, DEFAULT_TIMEOUT};
pub use judge::{judge_messages, parse_verdict, LlmJudge, SYSTEM_PROMPT};
