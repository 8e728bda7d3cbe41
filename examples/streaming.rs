//! An agent that streams its answer: each word reaches the caller as its own STREAM frame,
//! before the final OUTPUT.
//!
//!     cargo run --example streaming
//!
//! Watch the chunks arrive over WebSocket (`/ws`), e.g. with the `js/ws_client.mjs` example or
//! `websocat ws://127.0.0.1:8000/ws` and `{"type":"INPUT","prompt":"tell me"}`, or over P2P
//! with `agenthost call <address> "tell me" --addr <listen address> --json`.

use std::time::Duration;

use agenthost::{agent_fn_with_context, host, Context, Input};

/// Pause between chunks, standing in for the time a model takes to produce each token, so the
/// stream is visible to a human watching it.
const CHUNK_DELAY: Duration = Duration::from_millis(100);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    host(agent_fn_with_context(
        "streamer",
        |input: Input, cx: Context| async move {
            let answer = format!(
                "You asked: {}. Here is the answer, word by word.",
                input.prompt
            );
            // Chunks keep their separators, so together they are exactly the result.
            for chunk in answer.split_inclusive(' ') {
                if cx.is_cancelled() {
                    // The caller went away: stop producing; nobody reads the rest.
                    break;
                }
                cx.stream(chunk).await;
                tokio::time::sleep(CHUNK_DELAY).await;
            }
            // The host does not assemble chunks: the result is what the agent returns.
            Ok(answer)
        },
    ))
    .await
}
