//! The Azure Function App package (`src/provider/azure/app.rs`) and the
//! Node.js shim (`templates/azure/node/`): a service packaged with
//! `nubo package`, merged into one app with `host.json`, a `function.json`
//! per Azure function and `nubo.json`; then the shim's exports are invoked
//! in Node.js the way the Functions host invokes classic-model functions
//! (`context`, then the trigger's input), including a `nubo.call` that goes
//! over HTTP to the same slot's host and back into the shim. (No Functions
//! host runs here: Core Tools' install downloads a binary, offline.)

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

const MANIFEST: &str = "nubo: 1
service: shop
targets:
  aprod: { provider: azure, subscription: \"00000000-0000-0000-0000-000000000000\", resource_group: shop, location: westeurope }
defaults:
  runtime: nodejs22
  timeout: 20s
functions:
  api:
    handler: api/index.handler
    include: [\"api/**\"]
    events:
      - http: { method: GET, path: \"/orders/{id}\" }
      - http: { method: POST, path: /echo, public: true }
      - http: { method: ANY, path: \"/files/{rest+}\" }
    calls: [worker]
  worker:
    handler: worker/index.handler
    include: [\"worker/**\"]
    timeout: 45s
    events:
      - queue: { name: jobs }
  report:
    handler: report/index.handler
    include: [\"report/**\"]
    events:
      - schedule: { cron: \"0 3 * * *\" }
      - storage: { bucket: uploads, on: created, prefix: in/, suffix: .csv }
";

const API: &str = r#"
const nubo = require("nubo");
exports.handler = async (req, ctx) => {
  if (req.route === "/orders/{id}") {
    if (req.params.id === "boom") throw new Error("kaboom");
    const worker = await nubo.call("worker", { id: req.params.id });
    return { status: 200, headers: { "x-release": ctx.release }, body: { req, ctx, worker } };
  }
  if (req.route === "/echo") return { status: 201, body: req.body, isBase64Encoded: req.isBase64Encoded };
  return { status: 200, body: { req } };
};
"#;

const WORKER: &str = r#"
exports.handler = async (event, ctx) => {
  if (event && event.messages) return { queue: event.queue, messages: event.messages, ctx };
  return { worked: event, ctx };
};
"#;

const REPORT: &str = "exports.handler = async (event, ctx) => ({ event, ctx });\n";

/// The driver: a stand-in for the Functions host's HTTP front for
/// `nubo.call` (it routes `/_nubo/call/{f}` into the shim's `call` export as
/// the Azure function `{f}-call`), then every export invoked once.
const DRIVER: &str = r#"
const http = require("http");
const dir = process.argv[2];
const shim = require(dir + "/nubo_azure.js");
const seen = [];
let moveOnce = false;
const ctx = (name, extra) => ({ executionContext: { functionName: name }, invocationId: "inv-" + name, ...(extra || {}) });
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    const body = Buffer.concat(chunks);
    seen.push({ host: req.headers.host, path: req.url, key: req.headers["x-nubo-call-key"], caller: req.headers["nubo-caller"] });
    // The staging side was swapped away once: it serves another release.
    if (moveOnce && /-staging\./.test(req.headers.host)) {
      moveOnce = false;
      res.writeHead(409, { "content-type": "application/json" });
      res.end(JSON.stringify({ errorType: "ReleaseMoved", errorMessage: "this side serves r3, not r2" }));
      return;
    }
    const m = /^\/_nubo\/call\/([^/?]+)/.exec(req.url);
    const r = await shim.call(ctx(m[1] + "-call"), { method: req.method, url: "https://" + req.headers.host + req.url, headers: req.headers, query: {}, params: {}, rawBody: body });
    res.writeHead(r.status, r.headers);
    res.end(r.body);
  });
});
const text = (r) => (r && Buffer.isBuffer(r.body) ? { ...r, body: r.body.toString("utf8"), bodyBase64: r.body.toString("base64") } : r);
server.listen(0, "127.0.0.1", async () => {
  process.env.NUBO_CALL_BASE = "http://127.0.0.1:" + server.address().port;
  const host = "shop-aprod-staging.azurewebsites.net";
  const out = {};
  out.order = text(await shim.http(ctx("api"), {
    method: "GET", url: "https://" + host + "/orders/7?x=1", originalUrl: "https://" + host + "/orders/7?x=1",
    headers: { host, "X-Trace": "t1" }, query: { x: "1" }, params: { id: "7" }, rawBody: "",
  }));
  out.boom = text(await shim.http(ctx("api"), { method: "GET", url: "https://" + host + "/orders/boom", headers: {}, query: {}, params: { id: "boom" } }));
  out.echo = text(await shim.http(ctx("api-http-2"), { method: "POST", url: "https://" + host + "/echo", headers: {}, query: {}, params: {}, rawBody: Buffer.from([0xff, 0x00, 0x41]) }));
  out.files = text(await shim.http(ctx("api-http-3"), { method: "DELETE", url: "https://" + host + "/files/a/b.txt", headers: {}, query: {}, params: { rest: "a/b.txt" } }));
  out.unknown = text(await shim.http(ctx("nope"), { method: "GET", url: "https://" + host + "/", headers: {} }));
  out.callWithoutKey = text(await shim.call(ctx("worker-call"), { method: "POST", url: "https://" + host + "/_nubo/call/worker", headers: {}, rawBody: "{}" }));
  out.queue = await shim.queue(ctx("worker-queue-1", { bindingData: { id: "m-1", dequeueCount: 2 } }), "hello");
  out.timer = await shim.timer(ctx("report-timer-1"), { isPastDue: false });
  out.blob = await shim.blob(ctx("report-blob-1", { bindingData: { name: "day.csv", properties: { length: 4 } } }), Buffer.from("a,b\n"));
  out.blobSkipped = await shim.blob(ctx("report-blob-1", { bindingData: { name: "day.txt" } }), Buffer.from("x"));
  try {
    await shim.queue(ctx("nope-queue"), "x");
    out.queueUnknown = "no error";
  } catch (err) {
    out.queueUnknown = err.message;
  }
  out.seen = seen.slice();
  out.moved = text(await shim.call(ctx("worker-call"), { method: "POST", url: "https://" + host + "/_nubo/call/worker", headers: { "x-nubo-call-key": "k3y", "nubo-caller": "api", "nubo-release": "r1" }, rawBody: "{}" }));
  moveOnce = true;
  out.retried = text(await shim.http(ctx("api"), {
    method: "GET", url: "https://" + host + "/orders/7", originalUrl: "https://" + host + "/orders/7",
    headers: { host }, query: {}, params: { id: "7" }, rawBody: "",
  }));
  out.retrySeen = seen.slice(out.seen.length);
  console.log(JSON.stringify(out));
  server.close();
});
"#;

fn run_nubo(dir: &Path, args: &[&str]) {
    let out = Command::new(assert_cmd::cargo::cargo_bin("nubo"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nubo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The service at `svc` resolved for `aprod` and packaged into `out`.
fn packaged(svc: &Path, out: &Path) -> (nubo::resolve::Resolved, nubo::package::Report) {
    let manifest = svc.join("nubo.yaml");
    let loaded = nubo::manifest::load(&manifest).unwrap();
    let resolved =
        nubo::resolve::resolve(&loaded, "aprod", &std::collections::HashMap::new()).unwrap();
    let spec = nubo::provider::spec::get(resolved.provider);
    let report = nubo::package::package(&resolved, &manifest, spec, out).unwrap();
    (resolved, report)
}

/// Run a shim driver in the app's folder with a staging slot's environment;
/// what it printed.
fn run_driver(mut cmd: Command, dir: &Path) -> Value {
    let run = cmd
        .current_dir(dir)
        .env("NUBO_RELEASE", "r2")
        .env("NUBO_CALL_KEY", "k3y")
        .env("WEBSITE_HOSTNAME", "shop-aprod-staging.azurewebsites.net")
        .env("WEBSITE_SITE_NAME", "shop-aprod")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        )
    })
}

/// What both shims must answer to their driver's invocations.
fn assert_answers(out: &Value) {
    let order = &out["order"];
    assert_eq!(order["status"], 200, "{order}");
    assert_eq!(order["headers"]["x-release"], "r2");
    assert_eq!(order["headers"]["nubo-release"], "r2");
    let body: Value = serde_json::from_str(order["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["req"]["method"], "GET");
    assert_eq!(body["req"]["path"], "/orders/7");
    assert_eq!(body["req"]["route"], "/orders/{id}");
    assert_eq!(body["req"]["params"], json!({"id": "7"}));
    assert_eq!(body["req"]["query"], json!({"x": "1"}));
    assert_eq!(
        body["req"]["headers"]["x-trace"], "t1",
        "header names are lower case"
    );
    assert_eq!(
        body["ctx"],
        json!({"release": "r2", "function": "api", "requestId": "inv-api"})
    );
    assert_eq!(body["worker"]["worked"], json!({"id": "7"}), "{body}");
    assert_eq!(body["worker"]["ctx"]["function"], "worker");
    // The call went to the same slot's host, with the key and the caller.
    assert_eq!(
        out["seen"],
        json!([{"host": "shop-aprod-staging.azurewebsites.net", "path": "/_nubo/call/worker",
                "key": "k3y", "caller": "api"}])
    );

    // A call names its release: another release's side refuses it, and
    // the caller tries the app's other side.
    assert_eq!(out["moved"]["status"], 409, "{}", out["moved"]);
    assert!(
        out["moved"]["body"]
            .as_str()
            .unwrap()
            .contains("ReleaseMoved")
    );
    assert_eq!(out["retried"]["status"], 200, "{}", out["retried"]);
    assert_eq!(
        out["retrySeen"],
        json!([{"host": "shop-aprod-staging.azurewebsites.net", "path": "/_nubo/call/worker",
                "key": "k3y", "caller": "api"},
               {"host": "shop-aprod.azurewebsites.net", "path": "/_nubo/call/worker",
                "key": "k3y", "caller": "api"}])
    );

    assert_eq!(out["boom"]["status"], 500);
    assert!(out["boom"]["body"].as_str().unwrap().contains("kaboom"));
    assert_eq!(out["echo"]["status"], 201);
    assert_eq!(
        out["echo"]["bodyBase64"], "/wBB",
        "binary bodies round-trip"
    );
    let files: Value = serde_json::from_str(out["files"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(files["req"]["params"]["rest"], "a/b.txt");
    assert_eq!(files["req"]["method"], "DELETE");
    assert_eq!(out["callWithoutKey"]["status"], 401, "a call needs the key");
    assert_eq!(
        out["queue"]["messages"],
        json!([{"id": "m-1", "body": "hello", "attributes": {}, "attempt": 2}])
    );
    assert_eq!(out["queue"]["queue"], "jobs");
    assert_eq!(out["timer"]["event"]["schedule"], "cron 0 3 * * *");
    assert_eq!(out["timer"]["event"]["release"], "r2");
    assert_eq!(
        out["blob"]["event"],
        json!({"bucket": "uploads", "key": "in/day.csv", "event": "created", "size": 4, "release": "r2"})
    );
    assert_eq!(out["blobSkipped"], Value::Null, "outside the suffix");
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

#[test]
fn one_app_package_runs_every_trigger_and_calls_within_its_slot() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = tmp.path().join("svc");
    for (file, text) in [
        ("api/index.js", API),
        ("worker/index.js", WORKER),
        ("report/index.js", REPORT),
    ] {
        std::fs::create_dir_all(svc.join(file).parent().unwrap()).unwrap();
        std::fs::write(svc.join(file), text).unwrap();
    }
    std::fs::write(svc.join("nubo.yaml"), MANIFEST).unwrap();
    // `nubo package` works for the target; the library packages it again
    // for the app builder.
    run_nubo(&svc, &["package", "-t", "aprod"]);
    let (resolved, report) = packaged(&svc, &tmp.path().join("out"));
    let apps =
        nubo::provider::azure::app::build(&resolved, &report, &tmp.path().join("apps")).unwrap();
    assert_eq!(apps.len(), 1, "one runtime, one app");
    assert_eq!(apps[0].app, "shop-aprod");
    let again =
        nubo::provider::azure::app::build(&resolved, &report, &tmp.path().join("apps2")).unwrap();
    assert_eq!(
        again[0].sha256, apps[0].sha256,
        "the app package is reproducible"
    );

    let dir = tmp.path().join("app");
    zip::ZipArchive::new(std::fs::File::open(&apps[0].path).unwrap())
        .unwrap()
        .extract(&dir)
        .unwrap();
    // What the Functions host reads.
    let host = read_json(&dir.join("host.json"));
    assert_eq!(host["version"], "2.0");
    assert_eq!(host["extensions"]["http"]["routePrefix"], "");
    assert_eq!(host["functionTimeout"], "00:00:45");
    let binding = |f: &str| read_json(&dir.join(f).join("function.json"))["bindings"][0].clone();
    assert_eq!(
        binding("api"),
        json!({"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "function",
               "route": "orders/{id}", "methods": ["get", "head"]})
    );
    assert_eq!(
        binding("api-http-2")["authLevel"],
        "anonymous",
        "public: true"
    );
    assert_eq!(binding("api-http-3")["route"], "files/{*rest}");
    assert!(binding("api-http-3").get("methods").is_none(), "ANY");
    assert_eq!(binding("worker-queue-1")["queueName"], "jobs");
    assert_eq!(binding("worker-call")["route"], "_nubo/call/worker");
    assert!(
        !dir.join("api-call").exists(),
        "only callees get a call route"
    );
    assert_eq!(binding("report-timer-1")["schedule"], "0 0 3 * * *");
    assert_eq!(binding("report-blob-1")["path"], "uploads/in/{name}");
    for f in [
        "api/index.js",
        "worker/index.js",
        "report/index.js",
        "nubo_azure.js",
        "node_modules/nubo/index.js",
    ] {
        assert!(dir.join(f).is_file(), "the app has {f}");
    }

    // The shim under Node.js, as the host invokes it.
    let driver = tmp.path().join("driver.js");
    std::fs::write(&driver, DRIVER).unwrap();
    let mut node = Command::new("node");
    node.arg(&driver).arg(&dir);
    let out = run_driver(node, &dir);
    assert_answers(&out);
    assert_eq!(out["unknown"]["status"], 500);
    assert!(
        out["unknown"]["body"]
            .as_str()
            .unwrap()
            .contains("nubo.json has no Azure function")
    );
    assert!(
        out["queueUnknown"]
            .as_str()
            .unwrap()
            .contains("no Azure function"),
        "{}",
        out["queueUnknown"]
    );
}

const PY_API: &str = r#"
import nubo

def handler(req, ctx):
    if req["route"] == "/orders/{id}":
        if req["params"]["id"] == "boom":
            raise ValueError("kaboom")
        worker = nubo.call("worker", {"id": req["params"]["id"]})
        return {"status": 200, "headers": {"x-release": ctx["release"]}, "body": {"req": req, "ctx": ctx, "worker": worker}}
    if req["route"] == "/echo":
        return {"status": 201, "body": req["body"], "isBase64Encoded": req["isBase64Encoded"]}
    return {"status": 200, "body": {"req": req}}
"#;

const PY_WORKER: &str = r#"
def handler(event, ctx):
    if isinstance(event, dict) and "messages" in event:
        return {"queue": event["queue"], "messages": event["messages"], "ctx": ctx}
    return {"worked": event, "ctx": ctx}
"#;

const PY_REPORT: &str = "def handler(event, ctx):\n    return {\"event\": event, \"ctx\": ctx}\n";

/// The Python driver: the worker's own types (`azure.functions`) handed to
/// the shim as the Python worker would, and a stand-in HTTP front for
/// `nubo.call` that routes into the shim's `call`.
const PY_DRIVER: &str = r#"
import base64, json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
sys.path.insert(0, sys.argv[1])
import azure.functions as func
import azure.functions.queue as q
import azure.functions.blob as b
import azure.functions.timer as t
import importlib.util
import os

def entry(folder):
    # What the worker does: load the folder's __init__.py, take `main`.
    spec = importlib.util.spec_from_file_location(folder.replace("-", "_"), os.path.join(sys.argv[1], folder, "__init__.py"))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m.main

class Ctx:
    def __init__(self, name):
        self.function_name = name
        self.invocation_id = "inv-" + name

seen = []
moved = [False]
class Front(BaseHTTPRequestHandler):
    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("content-length") or 0))
        seen.append({"host": self.headers.get("host"), "path": self.path,
                     "key": self.headers.get("x-nubo-call-key"), "caller": self.headers.get("nubo-caller")})
        # The staging side was swapped away once: it serves another release.
        if moved[0] and "-staging." in self.headers.get("host"):
            moved[0] = False
            body = json.dumps({"errorType": "ReleaseMoved", "errorMessage": "this side serves r3, not r2"}).encode()
            self.send_response(409)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        fn = self.path.rsplit("/", 1)[1]
        r = entry(fn + "-call")(func.HttpRequest(method="POST", url="https://" + self.headers.get("host") + self.path,
                                headers=dict(self.headers), params={}, route_params={}, body=data), Ctx(fn + "-call"))
        self.send_response(r.status_code)
        for k, v in r.headers.items():
            self.send_header(k, v)
        body = r.get_body()
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Front)
threading.Thread(target=server.serve_forever, daemon=True).start()
os.environ["NUBO_CALL_BASE"] = "http://127.0.0.1:%d" % server.server_address[1]
host = "shop-aprod-staging.azurewebsites.net"

def resp(r):
    body = r.get_body()
    return {"status": r.status_code, "headers": dict(r.headers), "body": body.decode("utf-8", "replace"),
            "bodyBase64": base64.b64encode(body).decode()}

def req(method, path, route_params=None, body=b"", params=None, headers=None):
    return func.HttpRequest(method=method, url="https://" + host + path, headers=headers or {}, params=params or {},
                            route_params=route_params or {}, body=body)

out = {}
out["order"] = resp(entry("api")(req("GET", "/orders/7?x=1", {"id": "7"}, params={"x": "1"}, headers={"X-Trace": "t1"}), Ctx("api")))
out["boom"] = resp(entry("api")(req("GET", "/orders/boom", {"id": "boom"}), Ctx("api")))
out["echo"] = resp(entry("api-http-2")(req("POST", "/echo", body=bytes([0xff, 0x00, 0x41])), Ctx("api-http-2")))
out["files"] = resp(entry("api-http-3")(req("DELETE", "/files/a/b.txt", {"rest": "a/b.txt"}), Ctx("api-http-3")))
out["callWithoutKey"] = resp(entry("worker-call")(req("POST", "/_nubo/call/worker", body=b"{}"), Ctx("worker-call")))
out["queue"] = entry("worker-queue-1")(q.QueueMessage(id="m-1", body=b"hello", dequeue_count=2), Ctx("worker-queue-1"))
out["timer"] = entry("report-timer-1")(t.TimerRequest(past_due=False), Ctx("report-timer-1"))
out["blob"] = entry("report-blob-1")(b.InputStream(data=b"a,b\n", name="uploads/in/day.csv", length=4), Ctx("report-blob-1"))
out["blobSkipped"] = entry("report-blob-1")(b.InputStream(data=b"x", name="uploads/in/day.txt", length=1), Ctx("report-blob-1"))
out["seen"] = list(seen)
out["moved"] = resp(entry("worker-call")(req("POST", "/_nubo/call/worker", body=b"{}",
                    headers={"x-nubo-call-key": "k3y", "nubo-caller": "api", "nubo-release": "r1"}), Ctx("worker-call")))
moved[0] = True
out["retried"] = resp(entry("api")(req("GET", "/orders/7", {"id": "7"}), Ctx("api")))
out["retrySeen"] = seen[len(out["seen"]):]
print(json.dumps(out))
server.shutdown()
"#;

#[test]
fn the_python_shim_runs_with_azure_functions_types() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = tmp.path().join("svc");
    for (file, text) in [
        ("api/main.py", PY_API),
        ("worker/main.py", PY_WORKER),
        ("report/main.py", PY_REPORT),
    ] {
        std::fs::create_dir_all(svc.join(file).parent().unwrap()).unwrap();
        std::fs::write(svc.join(file), text).unwrap();
    }
    let manifest = MANIFEST
        .replace("runtime: nodejs22", "runtime: python3.12")
        .replace("/index.handler", "/main.handler");
    std::fs::write(svc.join("nubo.yaml"), manifest).unwrap();
    let (resolved, report) = packaged(&svc, &tmp.path().join("out"));
    let apps =
        nubo::provider::azure::app::build(&resolved, &report, &tmp.path().join("apps")).unwrap();
    assert_eq!(apps.len(), 1);
    let dir = tmp.path().join("app");
    zip::ZipArchive::new(std::fs::File::open(&apps[0].path).unwrap())
        .unwrap()
        .extract(&dir)
        .unwrap();
    let fj = read_json(&dir.join("api/function.json"));
    assert_eq!(fj["scriptFile"], "__init__.py");
    assert_eq!(fj["entryPoint"], "main");
    let init = std::fs::read_to_string(dir.join("api-http-2/__init__.py")).unwrap();
    assert!(
        init.contains("from nubo_azure import http as main"),
        "{init}"
    );
    assert!(
        std::fs::read_to_string(dir.join("worker-call/__init__.py"))
            .unwrap()
            .contains("import call as main")
    );

    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        python.is_file(),
        "the project's .venv is missing: run ./scripts/test (it installs azure-functions)"
    );
    let driver = tmp.path().join("driver.py");
    std::fs::write(&driver, PY_DRIVER).unwrap();
    let mut py = Command::new(&python);
    py.arg(&driver)
        .arg(&dir)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let out = run_driver(py, &dir);
    assert_answers(&out);
}

#[test]
fn mixed_runtimes_get_one_app_each_and_deleted_events_are_refused_for_now() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = tmp.path().join("svc");
    std::fs::create_dir_all(svc.join("api")).unwrap();
    std::fs::write(svc.join("api/index.js"), API).unwrap();
    std::fs::write(
        svc.join("api/main.py"),
        "def handler(e, c):\n    return e\n",
    )
    .unwrap();
    let manifest = MANIFEST
        .replace(
            "include: [\"worker/**\"]",
            "include: [\"api/**\"]\n    runtime: python3.12",
        )
        .replace("handler: worker/index.handler", "handler: api/main.handler")
        .replace("report/index.handler", "api/index.handler")
        .replace("include: [\"report/**\"]", "include: [\"api/**\"]");
    std::fs::write(svc.join("nubo.yaml"), &manifest).unwrap();
    let (resolved, report) = packaged(&svc, &tmp.path().join("out"));
    let names = nubo::provider::azure::app::app_names(&resolved);
    assert_eq!(names["api"], "shop-aprod-node");
    assert_eq!(names["worker"], "shop-aprod-python", "one app per runtime");
    let apps =
        nubo::provider::azure::app::build(&resolved, &report, &tmp.path().join("apps")).unwrap();
    let by_name: std::collections::BTreeMap<&str, &nubo::provider::azure::app::AppPackage> =
        apps.iter().map(|a| (a.app.as_str(), a)).collect();
    assert_eq!(
        by_name["shop-aprod-python"].azure_functions,
        ["worker-call", "worker-queue-1"]
    );
    assert!(
        by_name["shop-aprod-node"]
            .azure_functions
            .contains(&"api".to_owned())
    );
    // The node app's nubo.json says where `worker` lives, for nubo.call.
    let mut zip =
        zip::ZipArchive::new(std::fs::File::open(&by_name["shop-aprod-node"].path).unwrap())
            .unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("nubo.json").unwrap(), &mut text).unwrap();
    let nubo_json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(nubo_json["apps"]["worker"], "shop-aprod-python");

    let mut deleted = resolved.clone();
    for f in deleted.functions.values_mut() {
        for e in &mut f.events {
            if let nubo::manifest::Event::Storage(s) = e {
                s.on = nubo::manifest::StorageOn::Deleted;
            }
        }
    }
    let functions: Vec<&nubo::resolve::Function> = deleted.functions.values().collect();
    let err = nubo::provider::azure::app::host_files(&deleted, &functions).unwrap_err();
    assert!(err.contains("Event Grid"), "{err}");
}
