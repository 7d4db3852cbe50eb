#!/usr/bin/env bash
# The local cloud's gateway against a bare Node `http` server, same machine,
# same load (wrk, 2 threads, 8 connections, 10 s, on 127.0.0.1): requests/s,
# p50 and p99 latency, for a trivial handler with warm node workers. Then the
# cold start of a node and a python worker: the first request after the
# daemon starts, against a warm one.
# Targets: p99 overhead < 1 ms; throughput at least half the bare server's.
# Installs wrk from Debian's packages when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nubo-target}"
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk curl >/dev/null
fi
cargo build --release --locked --quiet
NUBO="$CARGO_TARGET_DIR/release/nubo"
work=$(mktemp -d)
bare_pid=""
cleanup() {
  [ -n "$bare_pid" ] && kill "$bare_pid" 2>/dev/null || true
  (cd "$work/svc" && "$NUBO" local stop -q) 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/svc/src" "$work/svc/py"
cat > "$work/svc/nubo.yaml" <<'YAML'
nubo: 1
service: bench
targets:
  dev: { provider: local }
functions:
  hello:
    handler: src/hello.handler
    runtime: nodejs22
    events: [ { http: { method: GET, path: /hello } } ]
  pyhello:
    handler: py/hello.handler
    runtime: python3.12
    events: [ { http: { method: GET, path: /py } } ]
YAML
echo 'exports.handler = async () => ({ status: 200, body: "ok" });' > "$work/svc/src/hello.js"
printf 'def handler(req, ctx):\n    return {"status": 200, "body": "ok"}\n' > "$work/svc/py/hello.py"
cd "$work/svc"
"$NUBO" deploy -q >/dev/null
gw=$(python3 -c "import json;print(json.load(open('.nubo/local/daemon.json'))['gateway'])")
# Bare Node on a free port.
port=$(python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
node -e "require('http').createServer((q, s) => s.end('ok')).listen($port, '127.0.0.1')" &
bare_pid=$!
sleep 0.5

run() { # name url → "rps p50_ms p99_ms"
  wrk -t2 -c8 -d10s --latency "$2" > "$work/$1.txt"
  python3 - "$work/$1.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(v):
    n, u = float(re.match(r"([\d.]+)", v).group(1)), re.sub(r"[\d.]", "", v)
    return n * {"us": 0.001, "ms": 1, "s": 1000}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", t, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", t, re.M).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(f"{rps:.0f} {p50:.3f} {p99:.3f} {errors.group(1) if errors else 0}")
PY
}
# Warm the workers.
wrk -t2 -c8 -d2s "http://$gw/hello" >/dev/null
read -r g_rps g_p50 g_p99 g_err <<<"$(run gateway "http://$gw/hello")"
read -r b_rps b_p50 b_p99 b_err <<<"$(run bare "http://127.0.0.1:$port/")"

# Cold starts: restart the daemon, time the first request, then a warm one.
cold() { # path → ms of the first request, ms of the second
  "$NUBO" local stop -q >/dev/null
  "$NUBO" status -q >/dev/null   # starts the daemon again; no worker runs yet
  local gw
  gw=$(python3 -c "import json;print(json.load(open('.nubo/local/daemon.json'))['gateway'])")
  local first second
  first=$(curl -s -o /dev/null -w '%{time_total}' "http://$gw$1")
  second=$(curl -s -o /dev/null -w '%{time_total}' "http://$gw$1")
  python3 -c "print(f'{$first*1000:.1f} {$second*1000:.1f}')"
}
read -r node_cold node_warm <<<"$(cold /hello)"
read -r py_cold py_warm <<<"$(cold /py)"

python3 - "$g_rps" "$g_p50" "$g_p99" "$g_err" "$b_rps" "$b_p50" "$b_p99" "$b_err" "$node_cold" "$node_warm" "$py_cold" "$py_warm" <<'PY'
import sys
g_rps, g_p50, g_p99, g_err, b_rps, b_p50, b_p99, b_err, nc, nw, pc, pw = sys.argv[1:]
print()
print(f"                     requests/s   p50 ms   p99 ms   non-2xx")
print(f"nubo gateway (node)  {float(g_rps):>10.0f}   {float(g_p50):6.3f}   {float(g_p99):6.3f}   {g_err}")
print(f"bare node http       {float(b_rps):>10.0f}   {float(b_p50):6.3f}   {float(b_p99):6.3f}   {b_err}")
print(f"throughput ratio     {float(g_rps)/float(b_rps):10.2f}   (target >= 0.5)")
print(f"p99 overhead         {float(g_p99)-float(b_p99):10.3f} ms (target < 1)")
print(f"cold start, node     {float(nc):10.1f} ms first request, {float(nw):.1f} ms warm")
print(f"cold start, python   {float(pc):10.1f} ms first request, {float(pw):.1f} ms warm")
PY
