#!/usr/bin/env bash
# Benchmark of `nubo package` (release build) on a node_modules-like folder of
# ~2,000 files and ~200 MB: small text files and some larger binaries.
# Prints: cold `nubo package` of one function; Info-ZIP `zip -r -X -6` over the
# same folder; their ratio; an unchanged second run; 20 functions sharing the
# folder (one artifact built once); nubo's peak RSS.
# Targets: cold ≥ 1.5× faster than zip, unchanged < 300 ms, peak RSS < 100 MB.
# Installs hyperfine, zip and time from Debian's packages when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nubo-target}"

need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v zip >/dev/null || need+=(zip)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing ${need[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build --release --locked --quiet
NUBO="$CARGO_TARGET_DIR/release/nubo"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "==> generating the folder"
python3 - "$work" <<'PY'
import os, random, sys
work = sys.argv[1]
rng = random.Random(42)
words = ("function return const let var this module exports require async await "
         "if else for while new class extends super null undefined true false "
         "object array string number prototype constructor length push map filter "
         "reduce then catch error value key index result options config").split()
corpus = " ".join(rng.choice(words) + ("\n" if rng.random() < 0.1 else "") for _ in range(400_000)).encode()
def svc(name, functions):
    root = os.path.join(work, name)
    nm = os.path.join(root, "node_modules")
    total = 0
    # 1,980 small text files in ~200 packages: ~70 MB.
    for i in range(1980):
        pkg = f"pkg-{i % 200:03d}"
        d = os.path.join(nm, pkg, "lib" if i % 3 else "dist")
        os.makedirs(d, exist_ok=True)
        size = int(rng.lognormvariate(9.8, 1.0)) % 200_000 + 500
        start = rng.randrange(0, len(corpus) - size)
        body = corpus[start:start + size] + f"\n// {pkg} file {i}\n".encode()
        open(os.path.join(d, f"f{i}.js"), "wb").write(body)
        total += len(body)
    # 20 larger binaries: half random (incompressible), half patterned: ~130 MB.
    for i in range(20):
        d = os.path.join(nm, f"native-{i:02d}", "build")
        os.makedirs(d, exist_ok=True)
        n = 6_500_000
        if i % 2:
            body = rng.randbytes(n)
        else:
            block = rng.randbytes(4096)
            body = bytearray()
            while len(body) < n:
                body += block[: rng.randrange(256, 4096)] + bytes(rng.randrange(0, 2048))
            body = bytes(body[:n])
        open(os.path.join(d, "addon.node"), "wb").write(body)
        total += n
    src = os.path.join(root, "src")
    os.makedirs(src, exist_ok=True)
    lines = ["nubo: 1", f"service: {name}", "targets:", "  dev: { provider: local }",
             "defaults:", "  runtime: nodejs22", "functions:"]
    for f in range(functions):
        open(os.path.join(src, f"f{f}.js"), "w").write("exports.handler = async () => ({ status: 200 });\n")
        lines += [f"  f{f}:", f"    handler: src/f{f}.handler"]
    open(os.path.join(root, "nubo.yaml"), "w").write("\n".join(lines) + "\n")
    open(os.path.join(root, "package.json"), "w").write('{"name": "bench", "private": true}\n')
    return total
t = svc("one", 1)
svc("twenty", 20)
print(f"    {t / 1e6:.0f} MB in 2,000 files under node_modules/")
PY

cd "$work/one"
hyperfine --runs 5 --warmup 1 -N --export-json "$work/cold.json" \
  --prepare "rm -rf $work/one/.nubo" \
  --command-name "nubo package (cold, 1 function)" "$NUBO package -q"
hyperfine --runs 5 --warmup 1 --export-json "$work/zip.json" \
  --prepare "rm -f $work/out.zip" \
  --command-name "zip -r -X -6 (same folder)" "zip -q -r -X -6 $work/out.zip node_modules src package.json"
"$NUBO" package -q >/dev/null
hyperfine --runs 20 --warmup 2 -N --export-json "$work/warm.json" \
  --command-name "nubo package (unchanged)" "$NUBO package -q"
cd "$work/twenty"
hyperfine --runs 5 --warmup 1 -N --export-json "$work/twenty.json" \
  --prepare "rm -rf $work/twenty/.nubo" \
  --command-name "nubo package (cold, 20 functions sharing the folder)" "$NUBO package -q"

cd "$work/one"
rm -rf .nubo
rss=$( { /usr/bin/time -f "%M" "$NUBO" package -q >/dev/null; } 2>&1 | tail -1 )
nubo_zip=$(stat -c %s .nubo/build/dev/*.zip)
zip_zip=$(stat -c %s "$work/out.zip" 2>/dev/null || (zip -q -r -X -6 "$work/out.zip" node_modules src package.json && stat -c %s "$work/out.zip"))
python3 - "$work" "$rss" "$nubo_zip" "$zip_zip" <<'PY'
import json, sys
w, rss, nz, zz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
m = lambda f: json.load(open(f"{w}/{f}.json"))["results"][0]["mean"]
cold, z, warm, twenty = m("cold"), m("zip"), m("warm"), m("twenty")
print()
print(f"cold nubo package          {cold*1000:8.0f} ms   (zip {nz/1e6:.1f} MB)")
print(f"zip -r -X -6               {z*1000:8.0f} ms   (zip {zz/1e6:.1f} MB)")
print(f"speed-up over zip          {z/cold:8.2f} x   (target >= 1.5)")
print(f"unchanged second run       {warm*1000:8.1f} ms   (target < 300)")
print(f"20 functions, one artifact {twenty*1000:8.0f} ms")
print(f"peak RSS, cold run         {rss/1024:8.1f} MB   (target < 100)")
PY
