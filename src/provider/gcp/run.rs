//! The release mechanics on Cloud Run (Admin API v2): one Cloud Run service
//! per function, built from source; a revision per published version; a
//! traffic tag per release; the entry services' traffic as the pointer.
//!
//! - **Publish** creates the service, or patches its template and
//!   `buildConfig` (`sourceLocation` in Cloud Storage, `functionTarget`,
//!   `baseImage` per runtime) with its traffic **pinned** to the revisions
//!   serving now, so the new revision gets nothing; the revision Cloud Run
//!   makes is the version.
//! - **Stage** adds a tag `rN` with 0 % on every function's revision of the
//!   release, so the release has a URL per function (`rN---name-….run.app`);
//!   calls inside a release go to the tagged URLs of that release.
//! - **Route** patches the traffic of the entry services (those with HTTP
//!   routes), first to last in manifest order, keeping every tag: one patch,
//!   and so atomic, when a chain has one HTTP entry. The service's labels
//!   `nubo-live` / `nubo-canary` say which release the split is, so it reads
//!   back without the records.
//! - **Retire** drops a release's tags and deletes revisions no retained
//!   release uses.
//!
//! Long-running operations are polled with backoff for a bounded time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Google, encode};
use crate::provider::{ProviderError, PublishSpec, Result, Route, StagedRelease};
use crate::resolve::{EnvValue, Resolved};

/// How long nubo waits for one long-running operation.
const OPERATION_WAIT: Duration = Duration::from_secs(15 * 60);
const LIVE_LABEL: &str = "nubo-live";
const INVOKER: &str = "roles/run.invoker";
const CANARY_LABEL: &str = "nubo-canary";

pub struct CloudRun {
    pub google: Google,
    project: String,
    region: String,
    service: Resolved,
}

impl CloudRun {
    pub fn new(resolved: &Resolved) -> Result<CloudRun> {
        let project = resolved
            .settings
            .project
            .clone()
            .ok_or_else(|| ProviderError::new("a gcp target needs `project`"))?;
        let region = resolved
            .settings
            .region
            .clone()
            .ok_or_else(|| ProviderError::new("a gcp target needs `region`"))?;
        Ok(CloudRun {
            google: Google::new(resolved.settings.endpoint.as_deref())?,
            project,
            region,
            service: resolved.clone(),
        })
    }

    fn parent(&self) -> String {
        format!("projects/{}/locations/{}", self.project, self.region)
    }

    /// The Cloud Run service of a function.
    pub fn service_id(&self, function: &str) -> String {
        format!(
            "{}-{}-{function}",
            self.service.service, self.service.target
        )
    }

    /// A version's revision: the service's name and its version tag, so a
    /// unit is built once and a repeated publish finds it.
    pub fn revision_name(&self, function: &str, unit: &str) -> String {
        format!("{}-{}", self.service_id(function), version_tag(unit))
    }

    /// The Secret Manager secret behind `${secret:NAME}`.
    pub fn secret_id(&self, name: &str) -> String {
        format!("{}-{}-{name}", self.service.service, self.service.target)
    }

    fn service_name(&self, function: &str) -> String {
        format!("{}/services/{}", self.parent(), self.service_id(function))
    }

    fn url(&self, name: &str) -> String {
        format!("{}/v2/{name}", self.google.endpoints.run)
    }

    /// The bucket that holds sources, and an artifact's object in it.
    pub fn source(&self, sha256: &str) -> (String, String) {
        (
            format!("nubo-sources-{}", self.project),
            format!(
                "{}-{}/{sha256}.zip",
                self.service.service, self.service.target
            ),
        )
    }

    /// The services whose traffic is the pointer, in the order a switch
    /// patches them: functions with HTTP routes (manifest order), then
    /// functions with other triggers (their Pub/Sub pushes, jobs and
    /// Eventarc deliveries go to the service's main URL).
    pub fn entries(&self) -> Vec<&str> {
        let http = |f: &&crate::resolve::Function| {
            f.events
                .iter()
                .any(|e| matches!(e, crate::manifest::Event::Http(_)))
        };
        let functions = self.service.functions.values();
        functions
            .clone()
            .filter(http)
            .chain(functions.filter(|f| !http(f) && !f.events.is_empty()))
            .map(|f| f.name.as_str())
            .collect()
    }

    /// A service as it is now, or `None`.
    pub async fn get(&self, function: &str) -> Result<Option<Value>> {
        let name = self.service_name(function);
        let url = self.url(&name);
        let what = format!("run.projects.locations.services.get {name}");
        let (status, body) = self.google.send(&what, |c| c.get(&url)).await?;
        match status.as_u16() {
            404 => Ok(None),
            s if (200..300).contains(&s) => serde_json::from_slice(&body.bytes)
                .map(Some)
                .map_err(|e| ProviderError::new(format!("{what}: {e}"))),
            _ => Err(super::error(&what, status, &body.text())),
        }
    }

    /// Wait for a long-running operation; its `response`.
    pub async fn wait(&self, what: &str, mut op: Value) -> Result<Value> {
        let start = Instant::now();
        let mut attempt = 0u32;
        loop {
            if op["done"].as_bool() == Some(true) {
                if let Some(e) = op.get("error") {
                    return Err(ProviderError::new(format!(
                        "{what}: {}",
                        e["message"].as_str().unwrap_or("the operation failed")
                    )));
                }
                return Ok(op["response"].clone());
            }
            if start.elapsed() > OPERATION_WAIT {
                return Err(ProviderError::new(format!(
                    "{what}: not done after {} s",
                    OPERATION_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis((25u64 << attempt.min(6)).min(2000))).await;
            attempt += 1;
            let name = op["name"]
                .as_str()
                .ok_or_else(|| ProviderError::new(format!("{what}: an operation without a name")))?
                .to_owned();
            let url = self.url(&name);
            op = self
                .google
                .json(
                    &format!("run.projects.locations.operations.get {name}"),
                    |c| c.get(&url),
                )
                .await?;
        }
    }

    /// Wait for the operation a write answered with: `true` when it is done,
    /// `false` when Cloud Run answered 409 (the thing exists already).
    async fn settle(
        &self,
        what: &str,
        status: reqwest::StatusCode,
        answer: &super::Body,
    ) -> Result<bool> {
        match status.as_u16() {
            s if (200..300).contains(&s) => {
                let op: Value = serde_json::from_slice(&answer.bytes).map_err(|e| {
                    ProviderError::new(format!("{what}: the answer is not JSON: {e}"))
                })?;
                self.wait(what, op).await?;
                Ok(true)
            }
            409 => Ok(false),
            _ => Err(super::error(what, status, &answer.text())),
        }
    }

    /// PATCH the service with `body`, fields in `mask`; the service after.
    async fn patch(&self, function: &str, body: &Value, mask: &str) -> Result<Value> {
        let name = self.service_name(function);
        let url = self.url(&name);
        let what = format!("run.projects.locations.services.patch {name}");
        let op = self
            .google
            .json(&what, |c| {
                c.patch(&url).query(&[("updateMask", mask)]).json(body)
            })
            .await?;
        self.wait(&what, op).await
    }

    /// The function's container, environment and build, for `release`.
    fn template(&self, spec: &PublishSpec<'_>, bucket: &str, object: &str) -> Result<Value> {
        let f = spec.function;
        let mut env = Vec::new();
        for (k, v) in &f.env {
            let value = match v {
                EnvValue::Text(t) => t.clone(),
                EnvValue::PerRelease(parts) => crate::resolve::vars::render(parts, spec.release),
                EnvValue::Secret(name) => {
                    // Cloud Run reads the secret when an instance starts; the
                    // value never passes through nubo.
                    env.push(json!({"name": k, "valueSource": {"secretKeyRef": {
                        "secret": self.secret_id(name),
                        "version": "latest",
                    }}}));
                    continue;
                }
            };
            env.push(json!({"name": k, "value": value}));
        }
        // What the shim needs: the handler, its routes, who it may call and how
        // callees are named.
        let routes: Vec<Value> = f
            .events
            .iter()
            .filter_map(|e| match e {
                crate::manifest::Event::Http(h) => {
                    Some(json!({"method": h.method.as_str(), "path": h.path}))
                }
                _ => None,
            })
            .collect();
        for (k, v) in [
            (
                "NUBO_HANDLER",
                format!("{}.{}", f.handler_file, f.handler_export),
            ),
            ("NUBO_FUNCTION", f.name.clone()),
            ("NUBO_RELEASE", spec.release.to_owned()),
            ("NUBO_ROUTES", Value::Array(routes).to_string()),
            (
                "NUBO_PREFIX",
                format!("{}-{}-", self.service.service, self.service.target),
            ),
            ("NUBO_CALLS", f.calls.join(",")),
            (
                "NUBO_CALL_TAGS",
                spec.callees
                    .iter()
                    .map(|(c, unit)| format!("{c}={}", version_tag(unit)))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ] {
            env.push(json!({"name": k, "value": v}));
        }
        let spec_gcp = crate::provider::spec::get(crate::manifest::ProviderKind::Gcp);
        let base = spec_gcp
            .runtimes
            .get(&f.runtime)
            .cloned()
            .unwrap_or_else(|| f.runtime.as_str().to_owned());
        // Below 512 MiB only the first-generation environment runs; above
        // 4 GiB Cloud Run asks for more CPUs (providers/gcp.yaml, memory).
        let (environment, cpu) = match f.memory {
            0..512 => ("EXECUTION_ENVIRONMENT_GEN1", "1"),
            512..=4096 => ("EXECUTION_ENVIRONMENT_GEN2", "1"),
            4097..=8192 => ("EXECUTION_ENVIRONMENT_GEN2", "2"),
            8193..=16384 => ("EXECUTION_ENVIRONMENT_GEN2", "4"),
            16385..=24576 => ("EXECUTION_ENVIRONMENT_GEN2", "6"),
            _ => ("EXECUTION_ENVIRONMENT_GEN2", "8"),
        };
        Ok(json!({
            "template": {
                "revision": self.revision_name(&f.name, spec.unit),
                "executionEnvironment": environment,
                "containers": [{
                    "env": env,
                    "resources": {"limits": {"memory": format!("{}Mi", f.memory), "cpu": cpu}},
                }],
                "timeout": format!("{}s", f.timeout.0.as_secs().max(1)),
                "labels": {"nubo-release": spec.release, "nubo-unit": &spec.unit[..12.min(spec.unit.len())]},
            },
            "buildConfig": {
                "sourceLocation": format!("gs://{bucket}/{object}"),
                "functionTarget": "nubo",
                "baseImage": base,
            },
        }))
    }

    /// Publish a version: a revision named after its unit, tagged with its
    /// version tag at 0 %, while the traffic stays pinned where it is.
    pub async fn publish(&self, spec: &PublishSpec<'_>) -> Result<String> {
        let function = &spec.function.name;
        let (bucket, object) = self.source(&spec.artifact.sha256);
        let mut body = self.template(spec, &bucket, &object)?;
        let revision = self.revision_name(function, spec.unit);
        let tag = version_tag(spec.unit);
        let tagged = json!({
            "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
            "revision": revision,
            "tag": tag,
            "percent": 0,
        });
        // The release's tag too, so staging has nothing left to do here.
        let release_tag = json!({
            "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
            "revision": revision,
            "tag": spec.release,
            "percent": 0,
        });
        let current = if spec.previous.is_none() {
            None
        } else {
            self.get(function).await?
        };
        let current = match current {
            Some(s) => Some(s),
            None => {
                // A new service: it serves its first revision at its main URL
                // (Cloud Run needs 100 % somewhere), which no release routes to.
                let url = format!(
                    "{}/v2/{}/services",
                    self.google.endpoints.run,
                    self.parent()
                );
                let id = self.service_id(function);
                let what = format!("run.projects.locations.services.create {id}");
                body["labels"] = json!({"nubo-service": self.service.service, "nubo-target": self.service.target});
                body["traffic"] = json!([
                    {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": revision, "percent": 100},
                    tagged,
                    release_tag,
                ]);
                let (status, answer) = self
                    .google
                    .send(&what, |c| {
                        c.post(&url)
                            .query(&[("serviceId", id.as_str())])
                            .json(&body)
                    })
                    .await?;
                if self.settle(&what, status, &answer).await? {
                    None
                } else {
                    // Made by a run that stopped before recording it.
                    Some(
                        self.get(function).await?.ok_or_else(|| {
                            ProviderError::new(format!("{id} exists and does not"))
                        })?,
                    )
                }
            }
        };
        if let Some(service) = current {
            body.as_object_mut().expect("an object").remove("labels");
            let mut traffic: Vec<Value> = pinned(&service)
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|t| {
                    t["tag"].as_str() != Some(tag.as_str())
                        && t["tag"].as_str() != Some(spec.release)
                })
                .collect();
            traffic.push(tagged.clone());
            traffic.push(release_tag.clone());
            body["traffic"] = Value::Array(traffic.clone());
            body["etag"] = service["etag"].clone();
            let name = self.service_name(function);
            let url = self.url(&name);
            let what = format!("run.projects.locations.services.patch {name}");
            let (status, answer) = self
                .google
                .send(&what, |c| {
                    c.patch(&url)
                        .query(&[("updateMask", "template,buildConfig,traffic")])
                        .json(&body)
                })
                .await?;
            // 409: the unit's revision exists (an earlier release published
            // it): it is the version; make sure its tag is there.
            if !self.settle(&what, status, &answer).await? {
                {
                    let has_tag = service["traffic"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|t| t["tag"].as_str() == Some(tag.as_str())));
                    if !has_tag {
                        let body = json!({"traffic": traffic, "etag": service["etag"]});
                        self.patch(function, &body, "traffic").await?;
                    }
                }
            }
        }
        self.set_public(function, spec.function).await?;
        Ok(revision)
    }

    /// Let anyone invoke the service when one of its routes is `public:
    /// true`; take that back when none is. Other bindings stay.
    async fn set_public(&self, function: &str, f: &crate::resolve::Function) -> Result<()> {
        let public = f
            .events
            .iter()
            .any(|e| matches!(e, crate::manifest::Event::Http(h) if h.public));
        let name = self.service_name(function);
        let url = format!("{}:getIamPolicy", self.url(&name));
        let mut policy = self
            .google
            .json(
                &format!("run.projects.locations.services.getIamPolicy {name}"),
                |c| c.get(&url),
            )
            .await?;
        let bindings = policy["bindings"].as_array().cloned().unwrap_or_default();
        let is_open = |b: &Value| {
            b["role"].as_str() == Some(INVOKER)
                && b["members"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|m| m == "allUsers"))
        };
        let open = bindings.iter().any(is_open);
        if open == public {
            return Ok(());
        }
        let mut bindings: Vec<Value> = bindings
            .into_iter()
            .filter_map(|mut b| {
                if b["role"].as_str() == Some(INVOKER) {
                    let members: Vec<Value> = b["members"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|m| m != "allUsers")
                        .collect();
                    if members.is_empty() {
                        return None;
                    }
                    b["members"] = Value::Array(members);
                }
                Some(b)
            })
            .collect();
        if public {
            bindings.push(json!({"role": INVOKER, "members": ["allUsers"]}));
        }
        policy["bindings"] = Value::Array(bindings);
        let url = format!("{}:setIamPolicy", self.url(&name));
        self.google
            .json(
                &format!("run.projects.locations.services.setIamPolicy {name}"),
                |c| c.post(&url).json(&json!({"policy": policy})),
            )
            .await?;
        Ok(())
    }

    /// Tag each function's revision of the release with its id (0 %), all
    /// functions at once; a tag already in place (publish puts it on the
    /// revisions it makes) is not written again.
    pub async fn stage(&self, release: &StagedRelease) -> Result<()> {
        use futures_util::TryStreamExt as _;
        futures_util::stream::iter(release.versions.iter().map(Ok))
            .try_for_each_concurrent(16, |(function, revision)| async move {
                let service = self.get(function).await?.ok_or_else(|| {
                    ProviderError::new(format!("{} is gone", self.service_id(function)))
                })?;
                if Self::tagged(&service, &release.id).as_deref() == Some(revision.as_str()) {
                    return Ok(());
                }
                let mut traffic: Vec<Value> = pinned(&service)
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|t| t["tag"].as_str() != Some(release.id.as_str()))
                    .collect();
                traffic.push(json!({
                    "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                    "revision": revision,
                    "tag": release.id,
                    "percent": 0,
                }));
                let body = json!({"traffic": traffic, "etag": service["etag"]});
                self.patch(function, &body, "traffic").await.map(|_| ())
            })
            .await?;
        Ok(())
    }

    /// The revision of `function` that `release`'s tag names.
    fn tagged(service: &Value, release: &str) -> Option<String> {
        service["traffic"].as_array()?.iter().find_map(|t| {
            (t["tag"].as_str() == Some(release))
                .then(|| t["revision"].as_str().map(str::to_owned))?
        })
    }

    /// Move the entry services' traffic to `route`: read them all at once,
    /// send the patches first to last (HTTP entries, then triggered
    /// functions; one patch when there is one entry), then wait for their
    /// operations together. An entry already as wanted is not written.
    pub async fn route(&self, route: &Route) -> Result<()> {
        let entries = self.entries();
        let services = futures_util::future::try_join_all(entries.iter().map(|f| async move {
            self.get(f)
                .await?
                .ok_or_else(|| ProviderError::new(format!("{} is gone", self.service_id(f))))
        }))
        .await?;
        let mut ops = Vec::new();
        for (function, service) in entries.iter().zip(&services) {
            let Some(body) = Self::routed(function, service, route)? else {
                continue;
            };
            let name = self.service_name(function);
            let url = self.url(&name);
            let what = format!("run.projects.locations.services.patch {name}");
            let op = self
                .google
                .json(&what, |c| {
                    c.patch(&url)
                        .query(&[("updateMask", "traffic,labels")])
                        .json(&body)
                })
                .await?;
            ops.push((what, op));
        }
        futures_util::future::try_join_all(
            ops.into_iter()
                .map(|(what, op)| async move { self.wait(&what, op).await }),
        )
        .await?;
        Ok(())
    }

    /// The patch that points `service` at `route`, or `None` when it does.
    fn routed(function: &str, service: &Value, route: &Route) -> Result<Option<Value>> {
        let revision = |release: &str| {
            Self::tagged(service, release).ok_or_else(|| {
                ProviderError::new(format!(
                    "release `{release}` has no revision of `{function}`; it was never staged"
                ))
            })
        };
        // Every tag stays (at 0 %); the split goes on untagged entries.
        let mut traffic: Vec<Value> = service["traffic"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t["tag"].as_str().is_some_and(|s| !s.is_empty()))
            .map(|mut t| {
                t["percent"] = json!(0);
                t
            })
            .collect();
        let mut labels = service["labels"].as_object().cloned().unwrap_or_default();
        labels.remove(CANARY_LABEL);
        let primary_share = match &route.canary {
            Some((release, percent)) => {
                traffic.push(json!({
                    "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                    "revision": revision(release)?,
                    "percent": percent,
                }));
                labels.insert(
                    CANARY_LABEL.to_owned(),
                    json!(format!("{release}-{percent}")),
                );
                100 - i64::from(*percent)
            }
            None => 100,
        };
        traffic.push(json!({
            "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
            "revision": revision(&route.primary)?,
            "percent": primary_share,
        }));
        labels.insert(LIVE_LABEL.to_owned(), json!(route.primary));
        let traffic = merge(traffic);
        if service["traffic"] == traffic && service["labels"] == Value::Object(labels.clone()) {
            return Ok(None);
        }
        Ok(Some(
            json!({"traffic": traffic, "labels": labels, "etag": service["etag"]}),
        ))
    }

    /// What the first entry service serves, by its labels.
    pub async fn live(&self) -> Result<Option<Route>> {
        let Some(first) = self.entries().first().copied() else {
            return Ok(None);
        };
        let Some(service) = self.get(first).await? else {
            return Ok(None);
        };
        let Some(primary) = service["labels"][LIVE_LABEL].as_str() else {
            return Ok(None);
        };
        let canary = service["labels"][CANARY_LABEL].as_str().and_then(|c| {
            let (r, p) = c.rsplit_once('-')?;
            Some((r.to_owned(), p.parse().ok()?))
        });
        Ok(Some(Route {
            primary: primary.to_owned(),
            canary,
        }))
    }

    /// Drop `release`'s tags; delete revisions no retained release uses.
    pub async fn retire(&self, release: &StagedRelease, keep: &[StagedRelease]) -> Result<()> {
        for (function, revision) in &release.versions {
            let Some(service) = self.get(function).await? else {
                continue;
            };
            let used = keep
                .iter()
                .any(|k| k.versions.get(function) == Some(revision));
            // The release's tag goes; so does the version tag of a revision
            // no retained release uses (it is deleted next).
            let traffic: Vec<Value> = service["traffic"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|t| {
                    t["tag"].as_str() != Some(release.id.as_str())
                        && (used
                            || t["revision"].as_str() != Some(revision.as_str())
                            || t["percent"].as_i64().unwrap_or(0) > 0)
                })
                .collect();
            if Some(&traffic) != service["traffic"].as_array() {
                let body = json!({"traffic": traffic, "etag": service["etag"]});
                self.patch(function, &body, "traffic").await?;
            }
            let serving = traffic
                .iter()
                .any(|t| t["revision"].as_str() == Some(revision.as_str()));
            if !used && !serving {
                let name = format!("{}/revisions/{revision}", self.service_name(function));
                let url = self.url(&name);
                let what = format!("run.projects.locations.services.revisions.delete {name}");
                let (status, body) = self.google.send(&what, |c| c.delete(&url)).await?;
                match status.as_u16() {
                    404 => {}
                    s if (200..300).contains(&s) => {
                        let op: Value = serde_json::from_slice(&body.bytes).unwrap_or_default();
                        self.wait(&what, op).await?;
                    }
                    _ => return Err(super::error(&what, status, &body.text())),
                }
            }
        }
        Ok(())
    }

    /// The tagged URL of `function` in `release`, where a check calls it.
    pub async fn tagged_url(&self, function: &str, release: &str) -> Result<Option<String>> {
        Ok(self
            .get(function)
            .await?
            .and_then(|service| tagged_uri(&service, release)))
    }

    /// Upload an artifact to the sources bucket unless it is there.
    pub async fn upload(&self, artifact: &crate::provider::ArtifactRef) -> Result<bool> {
        let (bucket, object) = self.source(&artifact.sha256);
        let storage = &self.google.endpoints.storage;
        let meta = format!(
            "{storage}/storage/v1/b/{}/o/{}",
            encode(&bucket),
            encode(&object)
        );
        let what = format!("storage.objects.get gs://{bucket}/{object}");
        let (status, body) = self.google.send(&what, |c| c.get(&meta)).await?;
        match status.as_u16() {
            200 => return Ok(false),
            404 => {}
            _ => return Err(super::error(&what, status, &body.text())),
        }
        let bytes = std::fs::read(&artifact.path).map_err(|e| {
            ProviderError::new(format!("could not read {}: {e}", artifact.path.display()))
        })?;
        let url = format!("{storage}/upload/storage/v1/b/{}/o", encode(&bucket));
        let what = format!("storage.objects.insert gs://{bucket}/{object}");
        let (status, body) = self
            .google
            .send(&what, |c| {
                c.post(&url)
                    .query(&[
                        ("uploadType", "media"),
                        ("name", object.as_str()),
                        ("ifGenerationMatch", "0"),
                    ])
                    .header("content-type", "application/zip")
                    .body(bytes.clone())
            })
            .await?;
        match status.as_u16() {
            200 => Ok(true),
            // Another run put the same bytes there first.
            412 => Ok(false),
            _ => Err(super::error(&what, status, &body.text())),
        }
    }
}

/// The URL of `release`'s tag on `service` (from `trafficStatuses`).
pub fn tagged_uri(service: &Value, release: &str) -> Option<String> {
    service["trafficStatuses"].as_array().and_then(|s| {
        s.iter()
            .find(|t| t["tag"].as_str() == Some(release))
            .and_then(|t| t["uri"].as_str().map(str::to_owned))
    })
}

/// A service's traffic with `LATEST` turned into the revision it means now,
/// so a new revision gets nothing until nubo moves traffic on purpose.
fn pinned(service: &Value) -> Value {
    let latest = service["latestReadyRevision"]
        .as_str()
        .or(service["latestCreatedRevision"].as_str())
        .map(short)
        .unwrap_or_default()
        .to_owned();
    let traffic: Vec<Value> = service["traffic"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut t| {
            if t["type"].as_str() == Some("TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST") {
                t["type"] = json!("TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION");
                t["revision"] = json!(latest);
            }
            t
        })
        .collect();
    Value::Array(traffic)
}

/// Untagged entries for the same revision become one.
fn merge(traffic: Vec<Value>) -> Value {
    let mut untagged: BTreeMap<String, i64> = BTreeMap::new();
    let mut out = Vec::new();
    for t in traffic {
        if t["tag"].as_str().is_some_and(|s| !s.is_empty()) {
            out.push(t);
        } else if let Some(r) = t["revision"].as_str() {
            *untagged.entry(r.to_owned()).or_default() += t["percent"].as_i64().unwrap_or(0);
        }
    }
    for (revision, percent) in untagged {
        if percent > 0 {
            out.push(json!({
                "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                "revision": revision,
                "percent": percent,
            }));
        }
    }
    Value::Array(out)
}

/// The traffic tag of a version: `v` and the first 8 hex digits of its unit.
/// Callers reach a callee's revision by it (NUBO_CALL_TAGS).
pub fn version_tag(unit: &str) -> String {
    format!("v{}", &unit[..8.min(unit.len())])
}

/// `projects/…/revisions/name-00001-abc` → `name-00001-abc`.
fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_is_pinned_to_the_revision_it_means() {
        let s = json!({
            "latestReadyRevision": "projects/p/locations/l/services/s/revisions/s-00002-abc",
            "traffic": [
                {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100},
                {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": "s-00001-xyz", "tag": "r1", "percent": 0},
            ],
        });
        let t = pinned(&s);
        assert_eq!(t[0]["revision"], "s-00002-abc");
        assert_eq!(t[0]["type"], "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION");
        assert_eq!(t[1]["tag"], "r1");
    }

    #[test]
    fn untagged_entries_merge() {
        let t = merge(vec![
            json!({"revision": "a", "percent": 90}),
            json!({"revision": "a", "percent": 10}),
            json!({"revision": "b", "percent": 0}),
            json!({"revision": "b", "tag": "r2", "percent": 0}),
        ]);
        let t = t.as_array().unwrap();
        assert_eq!(t.len(), 2, "{t:?}");
        assert!(
            t.iter()
                .any(|e| e["revision"] == "a" && e["percent"] == 100)
        );
    }
}
