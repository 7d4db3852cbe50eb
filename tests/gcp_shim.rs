//! The Cloud Run shims nubo puts into GCP artifacts, served for real by
//! Google's Functions Framework on loopback: an artifact from
//! `nubo package`, unzipped, run by the Node.js framework
//! (`tests/gcp-shim/node_modules`, `npm ci`) or the Python one (`.venv`,
//! `functions-framework`), both installed by `./scripts/test`.
//!
//! Real HTTP requests check the translation both ways (routes, params,
//! query, headers, body, binary, status, errors) and the release taken from
//! the Host header of a tagged URL. `nubo.call` chains node → python → node
//! through a stand-in for Cloud Run's front end, which checks the identity
//! token's audience like Cloud Run does and records what reached the
//! callee's door; the same server plays the metadata server that issues
//! JWT-shaped identity tokens.

#[path = "support/ports.rs"]
mod ports;

use std::collections::HashMap;
use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use assert_cmd::Command as Cmd;
use base64::Engine as _;
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

const MANIFEST: &str = "nubo: 1
service: shop
targets:
  g: { provider: gcp, project: test-project, region: europe-west1 }
functions:
  api:
    handler: api/index.handler
    runtime: nodejs22
    include: [\"api/**\"]
    events:
      - http: { method: POST, path: \"/orders/{id}\" }
      - http: { method: GET, path: \"/files/{rest+}\" }
      - http: { method: ANY, path: \"/echo\" }
    calls: [worker]
  worker:
    handler: worker/main.handler
    runtime: python3.12
    include: [\"worker/**\"]
    events:
      - http: { method: POST, path: \"/jobs/{id}\" }
      - http: { method: ANY, path: \"/raw\" }
    calls: [audit]
  audit:
    handler: api/index.handler
    runtime: nodejs22
    include: [\"api/**\"]
";

/// The HTTP routes of `api` and `worker` above, as the deploy passes them.
const API_ROUTES: &str = r#"[{"method":"POST","path":"/orders/{id}"},{"method":"GET","path":"/files/{rest+}"},{"method":"ANY","path":"/echo"}]"#;
const WORKER_ROUTES: &str =
    r#"[{"method":"POST","path":"/jobs/{id}"},{"method":"ANY","path":"/raw"}]"#;

const PREFIX: &str = "shop-g-";
const URL_SUFFIX: &str = "123456789012.europe-west1.run.app";

const NODE_HANDLER: &str = r#"
const nubo = require("nubo");
exports.handler = async (event, ctx) => {
  if (event && event.method) {
    if (event.route === "/echo") {
      return {
        status: 200,
        headers: { "content-type": "application/octet-stream", "x-b64": String(event.isBase64Encoded), "x-seen-body": event.body },
        body: event.body,
        isBase64Encoded: event.isBase64Encoded,
      };
    }
    if (event.route === "/files/{rest+}") return { status: 200, body: { event } };
    if (event.params.id === "boom") {
      const e = new Error("kaboom " + event.params.id);
      e.name = "OrderError";
      throw e;
    }
    const called = await nubo.call("worker", { id: event.params.id });
    let refused = null;
    try { await nubo.call("audit", {}); } catch (e) { refused = { status: e.status, type: e.errorType }; }
    return { status: 201, headers: { "x-release": ctx.release }, body: { event, ctx, called, refused } };
  }
  // A `nubo.call`: the payload as is.
  return { event, ctx, seen: nubo.context() };
};
"#;

const PY_HANDLER: &str = r#"
import nubo

def handler(event, ctx):
    if isinstance(event, dict) and "method" in event:
        if event["route"] == "/raw":
            return {
                "status": 200,
                "headers": {"content-type": "application/octet-stream",
                            "x-b64": str(event["isBase64Encoded"]).lower(), "x-seen-body": event["body"]},
                "body": event["body"],
                "isBase64Encoded": event["isBase64Encoded"],
            }
        if event["params"]["id"] == "boom":
            raise ValueError("kaboom " + event["params"]["id"])
        return {"status": 202, "headers": {"x-release": ctx["release"]}, "body": {"event": event, "ctx": ctx}}
    if isinstance(event, dict) and ("messages" in event or "schedule" in event or "bucket" in event):
        if event.get("messages") and event["messages"][0]["body"] == "fail":
            raise RuntimeError("cannot take this message")
        return {"trigger": event, "ctx": ctx}
    # A nubo.call from api.
    audit = nubo.call("audit", {"order": event.get("id")})
    refused = None
    try:
        nubo.call("api", {})
    except nubo.CallError as e:
        refused = {"status": e.status, "type": e.error_type}
    return {"event": event, "ctx": ctx, "seen": nubo.context(), "audit": audit, "refused": refused}
"#;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Node.js Functions Framework's entry (`npm ci` in tests/gcp-shim).
fn node_framework() -> PathBuf {
    let main = repo()
        .join("tests/gcp-shim/node_modules/@google-cloud/functions-framework/build/src/main.js");
    assert!(
        main.is_file(),
        "the Node.js Functions Framework is not installed at {}: run ./scripts/test, which runs \
         `npm ci --prefix tests/gcp-shim`",
        main.display()
    );
    main
}

fn node_modules() -> PathBuf {
    repo().join("tests/gcp-shim/node_modules")
}

/// The Python Functions Framework's command (tests/requirements.txt).
fn python_framework() -> PathBuf {
    let bin = repo().join(".venv/bin/functions-framework");
    assert!(
        bin.is_file(),
        "the Python Functions Framework is not installed at {}: run ./scripts/test, which \
         installs tests/requirements.txt into the project's .venv",
        bin.display()
    );
    bin
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .no_proxy()
        .build()
        .unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Package the service for the gcp target and unzip the artifacts of `api`
/// (shared with `audit`) and `worker`.
fn artifacts() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let svc = tmp.path().join("svc");
    std::fs::create_dir_all(svc.join("api")).unwrap();
    std::fs::create_dir_all(svc.join("worker")).unwrap();
    std::fs::write(svc.join("nubo.yaml"), MANIFEST).unwrap();
    std::fs::write(svc.join("api/index.js"), NODE_HANDLER).unwrap();
    std::fs::write(svc.join("worker/main.py"), PY_HANDLER).unwrap();
    let out = tmp.path().join("out");
    let o = Cmd::cargo_bin("nubo")
        .unwrap()
        .current_dir(&svc)
        .args(["package", "-t", "g", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("artifacts.json")).unwrap()).unwrap();
    assert_eq!(report["provider"], "gcp");
    assert_eq!(
        report["functions"]["api"]["sha256"], report["functions"]["audit"]["sha256"],
        "api and audit have the same files"
    );
    let unzip = |function: &str| {
        let dir = tmp.path().join(format!("src-{function}"));
        let zip = out.join(report["functions"][function]["path"].as_str().unwrap());
        let mut archive = zip::ZipArchive::new(File::open(zip).unwrap()).unwrap();
        archive.extract(&dir).unwrap();
        dir
    };
    let api = unzip("api");
    let worker = unzip("worker");
    for f in [
        "nubo_gcp.js",
        "node_modules/nubo/index.js",
        "node_modules/nubo/package.json",
    ] {
        assert!(api.join(f).is_file(), "the node artifact has {f}");
    }
    for f in ["main.py", "nubo.py"] {
        assert!(worker.join(f).is_file(), "the python artifact has {f}");
    }
    assert!(
        !worker.join("nubo_gcp.js").exists() && !api.join("main.py").exists(),
        "each artifact has its own language's shim only"
    );
    (tmp, api, worker)
}

/// One Functions Framework process (and its children) on a loopback port,
/// killed with its process group on drop.
struct Framework {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Framework {
    fn spawn(mut cmd: Command, port: u16, log: PathBuf) -> Framework {
        let out = File::create(&log).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .env("PORT", port.to_string())
            // A group of its own, so gunicorn's workers go with it.
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {:?}: {e}", cmd.get_program()));
        let mut fw = Framework {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        fw.wait_ready();
        fw
    }

    /// `node <framework> --target=nubo --port=PORT --source=<dir>/nubo_gcp.js`.
    fn node(dir: &Path, port: u16, env: &[(&str, &str)], node_path: bool) -> Framework {
        let mut cmd = Command::new("node");
        cmd.arg(node_framework())
            .arg("--target=nubo")
            .arg(format!("--port={port}"))
            .arg(format!("--source={}", dir.join("nubo_gcp.js").display()))
            .current_dir(dir)
            .env_remove("NODE_PATH")
            .envs(env.iter().copied());
        if node_path {
            // So `require("@google-cloud/functions-framework")` in the shim
            // finds the running framework, as when package.json depends on it.
            cmd.env("NODE_PATH", node_modules());
        }
        let log = dir.with_file_name(format!("node-{port}.log"));
        Framework::spawn(cmd, port, log)
    }

    /// `functions-framework --target=nubo --source=<dir>/main.py` in `dir`.
    fn python(dir: &Path, port: u16, env: &[(&str, &str)]) -> Framework {
        let mut cmd = Command::new(python_framework());
        cmd.arg("--target=nubo")
            .arg("--host=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--source={}", dir.join("main.py").display()))
            .current_dir(dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .envs(env.iter().copied());
        let log = dir.with_file_name(format!("python-{port}.log"));
        Framework::spawn(cmd, port, log)
    }

    /// Poll until the framework answers (its own 404 for /robots.txt).
    fn wait_ready(&mut self) {
        let http = Client::builder()
            .timeout(Duration::from_secs(2))
            .no_proxy()
            .build()
            .unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the Functions Framework exited ({status}) before serving:\n{}",
                    self.log()
                );
            }
            if http.get(format!("{}/robots.txt", self.url)).send().is_ok() {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the Functions Framework did not serve {} within 60 s:\n{}",
                self.url,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Send `request` as it is, in one write; the whole answer.
    fn raw(&self, request: &[u8]) -> String {
        use std::io::{Read as _, Write as _};
        let mut s = std::net::TcpStream::connect(self.url.trim_start_matches("http://")).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(request).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    }

    /// What the process wrote to stdout and stderr.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Framework {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the stand-in saw.
#[derive(Default)]
struct Seen {
    /// Identity tokens issued: audience, token.
    tokens: Vec<(String, String)>,
    /// Metadata requests without `Metadata-Flavor: Google`.
    refused_metadata: usize,
    /// Requests that reached a callee: host, method, path, headers, body.
    calls: Vec<Value>,
}

struct FrontState {
    seen: Mutex<Seen>,
    /// Service host (`shop-g-worker-….run.app`) → local port.
    upstreams: Mutex<HashMap<String, u16>>,
    /// Audiences whose tokens expire within nubo's 5-minute margin.
    short_lived: Mutex<Vec<String>>,
    http: reqwest::Client,
}

/// Cloud Run's front end and the metadata server, on one loopback port:
/// `/computeMetadata/…/identity?audience=A` issues a JWT-shaped token for
/// A; any other request is routed by its Host header
/// (`TAG---SERVICE.run.app`) to the framework serving SERVICE, after its
/// bearer token is checked to be one issued here for `https://SERVICE`.
struct Front {
    url: String,
    state: Arc<FrontState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Front {
    fn start() -> Front {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(FrontState {
            seen: Mutex::new(Seen::default()),
            upstreams: Mutex::new(HashMap::new()),
            short_lived: Mutex::new(Vec::new()),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        });
        let app = axum::Router::new()
            .fallback(front)
            .with_state(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                tokio::select! {
                    served = async { axum::serve(listener, app).await } => served.unwrap(),
                    _ = rx => {}
                }
            });
        });
        Front {
            url,
            state,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// Requests for function `function` go to `port`.
    fn route(&self, function: &str, port: u16) {
        self.state
            .upstreams
            .lock()
            .unwrap()
            .insert(format!("{PREFIX}{function}-{URL_SUFFIX}"), port);
    }

    fn short_lived(&self, audience: &str) {
        self.state
            .short_lived
            .lock()
            .unwrap()
            .push(audience.to_owned());
    }

    fn tokens_for(&self, audience: &str) -> Vec<String> {
        let seen = self.state.seen.lock().unwrap();
        seen.tokens
            .iter()
            .filter(|(a, _)| a == audience)
            .map(|(_, t)| t.clone())
            .collect()
    }

    fn calls(&self) -> Vec<Value> {
        self.state.seen.lock().unwrap().calls.clone()
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn jwt_payload(token: &str) -> Option<Value> {
    let part = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn service_url(function: &str) -> String {
    format!("https://{PREFIX}{function}-{URL_SUFFIX}")
}

async fn front(
    axum::extract::State(state): axum::extract::State<Arc<FrontState>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse as _;

    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if uri.path() == "/computeMetadata/v1/instance/service-accounts/default/identity" {
        if header("metadata-flavor").as_deref() != Some("Google") {
            state.seen.lock().unwrap().refused_metadata += 1;
            return (StatusCode::FORBIDDEN, "Metadata-Flavor: Google is missing").into_response();
        }
        let url = reqwest::Url::parse(&format!("http://metadata{uri}")).unwrap();
        let Some(audience) = url
            .query_pairs()
            .find(|(k, _)| k == "audience")
            .map(|(_, v)| v.into_owned())
        else {
            return (StatusCode::BAD_REQUEST, "no audience").into_response();
        };
        let short = state.short_lived.lock().unwrap().contains(&audience);
        let mut seen = state.seen.lock().unwrap();
        let n = seen.tokens.len() + 1;
        let payload = json!({
            "aud": audience,
            "iss": "https://accounts.google.com",
            "email": "shop-g@test-project.iam.gserviceaccount.com",
            "iat": now(),
            "exp": now() + if short { 120 } else { 3600 },
            "n": n,
        });
        let token = format!(
            "{}.{}.c2lnbmF0dXJl{n}",
            b64url(br#"{"alg":"RS256","typ":"JWT"}"#),
            b64url(payload.to_string().as_bytes())
        );
        seen.tokens.push((audience, token.clone()));
        return (StatusCode::OK, token).into_response();
    }

    // Cloud Run's front end: the tagged host names the service.
    let host = header("host").unwrap_or_default();
    let Some((_tag, service)) = host.split_once("---") else {
        return (StatusCode::NOT_FOUND, "not a tagged URL").into_response();
    };
    let Some(port) = state.upstreams.lock().unwrap().get(service).copied() else {
        return (StatusCode::NOT_FOUND, format!("no service {service}")).into_response();
    };
    let bearer = header("authorization")
        .and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned))
        .unwrap_or_default();
    let issued = state
        .seen
        .lock()
        .unwrap()
        .tokens
        .iter()
        .any(|(_, t)| *t == bearer);
    let aud = jwt_payload(&bearer).and_then(|p| p["aud"].as_str().map(str::to_owned));
    if !issued || aud.as_deref() != Some(format!("https://{service}").as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            "<html><body>Your client does not have permission</body></html>",
        )
            .into_response();
    }
    let recorded: serde_json::Map<String, Value> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), json!(v.to_str().ok()?))))
        .collect();
    state.seen.lock().unwrap().calls.push(json!({
        "host": host,
        "method": method.as_str(),
        "path": uri.path(),
        "headers": recorded,
        "body": serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
    }));
    let mut forward = state.http.request(
        reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap(),
        format!("http://127.0.0.1:{port}{uri}"),
    );
    for (k, v) in &headers {
        if !matches!(
            k.as_str(),
            "connection" | "content-length" | "transfer-encoding"
        ) {
            forward = forward.header(k.as_str(), v.as_bytes());
        }
    }
    match forward.body(body.to_vec()).send().await {
        Ok(r) => {
            let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
            let content_type = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_owned();
            let bytes = r.bytes().await.unwrap_or_default();
            (status, [("content-type", content_type)], bytes.to_vec()).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

fn json_of(r: Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("not JSON ({e}), status {status}: {text}"));
    (status, headers, body)
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_else(|| panic!("no `{name}` header in {h:?}"))
}

/// Asserts every header name the handler saw is lower-case.
fn assert_lower_case(headers: &Value) {
    let names: Vec<&String> = headers.as_object().unwrap().keys().collect();
    assert!(
        names.iter().all(|k| **k == k.to_lowercase()),
        "header names are lower-case: {names:?}"
    );
}

#[test]
fn node_calls_python_calls_node_within_the_release_of_the_tagged_url() {
    let (_tmp, api_dir, worker_dir) = artifacts();
    let front = Front::start();
    let (api_port, worker_port, audit_port) = (
        ports::unused_port(),
        ports::unused_port(),
        ports::unused_port(),
    );
    front.route("worker", worker_port);
    front.route("audit", audit_port);
    // audit's tokens expire within the margin: never cached.
    front.short_lived(&service_url("audit"));
    let common = [
        ("NUBO_PREFIX", PREFIX),
        ("NUBO_URL_SUFFIX", URL_SUFFIX),
        ("NUBO_CALL_BASE", front.url.as_str()),
        ("NUBO_METADATA_URL", front.url.as_str()),
        ("NUBO_RELEASE", "r1"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        common
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect()
    };
    // The python service learns the suffix from its own (tagged) host too.
    let worker_env: Vec<(&str, &str)> = with(&[
        ("NUBO_HANDLER", "worker/main.handler"),
        ("NUBO_FUNCTION", "worker"),
        ("NUBO_CALLS", "audit"),
        ("NUBO_ROUTES", WORKER_ROUTES),
        ("K_SERVICE", "shop-g-worker"),
    ])
    .into_iter()
    .filter(|(k, _)| *k != "NUBO_URL_SUFFIX")
    .collect();
    let worker = Framework::python(&worker_dir, worker_port, &worker_env);
    // Without NODE_PATH the shim cannot require the framework: the
    // framework finds the target through the module's exports instead (as
    // when the buildpack injects the framework into a layer of its own).
    let audit = Framework::node(
        &api_dir,
        audit_port,
        &with(&[
            ("NUBO_HANDLER", "api/index.handler"),
            ("NUBO_FUNCTION", "audit"),
        ]),
        false,
    );
    // The entry learns the callees' URL suffix from its own host, as on
    // Cloud Run (K_SERVICE names the service; no NUBO_URL_SUFFIX).
    let api_env: Vec<(&str, &str)> = with(&[
        ("NUBO_HANDLER", "api/index.handler"),
        ("NUBO_FUNCTION", "api"),
        ("NUBO_CALLS", "worker"),
        ("NUBO_ROUTES", API_ROUTES),
        ("K_SERVICE", "shop-g-api"),
    ])
    .into_iter()
    .filter(|(k, _)| *k != "NUBO_URL_SUFFIX")
    .collect();
    let api = Framework::node(&api_dir, api_port, &api_env, true);

    let http = client();
    let r = http
        .post(api.url("/orders/42?q=1&x=a&x=b"))
        .header("Host", "r7---shop-g-api-123456789012.europe-west1.run.app")
        .header("Content-Type", "application/json")
        .header("X-Trace", "t1")
        .body(r#"{"sku":1}"#)
        .send()
        .unwrap();
    let (status, headers, body) = json_of(r);
    assert_eq!(status, 201, "{body}\n{}", api.log());
    assert_eq!(header(&headers, "x-release"), "r7");
    assert_eq!(header(&headers, "content-type"), "application/json");
    assert_eq!(header(&headers, "nubo-release"), "r7");

    let event = &body["event"];
    assert_eq!(event["method"], "POST");
    assert_eq!(event["path"], "/orders/42");
    assert_eq!(event["route"], "/orders/{id}");
    assert_eq!(event["params"], json!({"id": "42"}));
    assert_eq!(
        event["query"],
        json!({"q": "1", "x": "b"}),
        "a repeated key: the last value"
    );
    assert_eq!(event["headers"]["x-trace"], "t1");
    assert_eq!(event["headers"]["content-type"], "application/json");
    assert_lower_case(&event["headers"]);
    assert_eq!(event["body"], r#"{"sku":1}"#);
    assert_eq!(event["isBase64Encoded"], false);
    assert_eq!(event["release"], "r7", "the tag of the Host's URL");
    assert_eq!(body["ctx"]["release"], "r7");
    assert_eq!(body["ctx"]["function"], "api");
    assert!(
        body["ctx"]["requestId"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{}",
        body["ctx"]
    );
    assert_eq!(
        body["refused"],
        json!({"status": 403, "type": "NotAllowed"}),
        "a call outside `calls:` is refused"
    );

    // worker (python) got the payload as is, in release r7, and called audit (node).
    let called = &body["called"];
    assert_eq!(called["event"], json!({"id": "42"}));
    assert_eq!(called["ctx"]["release"], "r7");
    assert_eq!(called["ctx"]["function"], "worker");
    assert_eq!(called["seen"]["release"], "r7");
    assert_eq!(
        called["refused"],
        json!({"status": 403, "type": "NotAllowed"})
    );
    let audited = &called["audit"];
    assert_eq!(audited["event"], json!({"order": "42"}));
    assert_eq!(audited["ctx"]["release"], "r7");
    assert_eq!(audited["ctx"]["function"], "audit");
    assert_eq!(
        audited["seen"]["release"], "r7",
        "nubo.context() in the callee"
    );

    // What reached the callees' doors: the tagged URLs of r7, authenticated.
    let calls = front.calls();
    assert_eq!(
        calls.len(),
        2,
        "worker and audit, and no refused call: {calls:#?}"
    );
    let worker_token = front.tokens_for(&service_url("worker"));
    let audit_tokens = front.tokens_for(&service_url("audit"));
    for (call, host, caller, token) in [
        (
            &calls[0],
            format!("r7---{PREFIX}worker-{URL_SUFFIX}"),
            "api",
            &worker_token[0],
        ),
        (
            &calls[1],
            format!("r7---{PREFIX}audit-{URL_SUFFIX}"),
            "worker",
            &audit_tokens[0],
        ),
    ] {
        assert_eq!(call["host"], host.as_str(), "{call:#}");
        assert_eq!(call["method"], "POST");
        assert_eq!(call["headers"]["nubo-call"], "1");
        assert_eq!(call["headers"]["nubo-release"], "r7");
        assert_eq!(call["headers"]["nubo-caller"], caller);
        assert_eq!(call["headers"]["content-type"], "application/json");
        assert_eq!(
            call["headers"]["authorization"],
            format!("Bearer {token}").as_str()
        );
    }
    assert_eq!(calls[0]["body"], json!({"id": "42"}));
    assert_eq!(calls[1]["body"], json!({"order": "42"}));

    // Through the service's own URL, the release is the revision's NUBO_RELEASE.
    let r = http
        .post(api.url("/orders/43"))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    let (status, headers, body) = json_of(r);
    assert_eq!(status, 201, "{body}\n{}", api.log());
    assert_eq!(body["event"]["release"], "r1");
    assert_eq!(header(&headers, "nubo-release"), "r1");
    assert_eq!(body["called"]["ctx"]["release"], "r1");
    assert_eq!(body["called"]["audit"]["ctx"]["release"], "r1");
    let calls = front.calls();
    assert_eq!(calls.len(), 4, "{calls:#?}");
    assert_eq!(
        calls[2]["host"],
        format!("r1---{PREFIX}worker-{URL_SUFFIX}").as_str()
    );
    assert_eq!(
        calls[3]["host"],
        format!("r1---{PREFIX}audit-{URL_SUFFIX}").as_str()
    );

    // Tokens: node cached worker's (an hour left); python fetched audit's
    // twice (2 minutes left is inside the 5-minute margin).
    assert_eq!(
        front.tokens_for(&service_url("worker")).len(),
        1,
        "a token with an hour left is reused"
    );
    assert_eq!(
        front.tokens_for(&service_url("audit")).len(),
        2,
        "a token within 5 minutes of expiry is not reused"
    );
    assert_eq!(
        calls[2]["headers"]["authorization"], calls[0]["headers"]["authorization"],
        "the cached token"
    );
    assert_ne!(
        calls[3]["headers"]["authorization"],
        calls[1]["headers"]["authorization"]
    );
    assert_eq!(front.state.seen.lock().unwrap().refused_metadata, 0);
    drop((api, worker, audit));
}

#[test]
fn node_shim_routes_errors_and_binary_bodies() {
    let (_tmp, api_dir, _) = artifacts();
    let port = ports::unused_port();
    let api = Framework::node(
        &api_dir,
        port,
        &[
            ("NUBO_HANDLER", "api/index.handler"),
            ("NUBO_FUNCTION", "api"),
            ("NUBO_RELEASE", "r1"),
            ("NUBO_ROUTES", API_ROUTES),
        ],
        true,
    );
    let http = client();

    let (status, headers, body) = json_of(http.get(api.url("/nope")).send().unwrap());
    assert_eq!(status, 404);
    assert_eq!(body["errorType"], "NotFound");
    assert_eq!(header(&headers, "nubo-release"), "r1");

    let (status, headers, body) = json_of(http.get(api.url("/orders/42")).send().unwrap());
    assert_eq!(status, 405, "the path exists, not for GET: {body}");
    assert_eq!(body["errorType"], "MethodNotAllowed");
    assert_eq!(header(&headers, "allow"), "POST");

    // A greedy parameter, percent-decoded; HEAD is served by a GET route.
    let (status, _, body) = json_of(http.get(api.url("/files/a/b%20c/d.txt")).send().unwrap());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["event"]["route"], "/files/{rest+}");
    assert_eq!(body["event"]["params"]["rest"], "a/b c/d.txt");
    assert_eq!(body["event"]["path"], "/files/a/b%20c/d.txt");
    assert_eq!(body["event"]["query"], json!({}));
    assert_eq!(http.head(api.url("/files/x")).send().unwrap().status(), 200);

    // Binary in, binary out: base64 both ways.
    let bytes = vec![0xff, 0x00, 0x01, 0x80, b'a'];
    let r = http
        .post(api.url("/echo"))
        .header("Content-Type", "application/octet-stream")
        .body(bytes.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(r.headers(), "x-b64"), "true");
    assert_eq!(header(r.headers(), "x-seen-body"), "/wABgGE=");
    assert_eq!(r.bytes().unwrap().to_vec(), bytes);
    // Text without a Content-Type (no body parser takes it), on an ANY route.
    let r = http
        .put(api.url("/echo"))
        .body("héllo wörld")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(r.headers(), "x-b64"), "false");
    assert_eq!(r.text().unwrap(), "héllo wörld");
    // The same in one write: the body has arrived before the handler runs.
    let answer = api.raw(
        b"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nhello"), "{answer}");

    // A handler that throws: 500 with its type and message, stack on stderr.
    let (status, _, body) = json_of(
        http.post(api.url("/orders/boom"))
            .header("Content-Type", "application/json")
            .body("{}")
            .send()
            .unwrap(),
    );
    assert_eq!(status, 500);
    assert_eq!(
        body,
        json!({"errorType": "OrderError", "errorMessage": "kaboom boom"})
    );
    let log = api.log();
    assert!(
        log.contains("OrderError: kaboom boom") && log.contains("api/index.js:"),
        "the stack is logged:\n{log}"
    );

    // A nubo.call straight to the service: the payload as is, the release of
    // the tagged Host, the return value as JSON.
    let (status, _, body) = json_of(
        http.post(api.url("/"))
            .header("Host", format!("r9---{PREFIX}api-{URL_SUFFIX}"))
            .header("Nubo-Call", "1")
            .header("Content-Type", "application/json")
            .body(r#"{"x":[1,2]}"#)
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["event"], json!({"x": [1, 2]}));
    assert_eq!(body["ctx"]["release"], "r9");
    assert_eq!(body["ctx"]["function"], "api");
    let (status, _, body) = json_of(
        http.post(api.url("/"))
            .header("Nubo-Call", "1")
            .header("Content-Type", "text/plain")
            .body("not json")
            .send()
            .unwrap(),
    );
    assert_eq!(status, 400);
    assert_eq!(body["errorType"], "BadPayload");
}

#[test]
fn python_shim_routes_errors_binary_bodies_and_call_failures() {
    let (_tmp, _, worker_dir) = artifacts();
    let port = ports::unused_port();
    // Nothing listens there: the metadata server is unreachable.
    let no_metadata = format!("http://127.0.0.1:{}", ports::unused_port());
    let worker = Framework::python(
        &worker_dir,
        port,
        &[
            ("NUBO_HANDLER", "worker/main.handler"),
            ("NUBO_FUNCTION", "worker"),
            ("NUBO_RELEASE", "r1"),
            ("NUBO_CALLS", "audit"),
            ("NUBO_PREFIX", PREFIX),
            ("NUBO_URL_SUFFIX", URL_SUFFIX),
            ("NUBO_METADATA_URL", no_metadata.as_str()),
            ("NUBO_ROUTES", WORKER_ROUTES),
        ],
    );
    let http = client();

    let r = http
        .post(worker.url("/jobs/42?q=1&x=a&x=b"))
        .header("Host", "r7---shop-g-worker-123.europe-west1.run.app")
        .header("Content-Type", "application/json")
        .header("X-Trace", "t1")
        .body(r#"{"sku":1}"#)
        .send()
        .unwrap();
    let (status, headers, body) = json_of(r);
    assert_eq!(status, 202, "{body}\n{}", worker.log());
    assert_eq!(header(&headers, "x-release"), "r7");
    assert_eq!(header(&headers, "content-type"), "application/json");
    assert_eq!(header(&headers, "nubo-release"), "r7");
    let event = &body["event"];
    assert_eq!(event["method"], "POST");
    assert_eq!(event["path"], "/jobs/42");
    assert_eq!(event["route"], "/jobs/{id}");
    assert_eq!(event["params"], json!({"id": "42"}));
    assert_eq!(event["query"], json!({"q": "1", "x": "b"}));
    assert_eq!(event["headers"]["x-trace"], "t1");
    assert_lower_case(&event["headers"]);
    assert_eq!(event["body"], r#"{"sku":1}"#);
    assert_eq!(event["isBase64Encoded"], false);
    assert_eq!(event["release"], "r7");
    assert_eq!(body["ctx"]["release"], "r7");
    assert_eq!(body["ctx"]["function"], "worker");
    assert!(
        body["ctx"]["requestId"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );

    // An encoded slash stays inside its parameter; the path is as sent.
    let (status, _, body) = json_of(
        http.post(worker.url("/jobs/a%2Fb"))
            .body("")
            .send()
            .unwrap(),
    );
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["event"]["params"]["id"], "a/b");
    assert_eq!(body["event"]["path"], "/jobs/a%2Fb");
    assert_eq!(
        body["event"]["release"], "r1",
        "no tagged Host: NUBO_RELEASE"
    );

    let (status, _, body) = json_of(http.get(worker.url("/nope")).send().unwrap());
    assert_eq!(status, 404);
    assert_eq!(body["errorType"], "NotFound");
    let (status, headers, body) = json_of(http.get(worker.url("/jobs/1")).send().unwrap());
    assert_eq!(status, 405);
    assert_eq!(body["errorType"], "MethodNotAllowed");
    assert_eq!(header(&headers, "allow"), "POST");

    let bytes = vec![0xff, 0x00, 0x01, 0x80, b'a'];
    let r = http
        .post(worker.url("/raw"))
        .header("Content-Type", "application/octet-stream")
        .body(bytes.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(r.headers(), "x-b64"), "true");
    assert_eq!(header(r.headers(), "x-seen-body"), "/wABgGE=");
    assert_eq!(
        header(r.headers(), "content-type"),
        "application/octet-stream"
    );
    assert_eq!(r.bytes().unwrap().to_vec(), bytes);

    let (status, _, body) = json_of(
        http.post(worker.url("/jobs/boom"))
            .body("{}")
            .send()
            .unwrap(),
    );
    assert_eq!(status, 500);
    assert_eq!(
        body,
        json!({"errorType": "ValueError", "errorMessage": "kaboom boom"})
    );
    let log = worker.log();
    assert!(
        log.contains("Traceback") && log.contains("ValueError: kaboom boom"),
        "the traceback is logged:\n{log}"
    );

    // A nubo.call whose own call finds no metadata server: the handler's
    // error comes back as a 500, the reason in its message.
    let (status, _, body) = json_of(
        http.post(worker.url("/"))
            .header("Host", format!("r7---{PREFIX}worker-{URL_SUFFIX}"))
            .header("Nubo-Call", "1")
            .header("Content-Type", "application/json")
            .body(r#"{"id":"9"}"#)
            .send()
            .unwrap(),
    );
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["errorType"], "CallError");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("no identity token from the metadata server"),
        "{body}"
    );
}

#[test]
fn python_shim_turns_pubsub_scheduler_and_eventarc_deliveries_into_neutral_events() {
    let (_tmp, _, worker_dir) = artifacts();
    let worker = Framework::python(
        &worker_dir,
        ports::unused_port(),
        &[
            ("NUBO_HANDLER", "worker/main.handler"),
            ("NUBO_FUNCTION", "worker"),
            ("NUBO_RELEASE", "r3"),
            ("NUBO_ROUTES", WORKER_ROUTES),
        ],
    );
    let http = client();
    let post = |path: &str, headers: &[(&str, &str)], body: &str| {
        let mut r = http
            .post(worker.url(path))
            .header("Host", "shop-g-worker-123.europe-west1.run.app")
            .header("Content-Type", "application/json");
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        json_of(r.body(body.to_owned()).send().unwrap())
    };

    // A Pub/Sub push: the envelope becomes one neutral message.
    let envelope = json!({
        "message": {"data": "aGVsbG8=", "attributes": {"a": "1"}, "messageId": "m-1"},
        "subscription": "projects/p/subscriptions/shop-g-jobs-worker",
        "deliveryAttempt": 2,
    });
    let (status, _, body) = post("/_nubo/queue/jobs", &[], &envelope.to_string());
    assert_eq!(status, 200, "{body}\n{}", worker.log());
    let t = &body["trigger"];
    assert_eq!(t["queue"], "jobs");
    assert_eq!(
        t["messages"],
        json!([{"id": "m-1", "body": "hello", "attributes": {"a": "1"}, "attempt": 2}])
    );
    assert_eq!(
        t["release"], "r3",
        "the main URL names no release: NUBO_RELEASE"
    );
    // A handler that fails answers 500, so Pub/Sub delivers again.
    let failing = json!({"message": {"data": "ZmFpbA==", "messageId": "m-2"}});
    let (status, _, _) = post("/_nubo/queue/jobs", &[], &failing.to_string());
    assert_eq!(status, 500);
    let (status, _, body) = post("/_nubo/queue/jobs", &[], "not json");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errorType"], "BadEvent");

    // A Cloud Scheduler job.
    let (status, _, body) = post(
        "/_nubo/schedule",
        &[("X-CloudScheduler-ScheduleTime", "2026-11-29T03:00:00Z")],
        r#"{"nubo":"schedule","schedule":"cron 0 3 * * *"}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["trigger"]["schedule"], "cron 0 3 * * *");
    assert_eq!(body["trigger"]["time"], "2026-11-29T03:00:00Z");

    // An Eventarc CloudEvent (binary mode) for an object; the prefix filters.
    let ce = [
        ("ce-specversion", "1.0"),
        ("ce-type", "google.cloud.storage.object.v1.finalized"),
        ("ce-id", "e-1"),
        (
            "ce-source",
            "//storage.googleapis.com/projects/_/buckets/shop-g-uploads-p",
        ),
    ];
    let (status, _, body) = post(
        "/_nubo/storage/uploads?prefix=in%2F",
        &ce,
        r#"{"bucket":"shop-g-uploads-p","name":"in/a.csv","size":"4"}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["trigger"],
        json!({"bucket": "uploads", "key": "in/a.csv", "event": "created", "size": 4, "release": "r3"})
    );
    let (status, _, body) = post(
        "/_nubo/storage/uploads?prefix=in%2F",
        &ce,
        r#"{"bucket":"shop-g-uploads-p","name":"out/b.csv","size":"4"}"#,
    );
    assert_eq!((status, body), (200, json!({"skipped": true})));
    let deleted = [("ce-type", "google.cloud.storage.object.v1.deleted")];
    let (_, _, body) = post("/_nubo/storage/uploads", &deleted, r#"{"name":"x"}"#);
    assert_eq!(body["trigger"]["event"], "deleted");
}
