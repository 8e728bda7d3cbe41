//! A tool-using agent: it finds the arithmetic in the prompt, calls its `calculator` tool, and
//! tells the caller as it goes, with the `tool_call` and `tool_result` events of WIRE.md §4
//! (the events a chat UI shows, and that the host keeps in the session's `trace`).
//!
//!     cargo run --example tools
//!
//! `curl -s http://127.0.0.1:8000/input -d '{"prompt":"what is 12*(3+4)?"}'` answers
//! `12*(3+4) = 84`; over `/ws` or `agenthost call --json` the events arrive before the answer.

mod calculator;

use agenthost::{host, Agent, AgentError, AgentInfo, Context, Input, Output};
use serde_json::json;

/// The agent. Stateless, so `Clone` (one copy per request) costs nothing.
#[derive(Clone)]
struct CalculatorAgent;

impl Agent for CalculatorAgent {
    async fn input(&mut self, input: Input, cx: &Context) -> Result<Output, AgentError> {
        cx.thinking().await;
        let Some(expression) = calculator::find_expression(&input.prompt) else {
            return Ok(Output::new("I can only calculate. Try: what is 12*(3+4)?"));
        };
        cx.tool_call("calculator", json!({ "expression": expression }))
            .await;
        // A tool failure is part of the conversation, not an agent failure: the caller sees
        // the error event and an answer that explains it.
        let answer = match calculator::evaluate(expression) {
            Ok(value) => {
                let value = calculator::format_number(value);
                cx.tool_result("calculator", json!(value), "success").await;
                format!("{expression} = {value}")
            }
            Err(why) => {
                cx.tool_result("calculator", json!(why), "error").await;
                format!("I could not calculate {expression}: {why}")
            }
        };
        Ok(Output::new(answer))
    }

    fn info(&self) -> AgentInfo {
        AgentInfo::new("calculator")
            .description("Does arithmetic with a calculator tool")
            .tool("calculator")
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    host(CalculatorAgent).await
}
