//! The local cloud daemon: control API, gateway, `nubo.call` endpoint.
//!
//! Listens on 127.0.0.1 only. The control API and the call endpoint require
//! bearer tokens (the control token is in `daemon.json`, readable only by
//! its owner; workers get a separate call token that opens nothing else).
//! Versions, staged releases and the live route persist in `cloud.json`,
//! written atomically on every change; the gateway reads an immutable
//! snapshot swapped in one step, so a switch is atomic for every request.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

mod triggers;

use super::gateway::{self, Match, Routes};
use super::worker::{self, Failure, Pool};
use super::{
    DaemonInfo, InvokeRequest, InvokeResponse, PublishRequest, RetireRequest, VersionConfig,
};
use crate::manifest::Event;
use crate::provider::{Route, StagedRelease};

const BOOTSTRAP_JS: &str = include_str!("../../../templates/local/bootstrap.js");
const BOOTSTRAP_PY: &str = include_str!("../../../templates/local/bootstrap.py");
const NUBO_JS: &str = include_str!("../../../templates/local/node/nubo/index.js");
const NUBO_PY: &str = include_str!("../../../templates/local/python/nubo.py");

#[derive(Debug, Clone, Serialize, Deserialize)]
struct VersionRec {
    version: String,
    unit: String,
    artifact: String,
    config: VersionConfig,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Persisted {
    versions: BTreeMap<String, Vec<VersionRec>>,
    next_version: BTreeMap<String, u64>,
    releases: BTreeMap<String, BTreeMap<String, String>>,
    live: Option<Route>,
}

/// What a request needs, swapped as a whole on every change.
#[derive(Default)]
struct Snapshot {
    live: Option<Route>,
    releases: HashMap<String, ReleaseView>,
}

struct ReleaseView {
    functions: HashMap<String, Arc<Pool>>,
    routes: Routes,
}

struct Cloud {
    dir: PathBuf,
    token: String,
    call_token: String,
    env: worker::Env,
    state: tokio::sync::Mutex<Persisted>,
    snapshot: RwLock<Arc<Snapshot>>,
    pools: std::sync::Mutex<HashMap<(String, String), Arc<Pool>>>,
    stop: tokio::sync::Notify,
    /// Bucket objects whose `created` event fired (`bucket/key`).
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the OS provides randomness");
    crate::package::zip::hex(&b)
}

/// Run the daemon for `dir` until it is stopped (SIGTERM, SIGINT or `/v1/stop`).
pub fn run(dir: &Path, port: Option<u16>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(dir, port))
}

async fn serve(dir: &Path, port: Option<u16>) -> anyhow::Result<()> {
    let dir = std::path::absolute(dir)?;
    std::fs::create_dir_all(dir.join("logs"))?;
    let runtime_dir = dir.join("runtime");
    for (rel, text) in [
        ("bootstrap.js", BOOTSTRAP_JS),
        ("bootstrap.py", BOOTSTRAP_PY),
        ("node/nubo/index.js", NUBO_JS),
        ("python/nubo.py", NUBO_PY),
    ] {
        let p = runtime_dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("has a parent"))?;
        std::fs::write(p, text)?;
    }
    let control = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let gateway = tokio::net::TcpListener::bind(("127.0.0.1", port.unwrap_or(0)))
        .await
        .map_err(|e| anyhow::anyhow!("could not listen on 127.0.0.1:{}: {e}", port.unwrap_or(0)))?;
    let control_addr = control.local_addr()?;
    let gateway_addr = gateway.local_addr()?;
    let persisted: Persisted = std::fs::read(dir.join("cloud.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let call_token = random_token();
    let cloud = Arc::new(Cloud {
        dir: dir.clone(),
        token: random_token(),
        call_token: call_token.clone(),
        env: worker::Env {
            runtime_dir,
            call_url: format!("http://{control_addr}/call"),
            call_token,
            logs_dir: dir.join("logs"),
        },
        state: tokio::sync::Mutex::new(persisted),
        snapshot: RwLock::new(Arc::new(Snapshot::default())),
        pools: std::sync::Mutex::new(HashMap::new()),
        stop: tokio::sync::Notify::new(),
        seen: std::sync::Mutex::new(std::collections::HashSet::new()),
    });
    {
        let state = cloud.state.lock().await;
        cloud.rebuild(&state);
    }
    let info = DaemonInfo {
        pid: std::process::id(),
        control: control_addr.to_string(),
        gateway: gateway_addr.to_string(),
        token: cloud.token.clone(),
        started: crate::state::now(),
    };
    write_private(&dir.join("daemon.json"), &serde_json::to_vec_pretty(&info)?)?;
    eprintln!(
        "nubo local cloud: control {control_addr}, gateway {gateway_addr}, pid {}",
        info.pid
    );

    let control_app = Router::new()
        .route("/v1/status", get(status))
        .route("/v1/publish", post(publish))
        .route("/v1/stage", post(stage))
        .route("/v1/invoke", post(invoke))
        .route("/v1/live", get(live))
        .route("/v1/route", post(route))
        .route("/v1/retire", post(retire))
        .route("/v1/remove", post(remove))
        .route("/v1/stop", post(stop))
        .route("/v1/queues/{name}", post(send).get(queue_status))
        .route_layer(axum::middleware::from_fn_with_state(
            cloud.clone(),
            require_token,
        ))
        .route("/call", post(call))
        .layer(DefaultBodyLimit::max(6 * 1024 * 1024))
        .with_state(cloud.clone());
    let gateway_app = Router::new()
        .fallback(serve_http)
        .layer(DefaultBodyLimit::max(6 * 1024 * 1024))
        .with_state(cloud.clone());

    let triggers = tokio::spawn(triggers::run(cloud.clone()));
    let reaper = {
        let cloud = cloud.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let pools: Vec<Arc<Pool>> = cloud
                    .pools
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                    .cloned()
                    .collect();
                for p in pools {
                    p.reap();
                }
            }
        })
    };
    let shutdown = {
        let cloud = cloud.clone();
        async move {
            let term = async {
                #[cfg(unix)]
                {
                    if let Ok(mut s) =
                        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    {
                        s.recv().await;
                    } else {
                        std::future::pending::<()>().await;
                    }
                }
                #[cfg(not(unix))]
                std::future::pending::<()>().await;
            };
            tokio::select! {
                _ = cloud.stop.notified() => {}
                _ = tokio::signal::ctrl_c() => {}
                _ = term => {}
            }
        }
    };
    let c1 = cloud.clone();
    let control_server = tokio::spawn(async move {
        axum::serve(control.tap_io(nodelay), control_app)
            .with_graceful_shutdown(async move { c1.stop.notified().await })
            .await
    });
    let gateway_server =
        tokio::spawn(async move { axum::serve(gateway.tap_io(nodelay), gateway_app).await });
    shutdown.await;
    // Stop: no new requests, every worker ended, state on disk.
    cloud.stop.notify_waiters();
    gateway_server.abort();
    reaper.abort();
    triggers.abort();
    for p in cloud
        .pools
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
    {
        p.shutdown();
    }
    {
        let state = cloud.state.lock().await;
        cloud.save(&state)?;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    control_server.abort();
    let _ = std::fs::remove_file(dir.join("daemon.json"));
    eprintln!("nubo local cloud: stopped");
    Ok(())
}

/// No Nagle delay: small request/response pairs are the whole workload.
pub(super) fn nodelay(stream: &mut tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
}

/// Write a file only its owner can read (it holds tokens or secret values).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::state::write_atomic(path, bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn bad(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

impl Cloud {
    fn authorized(&self, headers: &HeaderMap, token: &str) -> bool {
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| constant_time_eq(t.as_bytes(), token.as_bytes()))
    }

    fn save(&self, state: &Persisted) -> std::io::Result<()> {
        write_private(
            &self.dir.join("cloud.json"),
            &serde_json::to_vec_pretty(state).expect("serializes"),
        )
    }

    fn version_dir(&self, function: &str, version: &str) -> PathBuf {
        self.dir.join("versions").join(function).join(version)
    }

    fn pool(&self, function: &str, rec: &VersionRec) -> Arc<Pool> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools
            .entry((function.to_owned(), rec.version.clone()))
            .or_insert_with(|| {
                Arc::new(Pool::new(
                    function.to_owned(),
                    rec.version.clone(),
                    rec.config.clone(),
                    self.version_dir(function, &rec.version),
                    self.env.clone(),
                ))
            })
            .clone()
    }

    /// Build the snapshot requests read from the persisted state.
    fn rebuild(&self, state: &Persisted) {
        let mut releases = HashMap::new();
        for (id, versions) in &state.releases {
            let mut functions = HashMap::new();
            let mut events: Vec<(String, Vec<Event>)> = Vec::new();
            for (function, version) in versions {
                let Some(rec) = state
                    .versions
                    .get(function)
                    .and_then(|l| l.iter().find(|r| &r.version == version))
                else {
                    continue;
                };
                functions.insert(function.clone(), self.pool(function, rec));
                events.push((function.clone(), rec.config.events.clone()));
            }
            let routes = Routes::new(events.iter().map(|(f, e)| (f.as_str(), e.as_slice())));
            releases.insert(id.clone(), ReleaseView { functions, routes });
        }
        let snapshot = Arc::new(Snapshot {
            live: state.live.clone(),
            releases,
        });
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = snapshot;
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Every control request must carry the daemon's token, checked before
/// anything else (the body is not even read without it).
async fn require_token(
    State(cloud): State<Arc<Cloud>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !cloud.authorized(req.headers(), &cloud.token) {
        return bad(StatusCode::UNAUTHORIZED, "missing or wrong token");
    }
    next.run(req).await
}

async fn status(State(cloud): State<Arc<Cloud>>) -> Response {
    let state = cloud.state.lock().await;
    let workers: usize = cloud
        .pools
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .map(|p| p.workers())
        .sum();
    axum::Json(json!({
        "pid": std::process::id(),
        "live": state.live,
        "releases": state.releases.keys().collect::<Vec<_>>(),
        "functions": state.versions.len(),
        "workers": workers,
    }))
    .into_response()
}

async fn publish(
    State(cloud): State<Arc<Cloud>>,
    axum::Json(req): axum::Json<PublishRequest>,
) -> Response {
    let mut state = cloud.state.lock().await;
    if let Some(r) = state
        .versions
        .get(&req.function)
        .and_then(|l| l.iter().find(|r| r.unit == req.unit))
    {
        return axum::Json(json!({ "version": r.version })).into_response();
    }
    let zip = cloud
        .dir
        .join("artifacts")
        .join(format!("{}.zip", req.artifact));
    let n = *state.next_version.get(&req.function).unwrap_or(&1);
    let version = n.to_string();
    let dest = cloud.version_dir(&req.function, &version);
    let extracted = tokio::task::spawn_blocking({
        let dest = dest.clone();
        move || extract(&zip, &dest)
    })
    .await;
    match extracted {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return bad(
                StatusCode::BAD_REQUEST,
                format!("could not unpack artifact {}: {e}", req.artifact),
            );
        }
        Err(e) => return bad(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
    state.next_version.insert(req.function.clone(), n + 1);
    state
        .versions
        .entry(req.function.clone())
        .or_default()
        .push(VersionRec {
            version: version.clone(),
            unit: req.unit,
            artifact: req.artifact,
            config: req.config,
        });
    if let Err(e) = cloud.save(&state) {
        return bad(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    axum::Json(json!({ "version": version })).into_response()
}

/// Unpack a zip into a fresh directory (replaced whole, never half-written).
fn extract(zip: &Path, dest: &Path) -> Result<(), String> {
    let file = std::fs::File::open(zip).map_err(|e| e.to_string())?;
    let mut archive = ::zip::ZipArchive::new(file).map_err(|e| e.to_string())?;
    let tmp = dest.with_extension("unpacking");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| e.to_string())?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(format!(
                "unsafe entry name in the archive: {:?}",
                entry.name()
            ));
        };
        let out = tmp.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
            continue;
        }
        if let Some(p) = out.parent() {
            std::fs::create_dir_all(p).map_err(|e| e.to_string())?;
        }
        let mut f = std::fs::File::create(&out).map_err(|e| e.to_string())?;
        std::io::copy(&mut entry, &mut f).map_err(|e| e.to_string())?;
        #[cfg(unix)]
        if let Some(mode) = entry.unix_mode() {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&out, std::fs::Permissions::from_mode(mode & 0o755));
        }
    }
    let _ = std::fs::remove_dir_all(dest);
    std::fs::rename(&tmp, dest).map_err(|e| e.to_string())
}

async fn stage(
    State(cloud): State<Arc<Cloud>>,
    axum::Json(req): axum::Json<StagedRelease>,
) -> Response {
    let mut state = cloud.state.lock().await;
    for (function, version) in &req.versions {
        if !state
            .versions
            .get(function)
            .is_some_and(|l| l.iter().any(|r| &r.version == version))
        {
            return bad(
                StatusCode::BAD_REQUEST,
                format!("`{function}` has no version {version}"),
            );
        }
    }
    state.releases.insert(req.id.clone(), req.versions.clone());
    if let Err(e) = cloud.save(&state) {
        return bad(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    cloud.rebuild(&state);
    axum::Json(json!({})).into_response()
}

async fn live(State(cloud): State<Arc<Cloud>>) -> Response {
    axum::Json(cloud.state.lock().await.live.clone()).into_response()
}

async fn route(State(cloud): State<Arc<Cloud>>, axum::Json(r): axum::Json<Route>) -> Response {
    let mut state = cloud.state.lock().await;
    for id in std::iter::once(&r.primary).chain(r.canary.as_ref().map(|(c, _)| c)) {
        if !state.releases.contains_key(id) {
            return bad(
                StatusCode::BAD_REQUEST,
                format!("release `{id}` is not staged"),
            );
        }
    }
    state.live = Some(r);
    if let Err(e) = cloud.save(&state) {
        return bad(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    // One swap: every request after this sees the new route, none half of it.
    cloud.rebuild(&state);
    axum::Json(json!({})).into_response()
}

async fn retire(
    State(cloud): State<Arc<Cloud>>,
    axum::Json(req): axum::Json<RetireRequest>,
) -> Response {
    let mut state = cloud.state.lock().await;
    state.releases.remove(&req.release.id);
    let mut dropped = Vec::new();
    for (function, version) in &req.release.versions {
        let used = state
            .releases
            .values()
            .any(|r| r.get(function) == Some(version))
            || req
                .keep
                .iter()
                .any(|k| k.versions.get(function) == Some(version));
        if !used && let Some(list) = state.versions.get_mut(function) {
            list.retain(|r| &r.version != version);
            dropped.push((function.clone(), version.clone()));
        }
    }
    if let Err(e) = cloud.save(&state) {
        return bad(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    cloud.rebuild(&state);
    for (function, version) in dropped {
        if let Some(p) = cloud
            .pools
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(function.clone(), version.clone()))
        {
            p.shutdown();
        }
        let _ = std::fs::remove_dir_all(cloud.version_dir(&function, &version));
    }
    axum::Json(json!({})).into_response()
}

async fn remove(State(cloud): State<Arc<Cloud>>) -> Response {
    let mut state = cloud.state.lock().await;
    *state = Persisted {
        next_version: std::mem::take(&mut state.next_version),
        ..Persisted::default()
    };
    for (_, p) in cloud
        .pools
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain()
    {
        p.shutdown();
    }
    let _ = std::fs::remove_dir_all(cloud.dir.join("versions"));
    if let Err(e) = cloud.save(&state) {
        return bad(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    cloud.rebuild(&state);
    axum::Json(json!({})).into_response()
}

async fn stop(State(cloud): State<Arc<Cloud>>) -> Response {
    cloud.stop.notify_waiters();
    axum::Json(json!({ "stopping": true })).into_response()
}

#[derive(Deserialize)]
struct SendBody {
    body: Value,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

/// `POST /v1/queues/{name}`: put a message on a durable queue.
async fn send(
    State(cloud): State<Arc<Cloud>>,
    axum::extract::Path(name): axum::extract::Path<String>,
    axum::Json(req): axum::Json<SendBody>,
) -> Response {
    if !crate::validate::service::is_name(&name, 63) {
        return bad(
            StatusCode::BAD_REQUEST,
            format!("`{name}` is not a queue name"),
        );
    }
    match cloud.send(&name, req.body, req.attributes) {
        Ok(id) => axum::Json(json!({ "id": id })).into_response(),
        Err(e) => bad(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `GET /v1/queues/{name}`: messages waiting and dead-lettered.
async fn queue_status(
    State(cloud): State<Arc<Cloud>>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    let count = |d: PathBuf| {
        std::fs::read_dir(d)
            .map(|e| {
                e.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                    .count()
            })
            .unwrap_or(0)
    };
    let dir = cloud.queue_dir(&name);
    axum::Json(
        json!({ "queue": name, "waiting": count(dir.clone()), "dead": count(dir.join("dead")) }),
    )
    .into_response()
}

/// `POST /v1/invoke`: a staged release's function, for checks and `nubo invoke`.
async fn invoke(
    State(cloud): State<Arc<Cloud>>,
    axum::Json(req): axum::Json<InvokeRequest>,
) -> Response {
    let snap = cloud.snapshot();
    let Some(pool) = snap
        .releases
        .get(&req.release)
        .and_then(|r| r.functions.get(&req.function))
    else {
        return axum::Json(InvokeResponse {
            status: 404,
            body: format!(
                "no function `{}` in release `{}`",
                req.function, req.release
            ),
        })
        .into_response();
    };
    let style = pool.config.handler_style;
    let http = pool
        .config
        .events
        .iter()
        .any(|e| matches!(e, Event::Http(_)));
    let event = if http && req.event.is_object() {
        gateway::check_event(style, &req.event, &pool.config.events, &req.release)
    } else {
        req.event.clone()
    };
    let outcome = pool
        .invoke(&req.release, &event, worker::request_id())
        .await;
    let r = match outcome {
        Ok(result) if http => match gateway::response(style, &result) {
            Ok(resp) => InvokeResponse {
                status: resp.status,
                body: String::from_utf8_lossy(&resp.body).into_owned(),
            },
            Err(why) => InvokeResponse {
                status: 502,
                body: why,
            },
        },
        Ok(result) => InvokeResponse {
            status: 200,
            body: result,
        },
        Err(f) => InvokeResponse {
            status: if matches!(f, Failure::Timeout(_)) {
                504
            } else {
                500
            },
            body: f.describe(),
        },
    };
    axum::Json(r).into_response()
}

#[derive(Deserialize)]
struct CallBody {
    function: String,
    #[serde(default)]
    payload: Value,
}

/// `POST /call` from a worker: `nubo.call` to a linked function of the same release.
async fn call(State(cloud): State<Arc<Cloud>>, headers: HeaderMap, body: Bytes) -> Response {
    let fail = |status: StatusCode, kind: &str, message: String| {
        (
            status,
            axum::Json(json!({ "errorMessage": message, "errorType": kind })),
        )
            .into_response()
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (release, caller) = (header("nubo-release"), header("nubo-caller"));
    // The token is the calling version's own: it proves who calls.
    let snap = cloud.snapshot();
    let caller_version = snap
        .releases
        .get(&release)
        .and_then(|v| v.functions.get(&caller))
        .map(|p| p.version.clone());
    let genuine = caller_version.is_some_and(|v| {
        cloud.authorized(
            &headers,
            &worker::caller_token(&cloud.call_token, &caller, &v),
        )
    });
    if !genuine {
        return fail(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "missing or wrong call token".to_owned(),
        );
    }
    let req: CallBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return fail(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("bad call body: {e}"),
            );
        }
    };
    let Some(view) = snap.releases.get(&release) else {
        return fail(
            StatusCode::NOT_FOUND,
            "NoSuchRelease",
            format!("release `{release}` is not staged"),
        );
    };
    let Some(caller_pool) = view.functions.get(&caller) else {
        return fail(
            StatusCode::FORBIDDEN,
            "NotAllowed",
            format!("`{caller}` is not a function of release `{release}`"),
        );
    };
    if !caller_pool.config.calls.contains(&req.function) {
        return fail(
            StatusCode::FORBIDDEN,
            "NotAllowed",
            format!(
                "`{caller}` may not call `{}`: add it to `calls:` of `{caller}`",
                req.function
            ),
        );
    }
    let Some(pool) = view.functions.get(&req.function) else {
        return fail(
            StatusCode::NOT_FOUND,
            "NoSuchFunction",
            format!("no function `{}` in release `{release}`", req.function),
        );
    };
    match pool
        .invoke(&release, &req.payload, worker::request_id())
        .await
    {
        Ok(result) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            result,
        )
            .into_response(),
        Err(f) => {
            let status = if matches!(f, Failure::Timeout(_)) {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            };
            fail(
                status,
                f.kind(),
                format!("`{}`: {}", req.function, f.describe()),
            )
        }
    }
}

/// The gateway: the live release's HTTP routes.
async fn serve_http(
    State(cloud): State<Arc<Cloud>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let snap = cloud.snapshot();
    let Some(live) = &snap.live else {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "nothing is deployed on this local cloud yet\n",
            None,
        );
    };
    let release = match &live.canary {
        Some((c, w)) if pick(*w) => c,
        _ => &live.primary,
    };
    let Some(view) = snap.releases.get(release) else {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the live release is not staged\n",
            Some(release),
        );
    };
    let path = uri.path();
    let (route, params) = match view.routes.find(method.as_str(), path) {
        Match::Found(r, p) => (r, p),
        Match::WrongMethod => {
            return plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed\n",
                Some(release),
            );
        }
        Match::None => return plain(StatusCode::NOT_FOUND, "no route\n", Some(release)),
    };
    let Some(pool) = view.functions.get(&route.function) else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "route without function\n",
            Some(release),
        );
    };
    let header_map: BTreeMap<String, String> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let style = pool.config.handler_style;
    let event = gateway::event(
        style,
        &gateway::Request {
            method: method.as_str(),
            path,
            query: uri.query().unwrap_or(""),
            headers: header_map,
            body: &body,
        },
        route,
        &params,
        release,
    );
    match pool.invoke(release, &event, worker::request_id()).await {
        Ok(result) => match gateway::response(style, &result) {
            Ok(r) => {
                let mut resp = Response::new(Body::from(r.body));
                *resp.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
                for (k, v) in r.headers {
                    if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
                        resp.headers_mut().append(k, v);
                    }
                }
                add_release(&mut resp, release);
                resp
            }
            Err(why) => plain(
                StatusCode::BAD_GATEWAY,
                &format!("invalid response from `{}`: {why}\n", route.function),
                Some(release),
            ),
        },
        Err(f) => {
            let status = if matches!(f, Failure::Timeout(_)) {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            };
            plain(
                status,
                &format!("`{}` failed: {}\n", route.function, f.describe()),
                Some(release),
            )
        }
    }
}

/// True with probability `percent`/100.
fn pick(percent: u8) -> bool {
    let mut b = [0u8; 1];
    let _ = getrandom::fill(&mut b);
    (u16::from(b[0]) * 100 / 256) < u16::from(percent)
}

fn add_release(resp: &mut Response, release: &str) {
    if let Ok(v) = HeaderValue::from_str(release) {
        resp.headers_mut().insert("nubo-release", v);
    }
}

fn plain(status: StatusCode, text: &str, release: Option<&str>) -> Response {
    let mut resp = (
        status,
        [("content-type", "text/plain; charset=utf-8")],
        text.to_owned(),
    )
        .into_response();
    if let Some(r) = release {
        add_release(&mut resp, r);
    }
    resp
}
