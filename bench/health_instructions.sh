#!/usr/bin/env bash
# User-space instructions per `GET /health`, counted by valgrind's callgrind: the bare axum
# hello-world and the embedded gateway of `agenthost host --demo`. Deterministic where req/s on
# this small, shared machine is not, so it shows what a change to the request path costs
# (kernel time and scheduling are not in it: compare req/s with bench/http.sh as well).
# Each server is warmed up (3 s of wrk), its counters zeroed, then 5 s of wrk at 4
# connections are counted. Usage: bench/health_instructions.sh   (needs valgrind and wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p agenthost
cargo build --release -q -p agenthost-gateway --example hello_axum
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# count NAME PORT CMD...: prints "NAME <instructions per request>".
count() {
  local name="$1" port="$2"; shift 2
  mkdir "$work/$name"
  (cd "$work/$name" && exec valgrind --tool=callgrind --callgrind-out-file="$work/$name/cg.out" "$@" >log 2>&1) &
  local pid=$!
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
  wrk -t1 -c4 -d3s "http://127.0.0.1:$port/health" >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  local requests
  requests="$(wrk -t1 -c4 -d5s "http://127.0.0.1:$port/health" | awk '/requests in/{print $1}')"
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local total
  total="$(awk '/^summary:|^totals:/{print $2}' "$work/$name"/cg.out.* | tail -1)"
  echo "$name $((total / requests)) instructions per request ($requests requests)"
}

port="$(free_port)"
count hello "$port" "$PWD/target/release/examples/hello_axum" "127.0.0.1:$port"
port="$(free_port)"
count gateway "$port" "$PWD/target/release/agenthost" host --demo --port "$port" --http-bind 127.0.0.1 --no-mdns
