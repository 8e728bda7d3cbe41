"""ConnectOnion 1.9.2's own host(), serving an agent whose LLM is an offline fake that echoes
the last user message ("echo: <prompt>"), as the reference our gateway is compared with.

Usage: co_echo_host.py PORT   (run with HOME and the working directory in a scratch folder:
host() writes ~/.claude/CLAUDE.md and ./.co/)
"""

import sys

from connectonion import Agent
from connectonion.core.llm import LLM, LLMResponse
from connectonion.network.host import host


class EchoLLM(LLM):
    """Answers without a network: the reply names the prompt, like the agenthost demo."""

    model = "fake-echo"

    def complete(self, messages, tools=None):
        prompt = [m for m in messages if m.get("role") == "user"][-1]["content"]
        return LLMResponse(content=f"echo: {prompt}", tool_calls=[], raw_response=None)

    def structured_complete(self, messages, output_schema):
        raise NotImplementedError("the echo LLM has no structured output")


def make_agent():
    return Agent("coecho", llm=EchoLLM(), tools=[])


if __name__ == "__main__":
    host(make_agent, port=int(sys.argv[1]), trust="open", relay_url=None)
