//! Pub/Sub, Cloud Scheduler and Eventarc, for the fake: enough state to
//! keep what nubo creates (topics, push subscriptions, jobs, triggers) and
//! to **deliver** like the services do, through the fake's Cloud Run front
//! end (`gcp_front.rs`), so the deployed revisions really run:
//!
//! - `topics.publish` pushes each message to every push subscription of the
//!   topic (the JSON envelope, an identity token for the subscription's
//!   `oidcToken`), redelivering a non-2xx answer up to the dead-letter
//!   policy's `maxDeliveryAttempts` (5 without one), then publishing it to
//!   the dead-letter topic. [`Fake::published`] lists a topic's messages.
//! - `jobs.run` sends the job's `httpTarget` request (body, headers, an
//!   identity token for its `oidcToken`).
//! - A Cloud Storage upload or delete sends a CloudEvent in binary mode
//!   (`ce-type`, `ce-source`, `ce-subject`, …; the object as the body) to the
//!   Cloud Run destination of every Eventarc trigger whose filters match
//!   (`type`, `bucket`).
//!
//! Requests are checked against `tests/specs/gcp/{pubsub,cloudscheduler,
//! eventarc}.v1.json`. Limits: Eventarc operations are done when returned;
//! pull subscriptions, schemas, snapshots and job pausing are not
//! implemented (501, recorded).

use super::*;

/// A request the fake sends to a Cloud Run URL on a service's behalf.
pub(super) struct Delivery {
    pub host: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// (audience, service account) of the identity token to send.
    pub token: Option<(String, String)>,
    /// For Pub/Sub: redelivery and the dead-letter topic.
    pub pubsub: Option<PubsubDelivery>,
}

pub(super) struct PubsubDelivery {
    pub max_attempts: u32,
    pub dead_letter: Option<String>,
    pub message: Value,
    pub subscription: String,
}

impl Fake {
    /// The messages published to a Pub/Sub topic (full name or id), oldest
    /// first, as `{"data", "attributes", "messageId"}`.
    pub fn published(&self, topic: &str) -> Vec<Value> {
        let st = self.lock();
        st.topics
            .iter()
            .find(|(name, _)| *name == topic || short(name) == topic)
            .map(|(_, t)| t.messages.clone())
            .unwrap_or_default()
    }
}

pub(super) struct Topic {
    pub resource: Value,
    pub messages: Vec<Value>,
}

fn topic_name_ok(name: &str) -> bool {
    static NAME: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/(topics|subscriptions)/[A-Za-z][-A-Za-z0-9._~%+]{2,254}$").unwrap()
    });
    NAME.is_match(name) && !short(name).starts_with("goog")
}

impl State {
    pub(super) fn topics_create(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("name").to_owned();
        if !topic_name_ok(&name) {
            return Err(ApiError::invalid(format!(
                "Invalid [topics] name: ({name})"
            )));
        }
        if self.topics.contains_key(&name) {
            return Err(ApiError::already_exists(
                "Resource already exists in the project (resource=".to_owned()
                    + short(&name)
                    + ").",
            ));
        }
        let mut resource = req.json();
        if !resource.is_object() {
            resource = json!({});
        }
        resource["name"] = Value::from(name.clone());
        resource["state"] = Value::from("ACTIVE");
        self.topics.insert(
            name,
            Topic {
                resource: resource.clone(),
                messages: Vec::new(),
            },
        );
        Ok(Reply::Json(resource))
    }

    pub(super) fn topics_get(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("topic");
        self.topics
            .get(name)
            .map(|t| Reply::Json(t.resource.clone()))
            .ok_or_else(|| {
                ApiError::not_found(format!("Resource not found (resource={}).", short(name)))
            })
    }

    pub(super) fn topics_delete(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("topic").to_owned();
        if self.topics.remove(&name).is_none() {
            return Err(ApiError::not_found(format!(
                "Resource not found (resource={}).",
                short(&name)
            )));
        }
        for s in self.subscriptions.values_mut() {
            if s["topic"].as_str() == Some(name.as_str()) {
                s["topic"] = Value::from("_deleted-topic_");
            }
        }
        Ok(Reply::Json(json!({})))
    }

    pub(super) fn topics_publish(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("topic").to_owned();
        if !self.topics.contains_key(&name) {
            return Err(ApiError::not_found(format!(
                "Resource not found (resource={}).",
                short(&name)
            )));
        }
        let body = req.json();
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        if messages.is_empty() {
            return Err(ApiError::invalid("The request contains no messages."));
        }
        let mut ids = Vec::new();
        for mut m in messages {
            if m["data"].as_str().is_none_or(str::is_empty)
                && m["attributes"].as_object().is_none_or(Map::is_empty)
            {
                return Err(ApiError::invalid(
                    "Some messages are empty: a message needs data or attributes.",
                ));
            }
            if let Some(d) = m["data"].as_str()
                && STANDARD.decode(d).is_err()
            {
                return Err(ApiError::invalid("Invalid data in message: not base64."));
            }
            let id = format!(
                "{}",
                10_000_000_000_000u64 + self.next_generation as u64 % 1_000_000
            );
            self.next_generation += 1;
            m["messageId"] = Value::from(id.clone());
            m["publishTime"] = Value::from(now_rfc3339());
            ids.push(Value::from(id));
            self.deliver_message(&name, &m);
            self.topics
                .get_mut(&name)
                .expect("checked")
                .messages
                .push(m);
        }
        Ok(Reply::Json(json!({"messageIds": ids})))
    }

    /// Queue a message for every push subscription of `topic`.
    fn deliver_message(&mut self, topic: &str, message: &Value) {
        let subs: Vec<(String, Value)> = self
            .subscriptions
            .iter()
            .filter(|(_, s)| s["topic"].as_str() == Some(topic))
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        for (name, s) in subs {
            let Some(endpoint) = s["pushConfig"]["pushEndpoint"].as_str() else {
                continue;
            };
            let Some((host, path)) = split_url(endpoint) else {
                continue;
            };
            let token = s["pushConfig"]["oidcToken"]["serviceAccountEmail"]
                .as_str()
                .map(|email| {
                    let aud = s["pushConfig"]["oidcToken"]["audience"]
                        .as_str()
                        .unwrap_or(endpoint)
                        .to_owned();
                    (aud, email.to_owned())
                });
            self.pending.push(Delivery {
                host,
                path,
                headers: vec![("content-type".into(), "application/json".into())],
                body: Vec::new(),
                token,
                pubsub: Some(PubsubDelivery {
                    max_attempts: s["deadLetterPolicy"]["maxDeliveryAttempts"]
                        .as_u64()
                        .unwrap_or(5) as u32,
                    dead_letter: s["deadLetterPolicy"]["deadLetterTopic"]
                        .as_str()
                        .map(str::to_owned),
                    message: message.clone(),
                    subscription: name,
                }),
            });
        }
    }

    pub(super) fn subscriptions_create(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("name").to_owned();
        if !topic_name_ok(&name) {
            return Err(ApiError::invalid(format!(
                "Invalid [subscriptions] name: ({name})"
            )));
        }
        if self.subscriptions.contains_key(&name) {
            return Err(ApiError::already_exists(format!(
                "Resource already exists in the project (resource={}).",
                short(&name)
            )));
        }
        let mut s = req.json();
        let topic = s["topic"].as_str().unwrap_or_default().to_owned();
        if !self.topics.contains_key(&topic) {
            return Err(ApiError::not_found(format!(
                "Resource not found (resource={}).",
                short(&topic)
            )));
        }
        check_push(&s)?;
        if let Some(dl) = s["deadLetterPolicy"]["deadLetterTopic"].as_str()
            && !self.topics.contains_key(dl)
        {
            return Err(ApiError::not_found(format!(
                "Dead letter topic {dl} not found."
            )));
        }
        s["name"] = Value::from(name.clone());
        s["state"] = Value::from("ACTIVE");
        s.as_object_mut()
            .expect("an object")
            .entry("ackDeadlineSeconds")
            .or_insert(Value::from(10));
        self.subscriptions.insert(name, s.clone());
        Ok(Reply::Json(s))
    }

    pub(super) fn subscriptions_get(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("subscription");
        self.subscriptions
            .get(name)
            .map(|s| Reply::Json(s.clone()))
            .ok_or_else(|| {
                ApiError::not_found(format!("Resource not found (resource={}).", short(name)))
            })
    }

    pub(super) fn subscriptions_delete(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("subscription").to_owned();
        self.subscriptions
            .remove(&name)
            .map(|_| Reply::Json(json!({})))
            .ok_or_else(|| {
                ApiError::not_found(format!("Resource not found (resource={}).", short(&name)))
            })
    }

    pub(super) fn subscriptions_modify_push_config(
        &mut self,
        req: &Incoming,
    ) -> Result<Reply, ApiError> {
        let name = req.param("subscription").to_owned();
        let body = req.json();
        let s = self.subscriptions.get_mut(&name).ok_or_else(|| {
            ApiError::not_found(format!("Resource not found (resource={}).", short(&name)))
        })?;
        let wrapped = json!({"pushConfig": body["pushConfig"].clone()});
        check_push(&wrapped)?;
        s["pushConfig"] = body["pushConfig"].clone();
        Ok(Reply::Json(json!({})))
    }

    pub(super) fn jobs_create(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let parent = req.param("parent").to_owned();
        let mut job = req.json();
        let name = job["name"].as_str().unwrap_or_default().to_owned();
        if !name.starts_with(&format!("{parent}/jobs/")) {
            return Err(ApiError::invalid(format!(
                "job.name {name:?} must be {parent}/jobs/JOB_ID"
            )));
        }
        if self.jobs.contains_key(&name) {
            return Err(ApiError::already_exists(format!(
                "Job {name} already exists."
            )));
        }
        check_job(&job)?;
        job["state"] = Value::from("ENABLED");
        job["userUpdateTime"] = Value::from(now_rfc3339());
        job.as_object_mut()
            .expect("an object")
            .entry("timeZone")
            .or_insert(Value::from("Etc/UTC"));
        self.jobs.insert(name, job.clone());
        Ok(Reply::Json(job))
    }

    pub(super) fn jobs_get(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("name");
        self.jobs
            .get(name)
            .map(|j| Reply::Json(j.clone()))
            .ok_or_else(|| ApiError::not_found(format!("Job not found: {name}.")))
    }

    pub(super) fn jobs_patch(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("name").to_owned();
        let body = req.json();
        let Some(old) = self.jobs.get(&name).cloned() else {
            return Err(ApiError::not_found(format!("Job not found: {name}.")));
        };
        let mut job = old.clone();
        match req.query("updateMask") {
            Some(mask) => {
                for field in mask.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                    let top = field.split('.').next().unwrap_or(field);
                    job[top] = body[top].clone();
                }
            }
            None => {
                for (k, v) in body.as_object().cloned().unwrap_or_default() {
                    job[k] = v;
                }
            }
        }
        job["name"] = Value::from(name.clone());
        check_job(&job)?;
        job["userUpdateTime"] = Value::from(now_rfc3339());
        self.jobs.insert(name, job.clone());
        Ok(Reply::Json(job))
    }

    pub(super) fn jobs_delete(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("name").to_owned();
        self.jobs
            .remove(&name)
            .map(|_| Reply::Json(json!({})))
            .ok_or_else(|| ApiError::not_found(format!("Job not found: {name}.")))
    }

    pub(super) fn jobs_run(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("name").to_owned();
        let job = self
            .jobs
            .get(&name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("Job not found: {name}.")))?;
        let target = &job["httpTarget"];
        let uri = target["uri"].as_str().unwrap_or_default();
        if let Some((host, path)) = split_url(uri) {
            let mut headers: Vec<(String, String)> = target["headers"]
                .as_object()
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| {
                            (
                                k.to_ascii_lowercase(),
                                v.as_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            headers.push(("x-cloudscheduler".into(), "true".into()));
            headers.push(("x-cloudscheduler-scheduletime".into(), now_rfc3339()));
            let token = target["oidcToken"]["serviceAccountEmail"]
                .as_str()
                .map(|email| {
                    (
                        target["oidcToken"]["audience"]
                            .as_str()
                            .unwrap_or(uri)
                            .to_owned(),
                        email.to_owned(),
                    )
                });
            self.pending.push(Delivery {
                host,
                path,
                headers,
                body: target["body"]
                    .as_str()
                    .and_then(|b| STANDARD.decode(b).ok())
                    .unwrap_or_default(),
                token,
                pubsub: None,
            });
        }
        let mut job = job;
        job["lastAttemptTime"] = Value::from(now_rfc3339());
        Ok(Reply::Json(job))
    }

    fn eventarc_done(&mut self, parent: &str, response: Value) -> Value {
        let name = format!(
            "{}/operations/operation-{}",
            location_of_name(parent),
            random_hex(12)
        );
        let op = json!({
            "name": name,
            "done": true,
            "metadata": {
                "@type": "type.googleapis.com/google.cloud.eventarc.v1.OperationMetadata",
                "createTime": now_rfc3339(),
                "endTime": now_rfc3339(),
            },
            "response": response,
        });
        self.eventarc_ops.insert(name, op.clone());
        op
    }

    pub(super) fn triggers_create(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let parent = req.param("parent").to_owned();
        let id = req.query("triggerId").unwrap_or_default().to_owned();
        static ID: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"^[a-z][a-z0-9-]{0,62}$").unwrap());
        if !ID.is_match(&id) {
            return Err(ApiError::invalid(format!(
                "triggerId {id:?}: lowercase letters, digits and hyphens, starting with a letter, at most 63"
            )));
        }
        let name = format!("{parent}/triggers/{id}");
        if self.triggers.contains_key(&name) {
            return Err(ApiError::already_exists(format!(
                "Trigger {name} already exists."
            )));
        }
        let mut t = req.json();
        self.check_trigger(&t)?;
        t["name"] = Value::from(name.clone());
        t["uid"] = Value::from(random_uuid());
        t["createTime"] = Value::from(now_rfc3339());
        t["updateTime"] = Value::from(now_rfc3339());
        t["etag"] = Value::from(new_etag());
        if req.flag("validateOnly") {
            return Ok(Reply::Json(self.eventarc_done(&parent, Value::Null)));
        }
        self.triggers.insert(name, t.clone());
        let mut response = t;
        response["@type"] = Value::from("type.googleapis.com/google.cloud.eventarc.v1.Trigger");
        Ok(Reply::Json(self.eventarc_done(&parent, response)))
    }

    pub(super) fn triggers_get(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("name");
        self.triggers
            .get(name)
            .map(|t| Reply::Json(t.clone()))
            .ok_or_else(|| ApiError::not_found(format!("Resource '{name}' was not found")))
    }

    pub(super) fn triggers_patch(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("name").to_owned();
        let body = req.json();
        let Some(mut t) = self.triggers.get(&name).cloned() else {
            return Err(ApiError::not_found(format!(
                "Resource '{name}' was not found"
            )));
        };
        let mask = req.query("updateMask").unwrap_or_default().to_owned();
        if mask.is_empty() {
            return Err(ApiError::invalid("update_mask is required"));
        }
        for field in mask.split(',').map(str::trim) {
            let top = camel_case(field.split('.').next().unwrap_or(field));
            t[&top] = body[&top].clone();
        }
        self.check_trigger(&t)?;
        t["updateTime"] = Value::from(now_rfc3339());
        t["etag"] = Value::from(new_etag());
        self.triggers.insert(name.clone(), t.clone());
        let mut response = t;
        response["@type"] = Value::from("type.googleapis.com/google.cloud.eventarc.v1.Trigger");
        Ok(Reply::Json(
            self.eventarc_done(parent_of(parent_of(&name)), response),
        ))
    }

    pub(super) fn triggers_delete(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("name").to_owned();
        match self.triggers.remove(&name) {
            Some(mut t) => {
                t["@type"] = Value::from("type.googleapis.com/google.cloud.eventarc.v1.Trigger");
                Ok(Reply::Json(
                    self.eventarc_done(parent_of(parent_of(&name)), t),
                ))
            }
            None if req.flag("allowMissing") => Ok(Reply::Json(
                self.eventarc_done(parent_of(parent_of(&name)), Value::Null),
            )),
            None => Err(ApiError::not_found(format!(
                "Resource '{name}' was not found"
            ))),
        }
    }

    pub(super) fn eventarc_operation(&mut self, req: &Incoming) -> Result<Reply, ApiError> {
        let name = req.param("name");
        self.eventarc_ops
            .get(name)
            .map(|op| Reply::Json(op.clone()))
            .ok_or_else(|| ApiError::not_found(format!("Operation {name} not found.")))
    }

    /// A trigger's filters and destination, as Eventarc checks them.
    fn check_trigger(&self, t: &Value) -> Result<(), ApiError> {
        let filters = t["eventFilters"].as_array().cloned().unwrap_or_default();
        let kind = filters
            .iter()
            .find(|f| f["attribute"] == "type")
            .and_then(|f| f["value"].as_str())
            .ok_or_else(|| ApiError::invalid("eventFilters must include the attribute `type`"))?;
        if kind.starts_with("google.cloud.storage.object.v1.") {
            let bucket = filters
                .iter()
                .find(|f| f["attribute"] == "bucket")
                .and_then(|f| f["value"].as_str())
                .ok_or_else(|| {
                    ApiError::invalid("a Cloud Storage trigger needs a `bucket` filter")
                })?;
            if !self.buckets.contains_key(bucket) {
                return Err(ApiError::invalid(format!(
                    "Bucket '{bucket}' was not found"
                )));
            }
        }
        let run = &t["destination"]["cloudRun"];
        let service = run["service"].as_str().unwrap_or_default();
        if service.is_empty() {
            return Err(ApiError::invalid(
                "destination.cloudRun.service is required",
            ));
        }
        let region = run["region"].as_str().unwrap_or_default();
        let full = format!("projects/{PROJECT_ID}/locations/{region}/services/{service}");
        if !self
            .services
            .keys()
            .any(|k| k == &full || short(k) == service)
        {
            return Err(ApiError::invalid(format!(
                "destination Cloud Run service {service} in {region} was not found"
            )));
        }
        if t["serviceAccount"].as_str().is_none_or(str::is_empty) {
            return Err(ApiError::invalid(
                "serviceAccount is required for a Cloud Run destination",
            ));
        }
        Ok(())
    }

    /// After a Cloud Storage write or delete: a CloudEvent to each trigger
    /// that matches.
    pub(super) fn storage_event(&mut self, bucket: &str, object: &Value, deleted: bool) {
        let kind = if deleted {
            "google.cloud.storage.object.v1.deleted"
        } else {
            "google.cloud.storage.object.v1.finalized"
        };
        let mut out = Vec::new();
        for t in self.triggers.values() {
            let filters = t["eventFilters"].as_array().cloned().unwrap_or_default();
            let matches = |attr: &str, want: &str| {
                filters
                    .iter()
                    .find(|f| f["attribute"] == attr)
                    .is_some_and(|f| f["value"] == want)
            };
            if !(matches("type", kind) && matches("bucket", bucket)) {
                continue;
            }
            let run = &t["destination"]["cloudRun"];
            let service = run["service"].as_str().unwrap_or_default();
            let Some(svc) = self
                .services
                .values()
                .find(|s| short(s.resource["name"].as_str().unwrap_or_default()) == service)
            else {
                continue;
            };
            let Some((host, _)) = split_url(svc.resource["uri"].as_str().unwrap_or_default())
            else {
                continue;
            };
            let path = run["path"].as_str().unwrap_or("/");
            let name = object["name"].as_str().unwrap_or_default();
            out.push(Delivery {
                host,
                path: if path.starts_with('/') {
                    path.to_owned()
                } else {
                    format!("/{path}")
                },
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("ce-specversion".into(), "1.0".into()),
                    ("ce-type".into(), kind.into()),
                    ("ce-id".into(), random_hex(8)),
                    (
                        "ce-source".into(),
                        format!("//storage.googleapis.com/projects/_/buckets/{bucket}"),
                    ),
                    ("ce-subject".into(), format!("objects/{name}")),
                    ("ce-time".into(), now_rfc3339()),
                ],
                body: object.to_string().into_bytes(),
                token: Some((
                    svc.resource["uri"].as_str().unwrap_or_default().to_owned(),
                    t["serviceAccount"].as_str().unwrap_or_default().to_owned(),
                )),
                pubsub: None,
            });
        }
        self.pending.extend(out);
    }
}

fn check_push(s: &Value) -> Result<(), ApiError> {
    if let Some(endpoint) = s["pushConfig"]["pushEndpoint"].as_str()
        && !endpoint.is_empty()
        && !endpoint.starts_with("https://")
    {
        return Err(ApiError::invalid(format!(
            "Invalid push endpoint given (endpoint={endpoint}). Refer to https://cloud.google.com/pubsub/docs/push#configure_push_endpoints for more information."
        )));
    }
    if let Some(ack) = s["ackDeadlineSeconds"].as_i64()
        && !(10..=600).contains(&ack)
    {
        return Err(ApiError::invalid(format!(
            "Invalid ackDeadlineSeconds {ack}: it must be between 10 and 600."
        )));
    }
    if let Some(n) = s["deadLetterPolicy"]["maxDeliveryAttempts"].as_i64()
        && !(5..=100).contains(&n)
    {
        return Err(ApiError::invalid(
            "maxDeliveryAttempts must be between 5 and 100.",
        ));
    }
    Ok(())
}

fn check_job(job: &Value) -> Result<(), ApiError> {
    let schedule = job["schedule"].as_str().unwrap_or_default();
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(ApiError::invalid(format!(
            "Schedule {schedule:?} is not a unix-cron expression (five fields)"
        )));
    }
    let uri = job["httpTarget"]["uri"].as_str().unwrap_or_default();
    if !uri.starts_with("https://") && !uri.starts_with("http://") {
        return Err(ApiError::invalid(format!(
            "httpTarget.uri {uri:?} must be an http(s) URL"
        )));
    }
    if let Some(d) = job["attemptDeadline"].as_str() {
        let secs = parse_duration(d).map(|d| d.as_secs()).unwrap_or(0);
        if !(15..=1800).contains(&secs) {
            return Err(ApiError::invalid(format!(
                "attemptDeadline {d} must be between 15s and 30m"
            )));
        }
    }
    Ok(())
}

/// `https://host/path?q` → (`host`, `/path?q`).
fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Some((host.to_ascii_lowercase(), path.to_owned()))
}

/// `projects/p/locations/l/...` → `projects/p/locations/l`.
fn location_of_name(name: &str) -> String {
    name.split('/').take(4).collect::<Vec<_>>().join("/")
}

/// Send the deliveries queued by the last request, each on its own task.
pub(super) fn spawn_deliveries(shared: &Arc<Mutex<State>>) {
    let pending = std::mem::take(&mut lock(shared).pending);
    for d in pending {
        let shared = shared.clone();
        tokio::spawn(async move { deliver(shared, d).await });
    }
}

async fn deliver(shared: Arc<Mutex<State>>, d: Delivery) {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let mut headers = HeaderMap::new();
        for (k, v) in &d.headers {
            if let (Ok(k), Ok(v)) = (
                header::HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                headers.insert(k, v);
            }
        }
        headers.insert(
            header::HOST,
            HeaderValue::from_str(&d.host).expect("a host"),
        );
        if let Some((aud, email)) = &d.token {
            let token = lock(&shared).issue_id_token(aud, email);
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {token}")).expect("a token"),
            );
        }
        let body = match &d.pubsub {
            Some(p) => json!({
                "message": p.message,
                "subscription": p.subscription,
                "deliveryAttempt": attempt,
            })
            .to_string()
            .into_bytes(),
            None => d.body.clone(),
        };
        let (path, query) = d.path.split_once('?').unwrap_or((&d.path, ""));
        let req = Incoming {
            method: "POST".to_owned(),
            path: path.to_owned(),
            query: parse_query(query),
            raw_query: query.to_owned(),
            headers,
            body: Bytes::from(body),
            params: BTreeMap::new(),
        };
        let status = front::serve(shared.clone(), req, d.host.clone())
            .await
            .status()
            .as_u16();
        let Some(p) = &d.pubsub else { return };
        if (200..300).contains(&status) {
            return;
        }
        if attempt >= p.max_attempts {
            if let Some(dl) = &p.dead_letter {
                let mut st = lock(&shared);
                if let Some(t) = st.topics.get_mut(dl) {
                    t.messages.push(p.message.clone());
                }
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
