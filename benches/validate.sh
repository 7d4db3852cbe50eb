#!/usr/bin/env bash
# Benchmarks of the foundation, on a release build:
#   1. `nubo validate` of a generated 1,000-function manifest (target: < 100 ms)
#   2. `nubo --version` start-up (target: < 5 ms)
#   3. refusal of hostile inputs: 10 MB file, billion laughs, 10,000-deep nesting
# Prints hyperfine's figures; copy them into the README's performance section.
# Installs hyperfine from Debian's packages when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nubo-target}"

if ! command -v hyperfine >/dev/null || [ ! -x /usr/bin/time ]; then
  echo "==> installing hyperfine and time"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq hyperfine time >/dev/null
fi

cargo build --release --locked --quiet
NUBO="$CARGO_TARGET_DIR/release/nubo"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A service of 1,000 functions: HTTP routes, queues, schedules, calls, env.
mkdir -p "$work/svc/src"
printf 'exports.handler = async () => ({ status: 200 });\n' > "$work/svc/src/app.js"
{
  printf 'nubo: 1\nservice: big\ntargets:\n  dev: { provider: local }\n'
  printf '  prod: { provider: aws, region: eu-west-1 }\n'
  printf '  gprod: { provider: gcp, project: acme-big, region: europe-west1 }\n'
  printf '  aprod: { provider: azure, subscription: "00000000-0000-0000-0000-000000000000", resource_group: big, location: westeurope }\n'
  printf 'defaults:\n  runtime: nodejs22\n  timeout: 10s\n  env: { LOG_LEVEL: info, STAGE: "${target}" }\n'
  printf 'functions:\n'
  for i in $(seq 0 999); do
    printf '  fn-%d:\n    handler: src/app.handler\n' "$i"
    printf '    env: { INDEX: "%d", REGION: "${env:NUBO_BENCH_REGION, eu}" }\n' "$i"
    case $((i % 4)) in
      0) printf '    events:\n      - http: { method: POST, path: "/items/%d/{id}" }\n' "$i" ;;
      1) printf '    events:\n      - queue: { name: q-%d, batch: 1 }\n' "$i" ;;
      2) printf '    events:\n      - schedule: { cron: "%d 3 * * *" }\n' $((i % 60)) ;;
      3) printf '    calls: [fn-%d]\n' $(((i + 1) % 1000)) ;;
    esac
  done
  printf 'release:\n  checks:\n    - invoke: fn-0\n      expect: { status: 200 }\n'
} > "$work/svc/nubo.yaml"
echo "==> generated manifest: $(wc -c < "$work/svc/nubo.yaml") bytes, 1000 functions, 4 targets"
"$NUBO" validate -q -f "$work/svc/nubo.yaml" -t dev

# Hostile inputs.
python3 - "$work" <<'PY'
import sys
w = sys.argv[1]
with open(f"{w}/big.yaml", "w") as f:
    f.write("nubo: 1\n" + "# " + "x" * 78 + "\n" * 1)
    f.write(("# " + "x" * 78 + "\n") * (10 * 1024 * 1024 // 81))
laughs = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
prev = "a"
for c in "bcdefghi":
    laughs += f"{c}: &{c} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
    prev = c
open(f"{w}/laughs.yaml", "w").write(laughs)
open(f"{w}/deep.yaml", "w").write("nubo: " + "[" * 10000 + "]" * 10000 + "\n")
PY

hyperfine --warmup 3 --min-runs 20 -N \
  --command-name "validate 1,000 functions (one target)" "$NUBO validate -q -f $work/svc/nubo.yaml -t dev" \
  --command-name "validate 1,000 functions (all 4 targets)" "$NUBO validate -q -f $work/svc/nubo.yaml --all-targets" \
  --command-name "nubo --version" "$NUBO --version"
hyperfine --warmup 3 --min-runs 20 -N -i \
  --command-name "refuse 10 MB input" "$NUBO validate -q -f $work/big.yaml" \
  --command-name "refuse billion laughs" "$NUBO validate -q -f $work/laughs.yaml" \
  --command-name "refuse 10,000-deep nesting" "$NUBO validate -q -f $work/deep.yaml"

echo "==> peak RSS, validate 1,000 functions on all targets"
/usr/bin/time -f "%M KiB" "$NUBO" validate -q -f "$work/svc/nubo.yaml" --all-targets >/dev/null
