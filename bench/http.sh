#!/usr/bin/env bash
# HTTP benchmark of the embedded gateway with wrk (16 connections, 2 threads), each scenario
# RUNS times, medians printed at the end:
#   hello     GET /health of a bare axum hello-world (the baseline)
#   health    GET /health through the gateway of `agenthost host --demo`
#   input     plain POST /input {"prompt":"hello"}
#   signed    signed POST /input, distinct pre-signed bodies (signatures are single-use)
# Usage: bench/http.sh            (RUNS=5 DURATION=10s by default; needs wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
DURATION="${DURATION:-10s}"
CONNS=16
export WRK_THREADS=2

cargo build --release -q -p agenthost
cargo build --release -q -p agenthost-gateway --example hello_axum
bin="$PWD/target/release/agenthost"
hello="$PWD/target/release/examples/hello_axum"
work="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gw_port="$(free_port)"
hello_port="$(free_port)"
(cd "$work" && exec "$bin" host --demo --port "$gw_port" --http-bind 127.0.0.1 --no-mdns >host.log 2>&1) &
host_pid=$!
"$hello" "127.0.0.1:$hello_port" >/dev/null &
hello_pid=$!
trap 'kill $host_pid $hello_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 200); do
  curl -sf "http://127.0.0.1:$gw_port/health" >/dev/null && curl -sf "http://127.0.0.1:$hello_port/health" >/dev/null && break
  sleep 0.1
done
address="$(curl -s "http://127.0.0.1:$gw_port/info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["address"])')"

results="$work/results.txt"
# One wrk run: prints "<scenario> <req/s> <p50 ms> <p99 ms> <non-2xx>".
run() {
  local name="$1"; shift
  local out
  out="$(wrk -t"$WRK_THREADS" -c"$CONNS" -d"$DURATION" --latency "$@")"
  echo "$out" | python3 -c '
import re, sys
name = sys.argv[1]
text = sys.stdin.read()
def ms(label):
    m = re.search(r"^\s*" + str(label) + r"%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"{name} {rps:.0f} {ms(50):.3f} {ms(99):.3f} {bad.group(1) if bad else 0}")
' "$name" | tee -a "$results"
}

for i in $(seq "$RUNS"); do
  run hello "http://127.0.0.1:$hello_port/health"
  run health "http://127.0.0.1:$gw_port/health"
  run input -s bench/wrk/post_input.lua "http://127.0.0.1:$gw_port/input"
  # Fresh bodies each run: they must be unused and inside the 300 s signature window.
  BODIES="$work/bodies.jsonl"
  "$bin" bench signed-bodies --to "$address" --count 200000 >"$BODIES"
  BODIES="$BODIES" run signed -s bench/wrk/signed_input.lua "http://127.0.0.1:$gw_port/input"
done

echo
echo "medians over $RUNS runs of $DURATION, $CONNS connections (req/s, p50 ms, p99 ms, non-2xx total):"
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, rps, p50, p99, bad = line.split()
    rows.setdefault(name, []).append((float(rps), float(p50), float(p99), int(bad)))
for name in ["hello", "health", "input", "signed"]:
    r = rows.get(name, [])
    if not r:
        continue
    med = lambda i: statistics.median(x[i] for x in r)
    print(f"{name:8} {med(0):>9.0f} req/s   p50 {med(1):.3f} ms   p99 {med(2):.3f} ms   non-2xx {sum(x[3] for x in r)}")
if "hello" in rows and "health" in rows:
    ratio = statistics.median(x[0] for x in rows["health"]) / statistics.median(x[0] for x in rows["hello"])
    print(f"health / hello-world throughput: {ratio:.2f}")
PY
