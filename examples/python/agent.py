"""A Python agent hosted by agenthost: one process per request (docs/command-agent.md).

    agenthost host -- python3 examples/python/agent.py

(from the repository: `cargo run -- host -- python3 examples/python/agent.py`). The request
arrives as one JSON line on stdin; events and the result go to stdout as JSON lines. This agent
counts the words of the prompt with a "tool", streams its answer word by word, and mentions
how many turns the conversation has had. Standard library only.
"""

import json
import sys


def send(event):
    # One JSON object per line, flushed: stdout is a pipe, and an unflushed event would reach
    # the caller only when the process exits.
    print(json.dumps(event), flush=True)


def main():
    request = json.loads(sys.stdin.readline())
    prompt = request["prompt"]
    session = request.get("session") or {}
    turn = session.get("turn", 0) + 1

    if not prompt.strip():
        send({"type": "ERROR", "message": "empty prompt"})
        return 1

    # Stderr is the host's log, never the caller's answer.
    print(f"turn {turn} for caller {request.get('caller')}", file=sys.stderr)

    send({"type": "tool_call", "name": "word_count", "args": {"text": prompt}})
    count = len(prompt.split())
    send({"type": "tool_result", "name": "word_count", "result": count, "status": "success"})

    answer = f"Turn {turn}: your prompt has {count} words."
    words = answer.split(" ")
    for i, word in enumerate(words):
        # Chunks keep their spaces, so together they are exactly the result.
        send({"type": "STREAM", "content": word if i == len(words) - 1 else word + " "})
    # The host does not assemble chunks into the result: the OUTPUT line sets it.
    send({"type": "OUTPUT", "result": answer})
    return 0


if __name__ == "__main__":
    sys.exit(main())
