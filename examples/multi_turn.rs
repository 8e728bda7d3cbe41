//! A multi-turn agent: it answers from the conversation so far, which the host keeps in the
//! session. Say `remember <something>`, then ask `what did I ask you to remember?` in the same
//! session and it knows; a new session starts with an empty memory.
//!
//!     cargo run --example multi_turn
//!
//! Over HTTP, pass the `session` object of each answer back with the next prompt:
//! `{"prompt":"what did I ask you to remember?","session":{...}}`. On `/ws` and the `/docs`
//! page the client does that for you; over P2P, `agenthost call ... --session chat.json`.
//!
//! The agent itself keeps nothing between requests (each runs on a fresh clone): the history
//! travels with the session, so any worker, or a restarted host, continues the conversation.

use agenthost::{agent_fn_with_context, host, Context, Input};

/// The prefix of a prompt the agent takes note of.
const REMEMBER: &str = "remember ";

fn answer(prompt: &str, cx: &Context) -> String {
    let prompt = prompt.trim();
    if let Some(note) = note(prompt) {
        return format!("Noted: {note}.");
    }
    // Earlier user turns are the agent's memory; the host records each finished turn.
    let notes: Vec<&str> = cx
        .session()
        .messages
        .iter()
        .filter(|m| m.role == "user")
        .filter_map(|m| note(m.content.trim()))
        .collect();
    if prompt.to_lowercase().contains("remember") {
        if notes.is_empty() {
            "You have not asked me to remember anything yet.".to_owned()
        } else {
            format!("You asked me to remember: {}.", notes.join("; "))
        }
    } else {
        format!(
            "This is turn {} of our conversation. Tell me to \"remember\" something, then ask \
             me what you asked me to remember.",
            cx.session().turn + 1
        )
    }
}

/// What `remember <note>` asks to keep; a question (`remember anything?`) keeps nothing.
fn note(prompt: &str) -> Option<&str> {
    let head = prompt.get(..REMEMBER.len())?;
    (head.eq_ignore_ascii_case(REMEMBER) && !prompt.ends_with('?'))
        .then(|| prompt[REMEMBER.len()..].trim().trim_end_matches('.'))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    host(agent_fn_with_context(
        "memory",
        |input: Input, cx: Context| async move { Ok(answer(&input.prompt, &cx)) },
    ))
    .await
}
