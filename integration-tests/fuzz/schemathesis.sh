#!/usr/bin/env bash
# Property-based API fuzzing of the embedded gateway against its own /openapi.json.
#   integration-tests/fuzz/schemathesis.sh [max-examples]
# Starts the demo agent on a free port in a temp folder, validates the document
# (pip install openapi-spec-validator), runs schemathesis (pip install schemathesis) with every
# positive check (no 5xx; status codes, content types, response schemas and headers as
# documented; schema-valid requests accepted), then stops the host.
# Negative-data checks are left out on purpose: WIRE.md answers an oversized list with 413 and
# accepts unknown fields (clients add their own), which those checks count as failures.
set -euo pipefail
cd "$(dirname "$0")/../.."
examples="${1:-500}"
cargo build -q -p agenthost
bin="$PWD/target/debug/agenthost"
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
(cd "$work" && exec "$bin" host --demo --port "$port" --http-bind 127.0.0.1 --no-mdns >host.log 2>&1) &
host=$!
trap 'kill $host 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
  sleep 0.1
done
cd "$work"
# The document itself first (pip install openapi-spec-validator).
curl -sf "http://127.0.0.1:$port/openapi.json" >openapi.json
python3 -c 'import json; from openapi_spec_validator import validate; d = json.load(open("openapi.json")); validate(d); print("openapi.json: valid OpenAPI", d["openapi"])'
st run "http://127.0.0.1:$port/openapi.json" --output-sanitize false --max-examples "$examples" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,positive_data_acceptance
