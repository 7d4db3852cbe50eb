//! Provider backends: the primitives a cloud must offer the release engine.
//!
//! Everything that is the same on every cloud — ordering, journal, checks,
//! retries policy, progress — lives once, in `crate::release`. A backend
//! only implements [`Provider`]: upload an artifact, publish an immutable
//! version, stage a release (per-release aliases, tags or slots), invoke a
//! staged release, read and move the entry pointers, retire versions,
//! remove everything. The four clouds fit this shape: AWS (versions,
//! per-release aliases, one stage-variable write), GCP (revisions, traffic
//! tags, one service patch), Azure (slot deploy, one swap), local (one
//! atomic file swap).
//!
//! The provider specs (`spec`) say what each cloud allows.

pub mod aws;
pub mod azure;
#[cfg(feature = "test-backend")]
pub mod fake;
pub mod gcp;
pub mod local;
pub mod spec;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::manifest::ProviderKind;
use crate::resolve::{Environment, Function, Resolved};

/// What the provider has to say about a failure: which resource, and the
/// provider's request id when there is one.
#[derive(Debug, thiserror::Error)]
#[error("{message}{}", .request_id.as_ref().map(|r| format!(" (request id {r})")).unwrap_or_default())]
pub struct ProviderError {
    pub message: String,
    pub request_id: Option<String>,
    /// Whether repeating the same call may succeed (throttling, timeouts).
    pub retryable: bool,
}

impl ProviderError {
    pub fn new(message: impl Into<String>) -> Self {
        ProviderError {
            message: message.into(),
            request_id: None,
            retryable: false,
        }
    }
}

pub type Result<T> = std::result::Result<T, ProviderError>;

/// An artifact to upload: a zip named by its sha256.
#[derive(Debug, Clone)]
pub struct ArtifactRef {
    pub sha256: String,
    pub path: PathBuf,
    pub size: u64,
}

/// A function version to publish: its code, its resolved configuration, and
/// the release it belongs to (so its `nubo.call`s are pinned to that release).
#[derive(Debug, Clone)]
pub struct PublishSpec<'a> {
    pub function: &'a Function,
    pub artifact: &'a ArtifactRef,
    /// The hash of the deployable unit; equal units are never published twice.
    pub unit: &'a str,
    pub release: &'a str,
    /// The function's version in the release being replaced, if it had one.
    /// `None` means the function is new as far as nubo knows, so a backend
    /// may try to create it before looking (and fall back when it exists).
    pub previous: Option<&'a str>,
    /// The units of the functions this one calls, for backends that bind a
    /// caller's version to its callees' (`calls_bind_versions`).
    pub callees: Vec<(&'a str, &'a str)>,
}

/// An immutable version, as the provider names it (`7` for Lambda, a
/// revision name for Cloud Run, a package URL for Azure).
pub type VersionRef = String;

/// A release as a provider needs it: which version of each function.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StagedRelease {
    pub id: String,
    pub versions: BTreeMap<String, VersionRef>,
    /// Each function's packaged artifact, when the release is staged by the
    /// deploy that packaged it; empty otherwise (never recorded). Backends
    /// that build one package from several functions' artifacts (Azure's
    /// Function App) read it.
    #[serde(skip)]
    pub artifacts: BTreeMap<String, PathBuf>,
}

/// Where traffic goes: one release, or a canary split between two.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Route {
    /// The release that takes `100 - canary.1` percent of requests.
    pub primary: String,
    /// A second release and its percent of requests, during a canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<(String, u8)>,
}

impl Route {
    pub fn to(release: &str) -> Route {
        Route {
            primary: release.to_owned(),
            canary: None,
        }
    }
}

/// The response of an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// HTTP status, or the status the handler returned for other events.
    pub status: u16,
    pub body: String,
}

/// A check's or `nubo invoke`'s event as an HTTP request to the function's
/// route `h`: (method, path and query, headers, body). The event may give
/// `method`, `path`, `query`, `headers` and `body`; the route fills the rest.
pub fn http_request(
    event: &serde_json::Value,
    h: &crate::manifest::HttpEvent,
) -> (String, String, Vec<(String, String)>, Vec<u8>) {
    let encode = crate::provider::gcp::encode;
    let text = |v: &serde_json::Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let method = event["method"].as_str().unwrap_or(h.method.as_str());
    let method = if method == "ANY" { "GET" } else { method }.to_owned();
    let mut path = event["path"].as_str().unwrap_or(&h.path).to_owned();
    if let Some(q) = event["query"].as_object().filter(|q| !q.is_empty()) {
        let pairs: Vec<String> = q
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(&text(v))))
            .collect();
        path = format!("{path}?{}", pairs.join("&"));
    }
    let mut headers: Vec<(String, String)> = event["headers"]
        .as_object()
        .map(|h| h.iter().map(|(k, v)| (k.clone(), text(v))).collect())
        .unwrap_or_default();
    let body = match &event["body"] {
        serde_json::Value::String(s) => s.clone().into_bytes(),
        serde_json::Value::Null => Vec::new(),
        other => other.to_string().into_bytes(),
    };
    if !body.is_empty()
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("content-type".into(), "application/json".into()));
    }
    (method, path, headers, body)
}

/// Send a request to a function's host: `https://{host}{path_and_query}`,
/// or, with an `endpoint` (a fake), to the endpoint with `host` in `Host`.
pub async fn call_host(
    endpoint: Option<&str>,
    host: &str,
    method: &str,
    path_and_query: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
    timeout: std::time::Duration,
) -> Result<Invocation> {
    let (url, host_header) = match endpoint {
        Some(e) => (
            format!("{}{path_and_query}", e.trim_end_matches('/')),
            Some(host),
        ),
        None => (format!("https://{host}{path_and_query}"), None),
    };
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|_| ProviderError::new(format!("`{method}` is not an HTTP method")))?;
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(timeout)
        .build()
        .map_err(|e| ProviderError::new(format!("could not make an HTTP client: {e}")))?;
    let mut req = client.request(method, &url);
    if let Some(h) = host_header {
        req = req.header("host", h);
    }
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let res =
        req.body(body).send().await.map_err(|e| {
            ProviderError::new(format!("calling https://{host}{path_and_query}: {e}"))
        })?;
    let status = res.status().as_u16();
    let body = res
        .text()
        .await
        .map_err(|e| ProviderError::new(format!("reading https://{host}: {e}")))?;
    Ok(Invocation { status, body })
}

/// A cloud backend. Every method is idempotent: the engine may repeat any
/// call after a crash. Calls may run concurrently (`Sync`).
pub trait Provider: Sync {
    /// Create what the service needs once per target (roles, gateways,
    /// buckets, apps); a no-op when it exists.
    fn ensure_base(&self, service: &Resolved) -> Result<()>;
    /// Upload an artifact unless the provider already holds that sha256.
    /// Returns whether bytes were sent.
    fn upload(&self, artifact: &ArtifactRef) -> Result<bool>;
    /// Publish an immutable version of a function.
    fn publish(&self, spec: &PublishSpec<'_>) -> Result<VersionRef>;
    /// Make a release invocable as a unit (per-release aliases, tags, a
    /// slot) without giving it traffic.
    fn stage(&self, release: &StagedRelease) -> Result<()>;
    /// Invoke `function` of a staged release with `event`.
    fn invoke(
        &self,
        release: &str,
        function: &str,
        event: &serde_json::Value,
    ) -> Result<Invocation>;
    /// What is serving now, read back from the provider; `None` before the
    /// first switch.
    fn live(&self) -> Result<Option<Route>>;
    /// Move the entry pointers, in one write where the cloud allows it.
    fn route(&self, route: &Route) -> Result<()>;
    /// Remove a release's aliases/tags and the versions no other retained
    /// release uses.
    fn retire(&self, release: &StagedRelease, keep: &[StagedRelease]) -> Result<()>;
    /// Remove everything nubo created for the target.
    fn remove(&self) -> Result<()>;
    /// Where the provider disagrees with a recorded release (a version
    /// pointer changed by hand, something deleted), one line each; empty
    /// when it serves the release exactly as recorded.
    fn verify(&self, release: &StagedRelease) -> Result<Vec<String>> {
        let _ = release;
        Ok(Vec::new())
    }
    /// What [`Provider::remove`] would delete, one line each, for the
    /// summary `nubo remove` shows before it asks.
    fn inventory(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    /// Where the target's HTTP routes are served, when it has one address.
    fn endpoint(&self) -> Option<String> {
        None
    }
}

/// Why no backend could be opened for a target.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("deploying to {provider} is not available yet in nubo {version}")]
    NotYet {
        provider: ProviderKind,
        version: &'static str,
    },
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

/// The backend for a resolved target of the service at `manifest_dir`.
pub fn open(
    resolved: &Resolved,
    manifest_dir: &std::path::Path,
    env: &dyn Environment,
) -> std::result::Result<Box<dyn Provider>, OpenError> {
    if resolved.provider == ProviderKind::Local {
        #[cfg(feature = "test-backend")]
        if let Some(dir) = env.var("NUBO_TEST_BACKEND") {
            return Ok(Box::new(fake::FakeProvider::open(std::path::Path::new(
                &dir,
            ))?));
        }
        let _ = env;
        return Ok(Box::new(local::LocalProvider::connect(
            &local::local_dir(manifest_dir),
            resolved.settings.port,
        )?));
    }
    if resolved.provider == ProviderKind::Aws {
        return Ok(Box::new(aws::AwsProvider::open(resolved, env)?));
    }
    if resolved.provider == ProviderKind::Gcp {
        return Ok(Box::new(gcp::GcpProvider::open(resolved, env)?));
    }
    if resolved.provider == ProviderKind::Azure {
        return Ok(Box::new(azure::provider::AzureProvider::open(
            resolved,
            manifest_dir,
            env,
        )?));
    }
    Err(OpenError::NotYet {
        provider: resolved.provider,
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// The state store of a resolved target: `state:` when it is set, else
/// `.nubo/state/<target>/` beside the manifest.
pub fn open_state(
    resolved: &Resolved,
    manifest_dir: &std::path::Path,
    env: &dyn Environment,
) -> std::result::Result<Box<dyn crate::state::StateStore>, String> {
    match &resolved.settings.state {
        None => Ok(Box::new(crate::state::LocalStore::new(
            crate::state::default_dir(manifest_dir, &resolved.target),
        ))),
        Some(url) if url.starts_with("s3://") => {
            let conn = aws::Connection::of(resolved, env);
            aws::s3state::S3Store::open(url, &conn)
                .map(|s| Box::new(s) as Box<dyn crate::state::StateStore>)
                .map_err(|e| e.to_string())
        }
        Some(url) if url.starts_with("gs://") => {
            crate::provider::gcp::gcs::GcsStore::open(url, resolved.settings.endpoint.as_deref())
                .map(|s| Box::new(s) as Box<dyn crate::state::StateStore>)
                .map_err(|e| e.to_string())
        }
        Some(url) if url.starts_with("azblob://") => {
            crate::provider::azure::blob::AzBlobStore::open(url, env)
                .map(|s| Box::new(s) as Box<dyn crate::state::StateStore>)
                .map_err(|e| e.to_string())
        }
        Some(url) => Err(format!(
            "remote state `{url}` is not available yet in nubo {}",
            env!("CARGO_PKG_VERSION")
        )),
    }
}
