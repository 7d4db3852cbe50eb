//! Warm worker processes speaking the AWS Lambda Runtime API.
//!
//! Each worker is one process (node, python3, or a `provided` bootstrap)
//! with its own runtime API listener on 127.0.0.1, so the daemon always knows
//! which process holds which invocation: when a process dies, its invocation
//! fails at once with the reason; when an invocation outlives the function's
//! timeout, or the process its memory, the process is killed. A pool per
//! function version grows on demand up to its concurrency and reaps workers
//! idle for five minutes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex, Semaphore, mpsc, oneshot};

use super::VersionConfig;
use crate::manifest::Language;

/// Invocations in flight per function version at most.
pub const CONCURRENCY: usize = 16;
/// A worker idle this long is stopped.
pub const IDLE: Duration = Duration::from_secs(300);

/// What the daemon's workers need to know about the daemon.
#[derive(Clone)]
pub struct Env {
    /// Directory with `bootstrap.js`, `bootstrap.py`, `node/nubo`, `python/nubo.py`.
    pub runtime_dir: PathBuf,
    pub call_url: String,
    /// The secret each version's call token is derived from.
    pub call_token: String,
    pub logs_dir: PathBuf,
}

/// How an invocation ended, short of a result.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The handler threw: its error type and message.
    Handler {
        error_type: String,
        message: String,
    },
    /// The process could not load the handler.
    Init(String),
    /// The process died during the invocation.
    Crashed(String),
    /// The process died before taking the invocation: safe to try another.
    Undelivered(String),
    Timeout(Duration),
}

impl Failure {
    pub fn describe(&self) -> String {
        match self {
            Failure::Handler {
                error_type,
                message,
            } => format!("{error_type}: {message}"),
            Failure::Init(m) => format!("the handler could not be loaded: {m}"),
            Failure::Crashed(m) | Failure::Undelivered(m) => m.clone(),
            Failure::Timeout(d) => format!("timed out after {}", crate::manifest::Duration(*d)),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Handler { .. } => "HandlerError",
            Failure::Init(_) => "InitError",
            Failure::Crashed(_) | Failure::Undelivered(_) => "WorkerCrashed",
            Failure::Timeout(_) => "Timeout",
        }
    }
}

pub type Outcome = Result<String, Failure>;

struct Job {
    request_id: String,
    release: String,
    event: String,
    deadline_ms: u64,
    reply: oneshot::Sender<Outcome>,
}

struct Current {
    request_id: String,
    reply: oneshot::Sender<Outcome>,
}

pub struct Worker {
    tx: mpsc::Sender<Job>,
    rx: Mutex<mpsc::Receiver<Job>>,
    current: Mutex<Option<Current>>,
    /// The request id and release being served, for log lines.
    serving: std::sync::Mutex<Option<(String, String)>>,
    dead: AtomicBool,
    /// Set when the process is gone, so a pending `next` returns.
    died: tokio::sync::watch::Sender<bool>,
    memory_exceeded: AtomicBool,
    kill: std::sync::Mutex<Option<oneshot::Sender<()>>>,
    last_used: std::sync::Mutex<Instant>,
    function: String,
    version: String,
}

impl Worker {
    pub fn kill(&self) {
        if let Some(k) = self.kill.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = k.send(());
        }
    }

    fn alive(&self) -> bool {
        !self.dead.load(Ordering::SeqCst)
    }
}

/// The workers of one function version.
pub struct Pool {
    pub function: String,
    pub version: String,
    pub config: VersionConfig,
    pub task_root: PathBuf,
    env: Env,
    idle: std::sync::Mutex<Vec<Arc<Worker>>>,
    all: std::sync::Mutex<Vec<Arc<Worker>>>,
    slots: Semaphore,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The `nubo.call` token of one function version: it proves which function
/// is calling, so a function can only use its own `calls:`.
pub fn caller_token(secret: &str, function: &str, version: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [secret, function, version] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    crate::package::zip::hex(&h.finalize())
}

/// A fresh request id.
pub fn request_id() -> String {
    let n = NEXT_ID.fetch_add(1, Ordering::SeqCst);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (t >> 32) as u32,
        (t >> 16) as u16,
        n & 0xfff,
        (n >> 12) & 0xfff,
        t as u64 & 0xffff_ffff_ffff
    )
}

impl Pool {
    pub fn new(
        function: String,
        version: String,
        config: VersionConfig,
        task_root: PathBuf,
        env: Env,
    ) -> Pool {
        Pool {
            function,
            version,
            config,
            task_root,
            env,
            idle: std::sync::Mutex::new(Vec::new()),
            all: std::sync::Mutex::new(Vec::new()),
            slots: Semaphore::new(CONCURRENCY),
        }
    }

    /// Run one invocation of this version for `release`.
    pub async fn invoke(
        &self,
        release: &str,
        event: &serde_json::Value,
        request_id: String,
    ) -> Outcome {
        let timeout = Duration::from_millis(self.config.timeout_ms);
        let Ok(_slot) = self.slots.acquire().await else {
            return Err(Failure::Crashed("the pool is closed".to_owned()));
        };
        // A worker that dies before it takes the invocation (it was idle and
        // crashed, or failed at start) costs a retry on another, not an error.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.invoke_once(release, event, &request_id, timeout).await;
            match outcome {
                Err(Failure::Undelivered(_)) if attempt < 3 => continue,
                Err(Failure::Undelivered(why)) => return Err(Failure::Crashed(why)),
                other => return other,
            }
        }
    }

    async fn invoke_once(
        &self,
        release: &str,
        event: &serde_json::Value,
        request_id: &str,
        timeout: Duration,
    ) -> Outcome {
        let worker = match self.take_idle() {
            Some(w) => w,
            None => match self.spawn().await {
                Ok(w) => w,
                Err(e) => return Err(Failure::Init(e)),
            },
        };
        let (reply, rx) = oneshot::channel();
        let deadline_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
            + timeout.as_millis() as u64;
        let job = Job {
            request_id: request_id.to_owned(),
            release: release.to_owned(),
            event: event.to_string(),
            deadline_ms,
            reply,
        };
        if worker.tx.send(job).await.is_err() {
            return Err(Failure::Undelivered(
                "the worker exited before the invocation".to_owned(),
            ));
        }
        let outcome = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(Failure::Crashed(
                "the worker exited during the invocation".to_owned(),
            )),
            Err(_) => {
                worker.kill();
                Err(Failure::Timeout(timeout))
            }
        };
        if worker.alive() && !matches!(outcome, Err(Failure::Timeout(_)) | Err(Failure::Init(_))) {
            *worker.last_used.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(worker);
        }
        outcome
    }

    fn take_idle(&self) -> Option<Arc<Worker>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(w) = idle.pop() {
            if w.alive() {
                return Some(w);
            }
        }
        None
    }

    /// Workers alive now.
    pub fn workers(&self) -> usize {
        self.all
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|w| w.alive())
            .count()
    }

    /// Stop idle workers unused for [`IDLE`]; forget dead ones.
    pub fn reap(&self) {
        self.all
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|w| w.alive());
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|w| {
            let stale = w
                .last_used
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .elapsed()
                > IDLE;
            if stale || !w.alive() {
                w.kill();
                false
            } else {
                true
            }
        });
    }

    /// Stop every worker.
    pub fn shutdown(&self) {
        self.slots.close();
        for w in self.all.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            w.kill();
        }
    }

    async fn spawn(&self) -> Result<Arc<Worker>, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("could not open a runtime API port: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let (tx, rx) = mpsc::channel(1);
        let (kill_tx, kill_rx) = oneshot::channel();
        let worker = Arc::new(Worker {
            tx,
            rx: Mutex::new(rx),
            current: Mutex::new(None),
            serving: std::sync::Mutex::new(None),
            dead: AtomicBool::new(false),
            died: tokio::sync::watch::Sender::new(false),
            memory_exceeded: AtomicBool::new(false),
            kill: std::sync::Mutex::new(Some(kill_tx)),
            last_used: std::sync::Mutex::new(Instant::now()),
            function: self.function.clone(),
            version: self.version.clone(),
        });
        let api = runtime_api(worker.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener.tap_io(super::daemon::nodelay), api).await;
        });

        let mut cmd = self.command()?;
        cmd.env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"));
        let mut child = cmd.spawn().map_err(|e| {
            let program = match self.config.runtime.language() {
                Language::Node => "`node` (Node.js)",
                Language::Python => "`python3`",
                Language::Binary => "the `bootstrap` executable",
            };
            if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "could not start {program} for `{}`: it is not installed or not on PATH",
                    self.function
                )
            } else {
                format!("could not start {program} for `{}`: {e}", self.function)
            }
        })?;
        let pid = child.id().unwrap_or(0);
        let log = self.env.logs_dir.join(format!("{}.log", self.function));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            tokio::spawn(copy_log(stream, log.clone(), worker.clone()));
        }
        let memory = u64::from(self.config.memory) * 1024;
        tokio::spawn(watch_memory(pid, memory, worker.clone()));
        let w = worker.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                s = child.wait() => s,
                _ = kill_rx => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            w.dead.store(true, Ordering::SeqCst);
            w.died.send_replace(true);
            server.abort();
            let reason = if w.memory_exceeded.load(Ordering::SeqCst) {
                "the worker exceeded its memory limit and was stopped".to_owned()
            } else {
                match status {
                    Ok(s) => format!("the worker exited ({s}) during the invocation"),
                    Err(e) => format!("the worker failed: {e}"),
                }
            };
            if let Some(c) = w.current.lock().await.take() {
                let _ = c.reply.send(Err(Failure::Crashed(reason.clone())));
            }
            let mut rx = w.rx.lock().await;
            rx.close();
            while let Ok(job) = rx.try_recv() {
                let _ = job.reply.send(Err(Failure::Undelivered(
                    reason.replace("during the invocation", "before it took the invocation"),
                )));
            }
        });
        self.all
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(worker.clone());
        Ok(worker)
    }

    fn command(&self) -> Result<tokio::process::Command, String> {
        let root = &self.task_root;
        let mut cmd = match self.config.runtime.language() {
            Language::Node => {
                let mut c = tokio::process::Command::new("node");
                c.arg(self.env.runtime_dir.join("bootstrap.js"));
                c
            }
            Language::Python => {
                let mut c = tokio::process::Command::new("python3");
                c.arg(self.env.runtime_dir.join("bootstrap.py"));
                c
            }
            Language::Binary => {
                let dir = self.config.handler.rsplit_once('/').map_or("", |(d, _)| d);
                let candidates = [root.join(dir).join("bootstrap"), root.join("bootstrap")];
                let Some(b) = candidates.iter().find(|p| p.is_file()) else {
                    return Err("no `bootstrap` executable in the artifact".to_owned());
                };
                tokio::process::Command::new(b)
            }
        };
        cmd.current_dir(root)
            .env_clear()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let inherited = [
            "PATH",
            "HOME",
            "LANG",
            "LC_ALL",
            "TZ",
            "TMPDIR",
            "SYSTEMROOT",
        ];
        for key in inherited {
            #[allow(
                clippy::disallowed_methods,
                reason = "the worker inherits the basic process environment"
            )]
            if let Ok(v) = std::env::var(key) {
                cmd.env(key, v);
            }
        }
        let mut vars: BTreeMap<&str, String> = BTreeMap::new();
        vars.insert("_HANDLER", self.config.handler.clone());
        vars.insert("LAMBDA_TASK_ROOT", root.to_string_lossy().into_owned());
        vars.insert("AWS_LAMBDA_FUNCTION_NAME", self.function.clone());
        vars.insert("AWS_LAMBDA_FUNCTION_VERSION", self.version.clone());
        vars.insert(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            self.config.memory.to_string(),
        );
        vars.insert("AWS_REGION", "local".to_owned());
        vars.insert("AWS_DEFAULT_REGION", "local".to_owned());
        vars.insert(
            "NUBO_HANDLER_STYLE",
            match self.config.handler_style {
                crate::manifest::HandlerStyle::Neutral => "neutral",
                crate::manifest::HandlerStyle::Native => "native",
            }
            .to_owned(),
        );
        vars.insert("NUBO_CALL_URL", self.env.call_url.clone());
        vars.insert(
            "NUBO_CALL_TOKEN",
            caller_token(&self.env.call_token, &self.function, &self.version),
        );
        let node_path = self.env.runtime_dir.join("node");
        vars.insert(
            "NODE_PATH",
            format!(
                "{}:{}",
                node_path.display(),
                root.join("node_modules").display()
            ),
        );
        let py = self.env.runtime_dir.join("python");
        vars.insert(
            "PYTHONPATH",
            format!(
                "{}:{}:{}",
                py.display(),
                root.display(),
                root.join("vendor").display()
            ),
        );
        vars.insert("PYTHONUNBUFFERED", "1".to_owned());
        for (k, v) in &self.config.env {
            cmd.env(k, v);
        }
        for (k, v) in vars {
            cmd.env(k, v);
        }
        Ok(cmd)
    }
}

async fn copy_log(
    stream: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    path: PathBuf,
    worker: Arc<Worker>,
) {
    let mut lines = BufReader::new(stream).lines();
    let file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .await;
    let Ok(mut file) = file else { return };
    while let Ok(Some(line)) = lines.next_line().await {
        let (id, release) = worker
            .serving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| ("-".to_owned(), "-".to_owned()));
        let entry = format!(
            "{} {release} {} v{} {id} {line}\n",
            crate::state::now(),
            worker.function,
            worker.version
        );
        let _ = file.write_all(entry.as_bytes()).await;
    }
}

/// Poll the worker's resident memory; stop it past its limit.
async fn watch_memory(pid: u32, limit_kib: u64, worker: Arc<Worker>) {
    let status = format!("/proc/{pid}/status");
    while worker.alive() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Ok(text) = tokio::fs::read_to_string(&status).await else {
            return;
        };
        let rss = text
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if rss > limit_kib {
            worker.memory_exceeded.store(true, Ordering::SeqCst);
            worker.kill();
            return;
        }
    }
}

fn runtime_api(worker: Arc<Worker>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(worker)
}

async fn next(State(w): State<Arc<Worker>>) -> Response {
    let mut died = w.died.subscribe();
    let job = {
        let mut rx = w.rx.lock().await;
        tokio::select! {
            job = rx.recv() => job,
            _ = died.wait_for(|d| *d) => None,
        }
    };
    let Some(job) = job else {
        return (StatusCode::GONE, "the worker is stopping").into_response();
    };
    let mut headers = HeaderMap::new();
    let h = |v: &str| HeaderValue::from_str(v).unwrap_or_else(|_| HeaderValue::from_static("-"));
    headers.insert("lambda-runtime-aws-request-id", h(&job.request_id));
    headers.insert(
        "lambda-runtime-deadline-ms",
        h(&job.deadline_ms.to_string()),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        h(&format!(
            "arn:aws:lambda:local:000000000000:function:{}:{}",
            w.function, job.release
        )),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        h(&format!("Root=1-{}", job.request_id)),
    );
    headers.insert("nubo-release", h(&job.release));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    *w.serving.lock().unwrap_or_else(|e| e.into_inner()) =
        Some((job.request_id.clone(), job.release.clone()));
    *w.current.lock().await = Some(Current {
        request_id: job.request_id,
        reply: job.reply,
    });
    (StatusCode::OK, headers, job.event).into_response()
}

/// Hand the outcome of invocation `id` to its caller; 400 when the worker
/// answers for an invocation it does not hold.
async fn finish(w: &Worker, id: &str, outcome: Outcome) -> Response {
    let mut current = w.current.lock().await;
    if current.as_ref().is_none_or(|c| c.request_id != id) {
        return (StatusCode::BAD_REQUEST, "unknown request id").into_response();
    }
    *w.serving.lock().unwrap_or_else(|e| e.into_inner()) = None;
    if let Some(c) = current.take() {
        let _ = c.reply.send(outcome);
    }
    StatusCode::ACCEPTED.into_response()
}

async fn response(
    State(w): State<Arc<Worker>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Response {
    finish(&w, &id, Ok(String::from_utf8_lossy(&body).into_owned())).await
}

fn error_of(body: &[u8]) -> (String, String) {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    (
        v["errorType"].as_str().unwrap_or("Error").to_owned(),
        v["errorMessage"]
            .as_str()
            .unwrap_or("the handler failed")
            .to_owned(),
    )
}

async fn error(
    State(w): State<Arc<Worker>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Response {
    let (error_type, message) = error_of(&body);
    finish(
        &w,
        &id,
        Err(Failure::Handler {
            error_type,
            message,
        }),
    )
    .await
}

async fn init_error(State(w): State<Arc<Worker>>, body: Bytes) -> Response {
    let (error_type, message) = error_of(&body);
    let failure = Failure::Init(format!("{error_type}: {message}"));
    if let Some(c) = w.current.lock().await.take() {
        let _ = c.reply.send(Err(failure.clone()));
    }
    // The job may still be queued for a worker that never asked for it.
    if let Ok(mut rx) = w.rx.try_lock() {
        while let Ok(job) = rx.try_recv() {
            let _ = job.reply.send(Err(failure.clone()));
        }
    }
    w.kill();
    StatusCode::ACCEPTED.into_response()
}
