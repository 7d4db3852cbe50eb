#!/usr/bin/env bash
# nubo on Azure against the spec-checked ARM + Entra fake over TLS (every ARM
# request validated against ../shared/specs/azure) with the target's storage
# account in Azurite: first deploy (packaging included), no-change deploy,
# one-function-changed deploy and rollback of a generated service of 10
# Node.js functions, one HTTP route each (one Function App). Prints the median
# wall time of 5 runs, the ARM requests, the ARM writes, the swaps and the
# operation polls of each command (benches/azure.rs). SIZES=10,100 for more
# sizes; OP_DELAY_MS=N makes each long-running operation take N ms.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nubo-target}"
test -d ../shared/specs/azure || { echo "needs ../shared/specs/azure beside the clone" >&2; exit 1; }
test -f tests/azure/node_modules/azurite/dist/src/blob/main.js || npm ci --prefix tests/azure --no-audit --no-fund
cargo build --release --locked --quiet
NUBO_BIN="$CARGO_TARGET_DIR/release/nubo" cargo bench --locked --quiet --bench azure
