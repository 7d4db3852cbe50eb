#!/usr/bin/env bash
# The release engine's own overhead: `nubo plan` and a no-op `nubo deploy` of
# a 200-function service with nothing changed (target: < 200 ms), plus a
# deploy that publishes all 200 functions and a rollback.
# Runs against the provider test double (release build with the
# `test-backend` feature, no delays), so it measures nubo, not a cloud.
# Installs hyperfine from Debian's packages when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nubo-target}"

if ! command -v hyperfine >/dev/null; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq hyperfine >/dev/null
fi

cargo build --release --locked --quiet --features test-backend
NUBO="$CARGO_TARGET_DIR/release/nubo"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/svc/src" "$work/cloud"
{
  printf 'nubo: 1\nservice: big\ntargets:\n  dev: { provider: local }\n'
  printf 'defaults:\n  runtime: nodejs22\n  env: { STAGE: "${target}", BUILD: "${env:BUILD, 1}" }\n'
  printf 'functions:\n'
  for i in $(seq 0 199); do
    printf 'exports.handler = async () => ({ status: 200 });\n' > "$work/svc/src/f$i.js"
    printf '  f%d:\n    handler: src/f%d.handler\n' "$i" "$i"
    if [ $((i % 2)) = 0 ]; then printf '    events:\n      - http: { method: GET, path: /f%d }\n' "$i"; fi
  done
  printf 'release:\n  checks:\n    - invoke: f0\n      expect: { status: 200 }\n  keep: 5\n'
} > "$work/svc/nubo.yaml"
cd "$work/svc"
export NUBO_TEST_BACKEND="$work/cloud"
"$NUBO" deploy -q >/dev/null
hyperfine --warmup 3 --min-runs 20 -N \
  --command-name "plan, 200 functions, nothing changed" "$NUBO plan -q" \
  --command-name "deploy, 200 functions, nothing changed" "$NUBO deploy -q"
hyperfine --warmup 1 --runs 10 -N \
  --command-name "deploy publishing all 200 functions" "sh -c 'BUILD=\$(date +%s%N) $NUBO deploy -q'"
latest=$("$NUBO" releases --output json --limit 1 | grep -o '"id":"r[0-9]*"' | cut -d'"' -f4)
hyperfine --warmup 2 --runs 20 -N \
  --prepare "$NUBO switch -q $latest" \
  --command-name "rollback (one pointer write)" "$NUBO rollback -q"
