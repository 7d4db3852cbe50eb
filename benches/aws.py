"""nubo on AWS, against one stock moto server on loopback: wall time (median
of RUNS) and API calls of a first deploy (packaging included), a no-change
deploy, a one-function-changed deploy and a rollback, for a generated service
of N functions with one HTTP route each; and the number of sequential round
trips on each command's critical path.

Run by benches/aws.sh, which builds the release binary and provides moto.
Calls are counted in a recording proxy between nubo and moto (a separate run
of each command, so the proxy's own cost is not in the timings).
"""

import http.client
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

NUBO = sys.argv[1]
MOTO = sys.argv[2]  # base URL of the moto server
SIZES = [int(n) for n in sys.argv[3].split(",")] if len(sys.argv) > 3 else [10, 100]
RUNS = int(os.environ.get("RUNS", "5"))

ENV = dict(
    os.environ,
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_EC2_METADATA_DISABLED="true",
    AWS_CONFIG_FILE="/nonexistent",
    AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
    NO_COLOR="1",
)
for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
    ENV.pop(k, None)


def moto_reset():
    for path, body in (("/moto-api/reset", b""), ("/moto-api/config", b'{"lambda": {"use_docker": false}}')):
        urllib.request.urlopen(urllib.request.Request(MOTO + path, data=body, method="POST")).read()


class Recorder(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, latency_ms=0):
        super().__init__(("127.0.0.1", 0), Handler)
        self.calls = []
        self.lock = threading.Lock()
        self.latency = latency_ms / 1000

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _any(self):
        start = time.perf_counter()
        if self.server.latency:
            time.sleep(self.server.latency)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        up = urllib.parse.urlsplit(MOTO)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        conn.request(self.command, self.path, body=body, headers=headers)
        res = conn.getresponse()
        data = res.read()
        end = time.perf_counter()
        action = self.headers.get("X-Amz-Target")
        if action is None and body[:7] == b"Action=":
            action = body.decode("latin1").split("&")[0][7:]
        with self.server.lock:
            self.server.calls.append(
                {"method": self.command, "path": urllib.parse.urlsplit(self.path).path, "action": action,
                 "start": start, "end": end}
            )
        self.send_response(res.status)
        for k, v in res.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any


def is_write(c):
    if c["path"].endswith("/invocations"):
        return False
    if c["action"]:
        op = c["action"].split(".")[-1]
        return not op.startswith(("Get", "List", "Describe"))
    return c["method"] not in ("GET", "HEAD")


def sequential(calls):
    """The longest chain of calls each starting after the previous ended:
    the round trips on the critical path."""
    calls = sorted(calls, key=lambda c: c["end"])
    best = []
    for i, c in enumerate(calls):
        prev = [best[j] for j in range(i) if calls[j]["end"] <= c["start"]]
        best.append(1 + max(prev, default=0))
    return max(best, default=0)


def make_service(root, n, endpoint):
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    lines = [
        "nubo: 1",
        "service: bench",
        "targets:",
        f'  prod: {{ provider: aws, region: eu-west-1, endpoint: "{endpoint}" }}',
        "defaults:",
        "  runtime: nodejs22",
        "functions:",
    ]
    for i in range(n):
        d = os.path.join(root, f"f{i}")
        os.makedirs(d)
        with open(os.path.join(d, "index.js"), "w") as f:
            f.write(f"exports.handler = async () => ({{ status: 200, body: 'f{i}' }});\n")
        lines += [
            f"  f{i}:",
            f"    handler: f{i}/index.handler",
            f'    include: ["f{i}/**"]',
            f"    events: [ {{ http: {{ method: GET, path: /f{i} }} }} ]",
        ]
    lines += ["release:", "  keep: 20"]
    with open(os.path.join(root, "nubo.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")


def nubo(root, *args):
    t = time.perf_counter()
    out = subprocess.run([NUBO, *args, "-t", "prod"], cwd=root, env=ENV, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if out.returncode != 0:
        sys.exit(f"nubo {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return dt


def change(root, k):
    with open(os.path.join(root, "f0", "index.js"), "w") as f:
        f.write(f"exports.handler = async () => ({{ status: 200, body: 'changed {k}' }});\n")


def measure(n, work):
    """Median times (ms) and one recorded run's calls, for a service of n."""
    root = os.path.join(work, f"svc{n}")
    times = {"first": [], "nochange": [], "changed": [], "rollback": []}
    for r in range(RUNS):
        moto_reset()
        make_service(root, n, MOTO)
        times["first"].append(nubo(root, "deploy"))
    for r in range(RUNS):
        times["nochange"].append(nubo(root, "deploy"))
    for r in range(RUNS):
        change(root, r)
        times["changed"].append(nubo(root, "deploy"))
    for r in range(RUNS):
        times["rollback"].append(nubo(root, "rollback", "--yes"))

    # Counted: the same commands through the recording proxy.
    rec = Recorder()
    threading.Thread(target=rec.serve_forever, daemon=True).start()
    moto_reset()
    make_service(root, n, rec.url)
    counts = {}
    for name, args, prep in (
        ("first", ("deploy",), None),
        ("nochange", ("deploy",), None),
        ("changed", ("deploy",), lambda: change(root, "counted")),
        ("rollback", ("rollback", "--yes"), None),
    ):
        if prep:
            prep()
        rec.calls.clear()
        nubo(root, *args)
        calls = list(rec.calls)
        counts[name] = (len(calls), sum(1 for c in calls if is_write(c)), sequential(calls))
    rec.shutdown()
    return {k: statistics.median(v) * 1000 for k, v in times.items()}, counts


def latency_bound(n, work, latency_ms):
    """First deploys through a proxy that adds `latency_ms` to every call,
    as a cloud across a network does (moto on loopback answers in ~2 ms of
    its own CPU, one call at a time, which hides how much nubo overlaps)."""
    root = os.path.join(work, f"lat{n}")
    rec = Recorder(latency_ms)
    threading.Thread(target=rec.serve_forever, daemon=True).start()
    times = []
    for r in range(max(3, RUNS // 2)):
        moto_reset()
        make_service(root, n, rec.url)
        rec.calls.clear()
        times.append(nubo(root, "deploy"))
    calls = list(rec.calls)
    rec.shutdown()
    return statistics.median(times) * 1000, len(calls), sequential(calls)


def main():
    work = tempfile.mkdtemp(prefix="nubo-bench-aws-")
    latency_ms = int(os.environ.get("LATENCY_MS", "25"))
    try:
        results = {n: measure(n, work) for n in SIZES}
        latency = {n: latency_bound(n, work, latency_ms) for n in SIZES} if latency_ms else {}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    targets = {"first": "< 300 ms", "nochange": "< 100 ms, 0 writes", "changed": "< 150 ms",
               "rollback": "< 50 ms, 1 write"}
    label = {"first": "first deploy (packaging included)", "nochange": "no-change deploy",
             "changed": "one function changed", "rollback": "rollback"}
    print()
    print(f"median of {RUNS} runs; calls counted in a separate run through a recording proxy")
    for n, (times, counts) in results.items():
        print(f"\n{n} functions, one HTTP route each")
        print(f"  {'command':36} {'ms':>8} {'calls':>6} {'writes':>7} {'sequential':>11}   target")
        for k in ("first", "nochange", "changed", "rollback"):
            total, writes, seq = counts[k]
            print(f"  {label[k]:36} {times[k]:8.1f} {total:6d} {writes:7d} {seq:11d}   {targets[k]}")
    if len(results) > 1:
        small, big = min(results), max(results)
        ratio = results[big][0]["first"] / results[small][0]["first"]
        print(f"\nfirst deploy, {big} vs {small} functions: {ratio:.2f}x (target <= 3x)")
    if latency:
        print(f"\nfirst deploy with {latency_ms} ms added to every call (median of {max(3, RUNS // 2)})")
        print(f"  {'functions':>9} {'ms':>8} {'calls':>6} {'sequential':>11}")
        for n, (ms, calls, seq) in latency.items():
            print(f"  {n:9d} {ms:8.1f} {calls:6d} {seq:11d}")
        if len(latency) > 1:
            small, big = min(latency), max(latency)
            print(f"  {big} vs {small} functions: {latency[big][0] / latency[small][0]:.2f}x")


main()
