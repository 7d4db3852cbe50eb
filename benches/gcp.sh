#!/usr/bin/env bash
# nubo on Google Cloud against the spec-checked fake on loopback (every
# request validated against ../shared/specs/gcp): first deploy (packaging
# included), no-change deploy, one-function-changed deploy and rollback of a
# generated service of 10 Node.js functions, one HTTP route each. Prints the
# median wall time of 5 runs, the requests, the writes and the operation
# polls of each command (benches/gcp.rs). SIZES=10,100 for more sizes;
# OP_DELAY_MS=N makes each long-running operation take N ms.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nubo-target}"
test -d ../shared/specs/gcp || { echo "needs ../shared/specs/gcp beside the clone" >&2; exit 1; }
cargo build --release --locked --quiet
NUBO_BIN="$CARGO_TARGET_DIR/release/nubo" cargo bench --locked --quiet --bench gcp
