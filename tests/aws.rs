//! The AWS backend through the real binary, against moto's real server on
//! loopback (`.venv/bin/moto_server`, installed by `./scripts/test`).
//!
//! moto keeps the control plane (functions, versions, aliases, REST APIs,
//! stages, roles, objects) but does not run Lambda code or route
//! execute-api, so these tests assert the control plane. Every test gets
//! its own moto server, and nubo reaches it through a recording proxy, so
//! a test can count exactly which calls a command made.

#[path = "support/files.rs"]
mod files;
#[path = "support/ports.rs"]
mod ports;
#[path = "support/race.rs"]
mod race;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Std, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use base64::Engine as _;
use serde_json::Value;
use sha2::Digest;

use files::{copy_dir, walk};

const REGION: &str = "eu-west-1";

fn moto_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    assert!(
        bin.exists(),
        "moto is not installed at {}: run ./scripts/test, which installs it into the project's .venv",
        bin.display()
    );
    bin
}

/// One moto server on a free loopback port, stopped on drop.
struct Moto {
    child: Child,
    url: String,
}

impl Moto {
    fn start() -> Moto {
        let port = ports::unused_port();
        let child = Std::new(moto_bin())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::blocking::Client::new();
        let start = Instant::now();
        loop {
            if http
                .get(format!("{url}/moto-api/data.json"))
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "moto_server did not answer within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Right after start: set later, functions created before become invisible.
        let r = http
            .post(format!("{url}/moto-api/config"))
            .body(r#"{"lambda": {"use_docker": false}}"#)
            .send()
            .unwrap();
        assert!(r.status().is_success());
        Moto { child, url }
    }

    /// Queue canned answers for the next Lambda invocations.
    fn lambda_results(&self, results: &[&str]) {
        let r = reqwest::blocking::Client::new()
            .post(format!(
                "{}/moto-api/static/lambda-simple/response",
                self.url
            ))
            .json(&serde_json::json!({
                "account_id": "123456789012",
                "region": REGION,
                "results": results,
            }))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{:?}", r.text());
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One call that passed the proxy.
#[derive(Debug, Clone)]
struct Call {
    method: String,
    path: String,
    /// `Action=` of query-protocol services, `X-Amz-Target` of JSON ones.
    action: Option<String>,
}

impl Call {
    /// What the call does, for messages: `POST /2015-03-31/functions` or `iam:CreateRole`.
    fn name(&self) -> String {
        match &self.action {
            Some(a) => a.clone(),
            None => format!("{} {}", self.method, self.path),
        }
    }

    fn is_invoke(&self) -> bool {
        self.path.ends_with("/invocations")
    }

    /// Whether the call changes something.
    fn is_write(&self) -> bool {
        if self.is_invoke() {
            return false;
        }
        if let Some(a) = &self.action {
            let op = a.rsplit(['.', ':']).next().unwrap_or(a);
            return !(op.starts_with("Get")
                || op.starts_with("List")
                || op.starts_with("Describe"));
        }
        !matches!(self.method.as_str(), "GET" | "HEAD")
    }
}

/// What the proxy does to matching calls, instead of or after moto.
enum Action {
    /// Answer this instead of moto: status, AWS error code, message.
    Fail(u16, &'static str, &'static str),
    /// Forward after this many milliseconds (a slow call).
    Delay(u64),
    /// Forward, then rewrite moto's JSON answer.
    Rewrite(fn(&mut Value)),
    /// Forward, then split moto's one page of `items` into pages of `size`,
    /// with `token` naming the next page (moto returns every item at once;
    /// AWS pages). `param` is the query parameter that asks for a page.
    Paginate {
        items: &'static str,
        token: &'static str,
        param: &'static str,
        size: usize,
    },
}

struct Rule {
    method: &'static str,
    /// The path ends with this.
    path_suffix: &'static str,
    /// How many matching calls it applies to; `usize::MAX` for all.
    times: usize,
    action: Action,
}

/// A recording proxy in front of moto, which can also misbehave like AWS.
struct Proxy {
    url: String,
    calls: Arc<Mutex<Vec<Call>>>,
    rules: Arc<Mutex<Vec<Rule>>>,
    _rt: tokio::runtime::Runtime,
}

impl Proxy {
    fn start(upstream: &str) -> Proxy {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let rules: Arc<Mutex<Vec<Rule>>> = Arc::default();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = ProxyState {
            calls: calls.clone(),
            rules: rules.clone(),
            upstream: upstream.to_owned(),
            client: reqwest::Client::new(),
        };
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::new(state));
        rt.spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Proxy {
            url,
            calls,
            rules,
            _rt: rt,
        }
    }

    fn rule(&self, method: &'static str, path_suffix: &'static str, times: usize, action: Action) {
        self.rules.lock().unwrap().push(Rule {
            method,
            path_suffix,
            times,
            action,
        });
    }

    fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

struct ProxyState {
    calls: Arc<Mutex<Vec<Call>>>,
    rules: Arc<Mutex<Vec<Rule>>>,
    upstream: String,
    client: reqwest::Client,
}

/// The AWS-style error answer of a REST-JSON service.
fn aws_error(status: u16, code: &str, message: &str) -> axum::response::Response {
    axum::http::Response::builder()
        .status(status)
        .header("x-amzn-errortype", code)
        .header("x-amzn-requestid", "proxy-request-1")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            serde_json::json!({"__type": code, "message": message, "Message": message}).to_string(),
        ))
        .unwrap()
}

async fn forward(
    axum::extract::State(state): axum::extract::State<Arc<ProxyState>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let action = target.or_else(|| {
        std::str::from_utf8(&body).ok().and_then(|b| {
            b.split('&')
                .find_map(|kv| kv.strip_prefix("Action="))
                .map(str::to_owned)
        })
    });
    let path = parts.uri.path().to_owned();
    state.calls.lock().unwrap().push(Call {
        method: parts.method.to_string(),
        path: path.clone(),
        action,
    });
    // The first rule that matches and has uses left.
    let mut applied = None;
    {
        let mut rules = state.rules.lock().unwrap();
        if let Some(r) = rules.iter_mut().find(|r| {
            r.times > 0 && r.method == parts.method.as_str() && path.ends_with(r.path_suffix)
        }) {
            r.times = r.times.saturating_sub(1);
            applied = Some(match &r.action {
                Action::Fail(s, c, m) => return aws_error(*s, c, m),
                Action::Delay(ms) => Action::Delay(*ms),
                Action::Rewrite(f) => Action::Rewrite(*f),
                Action::Paginate {
                    items,
                    token,
                    param,
                    size,
                } => Action::Paginate {
                    items,
                    token,
                    param,
                    size: *size,
                },
            });
        }
    }
    if let Some(Action::Delay(ms)) = &applied {
        tokio::time::sleep(Duration::from_millis(*ms)).await;
    }
    // A page token of ours is an offset; moto gets the request without it.
    let mut query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k.to_owned(), v.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    let mut offset = 0;
    if let Some(Action::Paginate { param, .. }) = &applied {
        if let Some(i) = query.iter().position(|(k, _)| k == param) {
            offset = query[i].1.trim_start_matches("page-").parse().unwrap_or(0);
            query.remove(i);
        }
        // moto's own limit parameters would cut the page first.
        query.retain(|(k, _)| k != "limit" && k != "MaxItems");
    }
    let q = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let url = if q.is_empty() {
        format!("{}{path}", state.upstream)
    } else {
        format!("{}{path}?{q}", state.upstream)
    };
    let mut out = state
        .client
        .request(parts.method.clone(), url)
        .body(body.to_vec());
    for (k, v) in &parts.headers {
        if k != "host" && k != "content-length" {
            out = out.header(k, v);
        }
    }
    let res = out.send().await.unwrap();
    let status = res.status();
    let mut builder = axum::http::Response::builder().status(status);
    for (k, v) in res.headers() {
        if k != "content-length" && k != "transfer-encoding" {
            builder = builder.header(k, v);
        }
    }
    let mut bytes = res.bytes().await.unwrap().to_vec();
    if status.is_success() {
        match applied {
            Some(Action::Rewrite(f)) => {
                let mut v: Value = serde_json::from_slice(&bytes).unwrap();
                f(&mut v);
                bytes = v.to_string().into_bytes();
            }
            Some(Action::Paginate {
                items, token, size, ..
            }) => {
                let mut v: Value = serde_json::from_slice(&bytes).unwrap();
                let all = v[items].as_array().cloned().unwrap_or_default();
                let page: Vec<Value> = all.iter().skip(offset).take(size).cloned().collect();
                v[items] = Value::Array(page);
                if offset + size < all.len() {
                    v[token] = Value::String(format!("page-{}", offset + size));
                } else if let Some(o) = v.as_object_mut() {
                    o.remove(token);
                }
                bytes = v.to_string().into_bytes();
            }
            _ => {}
        }
    }
    builder.body(axum::body::Body::from(bytes)).unwrap()
}

/// SDK clients straight to moto, for assertions.
struct Aws {
    rt: tokio::runtime::Runtime,
    lambda: aws_sdk_lambda::Client,
    apigw: aws_sdk_apigateway::Client,
    iam: aws_sdk_iam::Client,
    ssm: aws_sdk_ssm::Client,
    s3: aws_sdk_s3::Client,
    config: aws_config::SdkConfig,
}

impl Aws {
    fn new(moto: &Moto) -> Aws {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = rt.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(REGION))
                .endpoint_url(&moto.url)
                .credentials_provider(aws_sdk_lambda::config::Credentials::new(
                    "testing", "testing", None, None, "tests",
                ))
                .load(),
        );
        Aws {
            lambda: aws_sdk_lambda::Client::new(&config),
            apigw: aws_sdk_apigateway::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            ssm: aws_sdk_ssm::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&config)
                    .force_path_style(true)
                    .build(),
            ),
            config,
            rt,
        }
    }

    /// A bucket in the tests' region.
    fn bucket(&self, name: &str) {
        self.rt
            .block_on(
                self.s3
                    .create_bucket()
                    .bucket(name)
                    .create_bucket_configuration(
                        aws_sdk_s3::types::CreateBucketConfiguration::builder()
                            .location_constraint(
                                aws_sdk_s3::types::BucketLocationConstraint::EuWest1,
                            )
                            .build(),
                    )
                    .send(),
            )
            .unwrap();
    }

    fn api_id(&self, name: &str) -> String {
        let apis = self.rt.block_on(self.apigw.get_rest_apis().send()).unwrap();
        apis.items()
            .iter()
            .find(|a| a.name() == Some(name))
            .and_then(|a| a.id())
            .unwrap_or_else(|| panic!("no REST API {name}"))
            .to_owned()
    }

    /// The stage's variables and deployment id.
    fn stage(&self, api: &str) -> (BTreeMap<String, String>, String) {
        let s = self
            .rt
            .block_on(
                self.apigw
                    .get_stage()
                    .rest_api_id(api)
                    .stage_name("live")
                    .send(),
            )
            .unwrap();
        (
            s.variables()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            s.deployment_id().unwrap_or_default().to_owned(),
        )
    }

    fn alias_version(&self, function: &str, alias: &str) -> Option<String> {
        self.rt
            .block_on(
                self.lambda
                    .get_alias()
                    .function_name(function)
                    .name(alias)
                    .send(),
            )
            .ok()
            .and_then(|a| a.function_version().map(str::to_owned))
    }

    fn versions(&self, function: &str) -> Vec<String> {
        let out = self
            .rt
            .block_on(
                self.lambda
                    .list_versions_by_function()
                    .function_name(function)
                    .send(),
            )
            .unwrap();
        out.versions()
            .iter()
            .filter_map(|v| v.version())
            .filter(|v| *v != "$LATEST")
            .map(str::to_owned)
            .collect()
    }

    /// The configuration of a version, or of what a release alias points at.
    fn configuration(
        &self,
        function: &str,
        qualifier: &str,
    ) -> aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput {
        let version = if qualifier.starts_with('r') {
            self.alias_version(function, qualifier)
                .unwrap_or_else(|| panic!("no alias {qualifier} on {function}"))
        } else {
            qualifier.to_owned()
        };
        let qualifier = version.as_str();
        self.rt
            .block_on(
                self.lambda
                    .get_function_configuration()
                    .function_name(function)
                    .qualifier(qualifier)
                    .send(),
            )
            .unwrap()
    }

    fn function_exists(&self, function: &str) -> bool {
        self.rt
            .block_on(self.lambda.get_function().function_name(function).send())
            .is_ok()
    }
}

/// A service on disk: three functions in a chain, each with its own files,
/// so a change to one changes one artifact.
struct Svc {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

const MANIFEST: &str = "nubo: 1
service: shop
targets:
  prod: { provider: aws, region: eu-west-1, endpoint: \"ENDPOINT\" STATE}
defaults:
  runtime: nodejs22
functions:
  checkout:
    handler: checkout/index.handler
    include: [\"checkout/**\"]
    env: { BUILD: \"${release}\", STAGE: \"${target}\" SECRET}
    events:
      - http: { method: POST, path: /checkout }
      - http: { method: GET, path: \"/orders/{id}\" }
    calls: [charge]
  charge:
    handler: charge/main.handler
    runtime: python3.12
    include: [\"charge/**\"]
    calls: [ship]
  ship:
    handler: ship/index.handler
    include: [\"ship/**\"]
CHECKS";

impl Svc {
    fn new(proxy: &Proxy) -> Svc {
        Svc::with(proxy, "", "", "")
    }

    fn with(proxy: &Proxy, state: &str, secret: &str, checks: &str) -> Svc {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("shop");
        for (f, file, text) in [
            (
                "checkout",
                "index.js",
                "const nubo = require('nubo');\nexports.handler = async (req) => ({ status: 200, body: JSON.stringify(await nubo.call('charge', {})) });\n",
            ),
            (
                "charge",
                "main.py",
                "import nubo\n\ndef handler(event, ctx):\n    return nubo.call('ship', event)\n",
            ),
            (
                "ship",
                "index.js",
                "exports.handler = async () => ({ function: 'ship' });\n",
            ),
        ] {
            std::fs::create_dir_all(dir.join(f)).unwrap();
            std::fs::write(dir.join(f).join(file), text).unwrap();
        }
        let manifest = MANIFEST
            .replace("ENDPOINT", &proxy.url)
            .replace(" STATE", state)
            .replace(" SECRET", secret)
            .replace("CHECKS", checks);
        std::fs::write(dir.join("nubo.yaml"), manifest).unwrap();
        Svc { _tmp: tmp, dir }
    }

    /// The binary in the service's directory with test credentials and
    /// nothing from this machine's AWS set-up.
    fn std_cmd(&self) -> Std {
        let mut cmd = Std::new(assert_cmd::cargo::cargo_bin("nubo"));
        cmd.current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("NUBO_FILE")
            .env_remove("NUBO_TARGET");
        cmd
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::from_std(self.std_cmd());
        cmd.timeout(Duration::from_secs(120));
        cmd
    }

    /// Run nubo; its exit code, stdout and stderr.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "nubo {args:?} failed:\n{out}\n{err}");
        out
    }

    /// The artifact of `function` in the last build, as Lambda's CodeSha256.
    fn code_sha256(&self, function: &str) -> String {
        let report: Value = serde_json::from_slice(
            &std::fs::read(self.dir.join(".nubo/build/prod/artifacts.json")).unwrap(),
        )
        .unwrap();
        let path = self
            .dir
            .join(".nubo/build/prod")
            .join(report["functions"][function]["path"].as_str().unwrap());
        let digest = sha2::Sha256::digest(std::fs::read(path).unwrap());
        base64::engine::general_purpose::STANDARD.encode(digest)
    }
}

/// IAM answers with URL-encoded policy documents.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn names(calls: &[Call]) -> Vec<String> {
    calls.iter().map(Call::name).collect()
}

#[test]
fn deploy_change_one_and_roll_back_on_moto() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto.url);
    let aws = Aws::new(&moto);
    let svc = Svc::new(&proxy);

    // First deploy: everything created, one release, the stage names it.
    let out = svc.ok(&["deploy", "-t", "prod", "--output", "json"]);
    assert!(out.contains("\"release\":\"r1\""), "{out}");
    let first = proxy.take();
    let api = aws.api_id("shop-prod");
    let (vars, dep1) = aws.stage(&api);
    assert_eq!(vars.get("release").map(String::as_str), Some("r1"));
    for f in ["checkout", "charge", "ship"] {
        let name = format!("shop-prod-{f}");
        let v = aws.alias_version(&name, "r1").expect("alias r1");
        let c = aws.configuration(&name, &v);
        assert_eq!(c.code_sha256(), Some(svc.code_sha256(f).as_str()), "{f}");
        let env = c
            .environment()
            .and_then(|e| e.variables())
            .cloned()
            .unwrap();
        assert_eq!(env.get("NUBO_FUNCTION").map(String::as_str), Some(f));
        assert_eq!(
            env.get("NUBO_PREFIX").map(String::as_str),
            Some("shop-prod-")
        );
        assert_eq!(c.handler(), Some("nubo_aws.handler"));
    }
    let checkout = aws.configuration("shop-prod-checkout", "r1");
    let env = checkout.environment().and_then(|e| e.variables()).unwrap();
    assert_eq!(
        env.get("BUILD").map(String::as_str),
        Some("r1"),
        "${{release}} is filled in"
    );
    assert_eq!(env.get("STAGE").map(String::as_str), Some("prod"));
    assert_eq!(env.get("NUBO_CALLS").map(String::as_str), Some("charge"));
    assert_eq!(
        aws.configuration("shop-prod-charge", "r1")
            .runtime()
            .map(|r| r.as_str().to_owned()),
        Some("python3.12".to_owned())
    );

    // The role may invoke exactly the functions some `calls:` names.
    let policy = aws
        .rt
        .block_on(
            aws.iam
                .get_role_policy()
                .role_name("nubo-shop-prod")
                .policy_name("nubo")
                .send(),
        )
        .unwrap();
    let doc = percent_decode(policy.policy_document());
    assert!(doc.contains("function:shop-prod-charge:*"), "{doc}");
    assert!(doc.contains("function:shop-prod-ship:*"), "{doc}");
    assert!(!doc.contains("function:shop-prod-checkout"), "{doc}");

    // Integrations call the function through the stage's release variable,
    // and API Gateway may invoke the entry's release alias.
    let resources = aws
        .rt
        .block_on(aws.apigw.get_resources().rest_api_id(&api).send())
        .unwrap();
    let orders = resources
        .items()
        .iter()
        .find(|r| r.path() == Some("/orders/{id}"))
        .expect("a resource for /orders/{id}");
    let integration = aws
        .rt
        .block_on(
            aws.apigw
                .get_integration()
                .rest_api_id(&api)
                .resource_id(orders.id().unwrap())
                .http_method("GET")
                .send(),
        )
        .unwrap();
    let uri = integration.uri().unwrap();
    assert!(
        uri.ends_with("function:shop-prod-checkout:${stageVariables.release}/invocations"),
        "{uri}"
    );
    // API Gateway invokes with its own role, allowed exactly the entries.
    assert_eq!(
        integration.credentials(),
        Some("arn:aws:iam::123456789012:role/nubo-shop-prod-apigw")
    );
    let gateway = aws
        .rt
        .block_on(
            aws.iam
                .get_role_policy()
                .role_name("nubo-shop-prod-apigw")
                .policy_name("nubo")
                .send(),
        )
        .unwrap();
    let doc = percent_decode(gateway.policy_document());
    assert!(doc.contains("function:shop-prod-checkout:*"), "{doc}");
    assert!(!doc.contains("shop-prod-charge"), "{doc}");
    assert!(
        first.iter().filter(|c| c.is_write()).count() > 10,
        "a first deploy creates things: {:?}",
        names(&first)
    );

    // No change: reads only.
    let out = svc.ok(&["deploy", "-t", "prod"]);
    assert!(out.contains("r1") || out.is_empty(), "{out}");
    let calls = proxy.take();
    let writes: Vec<String> = calls
        .iter()
        .filter(|c| c.is_write())
        .map(Call::name)
        .collect();
    assert!(writes.is_empty(), "a no-change deploy wrote: {writes:?}");

    // One function changed: only it is uploaded and published, and the
    // stage flips in one call.
    let ship_v1 = aws.alias_version("shop-prod-ship", "r1").unwrap();
    let checkout_v1 = aws.alias_version("shop-prod-checkout", "r1").unwrap();
    std::fs::write(
        svc.dir.join("ship/index.js"),
        "exports.handler = async () => ({ function: 'ship', v: 2 });\n",
    )
    .unwrap();
    svc.ok(&["deploy", "-t", "prod"]);
    let calls = proxy.take();
    let publishes: Vec<&Call> = calls
        .iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/versions"))
        .collect();
    assert_eq!(publishes.len(), 1, "{:?}", names(&calls));
    assert!(publishes[0].path.contains("shop-prod-ship"));
    let uploads = calls
        .iter()
        .filter(|c| c.method == "PUT" && c.path.ends_with(".zip"))
        .count();
    assert_eq!(uploads, 1, "{:?}", names(&calls));
    let stage_updates = calls
        .iter()
        .filter(|c| c.method == "PATCH" && c.path.contains("/stages/"))
        .count();
    assert_eq!(stage_updates, 1, "{:?}", names(&calls));
    let (vars, dep2) = aws.stage(&api);
    assert_eq!(vars.get("release").map(String::as_str), Some("r2"));
    assert_ne!(dep1, dep2, "each release has its own deployment");
    assert_ne!(aws.alias_version("shop-prod-ship", "r2").unwrap(), ship_v1);
    assert_eq!(
        aws.alias_version("shop-prod-checkout", "r2").unwrap(),
        checkout_v1,
        "an unchanged function keeps its version"
    );
    assert_eq!(aws.versions("shop-prod-ship").len(), 2);
    assert_eq!(aws.versions("shop-prod-checkout").len(), 1);

    // Rollback: exactly one write, the stage back on r1 and its deployment.
    svc.ok(&["rollback", "-t", "prod", "--yes"]);
    let calls = proxy.take();
    let writes: Vec<String> = calls
        .iter()
        .filter(|c| c.is_write())
        .map(Call::name)
        .collect();
    assert_eq!(writes.len(), 1, "rollback wrote: {writes:?}");
    assert!(
        writes[0].starts_with("PATCH") && writes[0].contains("/stages/live"),
        "{writes:?}"
    );
    let (vars, dep) = aws.stage(&api);
    assert_eq!(vars.get("release").map(String::as_str), Some("r1"));
    assert_eq!(dep, dep1);

    // Status reads the live stage back, and each alias of the live release.
    let out = svc.ok(&["status", "-t", "prod", "--output", "json"]);
    assert!(out.contains("\"r1\""), "{out}");
    assert!(out.contains("\"drift\":false"), "{out}");
    let r2_ship = aws.alias_version("shop-prod-ship", "r2").unwrap();
    aws.rt
        .block_on(
            aws.lambda
                .update_alias()
                .function_name("shop-prod-ship")
                .name("r1")
                .function_version(&r2_ship)
                .send(),
        )
        .unwrap();
    let out = svc.ok(&["status", "-t", "prod", "--output", "json"]);
    assert!(out.contains("\"drift\":true"), "{out}");
    assert!(
        out.contains(&format!(
            "alias shop-prod-ship:r1 points at version {r2_ship}, recorded {ship_v1}"
        )),
        "{out}"
    );
}

#[test]
fn a_failing_check_leaves_the_stage_alone_and_exits_4() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto.url);
    let aws = Aws::new(&moto);
    let checks = "release:\n  checks:\n    - invoke: checkout\n      with: { method: POST, path: /checkout, body: '{}' }\n      expect: { status: 200, body_contains: '\"function\":\"ship\"' }\n";
    let svc = Svc::with(&proxy, "", "", checks);
    // The check invokes the staged release's alias; moto answers with what
    // the handler would return through API Gateway.
    moto.lambda_results(&[r#"{"statusCode": 200, "body": "{\"function\":\"ship\"}"}"#]);
    svc.ok(&["deploy", "-t", "prod"]);
    let api = aws.api_id("shop-prod");
    assert_eq!(
        aws.stage(&api).0.get("release").map(String::as_str),
        Some("r1")
    );
    let invokes: Vec<Call> = proxy.take().into_iter().filter(Call::is_invoke).collect();
    assert_eq!(invokes.len(), 1);
    assert!(
        invokes[0].path.contains("shop-prod-checkout"),
        "{invokes:?}"
    );

    std::fs::write(
        svc.dir.join("checkout/index.js"),
        "exports.handler = async () => ({ status: 500 });\n",
    )
    .unwrap();
    moto.lambda_results(&[r#"{"statusCode": 500, "body": "broken"}"#]);
    let (code, out, err) = svc.run(&["deploy", "-t", "prod"]);
    assert_eq!(code, 4, "{out}\n{err}");
    assert!(err.contains("500"), "{err}");
    let calls = proxy.take();
    assert!(
        !calls
            .iter()
            .any(|c| c.method == "PATCH" && c.path.contains("/stages/")),
        "the stage was touched: {:?}",
        names(&calls)
    );
    assert_eq!(
        aws.stage(&api).0.get("release").map(String::as_str),
        Some("r1")
    );

    // `nubo invoke` runs the live release's alias, as API Gateway would call it.
    moto.lambda_results(&[r#"{"statusCode": 200, "body": "hello from r1"}"#]);
    proxy.take();
    let out = svc.ok(&[
        "invoke",
        "checkout",
        "-t",
        "prod",
        "--data",
        r#"{"method": "POST", "path": "/checkout", "body": "{}"}"#,
    ]);
    assert_eq!(out.trim(), "hello from r1");
    let invokes: Vec<Call> = proxy.take().into_iter().filter(Call::is_invoke).collect();
    assert_eq!(invokes.len(), 1);
    assert!(
        invokes[0].path.contains("shop-prod-checkout"),
        "{invokes:?}"
    );
}

#[test]
fn secrets_are_read_from_ssm_and_never_written_down() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto.url);
    let aws = Aws::new(&moto);
    let svc = Svc::with(&proxy, "", ", API_KEY: \"${secret:stripe-key}\"", "");
    // Missing: a clear error naming the parameter, and nothing deployed.
    let (code, _, err) = svc.run(&["deploy", "-t", "prod"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("/nubo/shop/prod/stripe-key"), "{err}");

    aws.rt
        .block_on(
            aws.ssm
                .put_parameter()
                .name("/nubo/shop/prod/stripe-key")
                .value("sk_live_very_secret")
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                .send(),
        )
        .unwrap();
    let out = svc.ok(&["deploy", "-t", "prod", "-v"]);
    let live = aws.stage(&aws.api_id("shop-prod")).0["release"].clone();
    let env = aws
        .configuration("shop-prod-checkout", &live)
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap();
    assert_eq!(
        env.get("API_KEY").map(String::as_str),
        Some("sk_live_very_secret")
    );
    assert!(!out.contains("sk_live"), "{out}");
    for entry in walk(&svc.dir.join(".nubo")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("sk_live_very_secret"),
            "the secret is in {}",
            entry.display()
        );
    }
}

#[test]
fn remove_deletes_what_nubo_made_and_nothing_else() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto.url);
    let aws = Aws::new(&moto);
    let svc = Svc::new(&proxy);
    svc.ok(&["deploy", "-t", "prod"]);
    // Somebody else's function with a name nubo would use, not tagged by nubo.
    aws.rt
        .block_on(
            aws.iam
                .create_role()
                .role_name("other")
                .assume_role_policy_document("{}")
                .send(),
        )
        .unwrap();
    let zip = {
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut buf);
        w.start_file("index.js", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut w, b"exports.handler = async () => 1;").unwrap();
        w.finish().unwrap();
        buf.into_inner()
    };
    aws.rt
        .block_on(
            aws.lambda
                .create_function()
                .function_name("shop-prod-legacy")
                .runtime(aws_sdk_lambda::types::Runtime::Nodejs22x)
                .role("arn:aws:iam::123456789012:role/other")
                .handler("index.handler")
                .code(
                    aws_sdk_lambda::types::FunctionCode::builder()
                        .zip_file(aws_smithy_types::Blob::new(zip))
                        .build(),
                )
                .send(),
        )
        .unwrap();

    let (code, _, err) = svc.run(&["remove", "-t", "prod"]);
    assert_ne!(code, 0, "remove without --yes and no terminal must refuse");
    assert!(err.contains("--yes"), "{err}");
    // The summary names what it would delete, and only that.
    for item in [
        "Lambda function shop-prod-checkout",
        "Lambda function shop-prod-ship",
        "API Gateway REST API shop-prod",
        "IAM role nubo-shop-prod-apigw",
        "artifacts under s3://nubo-artifacts-123456789012-eu-west-1/shop-prod/",
    ] {
        assert!(err.contains(item), "{item} is not in the summary:\n{err}");
    }
    assert!(!err.contains("legacy"), "{err}");
    assert!(
        aws.function_exists("shop-prod-checkout"),
        "a refused remove deleted something"
    );
    svc.ok(&["remove", "-t", "prod", "--yes"]);
    for f in ["checkout", "charge", "ship"] {
        assert!(
            !aws.function_exists(&format!("shop-prod-{f}")),
            "{f} is left"
        );
    }
    assert!(
        aws.function_exists("shop-prod-legacy"),
        "remove deleted a function it did not make"
    );
    let apis = aws.rt.block_on(aws.apigw.get_rest_apis().send()).unwrap();
    assert!(apis.items().is_empty(), "{:?}", apis.items());
    for role in ["nubo-shop-prod", "nubo-shop-prod-apigw"] {
        assert!(
            aws.rt
                .block_on(aws.iam.get_role().role_name(role).send())
                .is_err(),
            "{role} is left"
        );
    }
}

#[test]
fn s3_state_lock_is_held_by_exactly_one_writer() {
    use nubo::state::{State, StateStore};
    let moto = Moto::start();
    let aws = Aws::new(&moto);
    aws.bucket("team-state");
    let conn = nubo::provider::aws::Connection {
        region: REGION.to_owned(),
        profile: None,
        endpoint: Some(moto.url.clone()),
    };
    // SAFETY: set before any thread of this test reads the environment;
    // credentials for the SDK's default chain.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    }
    let open =
        || nubo::provider::aws::s3state::S3Store::open("s3://team-state/shop/prod", &conn).unwrap();

    // The store's conditional writes.
    let store = open();
    assert!(store.create_new("k", b"one").unwrap());
    assert!(!store.create_new("k", b"two").unwrap());
    assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"one"[..]));
    assert!(!store.compare_and_swap("k", b"zzz", b"three").unwrap());
    assert!(store.compare_and_swap("k", b"one", b"three").unwrap());
    assert!(!store.compare_and_delete("k", b"one").unwrap());
    assert!(store.compare_and_delete("k", b"three").unwrap());
    assert_eq!(store.get("k").unwrap(), None);
    assert_eq!(store.describe(), "s3://team-state/shop/prod");

    // Two writers race for the lock, 24 times: exactly one holds it.
    for trial in 0..24 {
        let a = State::new(Box::new(open()));
        let b = State::new(Box::new(open()));
        let barrier = std::sync::Barrier::new(2);
        let (ra, rb) = std::thread::scope(|s| {
            let ta = s.spawn(|| {
                barrier.wait();
                a.lock("nubo deploy", None).map(|g| {
                    std::thread::sleep(Duration::from_millis(250));
                    drop(g);
                })
            });
            let tb = s.spawn(|| {
                barrier.wait();
                b.lock("nubo deploy", None).map(|g| {
                    std::thread::sleep(Duration::from_millis(250));
                    drop(g);
                })
            });
            (ta.join().unwrap(), tb.join().unwrap())
        });
        assert!(
            ra.is_ok() != rb.is_ok(),
            "trial {trial}: exactly one writer must hold the lock (a: {}, b: {})",
            ra.is_ok(),
            rb.is_ok()
        );
        assert_eq!(
            State::new(Box::new(open())).lock_holder().unwrap(),
            None,
            "released"
        );
    }
}

#[test]
fn a_service_without_http_routes_is_not_available_on_aws_yet() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("src")).unwrap();
    std::fs::write(
        tmp.path().join("src/w.js"),
        "exports.handler = async () => 1;\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("nubo.yaml"),
        "nubo: 1\nservice: jobs\ntargets:\n  prod: { provider: aws, region: eu-west-1, endpoint: \"http://127.0.0.1:9\" }\nfunctions:\n  w:\n    handler: src/w.handler\n    runtime: nodejs22\n    events:\n      - queue: { name: jobs }\n",
    )
    .unwrap();
    let out = Command::cargo_bin("nubo")
        .unwrap()
        .current_dir(tmp.path())
        .env("NO_COLOR", "1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args(["deploy", "-t", "prod"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no HTTP route") && err.contains("not available yet"),
        "{err}"
    );
}

fn count(calls: &[Call], method: &str, suffix: &str) -> usize {
    calls
        .iter()
        .filter(|c| c.method == method && c.path.ends_with(suffix))
        .count()
}

/// Real AWS behaves in ways moto does not; the proxy rewrites moto's
/// answers to look like it, and every deploy still lands.
#[test]
fn pending_functions_role_propagation_conflicts_throttling_and_pages() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto.url);
    let aws = Aws::new(&moto);
    // Someone else's API comes first in every listing.
    aws.rt
        .block_on(aws.apigw.create_rest_api().name("aaa-other").send())
        .unwrap();
    let svc = Svc::new(&proxy);

    // A role just created is not assumable for a while; API calls throttle.
    proxy.rule(
        "POST",
        "/2015-03-31/functions",
        2,
        Action::Fail(
            400,
            "InvalidParameterValueException",
            "The role defined for the function cannot be assumed by Lambda.",
        ),
    );
    proxy.rule(
        "POST",
        "/aliases",
        3,
        Action::Fail(429, "TooManyRequestsException", "Rate exceeded"),
    );
    // A version just published is not visible yet (eventual consistency).
    proxy.rule(
        "POST",
        "/aliases",
        2,
        Action::Fail(
            404,
            "ResourceNotFoundException",
            "Function not found: arn:aws:lambda:eu-west-1:123456789012:function:shop-prod-ship:1",
        ),
    );
    svc.ok(&["deploy", "-t", "prod"]);
    let calls = proxy.take();
    assert_eq!(
        count(&calls, "POST", "/2015-03-31/functions"),
        3 + 2,
        "{:?}",
        names(&calls)
    );
    assert_eq!(
        count(&calls, "POST", "/aliases"),
        3 + 3 + 2,
        "{:?}",
        names(&calls)
    );
    let api = aws.api_id("shop-prod");
    assert_eq!(aws.stage(&api).0["release"], "r1");

    // An update leaves the function InProgress; an update racing it conflicts.
    proxy.rule(
        "GET",
        "/configuration",
        4,
        Action::Rewrite(|v| {
            v["State"] = "Pending".into();
            v["LastUpdateStatus"] = "InProgress".into();
        }),
    );
    proxy.rule(
        "PUT",
        "/code",
        1,
        Action::Fail(
            409,
            "ResourceConflictException",
            "The operation cannot be performed at this time. An update is in progress for resource: shop-prod-ship",
        ),
    );
    // A deployment just made is not visible to the stage yet.
    proxy.rule(
        "PATCH",
        "/stages/live",
        1,
        Action::Fail(
            404,
            "NotFoundException",
            "Invalid deployment identifier specified",
        ),
    );
    std::fs::write(
        svc.dir.join("ship/index.js"),
        "exports.handler = async () => ({ function: 'ship', v: 2 });\n",
    )
    .unwrap();
    svc.ok(&["deploy", "-t", "prod"]);
    let calls = proxy.take();
    assert_eq!(
        count(&calls, "PATCH", "/stages/live"),
        2,
        "{:?}",
        names(&calls)
    );
    assert!(
        count(&calls, "GET", "/configuration") >= 5,
        "nubo did not wait for the update: {:?}",
        names(&calls)
    );
    assert_eq!(count(&calls, "PUT", "/code"), 2, "{:?}", names(&calls));
    assert_eq!(aws.stage(&api).0["release"], "r2");

    // Every list answers one item per page: nubo follows the pages.
    for (suffix, items, token, param) in [
        ("/restapis", "item", "position", "position"),
        ("/deployments", "item", "position", "position"),
        ("/resources", "item", "position", "position"),
        ("/2015-03-31/functions", "Functions", "NextMarker", "Marker"),
    ] {
        proxy.rule(
            "GET",
            suffix,
            usize::MAX,
            Action::Paginate {
                items,
                token,
                param,
                size: 1,
            },
        );
    }
    svc.ok(&["rollback", "-t", "prod", "--yes"]);
    let calls = proxy.take();
    assert!(
        count(&calls, "GET", "/restapis") >= 2,
        "{:?}",
        names(&calls)
    );
    assert_eq!(aws.stage(&api).0["release"], "r1");
    std::fs::write(
        svc.dir.join("checkout/index.js"),
        "exports.handler = async () => ({ status: 201 });\n",
    )
    .unwrap();
    svc.ok(&["deploy", "-t", "prod"]);
    assert_eq!(aws.stage(&api).0["release"], "r3");
    let apis = aws.rt.block_on(aws.apigw.get_rest_apis().send()).unwrap();
    assert_eq!(
        apis.items().len(),
        2,
        "a second API was made for the target"
    );

    svc.ok(&["remove", "-t", "prod", "--yes"]);
    let calls = proxy.take();
    assert!(
        count(&calls, "GET", "/2015-03-31/functions") >= 3,
        "{:?}",
        names(&calls)
    );
    for f in ["checkout", "charge", "ship"] {
        assert!(
            !aws.function_exists(&format!("shop-prod-{f}")),
            "{f} is left"
        );
    }
    let apis = aws.rt.block_on(aws.apigw.get_rest_apis().send()).unwrap();
    assert_eq!(
        apis.items()
            .iter()
            .filter_map(|a| a.name())
            .collect::<Vec<_>>(),
        ["aaa-other"]
    );
}

/// SIGKILL at 30 instants of a deploy: the stage always names a complete
/// release, and the next deploy converges.
#[test]
fn killed_at_any_instant_the_stage_names_a_whole_release() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto.url);
    let aws = Aws::new(&moto);
    let svc = Svc::new(&proxy);
    svc.ok(&["deploy", "-t", "prod"]);
    let api = aws.api_id("shop-prod");
    let change = |tag: &str| {
        for f in ["checkout", "ship"] {
            std::fs::write(
                svc.dir.join(f).join("index.js"),
                format!("exports.handler = async () => ({{ status: 200, body: '{tag}' }});\n"),
            )
            .unwrap();
        }
    };
    // How long a deploy that changes two functions takes (the faster of two).
    let mut span = Duration::MAX;
    for tag in ["calibrate-1", "calibrate-2"] {
        change(tag);
        let t = Instant::now();
        svc.ok(&["deploy", "-t", "prod"]);
        span = span.min(t.elapsed());
    }
    // Instants spread evenly (golden-ratio steps) over the first 85 % of a
    // deploy, until 30 kills have landed while the deploy ran.
    let span = span.mul_f64(0.85);
    let mut killed_mid_run = 0;
    let mut i = 0;
    while killed_mid_run < 30 && i < 90 {
        i += 1;
        change(&format!("kill-{i}"));
        let at = span.mul_f64((i as f64 * 0.618_033_988_7).fract());
        let mut child = svc
            .std_cmd()
            .args(["deploy", "-t", "prod"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();

        // The live release is whole: every function has its alias.
        let (vars, _) = aws.stage(&api);
        let live = vars["release"].clone();
        for f in ["checkout", "charge", "ship"] {
            assert!(
                aws.alias_version(&format!("shop-prod-{f}"), &live)
                    .is_some(),
                "instant {i}: live `{live}` has no alias on {f}"
            );
        }
        // The next deploy recovers and converges.
        let (code, out, err) = svc.run(&["deploy", "-t", "prod"]);
        assert_eq!(
            code, 0,
            "instant {i}: the deploy after the kill failed:\n{out}\n{err}"
        );
        let after = aws.stage(&api).0["release"].clone();
        for f in ["checkout", "charge", "ship"] {
            assert!(
                aws.alias_version(&format!("shop-prod-{f}"), &after)
                    .is_some(),
                "instant {i}: `{after}` is not whole"
            );
        }
        proxy.take();
        svc.ok(&["deploy", "-t", "prod"]);
        let writes: Vec<String> = proxy
            .take()
            .iter()
            .filter(|c| c.is_write())
            .map(Call::name)
            .collect();
        assert!(
            writes.is_empty(),
            "instant {i}: not converged, wrote {writes:?}"
        );
        assert_eq!(aws.stage(&api).0["release"], after);
    }
    assert!(
        killed_mid_run >= 30,
        "only {killed_mid_run} kills landed mid-run"
    );
}

/// `examples/shop` as it is, on a target that points at moto.
fn shop_on(proxy: &Proxy) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shop");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop");
    copy_dir(&src, &dir);
    let manifest = std::fs::read_to_string(dir.join("nubo.yaml"))
        .unwrap()
        .replace(
            "prod:  { provider: aws, region: eu-west-1 }",
            &format!(
                "prod:  {{ provider: aws, region: eu-west-1, endpoint: \"{}\" }}",
                proxy.url
            ),
        )
        .replace("interval: 20s", "interval: 1s");
    assert!(manifest.contains(&proxy.url), "the shop's aws target moved");
    std::fs::write(dir.join("nubo.yaml"), manifest).unwrap();
    (tmp, dir)
}

#[test]
fn the_shop_example_deploys_with_its_queue_schedule_and_bucket() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto.url);
    let aws = Aws::new(&moto);
    let (_tmp, dir) = shop_on(&proxy);
    let svc = Svc {
        _tmp: tempfile::tempdir().unwrap(),
        dir,
    };
    aws.rt
        .block_on(
            aws.ssm
                .put_parameter()
                .name("/nubo/shop/prod/stripe-key")
                .value("sk_test_demo")
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                .send(),
        )
        .unwrap();
    let ok = r#"{"statusCode": 200, "body": "{\"function\":\"ship\"}"}"#;
    moto.lambda_results(&[ok]);
    svc.ok(&["deploy", "-t", "prod"]);
    let api = aws.api_id("shop-prod");
    assert_eq!(aws.stage(&api).0["release"], "r1");

    let account = "123456789012";
    let alias_arn =
        |f: &str, r: &str| format!("arn:aws:lambda:{REGION}:{account}:function:shop-prod-{f}:{r}");
    let sqs = aws_sdk_sqs::Client::new(&aws.config);
    let events = aws_sdk_eventbridge::Client::new(&aws.config);
    let queue_arn = format!("arn:aws:sqs:{REGION}:{account}:shop-prod-shipments");
    let triggers = |release: &str| {
        // The queue feeds ship's release alias, with a dead-letter queue behind it.
        let mappings = aws
            .rt
            .block_on(
                aws.lambda
                    .list_event_source_mappings()
                    .event_source_arn(&queue_arn)
                    .send(),
            )
            .unwrap();
        let m = mappings.event_source_mappings();
        assert_eq!(m.len(), 1, "{m:?}");
        // AWS keeps the alias ARN; moto stores the version the alias names.
        let version = aws.alias_version("shop-prod-ship", release).unwrap();
        let arn = m[0].function_arn().unwrap_or_default();
        assert!(
            arn == alias_arn("ship", release) || arn == alias_arn("ship", &version),
            "the queue feeds {arn}, not {release}"
        );
        assert_eq!(m[0].batch_size(), Some(10));
        // The nightly schedule targets report's release alias.
        let targets = aws
            .rt
            .block_on(
                events
                    .list_targets_by_rule()
                    .rule("shop-prod-report-0")
                    .send(),
            )
            .unwrap();
        let t = targets.targets();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].arn(), alias_arn("report", release));
        assert!(t[0].input().unwrap_or_default().contains("cron 0 3 * * *"));
        // Uploads under in/ notify report's release alias.
        let n = aws
            .rt
            .block_on(
                aws.s3
                    .get_bucket_notification_configuration()
                    .bucket(format!("shop-prod-uploads-{account}"))
                    .send(),
            )
            .unwrap();
        let l = n.lambda_function_configurations();
        assert_eq!(l.len(), 1, "{l:?}");
        assert_eq!(l[0].lambda_function_arn(), alias_arn("report", release));
    };
    triggers("r1");
    let rule = aws
        .rt
        .block_on(events.describe_rule().name("shop-prod-report-0").send())
        .unwrap();
    assert_eq!(rule.schedule_expression(), Some("cron(0 3 * * ? *)"));
    let url = aws
        .rt
        .block_on(sqs.get_queue_url().queue_name("shop-prod-shipments").send())
        .unwrap();
    let attrs = aws
        .rt
        .block_on(
            sqs.get_queue_attributes()
                .queue_url(url.queue_url().unwrap())
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send(),
        )
        .unwrap();
    let redrive = attrs
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy))
        .cloned()
        .unwrap_or_default();
    assert!(redrive.contains("shop-prod-shipments-dlq"), "{redrive}");

    // A canary release: the triggers stay on r1 until it is promoted, then
    // move with it; a rollback brings them back.
    std::fs::write(
        svc.dir.join("src/ship.js"),
        "exports.handler = async () => ({ function: 'ship', v: 2 });\n",
    )
    .unwrap();
    moto.lambda_results(&[ok, ok, ok]);
    svc.ok(&["deploy", "-t", "prod"]);
    assert_eq!(aws.stage(&api).0["release"], "r2");
    assert!(!aws.stage(&api).0.contains_key("nubocanary"));
    triggers("r2");
    svc.ok(&["rollback", "-t", "prod", "--yes"]);
    assert_eq!(aws.stage(&api).0["release"], "r1");
    triggers("r1");

    // Remove: queues, rules and the (empty) bucket go too.
    svc.ok(&["remove", "-t", "prod", "--yes"]);
    assert!(
        aws.rt
            .block_on(sqs.get_queue_url().queue_name("shop-prod-shipments").send())
            .is_err()
    );
    assert!(
        aws.rt
            .block_on(events.describe_rule().name("shop-prod-report-0").send())
            .is_err()
    );
}

#[test]
fn logs_come_from_cloudwatch_by_function_and_release() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto.url);
    let aws = Aws::new(&moto);
    let svc = Svc::new(&proxy);
    svc.ok(&["deploy", "-t", "prod"]);
    std::fs::write(
        svc.dir.join("ship/index.js"),
        "exports.handler = async () => ({ function: 'ship', v: 2 });\n",
    )
    .unwrap();
    svc.ok(&["deploy", "-t", "prod"]);
    let v1 = aws.alias_version("shop-prod-ship", "r1").unwrap();
    let v2 = aws.alias_version("shop-prod-ship", "r2").unwrap();
    assert_ne!(v1, v2);

    // What Lambda would have written: a stream per version.
    let logs = aws_sdk_cloudwatchlogs::Client::new(&aws.config);
    let group = "/aws/lambda/shop-prod-ship";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    aws.rt
        .block_on(logs.create_log_group().log_group_name(group).send())
        .unwrap();
    for (version, lines) in [(&v1, ["old one", "old two"]), (&v2, ["new one", "new two"])] {
        let stream = format!("2026/11/29/[{version}]0123abcd");
        aws.rt
            .block_on(
                logs.create_log_stream()
                    .log_group_name(group)
                    .log_stream_name(&stream)
                    .send(),
            )
            .unwrap();
        let mut req = logs
            .put_log_events()
            .log_group_name(group)
            .log_stream_name(&stream);
        for (i, l) in lines.iter().enumerate() {
            req = req.log_events(
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                    .timestamp(
                        now - 60_000 + i as i64 * 1000 + if *version == v2 { 10_000 } else { 0 },
                    )
                    .message(*l)
                    .build()
                    .unwrap(),
            );
        }
        aws.rt.block_on(req.send()).unwrap();
    }

    let out = svc.ok(&["logs", "ship", "-t", "prod"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].ends_with(&format!("ship v{v1} old one")), "{out}");
    assert!(lines[3].ends_with(&format!("ship v{v2} new two")), "{out}");
    let out = svc.ok(&[
        "logs",
        "ship",
        "-t",
        "prod",
        "--release",
        "r1",
        "--since",
        "1h",
    ]);
    assert!(out.contains("old one") && !out.contains("new"), "{out}");
    let out = svc.ok(&["logs", "-t", "prod", "-n", "1"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("new two"), "{out}");
    // Functions that never ran have no group: no lines, no error.
    let out = svc.ok(&["logs", "charge", "-t", "prod"]);
    assert_eq!(out, "");
    let (code, _, err) = svc.run(&["logs", "-t", "prod", "--release", "r9"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no release `r9`"), "{err}");
}

/// Two `nubo deploy`s at once on a target whose state is in S3: in every
/// trial exactly one takes the lock and deploys; the other exits 3 naming
/// the holder.
#[test]
fn concurrent_deploys_on_s3_state_one_holds_the_lock() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto.url);
    let aws = Aws::new(&moto);
    aws.bucket("team-state");
    let svc = Svc::with(&proxy, ", state: \"s3://team-state/shop/prod\"", "", "");
    svc.ok(&["deploy", "-t", "prod"]);
    // The state is in the bucket, not beside the manifest.
    assert!(!svc.dir.join(".nubo/state").exists());
    let keys = aws
        .rt
        .block_on(
            aws.s3
                .list_objects_v2()
                .bucket("team-state")
                .prefix("shop/prod/")
                .send(),
        )
        .unwrap();
    assert!(
        keys.contents()
            .iter()
            .any(|o| o.key().is_some_and(|k| k.ends_with(".json"))),
        "{:?}",
        keys.contents()
    );
    // Each upload takes 400 ms: the first deploy holds the lock long enough.
    proxy.rule("PUT", ".zip", usize::MAX, Action::Delay(400));
    for trial in 0..20 {
        std::fs::write(
            svc.dir.join("ship/index.js"),
            format!("exports.handler = async () => ({{ function: 'ship', trial: {trial} }});\n"),
        )
        .unwrap();
        let err = race::exactly_one_holds_the_lock(
            || {
                let mut c = svc.std_cmd();
                c.args(["deploy", "-t", "prod"]);
                c
            },
            trial,
        );
        assert!(
            err.contains("locked") || err.contains("lock"),
            "trial {trial}: {err}"
        );
    }
    assert_eq!(aws.stage(&aws.api_id("shop-prod")).0["release"], "r21");
}
