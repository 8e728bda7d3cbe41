#!/usr/bin/env bash
# MCP tools/call, one run side by side: agenthost's /mcp (the demo agent, the durable session
# store in the path) against the official Python SDK's MCPServer (FastMCP) with an echo tool,
# both measured by `agenthost bench mcp` (16 sessions, one call in flight each), interleaved.
# Usage: bench/mcp.sh [AGENTHOST_BINARY]  (ROUNDS=3, CALLS=20000; needs integration-tests/mcp/.venv)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(realpath "${1:-target/release/agenthost}")"; ROUNDS="${ROUNDS:-3}"; CALLS="${CALLS:-20000}"
PY=integration-tests/mcp/.venv/bin/python
work="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_a="$(free_port)"; port_b="$(free_port)"
(cd "$work" && exec "$BIN" host --demo --port "$port_a" --http-bind 127.0.0.1 --no-mdns --log warn >host.log 2>&1) &
pid_a=$!
"$PY" bench/fastmcp_echo.py "$port_b" >"$work/fastmcp.log" 2>&1 &
pid_b=$!
trap 'kill $pid_a $pid_b 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 300); do
  curl -sf "127.0.0.1:$port_a/health" >/dev/null && curl -s -o /dev/null "127.0.0.1:$port_b/mcp" && break
  sleep 0.1
done
for round in $(seq "$ROUNDS"); do
  echo "$round agenthost $("$BIN" bench mcp --url "http://127.0.0.1:$port_a/mcp" --tool demo --calls "$CALLS")"
  echo "$round fastmcp   $("$BIN" bench mcp --url "http://127.0.0.1:$port_b/mcp" --tool echo --calls "$((CALLS / 10))")"
done
