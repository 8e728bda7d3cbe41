//! An LLM agent: every prompt goes, with the conversation so far, to any OpenAI-compatible
//! chat-completions endpoint (`POST {base}/chat/completions`: OpenAI, Ollama, vLLM, llama.cpp,
//! LiteLLM...).
//!
//!     AGENTHOST_LLM_URL=http://127.0.0.1:11434/v1 AGENTHOST_LLM_MODEL=llama3.2 cargo run --example llm
//!
//! Configuration, from the environment: `AGENTHOST_LLM_URL` (the base URL, up to and
//! including `/v1`), `AGENTHOST_LLM_MODEL` (default `gpt-4o-mini`), `AGENTHOST_LLM_API_KEY`
//! (sent as a bearer token) — the names the policy judge uses too. `OPENAI_BASE_URL`,
//! `OPENAI_MODEL` and `OPENAI_API_KEY` stand in for each when it is unset, and
//! `OPENAI_API_KEY` alone means OpenAI itself.
//!
//! The answer comes back whole (the client asks without `stream: true`), so callers get it
//! as the OUTPUT, after a `thinking` event sent while the model works.

use agenthost::{
    agent_fn_with_context, host,
    node::llm::{ChatMessage, LlmClient, LlmConfig},
    AgentInfo, Context, Input,
};
use anyhow::Context as _;

/// What the model is told it is.
const SYSTEM_PROMPT: &str = "You are a helpful assistant reachable on a peer-to-peer network. \
                             Answer briefly.";

/// Where `OPENAI_API_KEY` alone sends requests.
const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// The endpoint from the environment: the project's own names first, then OpenAI's.
fn config_from_env() -> Option<LlmConfig> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    LlmConfig::from_env_map(|name| {
        var(name).or_else(|| match name {
            "AGENTHOST_LLM_URL" => var("OPENAI_BASE_URL")
                .or_else(|| var("OPENAI_API_KEY").map(|_| OPENAI_BASE_URL.to_owned())),
            "AGENTHOST_LLM_MODEL" => var("OPENAI_MODEL"),
            "AGENTHOST_LLM_API_KEY" => var("OPENAI_API_KEY"),
            _ => None,
        })
    })
}

/// The conversation the model sees: the instructions, the session's earlier turns (kept by
/// the host and handed back by the caller), then this prompt.
fn messages(cx: &Context, prompt: &str) -> Vec<ChatMessage> {
    let mut messages = vec![ChatMessage::system(SYSTEM_PROMPT)];
    messages.extend(
        cx.session()
            .messages
            .iter()
            .map(|m| ChatMessage::new(&m.role, &m.content)),
    );
    messages.push(ChatMessage::user(prompt));
    messages
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = config_from_env()
        .context("no LLM endpoint: set AGENTHOST_LLM_URL (or OPENAI_BASE_URL / OPENAI_API_KEY)")?;
    let info = AgentInfo::new("llm")
        .description("Answers with an OpenAI-compatible model")
        .model(&config.model);
    // One client for every request: clones share its connection pool.
    let client = LlmClient::new(config).context("building the LLM client")?;
    let agent = agent_fn_with_context("llm", move |input: Input, cx: Context| {
        let client = client.clone();
        async move {
            cx.thinking().await;
            let answer = client.chat(&messages(&cx, &input.prompt)).await?;
            Ok(answer)
        }
    })
    .with_info(info);
    host(agent).await
}
