//! A spec-checked fake of the Google Cloud REST APIs a Google Cloud backend
//! for nubo talks to, served over plain HTTP on loopback.
//!
//! Include it from a test file with
//! `#[path = "support/gcp_fake.rs"] mod gcp_fake;`; it brings its own copy of
//! the discovery-document validator (`gcp_fake::gcp_discovery`), so a test
//! crate that also includes `support/gcp_discovery.rs` directly just gets a
//! second, independent copy.
//!
//! One server answers for every API, told apart by path, so a client pointed
//! at [`Fake::url`] instead of Google's hosts reaches all of them:
//!
//! | path                                    | API                               |
//! |-----------------------------------------|-----------------------------------|
//! | `/v2/entries:…`                         | Cloud Logging v2 (`logging.v2.json`) |
//! | `/v2/…`, `/upload/v2/…`                 | Cloud Run Admin v2 (`run.v2.json`) |
//! | `/storage/v1/…`, `/upload/storage/v1/…` | Cloud Storage JSON v1 (`storage.v1.json`) |
//! | `/v1/projects/…:generateIdToken`        | IAM Credentials v1 (`iamcredentials.v1.json`) |
//! | `/token`                                | OAuth 2.0 token endpoint (JWT bearer grant) |
//! | `/computeMetadata/v1/…/identity`        | the metadata server's identity tokens |
//! | any path with `Host: *.run.app`         | Cloud Run's serving side: runs the revision (`gcp_front.rs`) |
//!
//! What makes it more than a mock:
//!
//! - **Every request is checked** against the discovery documents
//!   (`../shared/specs/gcp`) with [`gcp_discovery::Api::validate_request`]:
//!   a wrong path, an unknown query parameter or JSON field, a bad enum or
//!   format answers 400 `INVALID_ARGUMENT` and is recorded in
//!   [`Fake::violations`]. So is every request to a method the fake does not
//!   implement (501), so that a test cannot pass by accident.
//! - **Every JSON answer is checked** too ([`gcp_discovery::Api::validate_response`],
//!   and the `Service`/`Revision` inside a long-running operation against
//!   their schemas): the fake proves its answers are documented shapes, and
//!   a mistake in it shows up in [`Fake::violations`] as well.
//! - **Auth is real enough**: API calls need a bearer token from `/token`,
//!   which takes the JWT-bearer grant that `gcp_auth` sends for a
//!   service-account key ([`Fake::service_account_key`] writes one whose
//!   `token_uri` points here). [`Fake::expire_tokens`] revokes them all.
//! - **State behaves like the services**: Cloud Storage generations and
//!   preconditions, Cloud Run long-running operations, revisions, traffic
//!   and etags, log entries with paging. See the handlers for the details and
//!   limits.
//! - **Faults on demand**: [`Fake::fail_next`] answers 429/503/… with
//!   `Retry-After`; [`Fake::set_operation_delay`] sets how long operations
//!   take.
//!
//! Documented limits: resumable uploads, `fields` partial responses, Cloud
//! Run's `uploadSource`, jobs, workers and operations.list/delete are not
//! implemented (they answer 501 and record a violation); Logging filters
//! understand only `field op value` comparisons joined by `AND`.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

#[path = "gcp_front.rs"]
mod front;
#[path = "gcp_discovery.rs"]
pub mod gcp_discovery;
#[path = "ports.rs"]
mod ports;
#[path = "gcp_triggers.rs"]
mod triggers;
#[allow(unused_imports)]
pub use front::Served;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State as Shared};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use gcp_discovery::{Api, SchemaKind};
use regex::Regex;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The project of [`Fake::service_account_key`].
pub const PROJECT_ID: &str = "test-project";
/// The service account of [`Fake::service_account_key`].
pub const CLIENT_EMAIL: &str = "nubo-test@test-project.iam.gserviceaccount.com";
/// The method id [`Fake::calls`] and [`Fake::fail_next`] use for `/token`.
pub const TOKEN_METHOD: &str = "oauth2.token";

/// A 2048-bit RSA key (PKCS#8 PEM) made with `openssl genrsa 2048` for these
/// tests only; it protects nothing. `gcp_auth` signs its JWTs with it, and
/// the fake does not check the signatures.
pub const TEST_PRIVATE_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDi7xkdLlsQ700W
96eXCpB4ZAt0alpl8xK0bW4Y3CrmlnGlq5DEHlAM1K5jMMajKuVvO57XUrHTNG0M
xFjfeBEpm3ydgUX2H9DrXWLCgr0C5RB8IqQWvbOwN8x2eQ50o4RsHqeGm9KnZ9vp
1skzZQ22ri3UopasG9DQEinwC0u5AWP+kfTWC4uOvwPG7uME3e7cLZGX+JId4VlA
Zis5RKYSvmIMrXeU7oOTGUVUmXUluiF7VHY9JlhgUajE5pmPkON6tBLGfV875PIx
W0Mg14XcKAlHeXS6/MgJr4sHdPJy7Rj8xyHEyP8EQJLcLFSn7DANinL1mdFBQihl
+4P7ZY0HAgMBAAECggEASk8o1hlb0IvLnn2x7w+Shxmbdp9swn153oMGzjUqBx+0
Tx+C4/VZGRp7kBdktAFT57yKIs/9Ur+UBd41i9dxJ0K254xxMEryyl9l+3N8GPqR
D1T4jknIESf0V8cEKMVyk0TmbnmP3SlxJX0jnSS1/N/EOiCTXgAtvDR2bxgDz6w7
Ao4rObR5jbS+OTxXwgp82YZ5vGHOL8IsLqfCxi8R99cq+/hLiZTe1olTfI2BOzqC
XGJlDDYb95fpattXJItBBUGR13McQTxONjo4dOm/yFZ4ssk4kQNuwSj8A3PGhWkf
yOwZiR9XNu6uDjyYpKIPjTZG0jqmhuu+TzZObXlWYQKBgQD2T+6k8h1OlvDkS0vb
y49gPU9miowMK+yoV8J2VZhfUyBoiNUVQsoz2isQFW0aRjBsxQb5qEmn6lcuDt8O
xCLP6FxwMGJmyOR3NiXwHayvVha/4GAxsHGAOdgnun7lG2LPt094N4EsZfHhJZ1/
fTxR+xCK6MOqSJXJv0a71Pr3kwKBgQDr3AzXEr6HwwDMhxseh2RssaDopPpCQ6R6
4jLKuGttdbC9yLWCUP3k/Lvj9n0qbph6p3Qq9HLaAHQlEwUuIVbR3BTXrs+tVstt
EMVliWpvnyO9oCUadJIPHg1Xafmz6CA+2D7Na5UGOIFPT3VRT5ZicmmieSLGtUUx
C+fqIICVPQKBgQDCSusEUbesdoQukPaVukyura4kRMWUFFHpuNA8Z+h5ySiXTNhI
nRbDMCUn2r7lKtin9AM8i/MN8VwziKeLDkwnlDLWjFQSoAUXxC7I6Z9973qigGtg
xr3BV9+Z9xKBxsh68S5Otfm+++uAnhtOpYsfX9v8tv8hI4CEU82H/Mi64QKBgQC4
RB2f9dv28ulv4OnWCw7xQEEnIKUIGhKpkoj+CeCcDsN7MhBkdGQ3fyBHtC4LdYYY
5TSDzqDgIlSbFmYIqTFMGXYLH17O3K1nUx/0+Mu30wu4PSJfrczilKb1sSzNWj++
+XDvSeqOhpy32qscUGJ8HUjcD2mU9s/MxrF0H9p1PQKBgFau5qqbtYUd5imxVc0n
J86hq8UQEsoCfWFy2bc7qXmpybhHzsr5x3yzJTfq7OR7V6FHb4P4f3sRfoKtf7va
Ewhky6rfzFm0H1VImQY1/wUgv8f91Lo0AKkYowGHWQNP3KhkHXHzUxw2tg9e6qnY
jJNr0i3upFLAWvIvQsOU7DPg
-----END PRIVATE KEY-----
";

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// The largest request body the fake reads (Cloud Run's upload limit).
const MAX_BODY: usize = 256 << 20;
const SERVICE_TYPE: &str = "type.googleapis.com/google.cloud.run.v2.Service";
const REVISION_TYPE: &str = "type.googleapis.com/google.cloud.run.v2.Revision";
const LATEST: &str = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST";
const BY_REVISION: &str = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION";
/// Cloud Storage generations start here (they are microsecond timestamps on
/// the real service) and grow by one with every write.
const FIRST_GENERATION: i64 = 1_700_000_000_000_000;

/// The discovery documents the fake serves, loaded once per test binary.
pub struct Apis {
    pub run: Api,
    pub storage: Api,
    pub logging: Api,
    pub iamcredentials: Api,
    pub pubsub: Api,
    pub scheduler: Api,
    pub eventarc: Api,
}

pub static APIS: LazyLock<Apis> = LazyLock::new(|| {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/specs/gcp");
    let load = |file: &str| {
        let path = dir.join(file);
        assert!(
            path.is_file(),
            "the fake Google Cloud needs the discovery document {}",
            path.display()
        );
        Api::load(path)
    };
    // The triggers' documents, from the same source (tests/specs/gcp/SOURCES.md).
    let ours = |file: &str| {
        Api::load(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/specs/gcp")
                .join(file),
        )
    };
    Apis {
        run: load("run.v2.json"),
        storage: load("storage.v1.json"),
        logging: load("logging.v2.json"),
        iamcredentials: load("iamcredentials.v1.json"),
        pubsub: ours("pubsub.v1.json"),
        scheduler: ours("cloudscheduler.v1.json"),
        eventarc: ours("eventarc.v1.json"),
    }
});

/// Which API a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Run,
    Storage,
    Logging,
    IamCredentials,
    PubSub,
    Scheduler,
    Eventarc,
}

impl Which {
    fn for_path(path: &str) -> Option<Which> {
        if path.starts_with("/v2/entries") {
            Some(Which::Logging)
        } else if path.starts_with("/v1/projects/") {
            // Four APIs share the prefix; the collection tells them apart.
            if path.contains("/serviceAccounts/") {
                Some(Which::IamCredentials)
            } else if path.contains("/topics/") || path.contains("/subscriptions/") {
                Some(Which::PubSub)
            } else if path.contains("/jobs") {
                Some(Which::Scheduler)
            } else if path.contains("/triggers") || path.contains("/operations/") {
                Some(Which::Eventarc)
            } else {
                None
            }
        } else if path.starts_with("/v2/") || path.starts_with("/upload/v2/") {
            Some(Which::Run)
        } else if [
            "/storage/v1/",
            "/upload/storage/v1/",
            "/resumable/upload/storage/v1/",
        ]
        .iter()
        .any(|p| path.starts_with(p))
        {
            Some(Which::Storage)
        } else {
            None
        }
    }

    fn api(self) -> &'static Api {
        match self {
            Which::Run => &APIS.run,
            Which::Storage => &APIS.storage,
            Which::Logging => &APIS.logging,
            Which::IamCredentials => &APIS.iamcredentials,
            Which::PubSub => &APIS.pubsub,
            Which::Scheduler => &APIS.scheduler,
            Which::Eventarc => &APIS.eventarc,
        }
    }
}

/// The running fake; dropping it stops the server.
pub struct Fake {
    url: String,
    shared: Arc<Mutex<State>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Fake {
    /// Starts the server on `127.0.0.1` with a free port, on its own thread
    /// and tokio runtime. Panics if the discovery documents are missing.
    pub fn start() -> Fake {
        LazyLock::force(&APIS);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("make the listener non-blocking");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let shared = Arc::new(Mutex::new(State::new(url.clone())));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("gcp-fake".to_owned())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for the fake");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("hand the listener to tokio");
                    tokio::select! {
                        served = async { axum::serve(listener, app).await } => {
                            served.expect("the fake Google Cloud server failed");
                        }
                        _ = rx => {}
                    }
                });
            })
            .expect("spawn the fake's thread");
        Fake {
            url,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, the root of every API and of `/token`.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.shared)
    }

    /// Every request so far, in order: (method id, `HTTP-METHOD /path`). The
    /// method id is the discovery id (`storage.objects.get`), [`TOKEN_METHOD`]
    /// for `/token`, `?` for a path no API serves.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.lock().calls.clone()
    }

    /// Every violation so far, one message each, prefixed with the request
    /// (`POST /v2/...: ...`) or, for the fake's own answers, with
    /// `response of <method id> to ...`.
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// Makes every token issued so far invalid (as if they had expired).
    pub fn expire_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// Issues a valid access token directly, without the JWT round trip.
    pub fn issue_token(&self) -> String {
        self.lock().issue_token()
    }

    /// Answers the next `times` calls of `method_id` (e.g.
    /// `storage.objects.insert`, or [`TOKEN_METHOD`]) with `status` and a
    /// Google error body (429 `RESOURCE_EXHAUSTED`, 503 `UNAVAILABLE`, ...),
    /// with `Retry-After: <secs>` when given. Calls are still validated and
    /// authenticated first, as Google does.
    pub fn fail_next(
        &self,
        method_id: &str,
        status: u16,
        times: usize,
        retry_after_secs: Option<u64>,
    ) {
        self.lock().faults.push(Fault {
            method_id: method_id.to_owned(),
            status,
            remaining: times,
            retry_after: retry_after_secs,
        });
    }

    /// How long long-running operations started from now take to finish
    /// (100 ms by default).
    pub fn set_operation_delay(&self, delay: Duration) {
        self.lock().operation_delay = delay;
    }

    /// Writes a service-account key file for project [`PROJECT_ID`] whose
    /// `token_uri` is this fake's `/token`, for `GOOGLE_APPLICATION_CREDENTIALS`.
    pub fn service_account_key(&self, dir: &Path) -> PathBuf {
        let key = json!({
            "type": "service_account",
            "project_id": PROJECT_ID,
            "private_key_id": "0123456789abcdef0123456789abcdef01234567",
            "private_key": TEST_PRIVATE_KEY,
            "client_email": CLIENT_EMAIL,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": format!("{}/token", self.url),
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": format!(
                "https://www.googleapis.com/robot/v1/metadata/x509/{}",
                CLIENT_EMAIL.replace('@', "%40")
            ),
            "universe_domain": "googleapis.com",
        });
        let path = dir.join("gcp-service-account.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&key).expect("JSON"))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    /// The Cloud Run service as `services.get` would answer, by full name
    /// (`projects/p/locations/l/services/s`) or by service id alone.
    pub fn service(&self, name: &str) -> Option<Value> {
        let mut st = self.lock();
        st.settle();
        st.find_service(name).map(|s| s.resource.clone())
    }

    /// The revisions of a Cloud Run service (full name or id), newest first.
    pub fn revisions(&self, service: &str) -> Vec<Value> {
        let mut st = self.lock();
        st.settle();
        st.find_service(service)
            .map(|s| s.revisions.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// The content of a Cloud Storage object, if it exists.
    pub fn object(&self, bucket: &str, name: &str) -> Option<Vec<u8>> {
        let st = self.lock();
        st.buckets
            .get(bucket)
            .and_then(|b| b.objects.get(name))
            .map(|o| o.data.clone())
    }

    /// The metadata of a Cloud Storage object, as `objects.get` would answer.
    pub fn object_metadata(&self, bucket: &str, name: &str) -> Option<Value> {
        let st = self.lock();
        let o = st.buckets.get(bucket)?.objects.get(name)?;
        Some(object_json(&st.url, bucket, name, o))
    }

    /// Adds a log entry for `entries.list` to find. `log_name` is
    /// `projects/<p>/logs/<id>` (the project is what `resourceNames` select
    /// on); `payload` becomes `textPayload` if it is a string, `jsonPayload`
    /// if an object; `timestamp` is RFC 3339; `resource_labels` are the
    /// labels of a `cloud_run_revision` resource (`service_name`,
    /// `revision_name`, `location`, ...).
    pub fn add_log_entry(
        &self,
        log_name: &str,
        payload: Value,
        timestamp: &str,
        resource_labels: &[(&str, &str)],
    ) {
        let labels: Map<String, Value> = resource_labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect();
        let mut entry = json!({
            "logName": log_name,
            "resource": {"type": "cloud_run_revision", "labels": labels},
            "timestamp": timestamp,
            "receiveTimestamp": timestamp,
        });
        match payload {
            Value::String(s) => entry["textPayload"] = Value::String(s),
            Value::Object(o) => entry["jsonPayload"] = Value::Object(o),
            other => entry["textPayload"] = Value::String(other.to_string()),
        }
        self.add_raw_log_entry(entry);
    }

    /// Adds a `LogEntry` as given (an `insertId` is added when missing). It
    /// is not checked here; `entries.list` checks it when it serves it, so a
    /// malformed entry shows up in [`Fake::violations`].
    pub fn add_raw_log_entry(&self, mut entry: Value) {
        let mut st = self.lock();
        st.next_insert_id += 1;
        if entry.get("insertId").is_none() {
            entry["insertId"] = Value::from(format!("fake{:08}", st.next_insert_id));
        }
        st.log_entries.push(entry);
    }
}

/// Of [`Fake::calls`], the ones that change something (not reads, not
/// token requests, not paths no API serves), as `method id  METHOD /path`.
pub fn writes(calls: &[(String, String)]) -> Vec<String> {
    calls
        .iter()
        .filter(|(id, what)| {
            !what.starts_with("GET ")
                && id != TOKEN_METHOD
                && !id.ends_with("generateIdToken")
                && id != "?"
        })
        .map(|(id, what)| format!("{id} {what}"))
        .collect()
}

impl Drop for Fake {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Fault {
    method_id: String,
    status: u16,
    remaining: usize,
    retry_after: Option<u64>,
}

struct State {
    url: String,
    /// Issued access tokens and when they expire.
    tokens: HashMap<String, Instant>,
    calls: Vec<(String, String)>,
    violations: Vec<String>,
    faults: Vec<Fault>,
    operation_delay: Duration,
    buckets: BTreeMap<String, Bucket>,
    next_generation: i64,
    services: BTreeMap<String, RunService>,
    operations: BTreeMap<String, Operation>,
    log_entries: Vec<Value>,
    next_insert_id: u64,
    /// Cloud Run's serving side (`gcp_front.rs`): a process per revision
    /// reached, Secret Manager values, identity tokens (token → audience,
    /// expiry), and what was served.
    runners: HashMap<String, front::RunnerCell>,
    secrets: HashMap<String, String>,
    id_tokens: HashMap<String, (String, Instant)>,
    served: Vec<front::Served>,
    /// Pub/Sub, Cloud Scheduler and Eventarc (`gcp_triggers.rs`), and the
    /// deliveries the last request queued.
    topics: BTreeMap<String, triggers::Topic>,
    subscriptions: BTreeMap<String, Value>,
    jobs: BTreeMap<String, Value>,
    triggers: BTreeMap<String, Value>,
    eventarc_ops: BTreeMap<String, Value>,
    pending: Vec<triggers::Delivery>,
}

struct Bucket {
    resource: Value,
    objects: BTreeMap<String, StoredObject>,
}

#[derive(Clone)]
struct StoredObject {
    data: Vec<u8>,
    generation: i64,
    metageneration: i64,
    /// The writable metadata given at upload (`contentType`, `metadata`, ...).
    metadata: Map<String, Value>,
    time_created: String,
    updated: String,
}

#[derive(Clone)]
struct RunService {
    /// The `Service` as `services.get` answers it.
    resource: Value,
    /// Revisions in creation order.
    revisions: Vec<Value>,
    revision_seq: u32,
    iam_policy: Value,
    /// Each revision's build: (`sourceLocation`, `baseImage`).
    sources: BTreeMap<String, (String, String)>,
}

struct Operation {
    name: String,
    ready_at: Instant,
    done: bool,
    action: OpAction,
    metadata: Value,
    response: Option<Value>,
}

#[derive(Clone)]
enum OpAction {
    /// The service reaches `generation`.
    Reconcile {
        service: String,
        generation: i64,
    },
    DeleteService {
        service: String,
    },
    DeleteRevision {
        service: String,
        revision: String,
    },
}

impl Operation {
    fn json(&self) -> Value {
        let mut op = json!({
            "name": self.name,
            "metadata": self.metadata,
            "done": self.done,
        });
        if let Some(response) = &self.response {
            op["response"] = response.clone();
        }
        op
    }
}

/// A Google API error answer.
#[derive(Debug)]
struct ApiError {
    code: u16,
    status: &'static str,
    /// Cloud Storage's `errors[].reason`.
    reason: &'static str,
    message: String,
}

impl ApiError {
    fn new(code: u16, message: impl Into<String>) -> ApiError {
        let (status, reason) = status_words(code);
        ApiError {
            code,
            status,
            reason,
            message: message.into(),
        }
    }
    fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(400, message)
    }
    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, message)
    }
    fn already_exists(message: impl Into<String>) -> ApiError {
        ApiError {
            status: "ALREADY_EXISTS",
            ..ApiError::new(409, message)
        }
    }
    fn aborted(message: impl Into<String>) -> ApiError {
        ApiError::new(409, message)
    }
    fn failed_precondition(message: impl Into<String>) -> ApiError {
        ApiError {
            status: "FAILED_PRECONDITION",
            reason: "failedPrecondition",
            ..ApiError::new(400, message)
        }
    }
    fn condition_not_met() -> ApiError {
        ApiError::new(
            412,
            "At least one of the pre-conditions you specified did not hold.",
        )
    }
}

/// The canonical status word and Cloud Storage reason of an HTTP status.
fn status_words(code: u16) -> (&'static str, &'static str) {
    match code {
        400 => ("INVALID_ARGUMENT", "invalid"),
        401 => ("UNAUTHENTICATED", "required"),
        403 => ("PERMISSION_DENIED", "forbidden"),
        404 => ("NOT_FOUND", "notFound"),
        409 => ("ABORTED", "conflict"),
        412 => ("FAILED_PRECONDITION", "conditionNotMet"),
        429 => ("RESOURCE_EXHAUSTED", "rateLimitExceeded"),
        499 => ("CANCELLED", "cancelled"),
        501 => ("UNIMPLEMENTED", "notImplemented"),
        502 => ("UNAVAILABLE", "badGateway"),
        503 => ("UNAVAILABLE", "backendError"),
        504 => ("DEADLINE_EXCEEDED", "deadlineExceeded"),
        _ if code >= 500 => ("INTERNAL", "backendError"),
        _ => ("UNKNOWN", "unknown"),
    }
}

/// What a handler answers.
enum Reply {
    /// 200 with a JSON body of the method's response schema.
    Json(Value),
    /// A status without a body (204 for storage deletes, 304).
    Status(u16),
    /// `alt=media` content.
    Media {
        data: Vec<u8>,
        content_type: String,
        headers: Vec<(&'static str, String)>,
    },
}

/// The parts of a request the handlers read.
struct Incoming {
    method: String,
    /// The raw (percent-encoded) path.
    path: String,
    /// Decoded query pairs, in order.
    query: Vec<(String, String)>,
    /// The query as it came.
    raw_query: String,
    headers: HeaderMap,
    body: Bytes,
    /// Path parameters under their declared names (`parent`, `bucket`, ...).
    params: BTreeMap<String, String>,
}

impl Incoming {
    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        self.query(name) == Some("true")
    }

    fn param(&self, name: &str) -> &str {
        self.params.get(name).map_or("", String::as_str)
    }

    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON (`{}` when empty; the validator has already checked
    /// that it parses).
    fn json(&self) -> Value {
        if self.body.is_empty() {
            return json!({});
        }
        serde_json::from_slice(&self.body).unwrap_or_else(|_| json!({}))
    }

    fn describe(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

async fn handle(Shared(shared): Shared<Arc<Mutex<State>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return plain(413, &format!("request body too large or unreadable: {e}")),
    };
    let mut req = Incoming {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parse_query(parts.uri.query().unwrap_or("")),
        raw_query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts.headers,
        body,
        params: BTreeMap::new(),
    };
    if req.path == "/token" {
        return lock(&shared).token(&req);
    }
    if req.path.starts_with("/computeMetadata/") {
        return front::metadata(&shared, &req);
    }
    let host = req
        .header(header::HOST)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let host = host.split(':').next().unwrap_or_default().to_owned();
    if host.ends_with(".run.app") {
        return front::serve(shared.clone(), req, host).await;
    }
    let Some(which) = Which::for_path(&req.path) else {
        let mut st = lock(&shared);
        st.calls.push(("?".to_owned(), req.describe()));
        let message = format!(
            "{}: no Google API the fake serves lives here (Cloud Run /v2/, Cloud Storage \
             /storage/v1/, Cloud Logging /v2/entries, IAM Credentials /v1/projects/, OAuth \
             /token, the metadata server /computeMetadata/, Cloud Run URLs by Host *.run.app)",
            req.describe()
        );
        st.violations.push(message.clone());
        return error_response(Which::Run, &ApiError::not_found(message));
    };
    let api = which.api();
    let body = (!req.body.is_empty()).then_some(&req.body[..]);
    let checked = api.validate_request(&req.method, &req.path, &req.query, body);
    let matched = api.match_request(&req.method, &req.path);
    let method_id = match (&checked, &matched) {
        (Ok(id), _) => id.clone(),
        (Err(_), Some((m, _))) => m.id.clone(),
        (Err(_), None) => "?".to_owned(),
    };
    if let Some((_, params)) = matched {
        req.params = params;
    }

    let outcome = {
        let mut st = lock(&shared);
        st.calls.push((method_id.clone(), req.describe()));
        if let Err(violations) = &checked {
            for v in violations {
                st.violations.push(format!("{}: {v}", req.describe()));
            }
        }
        if !st.authorized(&req.headers) {
            return unauthenticated();
        }
        if let Err(violations) = checked {
            return error_response(which, &ApiError::invalid(violations.join("; ")));
        }
        if let Some(response) = st.take_fault(which, &method_id) {
            return response;
        }
        if method_id == "run.projects.locations.operations.wait" {
            None
        } else {
            st.settle();
            Some(st.dispatch(&method_id, &req))
        }
    };
    let outcome = match outcome {
        Some(outcome) => outcome,
        None => wait_operation(&shared, &req).await,
    };
    let response = lock(&shared).respond(which, &method_id, &req, outcome);
    triggers::spawn_deliveries(&shared);
    response
}

/// `operations.wait`: polls the operation until it is done or the request's
/// `timeout` (default and maximum 60 s) passes, without holding the lock.
async fn wait_operation(shared: &Mutex<State>, req: &Incoming) -> Result<Reply, ApiError> {
    let name = req.param("name").to_owned();
    let timeout = req.json()["timeout"]
        .as_str()
        .and_then(parse_duration)
        .unwrap_or(Duration::from_secs(60))
        .min(Duration::from_secs(60));
    let deadline = Instant::now() + timeout;
    loop {
        let pause = {
            let mut st = lock(shared);
            st.settle();
            let Some(op) = st.operations.get(&name) else {
                return Err(ApiError::not_found(format!("Operation {name} not found.")));
            };
            let now = Instant::now();
            if op.done || now >= deadline {
                return Ok(Reply::Json(op.json()));
            }
            op.ready_at
                .min(deadline)
                .saturating_duration_since(now)
                .max(Duration::from_millis(1))
        };
        tokio::time::sleep(pause).await;
    }
}

impl State {
    fn new(url: String) -> State {
        State {
            url,
            tokens: HashMap::new(),
            calls: Vec::new(),
            violations: Vec::new(),
            faults: Vec::new(),
            operation_delay: Duration::from_millis(100),
            buckets: BTreeMap::new(),
            next_generation: FIRST_GENERATION,
            services: BTreeMap::new(),
            operations: BTreeMap::new(),
            log_entries: Vec::new(),
            next_insert_id: 0,
            runners: HashMap::new(),
            secrets: HashMap::new(),
            id_tokens: HashMap::new(),
            served: Vec::new(),
            topics: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            jobs: BTreeMap::new(),
            triggers: BTreeMap::new(),
            eventarc_ops: BTreeMap::new(),
            pending: Vec::new(),
        }
    }

    fn issue_token(&mut self) -> String {
        let token = format!("ya29.fake-{}", random_hex(24));
        self.tokens
            .insert(token.clone(), Instant::now() + TOKEN_LIFETIME);
        token
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|token| self.tokens.get(token.trim()))
            .is_some_and(|expiry| *expiry > Instant::now())
    }

    fn take_fault(&mut self, which: Which, method_id: &str) -> Option<Response> {
        let fault = self
            .faults
            .iter_mut()
            .find(|f| f.method_id == method_id && f.remaining > 0)?;
        fault.remaining -= 1;
        let (status, retry_after) = (fault.status, fault.retry_after);
        self.faults.retain(|f| f.remaining > 0);
        let message = match status {
            429 => "Quota exceeded (injected by the fake).".to_owned(),
            503 => "The service is currently unavailable (injected by the fake).".to_owned(),
            _ => format!("Injected failure {status} for {method_id}."),
        };
        let mut response = if method_id == TOKEN_METHOD {
            json_response(
                status,
                &json!({"error": "temporarily_unavailable", "error_description": message}),
            )
        } else {
            error_response(which, &ApiError::new(status, message))
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        Some(response)
    }

    /// The OAuth 2.0 token endpoint: a JWT-bearer grant for a service
    /// account. The signature is not verified; the JWT's shape and claims are.
    fn token(&mut self, req: &Incoming) -> Response {
        self.calls.push((TOKEN_METHOD.to_owned(), req.describe()));
        let refuse = |st: &mut State, code: u16, error: &str, why: String| {
            st.violations.push(format!("{}: {why}", req.describe()));
            json_response(code, &json!({"error": error, "error_description": why}))
        };
        if req.method != "POST" {
            return refuse(
                self,
                405,
                "invalid_request",
                "the token endpoint takes POST".into(),
            );
        }
        let form_type = req
            .header(header::CONTENT_TYPE)
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        if !form_type {
            return refuse(
                self,
                400,
                "invalid_request",
                "the token request must be application/x-www-form-urlencoded".into(),
            );
        }
        let form = parse_query(&String::from_utf8_lossy(&req.body));
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if field("grant_type") != Some(JWT_BEARER) {
            return refuse(
                self,
                400,
                "unsupported_grant_type",
                format!(
                    "grant_type must be {JWT_BEARER}, got {:?}",
                    field("grant_type")
                ),
            );
        }
        let token_uri = format!("{}/token", self.url);
        if let Err(why) = check_assertion(field("assertion").unwrap_or(""), &token_uri) {
            return refuse(self, 400, "invalid_grant", why);
        }
        if let Some(response) = self.take_fault(Which::Run, TOKEN_METHOD) {
            return response;
        }
        let token = self.issue_token();
        json_response(
            200,
            &json!({
                "access_token": token,
                "expires_in": TOKEN_LIFETIME.as_secs(),
                "token_type": "Bearer",
            }),
        )
    }

    fn dispatch(&mut self, method_id: &str, req: &Incoming) -> Result<Reply, ApiError> {
        match method_id {
            "storage.buckets.insert" => self.buckets_insert(req),
            "storage.buckets.get" => self.buckets_get(req),
            "storage.buckets.list" => Ok(self.buckets_list(req)),
            "storage.buckets.delete" => self.buckets_delete(req),
            "storage.objects.insert" => self.objects_insert(req),
            "storage.objects.get" => self.objects_get(req),
            "storage.objects.delete" => self.objects_delete(req),
            "storage.objects.list" => self.objects_list(req),
            "run.projects.locations.services.create" => self.services_create(req),
            "run.projects.locations.services.get" => self
                .service_at(req.param("name"))
                .map(|s| Reply::Json(s.resource.clone())),
            "run.projects.locations.services.list" => self.services_list(req),
            "run.projects.locations.services.patch" => self.services_patch(req),
            "run.projects.locations.services.delete" => self.services_delete(req),
            "run.projects.locations.services.getIamPolicy" => self
                .service_at(req.param("resource"))
                .map(|s| Reply::Json(s.iam_policy.clone())),
            "run.projects.locations.services.setIamPolicy" => self.services_set_iam_policy(req),
            "run.projects.locations.services.revisions.get" => self.revisions_get(req),
            "run.projects.locations.services.revisions.list" => self.revisions_list(req),
            "run.projects.locations.services.revisions.delete" => self.revisions_delete(req),
            "run.projects.locations.operations.get" => {
                let name = req.param("name");
                self.operations
                    .get(name)
                    .map(|op| Reply::Json(op.json()))
                    .ok_or_else(|| ApiError::not_found(format!("Operation {name} not found.")))
            }
            "logging.entries.list" => self.entries_list(req),
            "iamcredentials.projects.serviceAccounts.generateIdToken" => {
                self.generate_id_token(req)
            }
            "pubsub.projects.topics.create" => self.topics_create(req),
            "pubsub.projects.topics.get" => self.topics_get(req),
            "pubsub.projects.topics.delete" => self.topics_delete(req),
            "pubsub.projects.topics.publish" => self.topics_publish(req),
            "pubsub.projects.subscriptions.create" => self.subscriptions_create(req),
            "pubsub.projects.subscriptions.get" => self.subscriptions_get(req),
            "pubsub.projects.subscriptions.delete" => self.subscriptions_delete(req),
            "pubsub.projects.subscriptions.modifyPushConfig" => {
                self.subscriptions_modify_push_config(req)
            }
            "cloudscheduler.projects.locations.jobs.create" => self.jobs_create(req),
            "cloudscheduler.projects.locations.jobs.get" => self.jobs_get(req),
            "cloudscheduler.projects.locations.jobs.patch" => self.jobs_patch(req),
            "cloudscheduler.projects.locations.jobs.delete" => self.jobs_delete(req),
            "cloudscheduler.projects.locations.jobs.run" => self.jobs_run(req),
            "eventarc.projects.locations.triggers.create" => self.triggers_create(req),
            "eventarc.projects.locations.triggers.get" => self.triggers_get(req),
            "eventarc.projects.locations.triggers.patch" => self.triggers_patch(req),
            "eventarc.projects.locations.triggers.delete" => self.triggers_delete(req),
            "eventarc.projects.locations.operations.get" => self.eventarc_operation(req),
            other => {
                let message = format!("the fake does not implement {other}");
                self.violations
                    .push(format!("{}: {message}", req.describe()));
                Err(ApiError::new(501, message))
            }
        }
    }

    /// Turns a handler's outcome into the HTTP answer, checking JSON answers
    /// against the method's response schema first.
    fn respond(
        &mut self,
        which: Which,
        method_id: &str,
        req: &Incoming,
        outcome: Result<Reply, ApiError>,
    ) -> Response {
        match outcome {
            Err(e) => error_response(which, &e),
            Ok(Reply::Json(value)) => {
                let api = which.api();
                let mut problems = api
                    .validate_response(method_id, &value)
                    .err()
                    .unwrap_or_default();
                check_embedded(api, &value, &mut problems);
                for p in problems {
                    self.violations.push(format!(
                        "response of {method_id} to {}: {p}",
                        req.describe()
                    ));
                }
                json_response(200, &value)
            }
            Ok(Reply::Status(code)) => Response::builder()
                .status(code)
                .body(Body::empty())
                .expect("a valid response"),
            Ok(Reply::Media {
                data,
                content_type,
                headers,
            }) => {
                let mut builder = Response::builder()
                    .status(200)
                    .header(header::CONTENT_TYPE, content_type);
                for (name, value) in headers {
                    builder = builder.header(name, value);
                }
                builder.body(Body::from(data)).expect("a valid response")
            }
        }
    }

    // ----- Cloud Storage ------------------------------------------------

    fn next_generation(&mut self) -> i64 {
        self.next_generation += 1;
        self.next_generation
    }

    /// The bucket, created on first use (the fake has no bucket permissions).
    fn bucket_mut(&mut self, name: &str) -> &mut Bucket {
        let url = self.url.clone();
        self.buckets
            .entry(name.to_owned())
            .or_insert_with(|| new_bucket(&url, name, &Map::new()))
    }

    fn buckets_insert(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let body = req.json();
        let name = body["name"].as_str().unwrap_or("").to_owned();
        if !valid_bucket_name(&name) {
            return Err(ApiError::invalid(format!("Invalid bucket name: '{name}'")));
        }
        if self.buckets.contains_key(&name) {
            return Err(ApiError::new(
                409,
                "Your previous request to create the named bucket succeeded and you already own it.",
            ));
        }
        let bucket = new_bucket(&self.url, &name, body.as_object().unwrap_or(&Map::new()));
        let resource = bucket.resource.clone();
        self.buckets.insert(name, bucket);
        Ok(Reply::Json(resource))
    }

    fn buckets_get(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("bucket");
        self.buckets
            .get(name)
            .map(|b| Reply::Json(b.resource.clone()))
            .ok_or_else(|| ApiError::not_found("The specified bucket does not exist."))
    }

    fn buckets_list(&mut self, _req: &Incoming) -> Reply {
        let items: Vec<Value> = self.buckets.values().map(|b| b.resource.clone()).collect();
        let mut out = json!({"kind": "storage#buckets"});
        if !items.is_empty() {
            out["items"] = Value::Array(items);
        }
        Reply::Json(out)
    }

    fn buckets_delete(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("bucket");
        let bucket = self
            .buckets
            .get(name)
            .ok_or_else(|| ApiError::not_found("The specified bucket does not exist."))?;
        if !bucket.objects.is_empty() {
            return Err(ApiError::new(
                409,
                "The bucket you tried to delete is not empty.",
            ));
        }
        self.buckets.remove(name);
        Ok(Reply::Status(204))
    }

    fn objects_insert(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let bucket = req.param("bucket").to_owned();
        let header_type = req
            .header(header::CONTENT_TYPE)
            .unwrap_or("application/octet-stream")
            .to_owned();
        let (mut metadata, data) = match req.query("uploadType") {
            Some("media") => {
                let mut m = Map::new();
                m.insert("contentType".into(), Value::from(header_type));
                (m, req.body.to_vec())
            }
            Some("multipart") => self.multipart_upload(req, &header_type)?,
            Some(other) => {
                let message = format!("the fake does not implement uploadType={other}");
                self.violations
                    .push(format!("{}: {message}", req.describe()));
                return Err(ApiError::new(501, message));
            }
            // Metadata only: an empty object.
            None => (
                req.json().as_object().cloned().unwrap_or_default(),
                Vec::new(),
            ),
        };
        let name = match (
            req.query("name"),
            metadata.get("name").and_then(Value::as_str),
        ) {
            (Some(q), Some(m)) if q != m => {
                return Err(ApiError::invalid(format!(
                    "The object name in the query ({q}) and in the metadata ({m}) differ."
                )));
            }
            (Some(n), _) | (None, Some(n)) => n.to_owned(),
            (None, None) => return Err(ApiError::invalid("Required parameter: name")),
        };
        if name.is_empty() || name.len() > 1024 || name.contains(['\r', '\n']) {
            return Err(ApiError::invalid(format!("Invalid object name: {name:?}")));
        }
        for key in [
            "name",
            "bucket",
            "kind",
            "id",
            "generation",
            "metageneration",
            "size",
        ] {
            metadata.remove(key);
        }
        if let Some(encoding) = req.query("contentEncoding") {
            metadata.insert("contentEncoding".into(), Value::from(encoding));
        }
        if !metadata.contains_key("contentType") {
            metadata.insert(
                "contentType".into(),
                Value::from("application/octet-stream"),
            );
        }
        let existing = self.buckets.get(&bucket).and_then(|b| b.objects.get(&name));
        check_preconditions(existing, req, false)?;
        let generation = self.next_generation();
        let now = now_rfc3339();
        let object = StoredObject {
            data,
            generation,
            metageneration: 1,
            metadata,
            time_created: now.clone(),
            updated: now,
        };
        let answer = object_json(&self.url, &bucket, &name, &object);
        self.bucket_mut(&bucket).objects.insert(name, object);
        self.storage_event(&bucket, &answer, false);
        Ok(Reply::Json(answer))
    }

    /// A `multipart/related` upload: the object's JSON metadata, then its
    /// content. The metadata is checked against the `Object` schema.
    fn multipart_upload(
        &mut self,
        req: &Incoming,
        content_type: &str,
    ) -> Result<(Map<String, Value>, Vec<u8>), ApiError> {
        let parts = parse_multipart(content_type, &req.body).map_err(ApiError::invalid)?;
        let [(_, meta), (media_type, data)] =
            <[_; 2]>::try_from(parts).map_err(|parts: Vec<_>| {
                ApiError::invalid(format!(
                    "a multipart upload has two parts (metadata, media), got {}",
                    parts.len()
                ))
            })?;
        let meta: Value = serde_json::from_slice(&meta)
            .map_err(|e| ApiError::invalid(format!("the metadata part is not JSON: {e}")))?;
        let mut problems = Vec::new();
        APIS.storage.check_json(
            "Object",
            &meta,
            "metadata part",
            Some("storage.objects.insert"),
            &mut problems,
        );
        if !problems.is_empty() {
            for p in &problems {
                self.violations.push(format!("{}: {p}", req.describe()));
            }
            return Err(ApiError::invalid(problems.join("; ")));
        }
        let mut meta = meta.as_object().cloned().unwrap_or_default();
        if !meta.contains_key("contentType") {
            let media_type = media_type.unwrap_or_else(|| "application/octet-stream".into());
            meta.insert("contentType".into(), Value::from(media_type));
        }
        Ok((meta, data))
    }

    fn object_at(&self, req: &Incoming) -> Result<(String, String, &StoredObject), ApiError> {
        let (bucket, name) = (req.param("bucket"), req.param("object"));
        let object = self
            .buckets
            .get(bucket)
            .and_then(|b| b.objects.get(name))
            .ok_or_else(|| ApiError::not_found(format!("No such object: {bucket}/{name}")))?;
        if let Some(g) = req.query("generation")
            && g.parse::<i64>().ok() != Some(object.generation)
        {
            return Err(ApiError::not_found(format!(
                "No such object: {bucket}/{name}#{g}"
            )));
        }
        Ok((bucket.to_owned(), name.to_owned(), object))
    }

    fn objects_get(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let (bucket, name, object) = self.object_at(req)?;
        if let Err(e) = check_preconditions(Some(object), req, true) {
            return if e.code == 304 {
                Ok(Reply::Status(304))
            } else {
                Err(e)
            };
        }
        if req.query("alt") == Some("media") {
            let content_type = object
                .metadata
                .get("contentType")
                .and_then(Value::as_str)
                .unwrap_or("application/octet-stream")
                .to_owned();
            let mut headers = vec![
                ("x-goog-generation", object.generation.to_string()),
                ("x-goog-metageneration", object.metageneration.to_string()),
                (
                    "x-goog-stored-content-length",
                    object.data.len().to_string(),
                ),
                (
                    "x-goog-hash",
                    format!("crc32c={}", crc32c_base64(&object.data)),
                ),
            ];
            if let Some(encoding) = object
                .metadata
                .get("contentEncoding")
                .and_then(Value::as_str)
            {
                headers.push(("x-goog-stored-content-encoding", encoding.to_owned()));
            }
            return Ok(Reply::Media {
                data: object.data.clone(),
                content_type,
                headers,
            });
        }
        Ok(Reply::Json(object_json(&self.url, &bucket, &name, object)))
    }

    fn objects_delete(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let (bucket, name, object) = self.object_at(req)?;
        check_preconditions(Some(object), req, false)?;
        let gone = object_json(&self.url, &bucket, &name, object);
        if let Some(b) = self.buckets.get_mut(&bucket) {
            b.objects.remove(&name);
        }
        self.storage_event(&bucket, &gone, true);
        Ok(Reply::Status(204))
    }

    /// `objects.list`: names in lexicographic order, `prefix`, `delimiter`,
    /// `startOffset`/`endOffset`, and paging by `maxResults`/`pageToken`.
    fn objects_list(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        for unsupported in ["matchGlob", "filter"] {
            if req.query(unsupported).is_some() {
                let message = format!("the fake does not implement objects.list {unsupported}");
                self.violations
                    .push(format!("{}: {message}", req.describe()));
                return Err(ApiError::new(501, message));
            }
        }
        let bucket = req.param("bucket");
        let prefix = req.query("prefix").unwrap_or("");
        let delimiter = req.query("delimiter").filter(|d| !d.is_empty());
        let max = match req
            .query("maxResults")
            .and_then(|m| m.parse::<usize>().ok())
        {
            Some(0) | None => 1000,
            Some(n) => n.min(1000),
        };
        // The token names the last name or prefix returned: `name:<n>` or
        // `prefix:<p>`, which also covers every name under it.
        let after = match req.query("pageToken") {
            None => None,
            Some(token) => match decode_page_token(token)?.split_once(':') {
                Some(("name", n)) => Some((n.to_owned(), false)),
                Some(("prefix", p)) => Some((p.to_owned(), true)),
                _ => return Err(ApiError::invalid(format!("Invalid page token {token:?}"))),
            },
        };
        let start = req.query("startOffset").unwrap_or("");
        let end = req.query("endOffset").filter(|e| !e.is_empty());
        let objects = self.buckets.get(bucket).map(|b| &b.objects);
        let mut items = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut last = None;
        let mut more = false;
        for (name, object) in objects.into_iter().flatten() {
            if !name.starts_with(prefix)
                || name.as_str() < start
                || end.is_some_and(|e| name.as_str() >= e)
            {
                continue;
            }
            if let Some((after, is_prefix)) = &after
                && (name <= after || (*is_prefix && name.starts_with(after.as_str())))
            {
                continue;
            }
            let rolled = delimiter.and_then(|d| {
                name[prefix.len()..]
                    .find(d)
                    .map(|i| name[..prefix.len() + i + d.len()].to_owned())
            });
            if let Some(p) = &rolled
                && prefixes.last() == Some(p)
            {
                continue;
            }
            if items.len() + prefixes.len() == max {
                more = true;
                break;
            }
            match rolled {
                Some(p) => {
                    last = Some(format!("prefix:{p}"));
                    prefixes.push(p);
                }
                None => {
                    last = Some(format!("name:{name}"));
                    items.push(object_json(&self.url, bucket, name, object));
                }
            }
        }
        let mut out = json!({"kind": "storage#objects"});
        if !items.is_empty() {
            out["items"] = Value::Array(items);
        }
        if !prefixes.is_empty() {
            out["prefixes"] = json!(prefixes);
        }
        if more && let Some(last) = last {
            out["nextPageToken"] = Value::from(URL_SAFE_NO_PAD.encode(last));
        }
        Ok(Reply::Json(out))
    }

    // ----- Cloud Run --------------------------------------------------------

    /// Finishes every operation whose time has come, oldest first.
    fn settle(&mut self) {
        let now = Instant::now();
        let mut due: Vec<(Instant, String)> = self
            .operations
            .values()
            .filter(|op| !op.done && op.ready_at <= now)
            .map(|op| (op.ready_at, op.name.clone()))
            .collect();
        due.sort();
        for (_, name) in due {
            let (action, metadata) = {
                let op = &self.operations[&name];
                (op.action.clone(), op.metadata.clone())
            };
            let response = self.finish(action, metadata);
            if let Some(op) = self.operations.get_mut(&name) {
                op.done = true;
                op.response = Some(response);
            }
        }
    }

    fn finish(&mut self, action: OpAction, metadata: Value) -> Value {
        match action {
            OpAction::Reconcile {
                service,
                generation,
            } => match self.services.get_mut(&service) {
                Some(svc) => {
                    if int(&svc.resource["generation"]) == generation {
                        svc.reconcile();
                    }
                    typed(SERVICE_TYPE, &svc.resource)
                }
                None => metadata,
            },
            OpAction::DeleteService { service } => match self.services.remove(&service) {
                Some(mut svc) => {
                    let s = svc
                        .resource
                        .as_object_mut()
                        .expect("a service is an object");
                    s.insert("reconciling".into(), Value::Bool(false));
                    typed(SERVICE_TYPE, &svc.resource)
                }
                None => metadata,
            },
            OpAction::DeleteRevision { service, revision } => {
                let removed = self.services.get_mut(&service).and_then(|svc| {
                    let i = svc
                        .revisions
                        .iter()
                        .position(|r| short(r["name"].as_str().unwrap_or("")) == revision)?;
                    Some(svc.revisions.remove(i))
                });
                match removed {
                    Some(mut rev) => {
                        rev["deleteTime"] = Value::from(now_rfc3339());
                        typed(REVISION_TYPE, &rev)
                    }
                    None => metadata,
                }
            }
        }
    }

    fn start_operation(&mut self, parent: &str, action: OpAction, metadata: Value) -> Value {
        let location = location_of(parent);
        let name = format!("{location}/operations/{}", random_uuid());
        let op = Operation {
            name: name.clone(),
            ready_at: Instant::now() + self.operation_delay,
            done: false,
            action,
            metadata,
            response: None,
        };
        let answer = op.json();
        self.operations.insert(name, op);
        answer
    }

    fn find_service(&self, name: &str) -> Option<&RunService> {
        if name.starts_with("projects/") {
            return self.services.get(name);
        }
        let suffix = format!("/services/{name}");
        self.services
            .iter()
            .find(|(full, _)| full.ends_with(&suffix))
            .map(|(_, s)| s)
    }

    fn service_at(&self, name: &str) -> Result<&RunService, ApiError> {
        self.services
            .get(name)
            .ok_or_else(|| service_not_found(name))
    }

    fn services_create(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let parent = req.param("parent");
        let id = req
            .query("serviceId")
            .ok_or_else(|| ApiError::invalid("service_id is required"))?;
        check_service_id(id)?;
        let name = format!("{parent}/services/{id}");
        if self.services.contains_key(&name) {
            return Err(ApiError::already_exists(format!(
                "Resource '{id}' already exists."
            )));
        }
        let body = req.json();
        let staged = stage_service(&name, None, writable_fields(&body), false)?;
        Ok(self.commit_service(&name, staged, req.flag("validateOnly")))
    }

    fn services_patch(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("name").to_owned();
        let body = req.json();
        if let Some(given) = body["name"].as_str().filter(|n| !n.is_empty())
            && given != name
        {
            return Err(ApiError::invalid(format!(
                "service.name {given} does not match the name in the URL {name}"
            )));
        }
        let Some(existing) = self.services.get(&name) else {
            if !req.flag("allowMissing") {
                return Err(service_not_found(&name));
            }
            check_service_id(short(&name))?;
            let staged = stage_service(&name, None, writable_fields(&body), false)?;
            return Ok(self.commit_service(&name, staged, req.flag("validateOnly")));
        };
        if let Some(etag) = body["etag"].as_str().filter(|e| !e.is_empty())
            && Some(etag) != existing.resource["etag"].as_str()
        {
            return Err(ApiError::aborted(format!(
                "The etag {etag} does not match the current etag of {name}: the service \
                 changed since it was read."
            )));
        }
        let spec = match req
            .query("updateMask")
            .filter(|m| !m.is_empty() && *m != "*")
        {
            None => writable_fields(&body),
            Some(mask) => masked_fields(&existing.resource, &body, mask)?,
        };
        let staged = stage_service(&name, Some(existing), spec, req.flag("forceNewRevision"))?;
        Ok(self.commit_service(&name, staged, req.flag("validateOnly")))
    }

    /// Stores a staged service (unless only validating) and answers its
    /// operation.
    fn commit_service(&mut self, name: &str, staged: RunService, validate_only: bool) -> Reply {
        let metadata = typed(SERVICE_TYPE, &staged.resource);
        if validate_only {
            return Reply::Json(json!({
                "name": format!("{}/operations/{}", location_of(name), random_uuid()),
                "metadata": metadata,
                "done": true,
                "response": metadata,
            }));
        }
        let generation = int(&staged.resource["generation"]);
        self.services.insert(name.to_owned(), staged);
        Reply::Json(self.start_operation(
            name,
            OpAction::Reconcile {
                service: name.to_owned(),
                generation,
            },
            metadata,
        ))
    }

    fn services_list(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let parent = req.param("parent");
        let (project, location) = parent
            .strip_prefix("projects/")
            .and_then(|p| p.split_once("/locations/"))
            .unwrap_or(("", ""));
        let all: Vec<&Value> = self
            .services
            .values()
            .map(|s| &s.resource)
            .filter(|s| {
                let name = s["name"].as_str().unwrap_or("");
                let (p, l) = name
                    .strip_prefix("projects/")
                    .and_then(|n| n.split_once("/locations/"))
                    .map_or(("", ""), |(p, rest)| {
                        (p, rest.split('/').next().unwrap_or(""))
                    });
                p == project && (location == "-" || l == location)
            })
            .collect();
        let (page, next) = paginate(&all, req.query("pageSize"), req.query("pageToken"), 100)?;
        let mut out = json!({"services": page});
        if let Some(next) = next {
            out["nextPageToken"] = Value::from(next);
        }
        Ok(Reply::Json(out))
    }

    fn services_delete(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("name").to_owned();
        let svc = self.service_at(&name)?;
        if let Some(etag) = req.query("etag").filter(|e| !e.is_empty())
            && Some(etag) != svc.resource["etag"].as_str()
        {
            return Err(ApiError::aborted(format!(
                "The etag {etag} does not match the current etag of {name}."
            )));
        }
        if req.flag("validateOnly") {
            let snapshot = typed(SERVICE_TYPE, &svc.resource);
            return Ok(Reply::Json(json!({
                "name": format!("{}/operations/{}", location_of(&name), random_uuid()),
                "metadata": snapshot,
                "done": true,
                "response": snapshot,
            })));
        }
        let svc = self.services.get_mut(&name).expect("checked above");
        let now = now_rfc3339();
        let s = svc
            .resource
            .as_object_mut()
            .expect("a service is an object");
        s.insert("deleteTime".into(), Value::from(now.clone()));
        s.insert("updateTime".into(), Value::from(now));
        s.insert("reconciling".into(), Value::Bool(true));
        let metadata = typed(SERVICE_TYPE, &svc.resource);
        Ok(Reply::Json(self.start_operation(
            &name,
            OpAction::DeleteService {
                service: name.clone(),
            },
            metadata,
        )))
    }

    fn services_set_iam_policy(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("resource").to_owned();
        let body = req.json();
        let svc = self
            .services
            .get_mut(&name)
            .ok_or_else(|| service_not_found(&name))?;
        let mut policy = body["policy"].clone();
        if !policy.is_object() {
            return Err(ApiError::invalid("policy is required"));
        }
        if let Some(etag) = policy["etag"].as_str()
            && Some(etag) != svc.iam_policy["etag"].as_str()
        {
            return Err(ApiError::aborted(
                "There were concurrent policy changes. Please retry the whole \
                 read-modify-write with exponential backoff.",
            ));
        }
        policy["etag"] = Value::from(STANDARD.encode(random_bytes::<8>()));
        if policy.get("version").is_none() {
            policy["version"] = Value::from(1);
        }
        svc.iam_policy = policy.clone();
        Ok(Reply::Json(policy))
    }

    fn revisions_get(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("name");
        let service = parent_of(name);
        self.service_at(service)?
            .revisions
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| Reply::Json(r.clone()))
            .ok_or_else(|| revision_not_found(name))
    }

    fn revisions_list(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let svc = self.service_at(req.param("parent"))?;
        let newest_first: Vec<&Value> = svc.revisions.iter().rev().collect();
        let (page, next) = paginate(
            &newest_first,
            req.query("pageSize"),
            req.query("pageToken"),
            100,
        )?;
        let mut out = json!({"revisions": page});
        if let Some(next) = next {
            out["nextPageToken"] = Value::from(next);
        }
        Ok(Reply::Json(out))
    }

    fn revisions_delete(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("name").to_owned();
        let service = parent_of(&name).to_owned();
        let svc = self.service_at(&service)?;
        let revision = svc
            .revisions
            .iter()
            .find(|r| r["name"] == name.as_str())
            .ok_or_else(|| revision_not_found(&name))?;
        if let Some(etag) = req.query("etag").filter(|e| !e.is_empty())
            && Some(etag) != revision["etag"].as_str()
        {
            return Err(ApiError::aborted(format!(
                "The etag {etag} does not match the current etag of {name}."
            )));
        }
        let id = short(&name).to_owned();
        if svc.serves(&id) {
            return Err(ApiError::failed_precondition(format!(
                "Revision {id} is serving traffic (or is the target of a tag) and cannot be \
                 deleted; move its traffic and tags to another revision first."
            )));
        }
        let metadata = typed(REVISION_TYPE, revision);
        if req.flag("validateOnly") {
            return Ok(Reply::Json(json!({
                "name": format!("{}/operations/{}", location_of(&name), random_uuid()),
                "metadata": metadata,
                "done": true,
                "response": metadata,
            })));
        }
        Ok(Reply::Json(self.start_operation(
            &name,
            OpAction::DeleteRevision {
                service,
                revision: id,
            },
            metadata,
        )))
    }

    // ----- Cloud Logging ------------------------------------------------

    fn entries_list(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let body = req.json();
        let mut resources: Vec<String> = strings(&body["resourceNames"]);
        resources.extend(
            strings(&body["projectIds"])
                .iter()
                .map(|p| format!("projects/{p}")),
        );
        if resources.is_empty() {
            return Err(ApiError::invalid("resourceNames is required"));
        }
        let filter = body["filter"].as_str().unwrap_or("");
        let terms = parse_filter(filter);
        let descending = match body["orderBy"]
            .as_str()
            .map(|o| o.trim().to_ascii_lowercase())
        {
            None => false,
            Some(o) if o.is_empty() || o == "timestamp asc" || o == "timestamp" => false,
            Some(o) if o == "timestamp desc" => true,
            Some(o) => {
                return Err(ApiError::invalid(format!(
                    "orderBy must be \"timestamp asc\" or \"timestamp desc\", not {o:?}"
                )));
            }
        };
        let mut matching: Vec<&Value> = self
            .log_entries
            .iter()
            .filter(|e| {
                let log = e["logName"].as_str().unwrap_or("");
                resources
                    .iter()
                    .any(|r| log.starts_with(&format!("{r}/logs/")))
            })
            .filter(|e| terms.iter().all(|t| t.matches(e)))
            .collect();
        matching.sort_by_key(|e| parse_time(e["timestamp"].as_str().unwrap_or("")).unwrap_or(0));
        if descending {
            matching.reverse();
        }
        let page_size = body["pageSize"].as_i64().map(|n| n.to_string());
        let (page, next) = paginate(
            &matching,
            page_size.as_deref(),
            body["pageToken"].as_str(),
            50,
        )?;
        let mut out = json!({});
        if !page.is_empty() {
            out["entries"] = Value::Array(page);
        }
        if let Some(next) = next {
            out["nextPageToken"] = Value::from(next);
        }
        Ok(Reply::Json(out))
    }
}

// ----- Cloud Run helpers ----------------------------------------------------

/// The properties of `GoogleCloudRunV2Service` a client may set (not output
/// only), less `name` and `etag`, which the fake handles itself.
static SERVICE_WRITABLE: LazyLock<BTreeSet<String>> = LazyLock::new(|| {
    schema_properties(&APIS.run, "GoogleCloudRunV2Service")
        .into_iter()
        .filter(|(name, read_only)| !read_only && name != "name" && name != "etag")
        .map(|(name, _)| name)
        .collect()
});

/// Every property of `GoogleCloudRunV2Revision`: a revision copies the
/// fields of its template that it also has.
static REVISION_FIELDS: LazyLock<BTreeSet<String>> = LazyLock::new(|| {
    schema_properties(&APIS.run, "GoogleCloudRunV2Revision")
        .into_iter()
        .map(|(name, _)| name)
        .collect()
});

fn schema_properties(api: &Api, schema: &str) -> Vec<(String, bool)> {
    match &api.schemas[schema].kind {
        SchemaKind::Object { properties, .. } => properties
            .iter()
            .map(|(name, p)| (name.clone(), p.read_only))
            .collect(),
        _ => panic!("{schema} is not an object schema"),
    }
}

fn writable_fields(body: &Value) -> Map<String, Value> {
    body.as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| SERVICE_WRITABLE.contains(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The writable fields after applying `body` through an update mask
/// (`template,traffic`, `template.containers`, snake_case or camelCase).
fn masked_fields(
    current: &Value,
    body: &Value,
    mask: &str,
) -> Result<Map<String, Value>, ApiError> {
    let mut spec = writable_fields(current);
    for path in mask.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let segments: Vec<String> = path.split('.').map(camel_case).collect();
        if !SERVICE_WRITABLE.contains(&segments[0]) {
            return Err(ApiError::invalid(format!(
                "update_mask path {path:?} is not a field of Service that can be updated"
            )));
        }
        let mut source = Some(body);
        for s in &segments {
            source = source.and_then(|v| v.get(s.as_str()));
        }
        set_path(
            &mut spec,
            &segments,
            source.filter(|v| !v.is_null()).cloned(),
        );
    }
    Ok(spec)
}

fn set_path(target: &mut Map<String, Value>, segments: &[String], value: Option<Value>) {
    let (first, rest) = segments.split_first().expect("a mask path has a segment");
    if rest.is_empty() {
        match value {
            Some(v) => {
                target.insert(first.clone(), v);
            }
            None => {
                target.remove(first);
            }
        }
        return;
    }
    let child = target.entry(first.clone()).or_insert_with(|| json!({}));
    if !child.is_object() {
        *child = json!({});
    }
    set_path(
        child.as_object_mut().expect("just made an object"),
        rest,
        value,
    );
}

fn camel_case(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    let mut upper = false;
    for c in segment.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn check_service_id(id: &str) -> Result<(), ApiError> {
    static ID: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$").unwrap());
    if ID.is_match(id) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "service_id {id:?} is invalid: it must be 1-49 lowercase letters, digits and \
             hyphens, start with a letter and not end with a hyphen"
        )))
    }
}

fn service_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "Resource '{name}' of kind 'SERVICE' does not exist."
    ))
}

fn revision_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "Resource '{name}' of kind 'REVISION' does not exist."
    ))
}

/// Applies a new writable spec to a service (new or existing), making a
/// revision if the template or build changed, checking the traffic, and
/// bumping generation and etag if anything changed. Nothing is stored.
fn stage_service(
    name: &str,
    existing: Option<&RunService>,
    mut spec: Map<String, Value>,
    force_new_revision: bool,
) -> Result<RunService, ApiError> {
    let now = now_rfc3339();
    let id = short(name);
    if !spec.get("template").is_some_and(Value::is_object) {
        return Err(ApiError::invalid("service.template is required"));
    }
    let template = &spec["template"];
    let built = spec.get("buildConfig").is_some_and(|b| !b.is_null());
    let has_image = template["containers"].as_array().is_some_and(|c| {
        !c.is_empty()
            && c.iter()
                .all(|c| c["image"].as_str().is_some_and(|i| !i.is_empty()))
    });
    if !built && !has_image {
        return Err(ApiError::invalid(
            "service.template.containers must name an image (or the service needs a buildConfig)",
        ));
    }
    spec.entry("ingress")
        .or_insert_with(|| Value::from("INGRESS_TRAFFIC_ALL"));
    spec.entry("launchStage")
        .or_insert_with(|| Value::from("GA"));
    if spec
        .get("traffic")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        spec.insert("traffic".into(), json!([{"type": LATEST, "percent": 100}]));
    }

    let mut svc = existing
        .cloned()
        .unwrap_or_else(|| RunService::new(name, &now));
    let old_spec = existing.map(|s| writable_fields(&s.resource));
    let template_changed = old_spec.as_ref().is_none_or(|old| {
        old.get("template") != spec.get("template")
            || old.get("buildConfig") != spec.get("buildConfig")
    });
    if template_changed || force_new_revision {
        let wanted = spec["template"]["revision"]
            .as_str()
            .filter(|r| !r.is_empty());
        let revision = match wanted {
            Some(r) => {
                if !r.starts_with(&format!("{id}-")) {
                    return Err(ApiError::invalid(format!(
                        "template.revision {r:?} must start with the service name followed by \
                         a hyphen ({id}-)"
                    )));
                }
                if svc.revision(r).is_some() {
                    return Err(ApiError::already_exists(format!(
                        "Revision named '{r}' with different configuration already exists."
                    )));
                }
                r.to_owned()
            }
            None => format!("{id}-{:05}-{}", svc.revision_seq + 1, random_letters(3)),
        };
        svc.revision_seq += 1;
        let build = spec.get("buildConfig").cloned().unwrap_or_default();
        svc.sources.insert(
            revision.clone(),
            (
                build["sourceLocation"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                build["baseImage"].as_str().unwrap_or_default().to_owned(),
            ),
        );
        let rev = make_revision(name, &revision, &spec["template"], &now);
        svc.revisions.push(rev);
        svc.resource["latestCreatedRevision"] = Value::from(format!("{name}/revisions/{revision}"));
    }
    check_traffic(&spec["traffic"], &svc)?;

    let changed = template_changed || force_new_revision || old_spec.as_ref() != Some(&spec);
    let s = svc
        .resource
        .as_object_mut()
        .expect("a service is an object");
    for key in SERVICE_WRITABLE.iter() {
        s.remove(key);
    }
    s.extend(spec);
    if changed {
        let generation = int(&s["generation"]) + 1;
        s.insert("generation".into(), Value::from(generation.to_string()));
        s.insert("etag".into(), Value::from(new_etag()));
        s.insert("updateTime".into(), Value::from(now.clone()));
        s.insert("lastModifier".into(), Value::from(CLIENT_EMAIL));
        s.insert("reconciling".into(), Value::Bool(true));
        s.insert(
            "terminalCondition".into(),
            condition("Ready", "CONDITION_RECONCILING", &now),
        );
    }
    Ok(svc)
}

impl RunService {
    fn new(name: &str, now: &str) -> RunService {
        let (project, location) = project_location(name);
        let id = short(name);
        let host = service_host(id, project, location);
        let resource = json!({
            "name": name,
            "uid": random_uuid(),
            "generation": "0",
            "createTime": now,
            "updateTime": now,
            "creator": CLIENT_EMAIL,
            "lastModifier": CLIENT_EMAIL,
            "uri": format!("https://{host}"),
            "urls": [
                format!("https://{id}-{}.{location}.run.app", project_number(project)),
                format!("https://{host}"),
            ],
        });
        RunService {
            resource,
            revisions: Vec::new(),
            revision_seq: 0,
            iam_policy: json!({"version": 1, "etag": "ACAB"}),
            sources: BTreeMap::new(),
        }
    }

    fn revision(&self, id: &str) -> Option<&Value> {
        self.revisions
            .iter()
            .find(|r| short(r["name"].as_str().unwrap_or("")) == id)
    }

    /// Whether the revision receives traffic or carries a tag, by the spec
    /// or by what is being served now.
    fn serves(&self, id: &str) -> bool {
        let latest = |key: &str| self.resource[key].as_str().map(short).unwrap_or("");
        let targets = self.resource["traffic"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(
                self.resource["trafficStatuses"]
                    .as_array()
                    .into_iter()
                    .flatten(),
            );
        targets.into_iter().any(|t| {
            let tagged_or_served = t["percent"].as_i64().unwrap_or(0) > 0
                || t["tag"].as_str().is_some_and(|t| !t.is_empty());
            let target = match t["type"].as_str() {
                Some(LATEST) => {
                    id == latest("latestReadyRevision") || id == latest("latestCreatedRevision")
                }
                _ => t["revision"].as_str() == Some(id),
            };
            target && tagged_or_served
        })
    }

    /// What happens when the operation completes: the latest revision is
    /// ready and serves as the traffic spec says.
    fn reconcile(&mut self) {
        let now = now_rfc3339();
        let latest = self.resource["latestCreatedRevision"].clone();
        for rev in &mut self.revisions {
            if rev["name"] == latest && rev["reconciling"] == true {
                rev["reconciling"] = Value::Bool(false);
                rev["conditions"] = json!([
                    condition("Ready", "CONDITION_SUCCEEDED", &now),
                    condition("ContainerHealthy", "CONDITION_SUCCEEDED", &now),
                    condition("ResourcesAvailable", "CONDITION_SUCCEEDED", &now),
                ]);
            }
        }
        let host = self.resource["uri"]
            .as_str()
            .and_then(|u| u.strip_prefix("https://"))
            .unwrap_or("")
            .to_owned();
        let statuses: Vec<Value> = self.resource["traffic"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let mut status = Map::new();
                for key in ["type", "revision", "percent", "tag"] {
                    if let Some(v) = t.get(key).filter(|v| !v.is_null()) {
                        status.insert(key.into(), v.clone());
                    }
                }
                if let Some(tag) = t["tag"].as_str().filter(|t| !t.is_empty()) {
                    status.insert("uri".into(), Value::from(format!("https://{tag}---{host}")));
                }
                Value::Object(status)
            })
            .collect();
        let s = self
            .resource
            .as_object_mut()
            .expect("a service is an object");
        s.insert("observedGeneration".into(), s["generation"].clone());
        s.insert("latestReadyRevision".into(), latest);
        s.insert("reconciling".into(), Value::Bool(false));
        s.insert("trafficStatuses".into(), Value::Array(statuses));
        s.insert(
            "terminalCondition".into(),
            condition("Ready", "CONDITION_SUCCEEDED", &now),
        );
        s.insert(
            "conditions".into(),
            json!([
                condition("RoutesReady", "CONDITION_SUCCEEDED", &now),
                condition("ConfigurationsReady", "CONDITION_SUCCEEDED", &now),
            ]),
        );
    }
}

/// Checks traffic targets as Cloud Run does: every `REVISION` target names
/// an existing revision, `LATEST` targets name none, percents are 0-100 and
/// add up to exactly 100, tags are unique DNS labels.
fn check_traffic(traffic: &Value, svc: &RunService) -> Result<(), ApiError> {
    static TAG: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[a-z]([-a-z0-9]{0,44}[a-z0-9])?$").unwrap());
    let mut total = 0;
    let mut tags = BTreeSet::new();
    for (i, t) in traffic.as_array().into_iter().flatten().enumerate() {
        let revision = t["revision"].as_str().filter(|r| !r.is_empty());
        match (t["type"].as_str(), revision) {
            (Some(LATEST), None) => {}
            (Some(LATEST), Some(r)) => {
                return Err(ApiError::invalid(format!(
                    "traffic[{i}]: a TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST target names no \
                     revision, got {r:?}"
                )));
            }
            (Some(BY_REVISION) | None, Some(r)) => {
                if svc.revision(r).is_none() {
                    return Err(ApiError::invalid(format!(
                        "traffic[{i}]: Revision '{r}' does not exist in service {}",
                        svc.resource["name"].as_str().unwrap_or("")
                    )));
                }
            }
            (Some(BY_REVISION), None) => {
                return Err(ApiError::invalid(format!(
                    "traffic[{i}]: a TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION target needs a revision"
                )));
            }
            (other, _) => {
                return Err(ApiError::invalid(format!(
                    "traffic[{i}]: type {other:?} is not a traffic allocation type"
                )));
            }
        }
        let percent = t["percent"].as_i64().unwrap_or(0);
        if !(0..=100).contains(&percent) {
            return Err(ApiError::invalid(format!(
                "traffic[{i}]: percent {percent} is not between 0 and 100"
            )));
        }
        total += percent;
        if let Some(tag) = t["tag"].as_str().filter(|t| !t.is_empty()) {
            if !TAG.is_match(tag) {
                return Err(ApiError::invalid(format!(
                    "traffic[{i}]: tag {tag:?} must be lowercase letters, digits and hyphens, \
                     starting with a letter"
                )));
            }
            if !tags.insert(tag) {
                return Err(ApiError::invalid(format!(
                    "traffic[{i}]: tag {tag:?} is used twice"
                )));
            }
        }
    }
    if total != 100 {
        return Err(ApiError::invalid(format!(
            "traffic percents must add up to 100, they add up to {total}"
        )));
    }
    Ok(())
}

fn make_revision(service: &str, id: &str, template: &Value, now: &str) -> Value {
    let (project, location) = project_location(service);
    let mut rev: Map<String, Value> = template
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| REVISION_FIELDS.contains(k.as_str()) && k.as_str() != "revision")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    rev.entry("timeout").or_insert_with(|| Value::from("300s"));
    rev.entry("maxInstanceRequestConcurrency")
        .or_insert_with(|| Value::from(80));
    rev.entry("serviceAccount").or_insert_with(|| {
        Value::from(format!(
            "{}-compute@developer.gserviceaccount.com",
            project_number(project)
        ))
    });
    let fixed = json!({
        "name": format!("{service}/revisions/{id}"),
        "uid": random_uuid(),
        "generation": "1",
        "observedGeneration": "1",
        "createTime": now,
        "updateTime": now,
        "service": service,
        "etag": new_etag(),
        "launchStage": "GA",
        "logUri": format!(
            "https://console.cloud.google.com/logs/viewer?project={project}&resource=cloud_run_revision/service_name/{}/revision_name/{id}&location={location}",
            short(service)
        ),
        "reconciling": true,
        "conditions": [condition("Ready", "CONDITION_RECONCILING", now)],
    });
    rev.extend(fixed.as_object().expect("an object").clone());
    Value::Object(rev)
}

fn condition(kind: &str, state: &str, now: &str) -> Value {
    json!({"type": kind, "state": state, "lastTransitionTime": now})
}

/// `value` with `"@type"` first, as an `Any` in an operation.
fn typed(type_url: &str, value: &Value) -> Value {
    let mut out = Map::new();
    out.insert("@type".into(), Value::from(type_url));
    out.extend(value.as_object().cloned().unwrap_or_default());
    Value::Object(out)
}

/// Checks the `Service`/`Revision` an operation carries in `metadata` and
/// `response` against their schemas (the `Operation` schema types them `any`).
fn check_embedded(api: &Api, value: &Value, problems: &mut Vec<String>) {
    for field in ["metadata", "response"] {
        let Some(inner) = value.get(field).and_then(Value::as_object) else {
            continue;
        };
        let schema = match inner.get("@type").and_then(Value::as_str) {
            Some(SERVICE_TYPE) => "GoogleCloudRunV2Service",
            Some(REVISION_TYPE) => "GoogleCloudRunV2Revision",
            _ => continue,
        };
        let mut bare = inner.clone();
        bare.remove("@type");
        api.check_json(
            schema,
            &Value::Object(bare),
            &format!("response.{field}"),
            None,
            problems,
        );
    }
}

/// `projects/p/locations/l` of any name below a location.
fn location_of(name: &str) -> String {
    let (project, location) = project_location(name);
    format!("projects/{project}/locations/{location}")
}

fn project_location(name: &str) -> (&str, &str) {
    let mut parts = name.split('/');
    let mut project = "";
    let mut location = "";
    while let Some(p) = parts.next() {
        match p {
            "projects" => project = parts.next().unwrap_or(""),
            "locations" => location = parts.next().unwrap_or(""),
            _ => {}
        }
    }
    (project, location)
}

/// The last segment of a resource name.
fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// The resource name two segments up: a revision's service.
fn parent_of(name: &str) -> &str {
    name.rsplitn(3, '/').nth(2).unwrap_or("")
}

/// `{service}-{hash}-{region code}.a.run.app`, stable per project and region.
fn service_host(id: &str, project: &str, location: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let digest = Sha256::digest(format!("{project}/{location}").as_bytes());
    let hash: String = digest[..10]
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    let region: String = location
        .split('-')
        .filter_map(|part| part.chars().next())
        .filter(char::is_ascii_alphabetic)
        .collect();
    format!("{id}-{hash}-{region}.a.run.app")
}

/// A stable 12-digit project number.
fn project_number(project: &str) -> u64 {
    let digest = Sha256::digest(project.as_bytes());
    let mut n = [0u8; 8];
    n.copy_from_slice(&digest[..8]);
    100_000_000_000 + u64::from_be_bytes(n) % 900_000_000_000
}

fn new_etag() -> String {
    format!("\"{}\"", URL_SAFE_NO_PAD.encode(random_bytes::<12>()))
}

/// An int64 carried as a JSON string (or number).
fn int(v: &Value) -> i64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_i64())
        .unwrap_or(0)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// One page of `items` with an opaque offset token.
fn paginate(
    items: &[&Value],
    page_size: Option<&str>,
    token: Option<&str>,
    default_size: usize,
) -> Result<(Vec<Value>, Option<String>), ApiError> {
    let size = match page_size.and_then(|s| s.parse::<usize>().ok()) {
        Some(0) | None => default_size,
        Some(n) => n.min(1000),
    };
    let start = match token.filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => decode_page_token(t)?
            .strip_prefix("offset:")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| ApiError::invalid(format!("Invalid page token {t:?}")))?,
    };
    let end = (start + size).min(items.len());
    let page = items
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|v| (*v).clone())
        .collect();
    let next = (end < items.len()).then(|| URL_SAFE_NO_PAD.encode(format!("offset:{end}")));
    Ok((page, next))
}

fn decode_page_token(token: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::invalid(format!("Invalid page token {token:?}")))
}

// ----- Cloud Storage helpers ------------------------------------------------

fn valid_bucket_name(name: &str) -> bool {
    static NAME: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[a-z0-9][-a-z0-9_.]{1,61}[a-z0-9]$").unwrap());
    NAME.is_match(name) && !name.starts_with("goog")
}

fn new_bucket(url: &str, name: &str, given: &Map<String, Value>) -> Bucket {
    let now = now_rfc3339();
    let mut resource: Map<String, Value> = given
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "kind"
                    | "id"
                    | "selfLink"
                    | "projectNumber"
                    | "metageneration"
                    | "etag"
                    | "generation"
                    | "timeCreated"
                    | "updated"
            )
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let fixed = json!({
        "kind": "storage#bucket",
        "id": name,
        "name": name,
        "selfLink": format!("{url}/storage/v1/b/{name}"),
        "projectNumber": project_number(PROJECT_ID).to_string(),
        "metageneration": "1",
        "timeCreated": now,
        "updated": now,
        "etag": "CAE=",
    });
    resource.extend(fixed.as_object().expect("an object").clone());
    resource
        .entry("location")
        .or_insert_with(|| Value::from("US"));
    resource
        .entry("locationType")
        .or_insert_with(|| Value::from("multi-region"));
    resource
        .entry("storageClass")
        .or_insert_with(|| Value::from("STANDARD"));
    Bucket {
        resource: Value::Object(resource),
        objects: BTreeMap::new(),
    }
}

/// `ifGenerationMatch` (0: must not exist), `ifGenerationNotMatch`,
/// `ifMetagenerationMatch`, `ifMetagenerationNotMatch`. A failed "not
/// match" on a read is 304 Not Modified, as on the real service; the rest
/// are 412 `conditionNotMet`.
fn check_preconditions(
    object: Option<&StoredObject>,
    req: &Incoming,
    read: bool,
) -> Result<(), ApiError> {
    let number = |name: &str| req.query(name).and_then(|v| v.parse::<i64>().ok());
    let generation = object.map_or(0, |o| o.generation);
    if let Some(want) = number("ifGenerationMatch")
        && want != generation
    {
        return Err(ApiError::condition_not_met());
    }
    let not_modified = || {
        if read {
            ApiError::new(304, "Not Modified")
        } else {
            ApiError::condition_not_met()
        }
    };
    if let Some(not) = number("ifGenerationNotMatch")
        && not == generation
    {
        return Err(not_modified());
    }
    if let Some(want) = number("ifMetagenerationMatch")
        && object.is_none_or(|o| o.metageneration != want)
    {
        return Err(ApiError::condition_not_met());
    }
    if let Some(not) = number("ifMetagenerationNotMatch")
        && object.is_some_and(|o| o.metageneration == not)
    {
        return Err(not_modified());
    }
    Ok(())
}

fn object_json(url: &str, bucket: &str, name: &str, o: &StoredObject) -> Value {
    let encoded = percent_encode(name);
    let mut out = o.metadata.clone();
    let fixed = json!({
        "kind": "storage#object",
        "id": format!("{bucket}/{name}/{}", o.generation),
        "selfLink": format!("{url}/storage/v1/b/{bucket}/o/{encoded}"),
        "mediaLink": format!(
            "{url}/storage/v1/b/{bucket}/o/{encoded}?generation={}&alt=media",
            o.generation
        ),
        "name": name,
        "bucket": bucket,
        "generation": o.generation.to_string(),
        "metageneration": o.metageneration.to_string(),
        "storageClass": "STANDARD",
        "size": o.data.len().to_string(),
        "crc32c": crc32c_base64(&o.data),
        "etag": STANDARD.encode(format!("{}/{}", o.generation, o.metageneration)),
        "timeCreated": o.time_created,
        "updated": o.updated,
        "timeStorageClassUpdated": o.time_created,
        "timeFinalized": o.time_created,
    });
    out.extend(fixed.as_object().expect("an object").clone());
    Value::Object(out)
}

/// One part of a multipart body: its content type, if given, and content.
type Part = (Option<String>, Vec<u8>);

/// Splits a `multipart/related` body into its parts.
fn parse_multipart(content_type: &str, body: &[u8]) -> Result<Vec<Part>, String> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
        .filter(|b| !b.is_empty())
        .ok_or_else(|| {
            format!("a multipart upload needs a boundary in its Content-Type, got {content_type:?}")
        })?;
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut parts = Vec::new();
    let mut rest = match find(body, delimiter) {
        Some(i) => &body[i + delimiter.len()..],
        None => return Err("the multipart body has no boundary line".into()),
    };
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        let rest_after_line = rest
            .strip_prefix(b"\r\n")
            .ok_or("a boundary line must end with CRLF")?;
        let end = find(rest_after_line, delimiter).ok_or("the multipart body is not closed")?;
        let part = &rest_after_line[..end];
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let split = find(part, b"\r\n\r\n").ok_or("a multipart part has no header block")?;
        let headers = String::from_utf8_lossy(&part[..split]);
        let content_type = headers.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        });
        parts.push((content_type, part[split + 4..].to_vec()));
        rest = &rest_after_line[end + delimiter.len()..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// CRC-32C (Castagnoli) of `data`, big-endian and base64, as Cloud Storage
/// reports it.
fn crc32c_base64(data: &[u8]) -> String {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0x82F6_3B78 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for b in data {
        crc = TABLE[((crc ^ u32::from(*b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    STANDARD.encode((!crc).to_be_bytes())
}

// ----- Cloud Logging helpers ------------------------------------------------

/// One `field op value` comparison of a Logging filter.
struct Term {
    negated: bool,
    field: String,
    op: String,
    value: String,
}

/// The comparisons of a filter, all of which must hold. Boolean structure
/// other than `AND` (`OR`, parentheses) is not understood.
fn parse_filter(filter: &str) -> Vec<Term> {
    static TERM: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"(-|NOT\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*(>=|<=|!=|=|>|<|:)\s*("(?:[^"\\]|\\.)*"|[^\s()]+)"#,
        )
        .unwrap()
    });
    TERM.captures_iter(filter)
        .map(|c| {
            let raw = &c[4];
            let value = raw
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .map_or_else(
                    || raw.to_owned(),
                    |v| v.replace("\\\"", "\"").replace("\\\\", "\\"),
                );
            Term {
                negated: c.get(1).is_some(),
                field: c[2].to_owned(),
                op: c[3].to_owned(),
                value,
            }
        })
        .collect()
}

impl Term {
    fn matches(&self, entry: &Value) -> bool {
        let mut v = Some(entry);
        for segment in self.field.split('.') {
            v = v.and_then(|v| v.get(segment));
        }
        let actual = v.and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
            _ => None,
        });
        let result = match actual {
            None => self.op == "!=",
            Some(actual) => {
                let ordering = match self.field.as_str() {
                    "severity" => severity_rank(&actual).cmp(&severity_rank(&self.value)),
                    "timestamp" | "receiveTimestamp" => {
                        parse_time(&actual).cmp(&parse_time(&self.value))
                    }
                    _ => actual.cmp(&self.value),
                };
                match self.op.as_str() {
                    "=" => ordering.is_eq(),
                    "!=" => ordering.is_ne(),
                    ">" => ordering.is_gt(),
                    ">=" => ordering.is_ge(),
                    "<" => ordering.is_lt(),
                    "<=" => ordering.is_le(),
                    _ => actual.contains(&self.value),
                }
            }
        };
        result != self.negated
    }
}

fn severity_rank(s: &str) -> usize {
    const LEVELS: [&str; 9] = [
        "DEFAULT",
        "DEBUG",
        "INFO",
        "NOTICE",
        "WARNING",
        "ERROR",
        "CRITICAL",
        "ALERT",
        "EMERGENCY",
    ];
    LEVELS
        .iter()
        .position(|l| l.eq_ignore_ascii_case(s))
        .unwrap_or(0)
}

// ----- HTTP, time, randomness -------------------------------------------------

fn json_response(status: u16, value: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=UTF-8")
        .body(Body::from(serde_json::to_vec(value).expect("JSON")))
        .expect("a valid response")
}

fn plain(status: u16, message: &str) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=UTF-8")
        .body(Body::from(message.to_owned()))
        .expect("a valid response")
}

/// `{"error": {"code", "message", "status"}}`, plus Cloud Storage's
/// `errors: [{domain, reason, message}]` on its paths.
fn error_response(which: Which, e: &ApiError) -> Response {
    let mut error = json!({
        "code": e.code,
        "message": e.message,
        "status": e.status,
    });
    if which == Which::Storage {
        error["errors"] = json!([{
            "domain": "global",
            "reason": e.reason,
            "message": e.message,
        }]);
    }
    json_response(e.code, &json!({ "error": error }))
}

fn unauthenticated() -> Response {
    let mut response = json_response(
        401,
        &json!({"error": {
            "code": 401,
            "message": "Request had invalid authentication credentials. Expected OAuth 2 access \
                        token, login cookie or other valid authentication credential.",
            "status": "UNAUTHENTICATED",
        }}),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"https://accounts.google.com/\""),
    );
    response
}

/// Checks the shape of a JWT-bearer assertion: three base64url parts, a
/// JSON header with `alg`, claims with `iss`, `aud` (this token endpoint),
/// a future `exp` and a `scope`. The signature is not verified.
fn check_assertion(jwt: &str, token_uri: &str) -> Result<(), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err(format!(
            "the assertion is not a JWT: expected three base64url parts separated by dots, got {}",
            parts.len()
        ));
    }
    let decode = |i: usize, what: &str| {
        URL_SAFE_NO_PAD
            .decode(parts[i].trim_end_matches('='))
            .map_err(|e| format!("the JWT {what} is not base64url: {e}"))
    };
    let header: Value = serde_json::from_slice(&decode(0, "header")?)
        .map_err(|e| format!("the JWT header is not JSON: {e}"))?;
    if !header["alg"].is_string() {
        return Err("the JWT header has no `alg`".into());
    }
    let claims: Value = serde_json::from_slice(&decode(1, "claims")?)
        .map_err(|e| format!("the JWT claims are not JSON: {e}"))?;
    if decode(2, "signature")?.is_empty() {
        return Err("the JWT has an empty signature".into());
    }
    for claim in ["iss", "aud", "scope"] {
        if claims[claim].as_str().is_none_or(str::is_empty) {
            return Err(format!("the JWT claims lack `{claim}`"));
        }
    }
    if claims["aud"] != token_uri {
        return Err(format!(
            "the JWT audience is {}, but must be the token endpoint {token_uri}",
            claims["aud"]
        ));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    match claims["exp"].as_i64() {
        None => Err("the JWT claims lack a numeric `exp`".into()),
        Some(exp) if exp <= now => Err(format!("the JWT expired at {exp} (now {now})")),
        Some(_) => Ok(()),
    }
}

/// Decoded query (or form) pairs: `+` is a space, `%XX` a byte.
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| {
            bytes
                .get(at..at + 2)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        };
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if hex(i + 1).is_some() => {
                out.push(hex(i + 1).expect("checked"));
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `300s`, `1.5s` as a duration.
fn parse_duration(s: &str) -> Option<Duration> {
    let secs: f64 = s.strip_suffix('s')?.parse().ok()?;
    (secs >= 0.0 && secs.is_finite()).then(|| Duration::from_secs_f64(secs))
}

/// Now as RFC 3339 in UTC with microseconds, as Google writes timestamps.
pub fn now_rfc3339() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_time(since.as_secs() as i64, since.subsec_micros())
}

fn format_time(secs: i64, micros: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// An RFC 3339 timestamp as nanoseconds since the epoch.
fn parse_time(s: &str) -> Option<i128> {
    static TIME: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$",
        )
        .unwrap()
    });
    let c = TIME.captures(s)?;
    let n = |i: usize| {
        c.get(i)
            .map_or(0, |m| m.as_str().parse::<i64>().unwrap_or(0))
    };
    let (y, m, d) = (n(1), n(2), n(3));
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let mut secs = days * 86_400 + n(4) * 3600 + n(5) * 60 + n(6);
    if let Some(sign) = c.get(8) {
        let offset = n(9) * 3600 + n(10) * 60;
        secs -= if sign.as_str() == "+" {
            offset
        } else {
            -offset
        };
    }
    let frac = c.get(7).map_or(0, |f| {
        let digits = f.as_str();
        digits.parse::<i128>().unwrap_or(0) * 10i128.pow(9 - digits.len() as u32)
    });
    Some(i128::from(secs) * 1_000_000_000 + frac)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the OS provides randomness");
    b
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).expect("the OS provides randomness");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn random_letters(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).expect("the OS provides randomness");
    b.iter().map(|x| (b'a' + x % 26) as char).collect()
}

fn random_uuid() -> String {
    let h = random_hex(16);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
