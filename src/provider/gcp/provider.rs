//! The Google Cloud backend: [`Provider`] over Cloud Run ([`CloudRun`]),
//! Cloud Storage (sources) and IAM Credentials (identity tokens for checks).
//!
//! - `ensure_base` makes the sources bucket `nubo-sources-{project}` once.
//! - `invoke` (checks, `nubo invoke`) calls the release's tagged URL of the
//!   function with an identity token whose audience is the service's URL:
//!   an HTTP function gets the check's request, any other function a
//!   `nubo.call` (`Nubo-Call: 1`, the event as JSON).
//! - `route` moves the traffic (`CloudRun::route`), then makes the
//!   triggers that are missing (`triggers.rs`).
//! - `remove` deletes the triggers, the target's Cloud Run services (found
//!   by their `nubo-service`/`nubo-target` labels), its source objects, and
//!   its buckets when they are empty.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::encode;
use super::run::CloudRun;
use crate::manifest::Event;
use crate::provider::{
    ArtifactRef, Invocation, Provider, ProviderError, PublishSpec, Result, Route, StagedRelease,
    VersionRef,
};
use crate::resolve::Resolved;

/// Where the metadata server is (Compute Engine, Cloud Run, GKE, Cloud Build).
pub(super) const METADATA: &str = "http://metadata.google.internal";

pub struct GcpProvider {
    pub(super) run: CloudRun,
    pub(super) service: Resolved,
    /// Identity tokens by audience, with when they stop being used.
    id_tokens: Mutex<BTreeMap<String, (String, Instant)>>,
    /// `GOOGLE_APPLICATION_CREDENTIALS` and `GCE_METADATA_HOST`.
    pub(super) key_file: Option<String>,
    pub(super) metadata_host: Option<String>,
}

impl GcpProvider {
    pub fn open(resolved: &Resolved, env: &dyn crate::resolve::Environment) -> Result<GcpProvider> {
        Ok(GcpProvider {
            run: CloudRun::new(resolved)?,
            service: resolved.clone(),
            id_tokens: Mutex::new(BTreeMap::new()),
            key_file: env.var("GOOGLE_APPLICATION_CREDENTIALS"),
            metadata_host: env.var("GCE_METADATA_HOST"),
        })
    }

    fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        crate::provider::aws::runtime().block_on(f)
    }

    fn storage(&self) -> &str {
        &self.run.google.endpoints.storage
    }

    /// An OpenID Connect identity token for `audience`: from IAM Credentials
    /// for the key file's service account, else from the metadata server.
    async fn id_token(&self, audience: &str) -> Result<String> {
        if let Some((token, until)) = self.id_tokens.lock().unwrap().get(audience)
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let token = match key_file_email(self.key_file.as_deref())? {
            Some(email) => {
                let url = format!(
                    "{}/v1/projects/-/serviceAccounts/{}:generateIdToken",
                    self.run.google.endpoints.iamcredentials,
                    encode(&email)
                );
                let what =
                    format!("iamcredentials.projects.serviceAccounts.generateIdToken {email}");
                let v = self
                    .run
                    .google
                    .json(&what, |c| {
                        c.post(&url)
                            .json(&json!({"audience": audience, "includeEmail": true}))
                    })
                    .await
                    .map_err(|mut e| {
                        e.message.push_str(&format!(
                            " (checks call the release's URLs as {email}, which needs \
                             roles/iam.serviceAccountOpenIdTokenCreator on itself and \
                             roles/run.invoker)"
                        ));
                        e
                    })?;
                v["token"]
                    .as_str()
                    .ok_or_else(|| ProviderError::new(format!("{what}: no token in the answer")))?
                    .to_owned()
            }
            None => {
                let base = self
                    .metadata_host
                    .as_ref()
                    .map(|h| format!("http://{h}"))
                    .unwrap_or_else(|| METADATA.to_owned());
                let url = format!(
                    "{base}/computeMetadata/v1/instance/service-accounts/default/identity?audience={}",
                    encode(audience)
                );
                let res = reqwest::Client::new()
                    .get(&url)
                    .header("Metadata-Flavor", "Google")
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                    .map_err(|e| {
                        ProviderError::new(format!(
                            "no identity token to call Cloud Run with: GOOGLE_APPLICATION_CREDENTIALS \
                             names no service-account key and the metadata server did not answer ({e})"
                        ))
                    })?;
                if !res.status().is_success() {
                    return Err(ProviderError::new(format!(
                        "the metadata server answered {} for an identity token",
                        res.status()
                    )));
                }
                res.text()
                    .await
                    .map_err(|e| ProviderError::new(format!("identity token: {e}")))?
                    .trim()
                    .to_owned()
            }
        };
        // Google's identity tokens last an hour; nubo uses one for 50 minutes.
        self.id_tokens.lock().unwrap().insert(
            audience.to_owned(),
            (token.clone(), Instant::now() + Duration::from_secs(50 * 60)),
        );
        Ok(token)
    }

    /// Send `request` to a Cloud Run URL (`https://host`): there, or to the
    /// configured endpoint with the Cloud Run host in `Host` (fakes).
    async fn call_run(
        &self,
        uri: &str,
        audience: &str,
        method: &str,
        path_and_query: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<Invocation> {
        let token = self.id_token(audience).await?;
        let host = uri.trim_start_matches("https://").trim_end_matches('/');
        let mut headers = headers.to_vec();
        headers.push(("authorization".to_owned(), format!("Bearer {token}")));
        let longest = self
            .service
            .functions
            .values()
            .map(|f| f.timeout.0.as_secs())
            .max()
            .unwrap_or(60);
        crate::provider::call_host(
            self.service.settings.endpoint.as_deref(),
            host,
            method,
            path_and_query,
            &headers,
            body,
            Duration::from_secs(longest + 30),
        )
        .await
    }

    /// The target's services, by their labels: (function, service resource).
    async fn services(&self) -> Result<Vec<Value>> {
        let parent = format!(
            "projects/{}/locations/{}",
            self.service.settings.project.as_deref().unwrap_or_default(),
            self.service.settings.region.as_deref().unwrap_or_default()
        );
        let url = format!("{}/v2/{parent}/services", self.run.google.endpoints.run);
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let what = format!("run.projects.locations.services.list {parent}");
            let v = self
                .run
                .google
                .json(&what, |c| {
                    let mut q = vec![("pageSize", "100".to_owned())];
                    if let Some(p) = &page {
                        q.push(("pageToken", p.clone()));
                    }
                    c.get(&url).query(&q)
                })
                .await?;
            for s in v["services"].as_array().into_iter().flatten() {
                if s["labels"]["nubo-service"].as_str() == Some(self.service.service.as_str())
                    && s["labels"]["nubo-target"].as_str() == Some(self.service.target.as_str())
                {
                    out.push(s.clone());
                }
            }
            match v["nextPageToken"].as_str().filter(|t| !t.is_empty()) {
                Some(t) => page = Some(t.to_owned()),
                None => return Ok(out),
            }
        }
    }

    /// The target's source objects in the sources bucket.
    async fn sources(&self) -> Result<Vec<(String, String)>> {
        let (bucket, object) = self.run.source("x");
        let prefix = object.trim_end_matches("x.zip").to_owned();
        let url = format!("{}/storage/v1/b/{}/o", self.storage(), encode(&bucket));
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let what = format!("storage.objects.list gs://{bucket}/{prefix}");
            let (status, body) = self
                .run
                .google
                .send(&what, |c| {
                    let mut q = vec![("prefix", prefix.clone())];
                    if let Some(p) = &page {
                        q.push(("pageToken", p.clone()));
                    }
                    c.get(&url).query(&q)
                })
                .await?;
            if status.as_u16() == 404 {
                return Ok(out);
            }
            if !status.is_success() {
                return Err(super::error(&what, status, &body.text()));
            }
            let v: Value = serde_json::from_slice(&body.bytes).unwrap_or_default();
            for o in v["items"].as_array().into_iter().flatten() {
                if let Some(name) = o["name"].as_str() {
                    out.push((bucket.clone(), name.to_owned()));
                }
            }
            match v["nextPageToken"].as_str().filter(|t| !t.is_empty()) {
                Some(t) => page = Some(t.to_owned()),
                None => return Ok(out),
            }
        }
    }
}

/// The `client_email` of the service-account key file ADC would use.
pub(super) fn key_file_email(path: Option<&str>) -> Result<Option<String>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        ProviderError::new(format!(
            "GOOGLE_APPLICATION_CREDENTIALS names {path}, which cannot be read: {e}"
        ))
    })?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| ProviderError::new(format!("{path} is not a credentials JSON file: {e}")))?;
    Ok((v["type"].as_str() == Some("service_account"))
        .then(|| v["client_email"].as_str().map(str::to_owned))
        .flatten())
}

impl Provider for GcpProvider {
    fn ensure_base(&self, _service: &Resolved) -> Result<()> {
        self.block(async {
            let (bucket, _) = self.run.source("x");
            let url = format!("{}/storage/v1/b/{}", self.storage(), encode(&bucket));
            let what = format!("storage.buckets.get gs://{bucket}");
            let (status, body) = self.run.google.send(&what, |c| c.get(&url)).await?;
            match status.as_u16() {
                200 => return Ok(()),
                404 => {}
                _ => return Err(super::error(&what, status, &body.text())),
            }
            let url = format!("{}/storage/v1/b", self.storage());
            let project = self.service.settings.project.clone().unwrap_or_default();
            let what = format!("storage.buckets.insert gs://{bucket}");
            let (status, body) = self
                .run
                .google
                .send(&what, |c| {
                    c.post(&url).query(&[("project", project.as_str())]).json(&json!({
                        "name": bucket,
                        "location": self.service.settings.region.as_deref().unwrap_or("US").to_uppercase(),
                        "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": true}},
                        "labels": {"nubo": "sources"},
                    }))
                })
                .await?;
            match status.as_u16() {
                // 409: made meanwhile by another run.
                200 | 409 => Ok(()),
                _ => Err(super::error(&what, status, &body.text())),
            }
        })
    }

    fn upload(&self, artifact: &ArtifactRef) -> Result<bool> {
        self.block(self.run.upload(artifact))
    }

    fn publish(&self, spec: &PublishSpec<'_>) -> Result<VersionRef> {
        self.block(self.run.publish(spec))
    }

    fn stage(&self, release: &StagedRelease) -> Result<()> {
        self.block(self.run.stage(release))
    }

    fn invoke(&self, release: &str, function: &str, event: &Value) -> Result<Invocation> {
        let f = self.service.functions.get(function).ok_or_else(|| {
            ProviderError::new(format!("no function `{function}` in this service"))
        })?;
        self.block(async {
            let service = self.run.get(function).await?.ok_or_else(|| {
                ProviderError::new(format!("{} does not exist", self.run.service_id(function)))
            })?;
            let audience = service["uri"].as_str().unwrap_or_default().to_owned();
            let uri = super::run::tagged_uri(&service, release).ok_or_else(|| {
                ProviderError::new(format!(
                    "release `{release}` has no tagged URL for `{function}`; it was never staged"
                ))
            })?;
            let http = f.events.iter().find_map(|e| match e {
                Event::Http(h) => Some(h),
                _ => None,
            });
            match http {
                Some(h) => {
                    let (method, path, headers, body) = crate::provider::http_request(event, h);
                    self.call_run(&uri, &audience, &method, &path, &headers, body)
                        .await
                }
                None => {
                    let headers = vec![
                        ("content-type".to_owned(), "application/json".to_owned()),
                        ("nubo-call".to_owned(), "1".to_owned()),
                    ];
                    self.call_run(
                        &uri,
                        &audience,
                        "POST",
                        "/",
                        &headers,
                        event.to_string().into_bytes(),
                    )
                    .await
                }
            }
        })
    }

    fn live(&self) -> Result<Option<Route>> {
        self.block(self.run.live())
    }

    fn route(&self, route: &Route) -> Result<()> {
        self.block(async {
            self.run.route(route).await?;
            // Made once; later switches only read them.
            self.ensure_triggers().await
        })
    }

    fn retire(&self, release: &StagedRelease, keep: &[StagedRelease]) -> Result<()> {
        self.block(self.run.retire(release, keep))
    }

    fn remove(&self) -> Result<()> {
        self.block(async {
            self.remove_triggers().await?;
            for s in self.services().await? {
                let Some(name) = s["name"].as_str() else {
                    continue;
                };
                let url = format!("{}/v2/{name}", self.run.google.endpoints.run);
                let what = format!("run.projects.locations.services.delete {name}");
                let (status, body) = self.run.google.send(&what, |c| c.delete(&url)).await?;
                match status.as_u16() {
                    404 => {}
                    s if (200..300).contains(&s) => {
                        let op: Value = serde_json::from_slice(&body.bytes).unwrap_or_default();
                        self.run.wait(&what, op).await?;
                    }
                    _ => return Err(super::error(&what, status, &body.text())),
                }
            }
            for (bucket, object) in self.sources().await? {
                let url = format!(
                    "{}/storage/v1/b/{}/o/{}",
                    self.storage(),
                    encode(&bucket),
                    encode(&object)
                );
                let what = format!("storage.objects.delete gs://{bucket}/{object}");
                let (status, body) = self.run.google.send(&what, |c| c.delete(&url)).await?;
                if !status.is_success() && status.as_u16() != 404 {
                    return Err(super::error(&what, status, &body.text()));
                }
            }
            Ok(())
        })
    }

    fn verify(&self, release: &StagedRelease) -> Result<Vec<String>> {
        self.block(async {
            let mut out = Vec::new();
            for (function, revision) in &release.versions {
                let id = self.run.service_id(function);
                let Some(service) = self.run.get(function).await? else {
                    out.push(format!("Cloud Run service {id} is gone"));
                    continue;
                };
                let tagged = service["traffic"].as_array().and_then(|t| {
                    t.iter()
                        .find(|t| t["tag"].as_str() == Some(release.id.as_str()))
                        .and_then(|t| t["revision"].as_str())
                });
                match tagged {
                    None => out.push(format!("{id}: tag `{}` is gone", release.id)),
                    Some(r) if r != revision => out.push(format!(
                        "{id}: tag `{}` names revision {r}, recorded {revision}",
                        release.id
                    )),
                    Some(_) => {}
                }
            }
            Ok(out)
        })
    }

    fn inventory(&self) -> Result<Vec<String>> {
        self.block(async {
            let mut out: Vec<String> = self
                .services()
                .await?
                .iter()
                .filter_map(|s| s["name"].as_str().map(|n| format!("Cloud Run service {n}")))
                .collect();
            out.extend(self.trigger_inventory().await?);
            let sources = self.sources().await?;
            if let Some((bucket, _)) = sources.first() {
                out.push(format!(
                    "{} source archive(s) in gs://{bucket}/{}-{}/",
                    sources.len(),
                    self.service.service,
                    self.service.target
                ));
            }
            Ok(out)
        })
    }

    fn endpoint(&self) -> Option<String> {
        let first = self
            .service
            .functions
            .values()
            .find(|f| f.events.iter().any(|e| matches!(e, Event::Http(_))))?;
        let service = self.block(self.run.get(&first.name)).ok()??;
        service["uri"].as_str().map(str::to_owned)
    }
}
