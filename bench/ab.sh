#!/usr/bin/env bash
# Interleaved A/B of two agenthost binaries on this machine: each round measures A, then B.
#   GET /health and plain POST /input   wrk -t2 -c16 -d4s against `host --demo` of each
#   P2P                                  `bench p2p` 16 in flight (req/s) and sequential (p50 µs)
# Usage: bench/ab.sh A_BINARY B_BINARY   (ROUNDS=6 by default; needs wrk). Prints one line per
# round and side, then the medians and B/A.
set -euo pipefail
cd "$(dirname "$0")/.."
A="$(realpath "$1")"; B="$(realpath "$2")"; ROUNDS="${ROUNDS:-6}"
work="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { local dir; dir="$(mktemp -d -p "$work")"; (cd "$dir" && exec "$1" host --demo --port "$2" --http-bind 127.0.0.1 --no-mdns >host.log 2>&1) & echo $!; }
port_a="$(free_port)"; port_b="$(free_port)"
pid_a="$(start "$A" "$port_a")"; pid_b="$(start "$B" "$port_b")"
trap 'kill $pid_a $pid_b 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 200); do
  curl -sf "127.0.0.1:$port_a/health" >/dev/null && curl -sf "127.0.0.1:$port_b/health" >/dev/null && break
  sleep 0.1
done
rps() { wrk -t2 -c16 -d4s "$@" | awk '/Requests\/sec/{print $2}'; }
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
results="$work/results.txt"
for round in $(seq "$ROUNDS"); do
  for side in A B; do
    if [ "$side" = A ]; then bin="$A"; port="$port_a"; else bin="$B"; port="$port_b"; fi
    health="$(rps "http://127.0.0.1:$port/health")"
    input="$(rps -s bench/wrk/post_input.lua "http://127.0.0.1:$port/input")"
    p2p16="$("$bin" bench p2p --requests 5000 --concurrency 16 2>/dev/null | field req_per_s)"
    p2p1="$("$bin" bench p2p --requests 1500 --concurrency 1 2>/dev/null | field p50_us)"
    echo "$round $side health=$health input=$input p2p16=$p2p16 p2p1_p50=$p2p1" | tee -a "$results"
  done
done
python3 - "$results" <<'PY'
import statistics, sys
sides = {"A": {}, "B": {}}
for line in open(sys.argv[1]):
    _, side, *pairs = line.split()
    for pair in pairs:
        key, value = pair.split("=")
        sides[side].setdefault(key, []).append(float(value))
for key, a in sides["A"].items():
    b = sides["B"][key]
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{key}: A {ma:,.0f} ({min(a):,.0f}-{max(a):,.0f})  B {mb:,.0f} ({min(b):,.0f}-{max(b):,.0f})  B/A {mb/ma:.3f}")
PY
