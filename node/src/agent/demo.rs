//! The built-in demo agent of `agenthost host --demo`: answers `echo: <prompt>`, streamed word
//! by word, so every path (P2P, HTTP, WS) shows streaming with no setup.

use crate::{
    agent::{Agent, AgentError, AgentInfo, Input, Output},
    events::Context,
};

/// The agent of `agenthost host --demo`: answers `echo: <prompt>`, streamed word by word.
#[derive(Debug, Clone, Default)]
pub struct DemoAgent;

impl Agent for DemoAgent {
    async fn input(&mut self, input: Input, cx: &Context) -> Result<Output, AgentError> {
        let result = format!("echo: {}", input.prompt);
        // Chunks keep their separators, so their concatenation is exactly the result.
        for word in result.split_inclusive(' ') {
            cx.stream(word).await;
        }
        Ok(Output::new(result))
    }

    fn info(&self) -> AgentInfo {
        AgentInfo::new("demo").description("Echoes the prompt back, streamed word by word.")
    }
}
