#!/usr/bin/env bash
# Starts an agenthost relay and a demo agent reserved on it (loopback only, in a temp dir),
# runs interop.mjs against them, stops both, and exits with interop.mjs's status.
#   integration-tests/interop/js/run-local.sh [path/to/agenthost]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-}
if [ -z "$bin" ]; then
  for b in "$here/../../../target/debug/agenthost" "$here/../../../target/release/agenthost"; do
    if [ -x "$b" ]; then bin=$b; break; fi
  done
fi
[ -n "$bin" ] && [ -x "$bin" ] || { echo "no agenthost binary (build it or pass its path)" >&2; exit 2; }
[ -d "$here/node_modules" ] || npm ci --prefix "$here"
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

wait_for() { # file pattern seconds
  for _ in $(seq 1 $(( $3 * 10 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

"$bin" relay --listen /ip4/127.0.0.1/tcp/0 --metrics-addr off --key-file "$tmp/relay.key" \
  >"$tmp/relay.out" 2>"$tmp/relay.err" &
pids+=($!)
wait_for "$tmp/relay.out" '^relay: ' 20
relay=$(sed -n 's/^relay: //p' "$tmp/relay.out" | head -1)

mkdir "$tmp/agent"
(cd "$tmp/agent" && exec "$bin" host --demo --no-mdns --no-http --relay "$relay") \
  >"$tmp/agent.out" 2>"$tmp/agent.err" &
pids+=($!)
wait_for "$tmp/agent.out" 'Waiting for requests' 30
wait_for "$tmp/agent.err" 'relay reservation accepted' 30
peer=$(sed -n 's/^peer_id: //p' "$tmp/agent.out")
direct=$(sed -n 's#^listen: \(/ip4/127\.0\.0\.1/tcp/.*\)#\1#p' "$tmp/agent.out" | head -1)

set +e
node "$here/interop.mjs" "$relay" "$peer" "$direct"
rc=$?
set -e
if [ $rc -ne 0 ]; then
  echo "--- relay stderr (tail) ---" >&2; tail -n 30 "$tmp/relay.err" >&2
  echo "--- agent stderr (tail) ---" >&2; tail -n 30 "$tmp/agent.err" >&2
fi
exit $rc
