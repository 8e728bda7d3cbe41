#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) on the nightly toolchain, from the seed
# corpus in corpus/<target>/, and prints each target's executions; crashes land in
# artifacts/<target>/. Needs `cargo install cargo-fuzz`.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${1:-60}"
total=0
for target in $(cargo +nightly fuzz list); do
  log="$(mktemp)"
  cargo +nightly fuzz run "$target" -- -max_total_time="$SECONDS_EACH" -max_len=65536 \
    -print_final_stats=1 >"$log" 2>&1 || { tail -40 "$log"; echo "$target: FAILED"; exit 1; }
  runs="$(awk '/stat::number_of_executed_units/{print $2}' "$log")"
  echo "$target: $runs executions in ${SECONDS_EACH}s"
  total=$((total + runs))
  rm -f "$log"
done
echo "total: $total executions"
