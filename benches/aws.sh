#!/usr/bin/env bash
# nubo on AWS against one stock moto server on loopback: first deploy
# (packaging included), no-change deploy, one-function-changed deploy and
# rollback of a generated service with 10 and with 100 functions (one HTTP
# route each). Prints wall time (median of 5 runs), API calls, writes and the
# sequential round trips on each command's critical path.
# Targets: first deploy < 300 ms, no-change < 100 ms with 0 writes,
# one-changed < 150 ms, rollback < 50 ms with exactly 1 write; 100 functions
# at most 3x the first deploy of 10. Then the first deploy again with LATENCY_MS
# (default 25) added to every call by the proxy, as across a network.
# Installs moto into the project's .venv (tests/requirements.txt) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nubo-target}"
if ! .venv/bin/python -c "import moto.server" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
cargo build --release --locked --quiet
port=$(python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
.venv/bin/moto_server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$port/moto-api/data.json" >/dev/null && break
  sleep 0.1
done
.venv/bin/python benches/aws.py "$CARGO_TARGET_DIR/release/nubo" "http://127.0.0.1:$port" "${SIZES:-10,100}"
