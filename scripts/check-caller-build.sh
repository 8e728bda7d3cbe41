#!/usr/bin/env bash
# A caller-only build — connect(), `Client`, the gateway, without the `host` feature — compiles
# without a warning and links neither SQLite, nor the LLM client's HTTP stack, nor the relay
# server (docs/decisions/0027-caller-only-build.md).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo clippy -p agenthost-node -p agenthost-gateway -p agenthost --no-default-features --lib \
  -- -D warnings

tree=$(cargo tree -p agenthost --no-default-features -e normal --prefix none)
for crate in rusqlite libsqlite3-sys reqwest agenthost-relay; do
  if grep -q "^$crate v" <<<"$tree"; then
    echo "caller-only build depends on $crate:" >&2
    cargo tree -p agenthost --no-default-features -e normal -i "$crate" >&2
    exit 1
  fi
done
echo "caller-only build: $(sort -u <<<"$tree" | wc -l) crates, none of rusqlite, reqwest, agenthost-relay"
