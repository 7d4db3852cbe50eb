//! Cloud Run's serving side, for the fake: requests to `*.run.app` hosts
//! (sent to the fake with the Cloud Run host in `Host`) run the revision
//! they reach **for real**: its source archive, taken from the fake's Cloud
//! Storage, unpacked and served by Google's Functions Framework (Node.js
//! from `tests/gcp-shim/node_modules`, Python from the project's `.venv`)
//! with the revision's environment, as Cloud Run's buildpacks would.
//!
//! - A tagged host (`r7---svc-….run.app`) reaches the revision its tag
//!   names; the service's own host splits by the traffic percents.
//! - Unless the service's IAM policy lets `allUsers` invoke it, a request
//!   needs an identity token whose audience is the service's URL, from
//!   IAM Credentials `generateIdToken` or the metadata server
//!   (`/computeMetadata/v1/instance/service-accounts/default/identity`),
//!   which the fake also serves (401 otherwise, like Cloud Run).
//! - The revisions' processes get `NUBO_CALL_BASE` and `NUBO_METADATA_URL`
//!   pointing at the fake, so `nubo.call` between them comes back here.
//! - `${secret:…}` references (`valueSource.secretKeyRef`) read
//!   [`Fake::set_secret`]; a missing secret fails the revision, as on Cloud
//!   Run.

use super::*;

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};

/// One revision's Functions Framework process, killed with its process
/// group when dropped.
pub(super) struct Runner {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) type RunnerCell = Arc<tokio::sync::OnceCell<Result<Runner, String>>>;

/// What a served request was: the host, the revision, the answer's status.
#[derive(Debug, Clone)]
pub struct Served {
    pub host: String,
    pub path: String,
    pub revision: String,
    pub status: u16,
    /// The answer's body (its first 4 KiB, as text).
    pub body: String,
}

impl Fake {
    /// The value of a Secret Manager secret (its latest version), for
    /// revisions whose environment references it.
    pub fn set_secret(&self, name: &str, value: &str) {
        self.lock()
            .secrets
            .insert(name.to_owned(), value.to_owned());
    }

    /// Every request Cloud Run's front end served, in order.
    pub fn served(&self) -> Vec<Served> {
        self.lock().served.clone()
    }

    /// Stops every revision's process (they start again on demand).
    pub fn stop_revisions(&self) {
        let runners = std::mem::take(&mut self.lock().runners);
        drop(runners);
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn html(status: u16, message: &str) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=UTF-8")
        .body(Body::from(format!(
            "<html><head><title>{status}</title></head><body><h1>Error: {message}</h1></body></html>"
        )))
        .expect("a response")
}

fn b64url_json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
}

impl State {
    /// An identity token (a JWT the fake does not sign) for `audience`.
    pub(super) fn issue_id_token(&mut self, audience: &str, email: &str) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let token = format!(
            "{}.{}.{}",
            b64url_json(&json!({"alg": "RS256", "typ": "JWT"})),
            b64url_json(&json!({
                "aud": audience,
                "azp": email,
                "email": email,
                "iss": "https://accounts.google.com",
                "iat": now,
                "exp": now + 3600,
                "jti": random_hex(8),
            })),
            random_hex(16)
        );
        self.id_tokens.insert(
            token.clone(),
            (audience.to_owned(), Instant::now() + TOKEN_LIFETIME),
        );
        token
    }

    /// IAM Credentials `generateIdToken` for a service account.
    pub(super) fn generate_id_token(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let body = req.json();
        let audience = body["audience"].as_str().unwrap_or_default();
        if audience.is_empty() {
            return Err(ApiError::invalid("audience is required"));
        }
        let name = req.param("name");
        let email = name.rsplit('/').next().unwrap_or_default().to_owned();
        if !email.contains('@') {
            return Err(ApiError::invalid(format!(
                "{name}: the service account must be named by its email"
            )));
        }
        let token = self.issue_id_token(audience, &email);
        Ok(Reply::Json(json!({"token": token})))
    }

    /// The service a `*.run.app` host (without its tag) names.
    fn service_by_host(&self, host: &str) -> Option<&RunService> {
        self.services.values().find(|s| {
            let uri = s.resource["uri"].as_str().unwrap_or_default();
            let urls = s.resource["urls"].as_array().cloned().unwrap_or_default();
            uri.trim_start_matches("https://") == host
                || urls.iter().any(|u| {
                    u.as_str()
                        .unwrap_or_default()
                        .trim_start_matches("https://")
                        == host
                })
        })
    }
}

/// What starting a revision needs, read under the lock.
struct Start {
    revision: String,
    service_id: String,
    base_image: String,
    source: Vec<u8>,
    env: Vec<(String, String)>,
    fake_url: String,
}

/// The metadata server's identity endpoint, for revisions' `nubo.call`.
pub(super) fn metadata(shared: &Mutex<State>, req: &Incoming) -> Response {
    if req.header(header::HeaderName::from_static("metadata-flavor")) != Some("Google") {
        return plain(403, "Missing Metadata-Flavor:Google header.");
    }
    if req.path != "/computeMetadata/v1/instance/service-accounts/default/identity" {
        return plain(404, "not served by the fake metadata server");
    }
    let Some(audience) = req.query("audience") else {
        return plain(400, "non-empty audience parameter required");
    };
    let token = lock(shared).issue_id_token(audience, CLIENT_EMAIL);
    plain(200, &token)
}

/// Cloud Run's front end for one request.
pub(super) async fn serve(shared: Arc<Mutex<State>>, req: Incoming, host: String) -> Response {
    let (tag, service_host) = match host.split_once("---") {
        Some((t, h)) => (Some(t.to_owned()), h.to_owned()),
        None => (None, host.clone()),
    };
    let picked = {
        let mut st = lock(&shared);
        st.settle();
        pick(&mut st, &req, tag.as_deref(), &service_host)
    };
    let (start, cell) = match picked {
        Ok(p) => p,
        Err((status, message)) => return html(status, &message),
    };
    let revision = start.revision.clone();
    let runner = cell
        .get_or_init(|| async move {
            tokio::task::spawn_blocking(move || launch(start))
                .await
                .unwrap_or_else(|e| Err(format!("starting the revision panicked: {e}")))
        })
        .await;
    let response = match runner {
        Err(why) => html(503, &format!("revision {revision} is not ready: {why}")),
        Ok(runner) => forward(runner.port, &req).await,
    };
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_default();
    lock(&shared).served.push(Served {
        host,
        path: req.path.clone(),
        revision,
        status: parts.status.as_u16(),
        body: String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).into_owned(),
    });
    Response::from_parts(parts, Body::from(bytes))
}

fn pick(
    st: &mut State,
    req: &Incoming,
    tag: Option<&str>,
    service_host: &str,
) -> Result<(Start, RunnerCell), (u16, String)> {
    let Some(svc) = st.service_by_host(service_host) else {
        return Err((
            404,
            "The requested URL was not found on this server.".to_owned(),
        ));
    };
    // Who may invoke.
    let open = svc.iam_policy["bindings"].as_array().is_some_and(|b| {
        b.iter().any(|b| {
            b["role"] == "roles/run.invoker"
                && b["members"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|m| m == "allUsers"))
        })
    });
    if !open {
        let bearer = req
            .header(header::AUTHORIZATION)
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or_default();
        let urls: Vec<String> = std::iter::once(svc.resource["uri"].clone())
            .chain(svc.resource["urls"].as_array().cloned().unwrap_or_default())
            .filter_map(|u| u.as_str().map(str::to_owned))
            .collect();
        let ok = st
            .id_tokens
            .get(bearer)
            .is_some_and(|(aud, until)| *until > Instant::now() && urls.contains(aud));
        if !ok {
            return Err((
                401,
                "Unauthorized. Your client does not have permission to the requested URL."
                    .to_owned(),
            ));
        }
    }
    let latest = svc.resource["latestReadyRevision"]
        .as_str()
        .map(short)
        .unwrap_or_default()
        .to_owned();
    let traffic = svc.resource["traffic"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let revision_of = |t: &Value| -> String {
        match t["revision"].as_str().filter(|r| !r.is_empty()) {
            Some(r) => r.to_owned(),
            None => latest.clone(),
        }
    };
    let revision = match tag {
        Some(tag) => match traffic.iter().find(|t| t["tag"].as_str() == Some(tag)) {
            Some(t) => revision_of(t),
            None => {
                return Err((
                    404,
                    "The requested URL was not found on this server.".to_owned(),
                ));
            }
        },
        None => {
            let total: i64 = traffic.iter().map(|t| int(&t["percent"])).sum();
            let mut roll = (u64::from_le_bytes(random_bytes::<8>()) % total.max(1) as u64) as i64;
            let mut chosen = None;
            for t in &traffic {
                let p = int(&t["percent"]);
                if roll < p {
                    chosen = Some(revision_of(t));
                    break;
                }
                roll -= p;
            }
            match chosen {
                Some(r) => r,
                None => return Err((503, "the service serves no revision".to_owned())),
            }
        }
    };
    let Some(rev) = svc.revision(&revision).cloned() else {
        return Err((503, format!("revision {revision} does not exist")));
    };
    let Some((location, base_image)) = svc.sources.get(&revision).cloned() else {
        return Err((503, format!("revision {revision} has no source")));
    };
    let service_id = short(svc.resource["name"].as_str().unwrap_or_default()).to_owned();
    let full = rev["name"].as_str().unwrap_or_default().to_owned();
    let Some((bucket, object)) = location
        .strip_prefix("gs://")
        .and_then(|l| l.split_once('/'))
    else {
        return Err((503, format!("{location} is not a gs:// URL")));
    };
    let Some(source) = st
        .buckets
        .get(bucket)
        .and_then(|b| b.objects.get(object))
        .map(|o| o.data.clone())
    else {
        return Err((503, format!("the build failed: {location} does not exist")));
    };
    let mut env = Vec::new();
    for e in rev["containers"][0]["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap_or_default().to_owned();
        if let Some(v) = e["value"].as_str() {
            env.push((name, v.to_owned()));
        } else if let Some(secret) = e["valueSource"]["secretKeyRef"]["secret"].as_str() {
            match st.secrets.get(secret) {
                Some(v) => env.push((name, v.clone())),
                None => {
                    return Err((
                        503,
                        format!("revision {revision}: secret {secret} was not found"),
                    ));
                }
            }
        }
    }
    let cell = st.runners.entry(full).or_default().clone();
    Ok((
        Start {
            revision,
            service_id,
            base_image,
            source,
            env,
            fake_url: st.url.clone(),
        },
        cell,
    ))
}

/// Unpack the source and start the Functions Framework on a free port.
fn launch(start: Start) -> Result<Runner, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(start.source))
        .map_err(|e| format!("the source is not a zip archive: {e}"))?;
    archive
        .extract(dir.path())
        .map_err(|e| format!("cannot unpack the source: {e}"))?;
    let port = super::ports::unused_port();
    let src = dir.path();
    let mut cmd = if start.base_image.starts_with("nodejs") {
        let main = repo().join(
            "tests/gcp-shim/node_modules/@google-cloud/functions-framework/build/src/main.js",
        );
        if !main.is_file() {
            return Err(format!(
                "the Node.js Functions Framework is not installed at {} (run ./scripts/test)",
                main.display()
            ));
        }
        let mut c = Command::new("node");
        c.arg(main)
            .arg("--target=nubo")
            .arg(format!("--port={port}"))
            .arg(format!("--source={}", src.join("nubo_gcp.js").display()))
            .env_remove("NODE_PATH");
        c
    } else if start.base_image.starts_with("python") {
        let bin = repo().join(".venv/bin/functions-framework");
        if !bin.is_file() {
            return Err(format!(
                "the Python Functions Framework is not installed at {} (run ./scripts/test)",
                bin.display()
            ));
        }
        let mut c = Command::new(bin);
        c.arg("--target=nubo")
            .arg("--host=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--source={}", src.join("main.py").display()))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1");
        c
    } else {
        return Err(format!(
            "the fake cannot run base image {}",
            start.base_image
        ));
    };
    cmd.current_dir(src)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env("PORT", port.to_string())
        .env("K_SERVICE", &start.service_id)
        .env("K_REVISION", &start.revision)
        .envs(start.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        // Calls between revisions and their identity tokens come back here.
        .env("NUBO_CALL_BASE", &start.fake_url)
        .env("NUBO_METADATA_URL", &start.fake_url)
        .process_group(0);
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let mut runner = Runner {
        child,
        port,
        _dir: dir,
    };
    let begun = Instant::now();
    loop {
        if let Ok(Some(status)) = runner.child.try_wait() {
            return Err(format!(
                "the Functions Framework exited ({status}) before serving"
            ));
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(runner);
        }
        if begun.elapsed() > Duration::from_secs(60) {
            return Err("the Functions Framework did not listen within 60 s".to_owned());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Send the request on to the revision's process; its answer.
async fn forward(port: u16, req: &Incoming) -> Response {
    // No pooled connections: this client outlives every fake (each with its
    // own runtime), and the Functions Framework closes an idle connection
    // after 5 s; a pooled connection from either can fail the next request
    // as a 502 that no revision sent. Loopback connections are cheap.
    static HTTP: LazyLock<reqwest::Client> = LazyLock::new(|| {
        reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(120))
            .build()
            .expect("an HTTP client")
    });
    let query = if req.raw_query.is_empty() {
        String::new()
    } else {
        format!("?{}", req.raw_query)
    };
    let mut out = HTTP.request(
        reqwest::Method::from_bytes(req.method.as_bytes()).expect("a method"),
        format!("http://127.0.0.1:{port}{}{query}", req.path),
    );
    for (k, v) in &req.headers {
        if !matches!(
            k.as_str(),
            "connection" | "content-length" | "transfer-encoding" | "authorization"
        ) {
            out = out.header(k.as_str(), v.as_bytes());
        }
    }
    match out.body(req.body.to_vec()).send().await {
        Ok(r) => {
            let mut response = Response::builder().status(r.status().as_u16());
            for (k, v) in r.headers() {
                if !matches!(
                    k.as_str(),
                    "connection" | "content-length" | "transfer-encoding"
                ) {
                    response = response.header(k.as_str(), v.as_bytes());
                }
            }
            let bytes = r.bytes().await.unwrap_or_default();
            response.body(Body::from(bytes)).expect("a response")
        }
        Err(e) => html(502, &format!("upstream: {e}")),
    }
}
