//! OpenAI-compatible chat-completions client.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::llm::config::LlmConfig;

/// Largest response body [`LlmClient::chat`] reads unless changed with
/// [`LlmClient::with_max_response_bytes`]: 1 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// How much of an error response's body is kept in [`LlmError::Status`].
const STATUS_BODY_BYTES: usize = 500;

/// One message of a chat conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The message text.
    pub content: String,
}

impl ChatMessage {
    /// A message from `role` (`system`, `user` or `assistant`) saying `content`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }

    /// A `system` message: instructions for the model.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    /// A `user` message: what the model is asked.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    /// An `assistant` message: an earlier answer of the model.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// Why a chat request produced no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// The HTTP client could not be built (e.g. no TLS backend).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// The request could not be sent or the answer could not be read:
    /// connection refused, reset, DNS failure, TLS failure, ...
    #[error("request to the LLM endpoint failed: {0}")]
    Request(String),
    /// The whole request did not finish within the configured timeout.
    #[error("LLM endpoint did not answer within {0:?}")]
    Timeout(Duration),
    /// The endpoint answered with a non-2xx status; `body` holds the first
    /// ~500 bytes of its body (lossy UTF-8, control characters blanked).
    #[error("LLM endpoint answered HTTP status {status}: {body}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The start of the response body, lossy UTF-8 with control characters blanked.
        body: String,
    },
    /// The response body is larger than the client accepts.
    #[error("LLM response body exceeds {limit} bytes")]
    BodyTooLarge {
        /// The largest body accepted, in bytes.
        limit: usize,
    },
    /// The body is not chat-completions JSON, or has no
    /// `choices[0].message.content`.
    #[error("malformed LLM response: {0}")]
    Malformed(String),
}

/// A chat-completions client. Cloning is cheap and shares the connection
/// pool.
#[derive(Debug, Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    config: Arc<LlmConfig>,
    endpoint: Arc<str>,
    max_response_bytes: usize,
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    temperature: u8,
}

impl LlmClient {
    /// Builds the client; the timeout in `config` bounds each whole request.
    /// Redirects are not followed (an API endpoint has no reason to
    /// redirect, and the bearer key must not travel elsewhere).
    pub fn new(config: LlmConfig) -> Result<Self, LlmError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| LlmError::Client(error_chain(&e)))?;
        let endpoint: Arc<str> = config.endpoint().into();
        Ok(LlmClient {
            http,
            config: Arc::new(config),
            endpoint,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        })
    }

    /// Changes the largest response body accepted (default
    /// [`DEFAULT_MAX_RESPONSE_BYTES`]).
    pub fn with_max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// The settings the client was built with (endpoint, model, key, timeout).
    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// The URL requests are posted to: `{base_url}/chat/completions`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sends `messages` with `temperature: 0` and returns
    /// `choices[0].message.content`.
    pub async fn chat(&self, messages: &[ChatMessage]) -> Result<String, LlmError> {
        let timeout = self.config.timeout;
        // reqwest's own timeout covers the body too; this outer bound also
        // covers anything reqwest does not (and costs nothing).
        let result = match tokio::time::timeout(timeout, self.chat_inner(messages)).await {
            Ok(result) => result,
            Err(_) => Err(LlmError::Timeout(timeout)),
        };
        if let Err(e) = &result {
            tracing::debug!(endpoint = %self.endpoint, error = %e, "llm chat failed");
        }
        result
    }

    async fn chat_inner(&self, messages: &[ChatMessage]) -> Result<String, LlmError> {
        tracing::debug!(
            endpoint = %self.endpoint,
            model = %self.config.model,
            messages = messages.len(),
            "llm chat request"
        );
        let body = ChatRequest {
            model: &self.config.model,
            messages,
            temperature: 0,
        };
        let mut request = self.http.post(&*self.endpoint).json(&body);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        let mut response = request.send().await.map_err(|e| self.transport_error(e))?;

        let status = response.status();
        if !status.is_success() {
            // Best effort: a failure reading the error body still reports
            // the status.
            let bytes = read_limited(&mut response, STATUS_BODY_BYTES, false)
                .await
                .unwrap_or_default();
            return Err(LlmError::Status {
                status: status.as_u16(),
                body: clean_snippet(&bytes, STATUS_BODY_BYTES),
            });
        }

        let limit = self.max_response_bytes;
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(LlmError::BodyTooLarge { limit });
        }
        let bytes = read_limited(&mut response, limit, true)
            .await
            .map_err(|e| match e {
                ReadError::TooLarge => LlmError::BodyTooLarge { limit },
                ReadError::Http(e) => self.transport_error(e),
            })?;
        extract_content(&bytes)
    }

    fn transport_error(&self, e: reqwest::Error) -> LlmError {
        if e.is_timeout() {
            LlmError::Timeout(self.config.timeout)
        } else {
            LlmError::Request(error_chain(&e))
        }
    }
}

enum ReadError {
    TooLarge,
    Http(reqwest::Error),
}

/// Reads at most `limit` bytes of the body. With `strict`, a body longer
/// than `limit` is an error; otherwise it is cut at `limit`.
async fn read_limited(
    response: &mut reqwest::Response,
    limit: usize,
    strict: bool,
) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Http)? {
        if buf.len() + chunk.len() > limit {
            if strict {
                return Err(ReadError::TooLarge);
            }
            let room = limit - buf.len();
            buf.extend_from_slice(&chunk[..room]);
            break;
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// Pulls `choices[0].message.content` out of a chat-completions body.
/// Content given as an array of parts has its `text` parts joined.
fn extract_content(bytes: &[u8]) -> Result<String, LlmError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        LlmError::Malformed(format!(
            "not JSON ({e}): {}",
            clean_snippet(bytes, STATUS_BODY_BYTES)
        ))
    })?;
    let Some(choices) = value.get("choices") else {
        let detail = match value.get("error") {
            Some(err) => format!(
                "no `choices`; endpoint reported error: {}",
                clean_snippet(err.to_string().as_bytes(), STATUS_BODY_BYTES)
            ),
            None => "no `choices` in the response".to_owned(),
        };
        return Err(LlmError::Malformed(detail));
    };
    let first = choices
        .as_array()
        .ok_or_else(|| LlmError::Malformed("`choices` is not an array".to_owned()))?
        .first()
        .ok_or_else(|| LlmError::Malformed("`choices` is empty".to_owned()))?;
    let content = first
        .get("message")
        .and_then(|m| m.get("content"))
        .ok_or_else(|| LlmError::Malformed("no `choices[0].message.content`".to_owned()))?;
    match content {
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            let text: Vec<&str> = parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            if text.is_empty() {
                Err(LlmError::Malformed(
                    "`choices[0].message.content` has no text parts".to_owned(),
                ))
            } else {
                Ok(text.concat())
            }
        }
        _ => Err(LlmError::Malformed(
            "`choices[0].message.content` is not text".to_owned(),
        )),
    }
}

/// At most `max` bytes of `bytes` as text fit for a log line or an error:
/// lossy UTF-8, cut on a character boundary, control characters blanked.
pub(crate) fn clean_snippet(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(max)]);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out.trim().to_owned()
}

/// `e` and its sources, joined with `: ` (reqwest's own message alone says
/// little, e.g. "error sending request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        source = s.source();
    }
    out
}
