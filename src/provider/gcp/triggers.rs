//! Triggers on Google Cloud: queues (Pub/Sub topic + push subscription, a
//! dead-letter topic after 5 deliveries), schedules (Cloud Scheduler jobs
//! with an HTTP target) and storage (a Cloud Storage bucket and an Eventarc
//! trigger per function and event kind).
//!
//! **How no event crosses releases.** Every trigger points at the
//! function's service **main URL** (`/_nubo/queue/{queue}`,
//! `/_nubo/schedule`, `/_nubo/storage/{bucket}`), and the switch moves the
//! traffic of every function with a trigger right after the HTTP entries
//! (`run::CloudRun::route`). A delivery lands on one revision, which is
//! bound to its callees' revisions (`calls_bind_versions`), so the work it
//! starts stays in one release. Triggers are made once and changed only when
//! their own settings change: a switch or rollback does not rewrite them.
//! During a canary, events split between the two releases like requests.
//!
//! Pushes, jobs and Eventarc carry an identity token of the deploying
//! service account (the key file's `client_email`, else the metadata
//! server's account), which needs `roles/run.invoker` on the services.

use serde_json::{Value, json};

use super::encode;
use super::provider::GcpProvider;
use crate::manifest::{Event, StorageOn};
use crate::provider::{ProviderError, Result};

/// Resource ids Google allows up to 63 characters; longer ones keep 54 and a
/// hash of the whole.
fn id63(s: &str) -> String {
    if s.len() <= 63 {
        return s.to_owned();
    }
    use sha2::Digest;
    let h = sha2::Sha256::digest(s.as_bytes());
    let hex: String = h.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", s[..54].trim_end_matches('-'))
}

/// `every` as unix-cron (Cloud Scheduler has no rate syntax): whole minutes
/// dividing an hour, whole hours dividing a day, or one day.
pub fn every_as_cron(every: std::time::Duration) -> std::result::Result<String, String> {
    let m = every.as_secs() / 60;
    if !every.as_secs().is_multiple_of(60) || m == 0 {
        return Err(format!(
            "`every: {}` is not a whole number of minutes",
            humantime::format_duration(every)
        ));
    }
    Ok(match m {
        1 => "* * * * *".to_owned(),
        m if m < 60 && 60 % m == 0 => format!("*/{m} * * * *"),
        60 => "0 * * * *".to_owned(),
        m if m % 60 == 0 && m < 1440 && 24 % (m / 60) == 0 => format!("0 */{} * * *", m / 60),
        1440 => "0 0 * * *".to_owned(),
        _ => {
            return Err(format!(
                "`every: {}` has no unix-cron form on Cloud Scheduler (use minutes dividing an \
                 hour, hours dividing a day, or 1d; or `cron:`)",
                humantime::format_duration(every)
            ));
        }
    })
}

impl GcpProvider {
    fn project(&self) -> &str {
        self.service.settings.project.as_deref().unwrap_or_default()
    }

    fn region(&self) -> &str {
        self.service.settings.region.as_deref().unwrap_or_default()
    }

    fn prefix(&self) -> String {
        format!("{}-{}", self.service.service, self.service.target)
    }

    pub(super) fn topic(&self, queue: &str) -> String {
        format!(
            "projects/{}/topics/{}",
            self.project(),
            id63(&format!("{}-{queue}", self.prefix()))
        )
    }

    fn subscription(&self, queue: &str, function: &str) -> String {
        format!(
            "projects/{}/subscriptions/{}",
            self.project(),
            id63(&format!("{}-{queue}-{function}", self.prefix()))
        )
    }

    fn job(&self, function: &str, i: usize) -> String {
        format!(
            "projects/{}/locations/{}/jobs/{}",
            self.project(),
            self.region(),
            id63(&format!("{}-{function}-{i}", self.prefix()))
        )
    }

    /// The Cloud Storage bucket of a manifest bucket (names are global).
    pub fn bucket(&self, bucket: &str) -> String {
        id63(&format!("{}-{bucket}-{}", self.prefix(), self.project()))
    }

    fn eventarc_trigger(&self, function: &str, bucket: &str, on: StorageOn) -> String {
        format!(
            "projects/{}/locations/{}/triggers/{}",
            self.project(),
            self.region(),
            id63(&format!(
                "{}-{function}-{bucket}-{}",
                self.prefix(),
                on.as_str()
            ))
        )
    }

    fn url(&self, base: &str, name: &str) -> String {
        format!("{base}/v1/{name}")
    }

    /// GET a resource: `None` on 404.
    async fn read(&self, what: &str, url: &str) -> Result<Option<Value>> {
        let (status, body) = self.run.google.send(what, |c| c.get(url)).await?;
        match status.as_u16() {
            404 => Ok(None),
            s if (200..300).contains(&s) => serde_json::from_slice(&body.bytes)
                .map(Some)
                .map_err(|e| ProviderError::new(format!("{what}: {e}"))),
            _ => Err(super::error(what, status, &body.text())),
        }
    }

    /// Send a write; a 404 (for deletes) and 409 (made meanwhile) are fine.
    async fn write(
        &self,
        what: &str,
        make: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Value> {
        let (status, body) = self.run.google.send(what, make).await?;
        match status.as_u16() {
            404 | 409 => Ok(Value::Null),
            s if (200..300).contains(&s) => {
                Ok(serde_json::from_slice(&body.bytes).unwrap_or(Value::Null))
            }
            _ => Err(super::error(what, status, &body.text())),
        }
    }

    /// The account pushes, jobs and Eventarc present to Cloud Run.
    async fn invoker(&self) -> Result<String> {
        if let Some(email) = super::provider::key_file_email(self.key_file.as_deref())? {
            return Ok(email);
        }
        let base = self
            .metadata_host
            .as_ref()
            .map(|h| format!("http://{h}"))
            .unwrap_or_else(|| super::provider::METADATA.to_owned());
        let res = reqwest::Client::new()
            .get(format!(
                "{base}/computeMetadata/v1/instance/service-accounts/default/email"
            ))
            .header("Metadata-Flavor", "Google")
            .timeout(std::time::Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| {
                ProviderError::new(format!(
                    "triggers on Google Cloud push with a service account's identity: set \
                     GOOGLE_APPLICATION_CREDENTIALS to a service-account key, or run where the \
                     metadata server answers ({e})"
                ))
            })?;
        res.text()
            .await
            .map(|t| t.trim().to_owned())
            .map_err(|e| ProviderError::new(format!("the metadata server's account: {e}")))
    }

    /// Make or correct every trigger of the service; a no-op (reads only)
    /// when they are as wanted.
    pub(super) async fn ensure_triggers(&self) -> Result<()> {
        let functions: Vec<&crate::resolve::Function> = self
            .service
            .functions
            .values()
            .filter(|f| f.events.iter().any(|e| !matches!(e, Event::Http(_))))
            .collect();
        if functions.is_empty() {
            return Ok(());
        }
        let email = self.invoker().await?;
        for f in functions {
            let service = self.run.get(&f.name).await?.ok_or_else(|| {
                ProviderError::new(format!("{} does not exist", self.run.service_id(&f.name)))
            })?;
            let uri = service["uri"].as_str().unwrap_or_default().to_owned();
            let oidc = json!({"serviceAccountEmail": email, "audience": uri});
            let mut jobs = 0;
            for e in &f.events {
                match e {
                    Event::Http(_) => {}
                    Event::Queue(q) => {
                        self.ensure_queue(&f.name, &q.name, &uri, &oidc, f.timeout.0.as_secs())
                            .await?
                    }
                    Event::Schedule(s) => {
                        jobs += 1;
                        let (cron, text) = match (&s.cron, s.every) {
                            (Some(c), _) => (c.clone(), format!("cron {c}")),
                            (None, Some(every)) => (
                                every_as_cron(every.0).map_err(ProviderError::new)?,
                                format!("every {every}"),
                            ),
                            (None, None) => {
                                return Err(ProviderError::new(
                                    "a schedule needs `cron` or `every`",
                                ));
                            }
                        };
                        let body = json!({"nubo": "schedule", "schedule": text}).to_string();
                        let job = json!({
                            "name": self.job(&f.name, jobs),
                            "description": format!("nubo: {} of {}", text, f.name),
                            "schedule": cron,
                            "timeZone": "Etc/UTC",
                            "attemptDeadline": format!("{}s", f.timeout.0.as_secs().clamp(15, 1800)),
                            "httpTarget": {
                                "uri": format!("{uri}/_nubo/schedule"),
                                "httpMethod": "POST",
                                "headers": {"Content-Type": "application/json"},
                                "body": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, body),
                                "oidcToken": oidc,
                            },
                        });
                        self.ensure_job(job).await?;
                    }
                    Event::Storage(s) => {
                        let mut path = format!("/_nubo/storage/{}", encode(&s.bucket));
                        let mut q = Vec::new();
                        if let Some(p) = &s.prefix {
                            q.push(format!("prefix={}", encode(p)));
                        }
                        if let Some(x) = &s.suffix {
                            q.push(format!("suffix={}", encode(x)));
                        }
                        if !q.is_empty() {
                            path = format!("{path}?{}", q.join("&"));
                        }
                        self.ensure_storage(&f.name, &s.bucket, s.on, &path, &email)
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn ensure_topic(&self, name: &str) -> Result<()> {
        let url = self.url(&self.run.google.endpoints.pubsub, name);
        if self
            .read(&format!("pubsub.projects.topics.get {name}"), &url)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let labels = self.labels();
        self.write(&format!("pubsub.projects.topics.create {name}"), |c| {
            c.put(&url).json(&json!({"labels": labels}))
        })
        .await?;
        Ok(())
    }

    fn labels(&self) -> Value {
        json!({"nubo-service": self.service.service, "nubo-target": self.service.target})
    }

    async fn ensure_queue(
        &self,
        function: &str,
        queue: &str,
        uri: &str,
        oidc: &Value,
        timeout: u64,
    ) -> Result<()> {
        let topic = self.topic(queue);
        let dead = format!("{topic}-dlq");
        self.ensure_topic(&topic).await?;
        self.ensure_topic(&dead).await?;
        let name = self.subscription(queue, function);
        let url = self.url(&self.run.google.endpoints.pubsub, &name);
        let push = json!({
            "pushEndpoint": format!("{uri}/_nubo/queue/{}", encode(queue)),
            "oidcToken": oidc,
        });
        match self
            .read(&format!("pubsub.projects.subscriptions.get {name}"), &url)
            .await?
        {
            None => {
                let body = json!({
                    "topic": topic,
                    "pushConfig": push,
                    "ackDeadlineSeconds": timeout.clamp(10, 600),
                    "deadLetterPolicy": {"deadLetterTopic": dead, "maxDeliveryAttempts": 5},
                    "retryPolicy": {"minimumBackoff": "10s", "maximumBackoff": "600s"},
                    "labels": self.labels(),
                });
                self.write(
                    &format!("pubsub.projects.subscriptions.create {name}"),
                    |c| c.put(&url).json(&body),
                )
                .await?;
            }
            Some(s) if s["pushConfig"] != push => {
                let url = format!("{url}:modifyPushConfig");
                self.write(
                    &format!("pubsub.projects.subscriptions.modifyPushConfig {name}"),
                    |c| c.post(&url).json(&json!({"pushConfig": push})),
                )
                .await?;
            }
            Some(_) => {}
        }
        Ok(())
    }

    async fn ensure_job(&self, job: Value) -> Result<()> {
        let name = job["name"].as_str().unwrap_or_default().to_owned();
        let base = &self.run.google.endpoints.scheduler;
        let url = self.url(base, &name);
        match self
            .read(
                &format!("cloudscheduler.projects.locations.jobs.get {name}"),
                &url,
            )
            .await?
        {
            None => {
                let parent = name.rsplit_once("/jobs/").map_or("", |(p, _)| p).to_owned();
                let url = format!("{base}/v1/{parent}/jobs");
                self.write(
                    &format!("cloudscheduler.projects.locations.jobs.create {name}"),
                    |c| c.post(&url).json(&job),
                )
                .await?;
            }
            Some(have) => {
                let same = ["schedule", "timeZone", "attemptDeadline", "httpTarget"]
                    .iter()
                    .all(|k| have[*k] == job[*k]);
                if !same {
                    self.write(
                        &format!("cloudscheduler.projects.locations.jobs.patch {name}"),
                        |c| {
                            c.patch(&url)
                                .query(&[(
                                    "updateMask",
                                    "schedule,timeZone,attemptDeadline,httpTarget",
                                )])
                                .json(&job)
                        },
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }

    async fn ensure_storage(
        &self,
        function: &str,
        bucket: &str,
        on: StorageOn,
        path: &str,
        email: &str,
    ) -> Result<()> {
        let physical = self.bucket(bucket);
        let storage = &self.run.google.endpoints.storage;
        let url = format!("{storage}/storage/v1/b/{}", encode(&physical));
        if self
            .read(&format!("storage.buckets.get gs://{physical}"), &url)
            .await?
            .is_none()
        {
            let url = format!("{storage}/storage/v1/b");
            let project = self.project().to_owned();
            let body = json!({
                "name": physical,
                "location": self.region().to_uppercase(),
                "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": true}},
                "labels": self.labels(),
            });
            self.write(&format!("storage.buckets.insert gs://{physical}"), |c| {
                c.post(&url)
                    .query(&[("project", project.as_str())])
                    .json(&body)
            })
            .await?;
        }
        let name = self.eventarc_trigger(function, bucket, on);
        let base = &self.run.google.endpoints.eventarc;
        let url = self.url(base, &name);
        let kind = match on {
            StorageOn::Created => "google.cloud.storage.object.v1.finalized",
            StorageOn::Deleted => "google.cloud.storage.object.v1.deleted",
        };
        let want = json!({
            "eventFilters": [
                {"attribute": "type", "value": kind},
                {"attribute": "bucket", "value": physical},
            ],
            "destination": {"cloudRun": {
                "service": self.run.service_id(function),
                "region": self.region(),
                "path": path,
            }},
            "serviceAccount": email,
            "labels": self.labels(),
        });
        let what = "eventarc.projects.locations.triggers";
        match self.read(&format!("{what}.get {name}"), &url).await? {
            None => {
                let (parent, id) = name.rsplit_once("/triggers/").unwrap_or_default();
                let url = format!("{base}/v1/{parent}/triggers");
                let op = self
                    .write(&format!("{what}.create {name}"), |c| {
                        c.post(&url).query(&[("triggerId", id)]).json(&want)
                    })
                    .await?;
                self.eventarc_wait(&format!("{what}.create {name}"), op)
                    .await?;
            }
            Some(have)
                if have["destination"] != want["destination"]
                    || have["eventFilters"] != want["eventFilters"] =>
            {
                let op = self
                    .write(&format!("{what}.patch {name}"), |c| {
                        c.patch(&url)
                            .query(&[("updateMask", "destination,eventFilters")])
                            .json(&want)
                    })
                    .await?;
                self.eventarc_wait(&format!("{what}.patch {name}"), op)
                    .await?;
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Wait for an Eventarc operation (polled like Cloud Run's).
    async fn eventarc_wait(&self, what: &str, mut op: Value) -> Result<()> {
        let start = std::time::Instant::now();
        let mut attempt = 0u32;
        while !op.is_null() && op["done"].as_bool() != Some(true) {
            if start.elapsed() > std::time::Duration::from_secs(600) {
                return Err(ProviderError::new(format!("{what}: not done after 600 s")));
            }
            tokio::time::sleep(std::time::Duration::from_millis(
                (50u64 << attempt.min(5)).min(2000),
            ))
            .await;
            attempt += 1;
            let name = op["name"].as_str().unwrap_or_default().to_owned();
            let url = self.url(&self.run.google.endpoints.eventarc, &name);
            op = self
                .run
                .google
                .json(
                    &format!("eventarc.projects.locations.operations.get {name}"),
                    |c| c.get(&url),
                )
                .await?;
        }
        if let Some(e) = op.get("error") {
            return Err(ProviderError::new(format!(
                "{what}: {}",
                e["message"].as_str().unwrap_or("the operation failed")
            )));
        }
        Ok(())
    }

    /// What the triggers consist of, as (kind, name, URL to GET and DELETE).
    fn trigger_resources(&self) -> Vec<(&'static str, String, String)> {
        let e = &self.run.google.endpoints;
        let mut out = Vec::new();
        for f in self.service.functions.values() {
            let mut jobs = 0;
            for ev in &f.events {
                match ev {
                    Event::Http(_) => {}
                    Event::Queue(q) => {
                        let s = self.subscription(&q.name, &f.name);
                        out.push(("Pub/Sub subscription", s.clone(), self.url(&e.pubsub, &s)));
                        for t in [self.topic(&q.name), format!("{}-dlq", self.topic(&q.name))] {
                            if !out.iter().any(|(_, n, _)| *n == t) {
                                out.push(("Pub/Sub topic", t.clone(), self.url(&e.pubsub, &t)));
                            }
                        }
                    }
                    Event::Schedule(_) => {
                        jobs += 1;
                        let j = self.job(&f.name, jobs);
                        out.push(("Cloud Scheduler job", j.clone(), self.url(&e.scheduler, &j)));
                    }
                    Event::Storage(s) => {
                        let t = self.eventarc_trigger(&f.name, &s.bucket, s.on);
                        out.push(("Eventarc trigger", t.clone(), self.url(&e.eventarc, &t)));
                    }
                }
            }
        }
        // Subscriptions before their topics; buckets last.
        out.sort_by_key(|(kind, _, _)| *kind == "Pub/Sub topic");
        out
    }

    fn buckets(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .service
            .functions
            .values()
            .flat_map(|f| f.events.iter())
            .filter_map(|e| match e {
                Event::Storage(s) => Some(self.bucket(&s.bucket)),
                _ => None,
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The triggers that exist, one line each, for `nubo remove`.
    pub(super) async fn trigger_inventory(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for (kind, name, url) in self.trigger_resources() {
            if self.read(&format!("{kind} {name}"), &url).await?.is_some() {
                out.push(format!("{kind} {name}"));
            }
        }
        let storage = &self.run.google.endpoints.storage;
        for b in self.buckets() {
            let url = format!("{storage}/storage/v1/b/{}", encode(&b));
            if self
                .read(&format!("storage.buckets.get gs://{b}"), &url)
                .await?
                .is_some()
            {
                out.push(format!(
                    "Cloud Storage bucket gs://{b} (deleted only when empty)"
                ));
            }
        }
        Ok(out)
    }

    /// Delete the triggers, and each bucket that is empty.
    pub(super) async fn remove_triggers(&self) -> Result<()> {
        for (kind, name, url) in self.trigger_resources() {
            let op = self
                .write(&format!("delete {kind} {name}"), |c| c.delete(&url))
                .await?;
            if kind == "Eventarc trigger" {
                self.eventarc_wait(&format!("delete {kind} {name}"), op)
                    .await?;
            }
        }
        let storage = &self.run.google.endpoints.storage;
        for b in self.buckets() {
            let url = format!("{storage}/storage/v1/b/{}", encode(&b));
            let what = format!("storage.buckets.delete gs://{b}");
            let (status, body) = self.run.google.send(&what, |c| c.delete(&url)).await?;
            // 409: not empty; nubo never deletes what users stored.
            if !status.is_success() && !matches!(status.as_u16(), 404 | 409) {
                return Err(super::error(&what, status, &body.text()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn intervals_become_unix_cron() {
        let m = |mins: u64| every_as_cron(Duration::from_secs(mins * 60));
        assert_eq!(m(1).unwrap(), "* * * * *");
        assert_eq!(m(5).unwrap(), "*/5 * * * *");
        assert_eq!(m(60).unwrap(), "0 * * * *");
        assert_eq!(m(180).unwrap(), "0 */3 * * *");
        assert_eq!(m(1440).unwrap(), "0 0 * * *");
        assert!(m(7).is_err());
        assert!(m(300 + 1).is_err());
        assert!(every_as_cron(Duration::from_secs(90)).is_err());
    }

    #[test]
    fn long_ids_keep_63_characters() {
        assert_eq!(id63("short"), "short");
        let long = "a".repeat(80);
        assert_eq!(id63(&long).len(), 63);
        assert_ne!(id63(&long), id63(&format!("{long}b")));
    }
}
