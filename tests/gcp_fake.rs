//! The spec-checked Google Cloud fake (`tests/support/gcp_fake.rs`): its
//! token endpoint and auth, its request and response checking against the
//! discovery documents, and the Cloud Run, Cloud Storage and Cloud Logging
//! behaviour a Google Cloud backend for nubo will rely on.
//!
//! Each test talks HTTP to a fresh fake with `reqwest::blocking`, as a
//! client would, and ends by asserting that the fake recorded no violations:
//! the requests were well formed and every answer matched its schema.

#[path = "support/gcp_fake.rs"]
mod gcp_fake;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gcp_fake::{CLIENT_EMAIL, Fake, PROJECT_ID, TOKEN_METHOD};
use regex::Regex;
use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::{Value, json};

const PARENT: &str = "projects/test-project/locations/us-central1";
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const IMAGE_V1: &str = "us-docker.pkg.dev/cloudrun/container/hello:v1";
const IMAGE_V2: &str = "us-docker.pkg.dev/cloudrun/container/hello:v2";

/// A response, read fully.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "answer {} is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    #[track_caller]
    fn ok(self) -> Value {
        assert_eq!(
            self.status,
            200,
            "expected 200, got {}: {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        self.json()
    }

    /// Asserts a Google error answer and returns its `error` object.
    #[track_caller]
    fn error(self, status: u16, word: &str) -> Value {
        assert_eq!(
            self.status,
            status,
            "expected {status}, got {}: {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        let error = self.json()["error"].clone();
        assert_eq!(error["code"], status, "{error}");
        assert_eq!(error["status"], word, "{error}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{error}"
        );
        error
    }
}

/// A fake, an HTTP client and a token the fake issued.
struct Session {
    fake: Fake,
    http: Client,
    token: String,
}

impl Session {
    fn start() -> Session {
        let fake = Fake::start();
        let http = Client::new();
        let answer = request_token(&http, &fake, &jwt(&claims(&fake)));
        let token = answer.ok()["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned();
        Session { fake, http, token }
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.fake.url()))
            .bearer_auth(&self.token)
            .query(query);
        if let Some(body) = body {
            req = req.json(body);
        }
        read(req)
    }

    fn get(&self, path: &str, query: &[(&str, &str)]) -> Answer {
        self.send(Method::GET, path, query, None)
    }

    fn post(&self, path: &str, query: &[(&str, &str)], body: &Value) -> Answer {
        self.send(Method::POST, path, query, Some(body))
    }

    fn patch(&self, path: &str, query: &[(&str, &str)], body: &Value) -> Answer {
        self.send(Method::PATCH, path, query, Some(body))
    }

    fn delete(&self, path: &str, query: &[(&str, &str)]) -> Answer {
        self.send(Method::DELETE, path, query, None)
    }

    /// `operations.wait` until the operation is done.
    #[track_caller]
    fn wait(&self, operation: &Value) -> Value {
        let name = operation["name"].as_str().expect("an operation name");
        let done = self
            .post(&format!("/v2/{name}:wait"), &[], &json!({"timeout": "10s"}))
            .ok();
        assert_eq!(done["done"], true, "{done}");
        done
    }

    /// Creates a service and waits for it; returns it as `services.get` does.
    #[track_caller]
    fn create_service(&self, id: &str, body: &Value) -> Value {
        let op = self
            .post(
                &format!("/v2/{PARENT}/services"),
                &[("serviceId", id)],
                body,
            )
            .ok();
        self.wait(&op);
        self.get(&format!("/v2/{PARENT}/services/{id}"), &[]).ok()
    }

    /// Patches a service and waits for it.
    #[track_caller]
    fn update_service(&self, id: &str, mask: &str, body: &Value) -> Value {
        let op = self
            .patch(
                &format!("/v2/{PARENT}/services/{id}"),
                &[("updateMask", mask)],
                body,
            )
            .ok();
        self.wait(&op);
        self.get(&format!("/v2/{PARENT}/services/{id}"), &[]).ok()
    }

    /// A media upload of `data` to `bucket/name` with extra query pairs.
    fn upload(&self, bucket: &str, name: &str, data: &[u8], extra: &[(&str, &str)]) -> Answer {
        let mut query = vec![("uploadType", "media"), ("name", name)];
        query.extend_from_slice(extra);
        read(
            self.http
                .post(format!(
                    "{}/upload/storage/v1/b/{bucket}/o",
                    self.fake.url()
                ))
                .bearer_auth(&self.token)
                .query(&query)
                .header("content-type", "application/json")
                .body(data.to_vec()),
        )
    }

    /// Asserts that the fake recorded no violation: every request was well
    /// formed and every answer matched its schema.
    #[track_caller]
    fn assert_clean(&self) {
        let violations = self.fake.violations();
        assert!(
            violations.is_empty(),
            "the fake recorded violations:\n  {}",
            violations.join("\n  ")
        );
    }
}

fn read(req: reqwest::blocking::RequestBuilder) -> Answer {
    let res = req.send().expect("the fake answers");
    Answer {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.bytes().expect("a body").to_vec(),
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The claims `gcp_auth` puts in its assertion for a key file of `fake`.
fn claims(fake: &Fake) -> Value {
    json!({
        "iss": CLIENT_EMAIL,
        "aud": format!("{}/token", fake.url()),
        "exp": now_secs() + 3595,
        "iat": now_secs(),
        "scope": SCOPE,
    })
}

/// An unsigned-looking JWT: the fake checks its shape, not its signature.
fn jwt(claims: &Value) -> String {
    let part = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    format!(
        "{}.{}.{}",
        part(br#"{"alg":"RS256","typ":"JWT"}"#),
        part(claims.to_string().as_bytes()),
        part(b"signature bytes")
    )
}

fn request_token(http: &Client, fake: &Fake, assertion: &str) -> Answer {
    request_token_with(
        http,
        fake,
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        assertion,
    )
}

fn request_token_with(http: &Client, fake: &Fake, grant_type: &str, assertion: &str) -> Answer {
    let body = format!(
        "grant_type={}&assertion={}",
        encode(grant_type),
        encode(assertion)
    );
    read(
        http.post(format!("{}/token", fake.url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body),
    )
}

/// Percent-encodes a path segment or form value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn service_body(image: &str) -> Value {
    json!({
        "labels": {"managed-by": "nubo"},
        "template": {
            "containers": [{"image": image, "ports": [{"containerPort": 8080}]}],
            "scaling": {"maxInstanceCount": 3},
        },
    })
}

#[test]
fn a_token_is_issued_for_a_jwt_bearer_grant_and_required_by_every_call() {
    let fake = Fake::start();
    let http = Client::new();
    let list = format!("{}/v2/{PARENT}/services", fake.url());

    let token = request_token(&http, &fake, &jwt(&claims(&fake))).ok();
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3600);
    let token = token["access_token"].as_str().expect("an access token");
    assert!(token.len() > 20, "{token}");

    // No token, a token the fake never issued, then the real one.
    read(http.get(&list)).error(401, "UNAUTHENTICATED");
    read(http.get(&list).bearer_auth("ya29.forged")).error(401, "UNAUTHENTICATED");
    let answer = read(http.get(&list).bearer_auth(token));
    assert_eq!(
        answer.headers.get("content-type").unwrap(),
        "application/json; charset=UTF-8"
    );
    assert_eq!(answer.ok(), json!({"services": []}));
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    // Malformed grants are refused with OAuth errors and recorded.
    let mut no_scope = claims(&fake);
    no_scope.as_object_mut().unwrap().remove("scope");
    let mut wrong_audience = claims(&fake);
    wrong_audience["aud"] = json!("https://oauth2.googleapis.com/token");
    let mut expired = claims(&fake);
    expired["exp"] = json!(now_secs() - 10);
    let two_parts = jwt(&claims(&fake)).rsplit_once('.').unwrap().0.to_owned();
    for (assertion, needle) in [
        (two_parts.as_str(), "three base64url parts"),
        (&jwt(&no_scope), "`scope`"),
        (&jwt(&wrong_audience), "audience"),
        (&jwt(&expired), "expired"),
    ] {
        let answer = request_token(&http, &fake, assertion);
        assert_eq!(answer.status, 400);
        let body = answer.json();
        assert_eq!(body["error"], "invalid_grant");
        assert!(
            body["error_description"].as_str().unwrap().contains(needle),
            "{body}"
        );
    }
    let answer = request_token_with(&http, &fake, "client_credentials", &jwt(&claims(&fake)));
    assert_eq!(answer.json()["error"], "unsupported_grant_type");
    assert_eq!(fake.violations().len(), 5, "{:?}", fake.violations());

    let calls = fake.calls();
    assert_eq!(
        calls[0],
        (TOKEN_METHOD.to_owned(), "POST /token".to_owned())
    );
    assert_eq!(
        calls[1],
        (
            "run.projects.locations.services.list".to_owned(),
            format!("GET /v2/{PARENT}/services")
        )
    );
    assert_eq!(calls.len(), 9);
}

#[test]
fn gcp_auth_gets_a_token_with_the_fakes_service_account_key() {
    let fake = Fake::start();
    let dir = tempfile::tempdir().unwrap();
    let key_path = fake.service_account_key(dir.path());
    let key: Value = serde_json::from_slice(&std::fs::read(&key_path).unwrap()).unwrap();
    assert_eq!(key["type"], "service_account");
    assert_eq!(key["project_id"], PROJECT_ID);
    assert_eq!(key["token_uri"], format!("{}/token", fake.url()));
    assert!(
        key["private_key"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let token = rt.block_on(async {
        use gcp_auth::TokenProvider as _;
        let account = gcp_auth::CustomServiceAccount::from_file(&key_path)
            .expect("gcp_auth reads the key file");
        assert_eq!(account.project_id(), Some(PROJECT_ID));
        account
            .token(&[SCOPE])
            .await
            .expect("gcp_auth gets a token")
    });

    let answer = read(
        Client::new()
            .get(format!("{}/storage/v1/b/bucket-1/o", fake.url()))
            .bearer_auth(token.as_str()),
    );
    assert_eq!(answer.ok()["kind"], "storage#objects");
    assert_eq!(fake.calls()[0].0, TOKEN_METHOD);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[test]
fn an_expired_token_is_refused_and_a_new_one_works() {
    let mut s = Session::start();
    let path = format!("/v2/{PARENT}/services");
    s.get(&path, &[]).ok();

    s.fake.expire_tokens();
    let error = s.get(&path, &[]).error(401, "UNAUTHENTICATED");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("invalid authentication credentials")
    );

    let fresh = request_token(&s.http, &s.fake, &jwt(&claims(&s.fake))).ok();
    s.token = fresh["access_token"].as_str().unwrap().to_owned();
    s.get(&path, &[]).ok();
    s.assert_clean();
}

#[test]
fn unknown_json_fields_and_query_parameters_are_refused_and_recorded() {
    let s = Session::start();

    let mut body = service_body(IMAGE_V1);
    body["template"]["containers"][0]["imag"] = json!("typo");
    let error = s
        .post(
            &format!("/v2/{PARENT}/services"),
            &[("serviceId", "shop")],
            &body,
        )
        .error(400, "INVALID_ARGUMENT");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("request.template.containers[0].imag: unknown field"),
        "{error}"
    );
    assert!(
        s.fake.service("shop").is_none(),
        "a refused create changes nothing"
    );

    let error = s
        .get(&format!("/v2/{PARENT}/services"), &[("pageSise", "10")])
        .error(400, "INVALID_ARGUMENT");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("unknown query parameter `pageSise`")
    );

    // Cloud Storage errors also carry `errors[].reason`.
    let error = s
        .get("/storage/v1/b/bucket-1/o", &[("prefixx", "a/")])
        .error(400, "INVALID_ARGUMENT");
    assert_eq!(error["errors"][0]["reason"], "invalid");

    let violations = s.fake.violations();
    assert_eq!(violations.len(), 3, "{violations:?}");
    assert!(
        violations[0].starts_with(&format!("POST /v2/{PARENT}/services: ")),
        "{violations:?}"
    );
    assert!(
        violations[0].contains("imag: unknown field"),
        "{violations:?}"
    );
    assert!(violations[1].contains("`pageSise`"), "{violations:?}");
    assert!(violations[2].contains("`prefixx`"), "{violations:?}");
    assert_eq!(
        s.fake.calls()[1].0,
        "run.projects.locations.services.create",
        "refused calls are still listed under their method"
    );
}

#[test]
fn create_runs_an_operation_to_a_ready_service_with_one_revision_and_a_tagged_url() {
    let s = Session::start();
    // Long enough to observe the operation in flight on a busy machine.
    s.fake.set_operation_delay(Duration::from_millis(1500));
    let mut body = service_body(IMAGE_V1);
    body["traffic"] =
        json!([{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100, "tag": "live"}]);

    let op = s
        .post(
            &format!("/v2/{PARENT}/services"),
            &[("serviceId", "shop")],
            &body,
        )
        .ok();
    let op_name =
        Regex::new(r"^projects/test-project/locations/us-central1/operations/[0-9a-f-]{36}$")
            .unwrap();
    assert!(op_name.is_match(op["name"].as_str().unwrap()), "{op}");
    assert_eq!(op["done"], false);
    assert_eq!(
        op["metadata"]["@type"],
        "type.googleapis.com/google.cloud.run.v2.Service"
    );

    // In flight: the operation is not done and the service is reconciling.
    let polled = s
        .get(&format!("/v2/{}", op["name"].as_str().unwrap()), &[])
        .ok();
    assert_eq!(polled["done"], false, "{polled}");
    let pending = s.get(&format!("/v2/{PARENT}/services/shop"), &[]).ok();
    assert_eq!(pending["reconciling"], true);
    assert_eq!(
        pending["terminalCondition"]["state"],
        "CONDITION_RECONCILING"
    );
    assert!(pending.get("observedGeneration").is_none(), "{pending}");

    let done = s.wait(&op);
    let response = &done["response"];
    assert_eq!(
        response["@type"],
        "type.googleapis.com/google.cloud.run.v2.Service"
    );
    assert_eq!(response["name"], format!("{PARENT}/services/shop"));

    let service = s.get(&format!("/v2/{PARENT}/services/shop"), &[]).ok();
    assert_eq!(service["generation"], "1");
    assert_eq!(service["observedGeneration"], "1");
    assert_eq!(service["reconciling"], false);
    assert_eq!(service["terminalCondition"]["state"], "CONDITION_SUCCEEDED");
    let revision = service["latestReadyRevision"].as_str().unwrap();
    let revision_name = Regex::new(&format!(
        "^{PARENT}/services/shop/revisions/shop-00001-[a-z]{{3}}$"
    ))
    .unwrap();
    assert!(revision_name.is_match(revision), "{revision}");
    assert_eq!(service["latestCreatedRevision"], revision);

    let uri = service["uri"].as_str().unwrap();
    assert!(
        Regex::new(r"^https://shop-[a-z0-9]{10}-uc\.a\.run\.app$")
            .unwrap()
            .is_match(uri),
        "{uri}"
    );
    assert!(service["urls"].as_array().unwrap().contains(&json!(uri)));
    let tagged = uri.replace("https://", "https://live---");
    assert_eq!(
        service["trafficStatuses"],
        json!([{
            "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST",
            "percent": 100,
            "tag": "live",
            "uri": tagged,
        }])
    );

    let revisions = s
        .get(&format!("/v2/{PARENT}/services/shop/revisions"), &[])
        .ok();
    let revisions = revisions["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 1);
    assert_eq!(revisions[0]["name"], revision);
    assert_eq!(revisions[0]["containers"][0]["image"], IMAGE_V1);
    assert_eq!(
        revisions[0]["conditions"][0]["state"],
        "CONDITION_SUCCEEDED"
    );
    assert_eq!(
        s.get(&format!("/v2/{revision}"), &[]).ok()["service"],
        format!("{PARENT}/services/shop")
    );

    // A second create of the same id conflicts.
    s.post(
        &format!("/v2/{PARENT}/services"),
        &[("serviceId", "shop")],
        &body,
    )
    .error(409, "ALREADY_EXISTS");
    s.assert_clean();
}

#[test]
fn a_patch_with_a_stale_etag_is_refused() {
    let s = Session::start();
    let first = s.create_service("shop", &service_body(IMAGE_V1));
    let stale = first["etag"].as_str().unwrap().to_owned();

    let mut update = json!({"labels": {"managed-by": "nubo", "release": "r2"}, "etag": stale});
    let second = s.update_service("shop", "labels", &update);
    assert_ne!(second["etag"], first["etag"]);
    assert_eq!(second["generation"], "2");
    assert_eq!(second["observedGeneration"], "2");
    assert_eq!(
        second["latestReadyRevision"], first["latestReadyRevision"],
        "a labels-only change makes no revision"
    );

    update["labels"]["release"] = json!("r3");
    let error = s
        .patch(
            &format!("/v2/{PARENT}/services/shop"),
            &[("updateMask", "labels")],
            &update,
        )
        .error(409, "ABORTED");
    assert!(
        error["message"].as_str().unwrap().contains("etag"),
        "{error}"
    );
    let now = s.fake.service("shop").unwrap();
    assert_eq!(now["labels"]["release"], "r2");
    assert_eq!(now["generation"], "2");
    s.assert_clean();
}

#[test]
fn traffic_splits_between_two_tagged_revisions() {
    let s = Session::start();
    let first = s.create_service("shop", &service_body(IMAGE_V1));
    let mut body = service_body(IMAGE_V2);
    let second = s.update_service("shop", "template", &body);
    let rev1 = first["latestReadyRevision"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let rev2 = second["latestReadyRevision"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert!(rev2.starts_with("shop-00002-"), "{rev2}");
    assert_eq!(s.fake.revisions("shop").len(), 2);

    let path = format!("/v2/{PARENT}/services/shop");
    let target = |revision: &str, percent: u32, tag: &str| json!({"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": revision, "percent": percent, "tag": tag});

    // Refused: an unknown revision, and percents over 100.
    body["traffic"] = json!([
        target(&rev1, 50, "blue"),
        target("shop-99999-zzz", 50, "green")
    ]);
    let error = s
        .patch(&path, &[("updateMask", "traffic")], &body)
        .error(400, "INVALID_ARGUMENT");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("shop-99999-zzz"),
        "{error}"
    );
    body["traffic"] = json!([target(&rev1, 60, "blue"), target(&rev2, 50, "green")]);
    let error = s
        .patch(&path, &[("updateMask", "traffic")], &body)
        .error(400, "INVALID_ARGUMENT");
    assert!(
        error["message"].as_str().unwrap().contains("110"),
        "{error}"
    );
    assert_eq!(s.fake.service("shop").unwrap()["generation"], "2");

    body["traffic"] = json!([target(&rev1, 50, "blue"), target(&rev2, 50, "green")]);
    let split = s.update_service("shop", "traffic", &body);
    assert_eq!(split["generation"], "3");
    assert_eq!(
        split["latestReadyRevision"], second["latestReadyRevision"],
        "traffic makes no revision"
    );
    assert_eq!(s.fake.revisions("shop").len(), 2);
    let host = split["uri"]
        .as_str()
        .unwrap()
        .strip_prefix("https://")
        .unwrap();
    assert_eq!(
        split["trafficStatuses"],
        json!([
            {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": rev1, "percent": 50,
             "tag": "blue", "uri": format!("https://blue---{host}")},
            {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": rev2, "percent": 50,
             "tag": "green", "uri": format!("https://green---{host}")},
        ])
    );
    assert_eq!(
        split["traffic"], body["traffic"],
        "traffic is kept as given"
    );
    s.assert_clean();
}

#[test]
fn a_revision_that_serves_traffic_cannot_be_deleted() {
    let s = Session::start();
    let first = s.create_service("shop", &service_body(IMAGE_V1));
    let second = s.update_service("shop", "template", &service_body(IMAGE_V2));
    let (rev1, rev2) = (
        first["latestReadyRevision"].as_str().unwrap(),
        second["latestReadyRevision"].as_str().unwrap(),
    );

    // rev2 is the latest revision and takes 100% through the LATEST target.
    let error = s
        .delete(&format!("/v2/{rev2}"), &[])
        .error(400, "FAILED_PRECONDITION");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("serving traffic"),
        "{error}"
    );

    let op = s.delete(&format!("/v2/{rev1}"), &[]).ok();
    let done = s.wait(&op);
    assert_eq!(
        done["response"]["@type"],
        "type.googleapis.com/google.cloud.run.v2.Revision"
    );
    assert_eq!(done["response"]["name"], rev1);
    s.get(&format!("/v2/{rev1}"), &[]).error(404, "NOT_FOUND");
    assert_eq!(s.fake.revisions("shop").len(), 1);
    s.assert_clean();
}

#[test]
fn storage_writes_are_create_only_or_conditional_on_the_generation() {
    let s = Session::start();
    let bucket = "acme-state";
    let name = "shop/prod/release lock.json";
    let object = format!("/storage/v1/b/{bucket}/o/{}", encode(name));

    let created = s
        .upload(bucket, name, b"{\"v\":1}", &[("ifGenerationMatch", "0")])
        .ok();
    assert_eq!(created["kind"], "storage#object");
    assert_eq!(created["name"], name);
    assert_eq!(created["bucket"], bucket);
    assert_eq!(created["size"], "7");
    assert_eq!(created["metageneration"], "1");
    assert_eq!(created["contentType"], "application/json");
    let g1: i64 = created["generation"].as_str().unwrap().parse().unwrap();

    let error = s
        .upload(bucket, name, b"{\"v\":9}", &[("ifGenerationMatch", "0")])
        .error(412, "FAILED_PRECONDITION");
    assert_eq!(error["errors"][0]["reason"], "conditionNotMet");

    let g1s = g1.to_string();
    let updated = s
        .upload(bucket, name, b"{\"v\":2}", &[("ifGenerationMatch", &g1s)])
        .ok();
    let g2: i64 = updated["generation"].as_str().unwrap().parse().unwrap();
    assert!(g2 > g1, "generations increase: {g1} then {g2}");
    s.upload(bucket, name, b"{\"v\":3}", &[("ifGenerationMatch", &g1s)])
        .error(412, "FAILED_PRECONDITION");
    s.upload(
        bucket,
        name,
        b"{\"v\":3}",
        &[("ifGenerationNotMatch", &g2.to_string())],
    )
    .error(412, "FAILED_PRECONDITION");

    let meta = s.get(&object, &[]).ok();
    assert_eq!(meta["generation"], g2.to_string());
    assert_eq!(meta["timeCreated"], updated["timeCreated"]);
    let media = s.get(&object, &[("alt", "media")]);
    assert_eq!(media.status, 200);
    assert_eq!(media.body, b"{\"v\":2}");
    assert_eq!(media.headers["x-goog-generation"], g2.to_string().as_str());
    assert_eq!(media.headers["content-type"], "application/json");
    s.get(&object, &[("alt", "media"), ("ifGenerationMatch", &g1s)])
        .error(412, "FAILED_PRECONDITION");
    assert_eq!(s.fake.object(bucket, name).unwrap(), b"{\"v\":2}");

    s.delete(&object, &[("ifGenerationMatch", &g1s)])
        .error(412, "FAILED_PRECONDITION");
    assert_eq!(
        s.delete(&object, &[("ifGenerationMatch", &g2.to_string())])
            .status,
        204
    );
    s.get(&object, &[]).error(404, "NOT_FOUND");
    s.get(&object, &[("alt", "media")]).error(404, "NOT_FOUND");
    s.delete(&object, &[]).error(404, "NOT_FOUND");

    // CRC-32C as Cloud Storage reports it (the check value of "123456789").
    let check = s.upload(bucket, "crc", b"123456789", &[]).ok();
    assert_eq!(check["crc32c"], "4waSgw==");
    s.assert_clean();
}

#[test]
fn storage_lists_names_in_order_page_by_page() {
    let s = Session::start();
    for name in ["p/c", "p/a", "q/x", "p/e", "p/b", "p/d", "p/sub/1"] {
        s.upload("acme-state", name, name.as_bytes(), &[]).ok();
    }
    let list = "/storage/v1/b/acme-state/o";
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| i["name"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = vec![("prefix", "p/"), ("maxResults", "2")];
        if let Some(t) = &token {
            query.push(("pageToken", t));
        }
        let page = s.get(list, &query).ok();
        pages += 1;
        assert!(names(&page).len() <= 2);
        seen.extend(names(&page));
        token = page["nextPageToken"].as_str().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["p/a", "p/b", "p/c", "p/d", "p/e", "p/sub/1"]);
    assert_eq!(pages, 3);

    let top = s.get(list, &[("delimiter", "/")]).ok();
    assert_eq!(top["prefixes"], json!(["p/", "q/"]));
    assert!(top.get("items").is_none(), "{top}");
    // Paging over prefixes: a prefix on one page covers its names on the next.
    let first = s.get(list, &[("delimiter", "/"), ("maxResults", "1")]).ok();
    assert_eq!(first["prefixes"], json!(["p/"]));
    let token = first["nextPageToken"].as_str().unwrap();
    let second = s
        .get(
            list,
            &[
                ("delimiter", "/"),
                ("maxResults", "1"),
                ("pageToken", token),
            ],
        )
        .ok();
    assert_eq!(second["prefixes"], json!(["q/"]));
    assert!(second.get("nextPageToken").is_none(), "{second}");
    s.get(
        "/storage/v1/b/acme-state/o",
        &[("pageToken", "not a token")],
    )
    .error(400, "INVALID_ARGUMENT");
    assert_eq!(
        s.get("/storage/v1/b/empty-bucket/o", &[]).ok(),
        json!({"kind": "storage#objects"})
    );
    s.assert_clean();
}

#[test]
fn fail_next_answers_429_with_retry_after_then_succeeds() {
    let s = Session::start();
    s.upload("acme-state", "k", b"v", &[]).ok();
    s.fake.fail_next("storage.objects.get", 429, 2, Some(7));
    s.fake
        .fail_next("run.projects.locations.services.list", 503, 1, None);

    for _ in 0..2 {
        let answer = s.get("/storage/v1/b/acme-state/o/k", &[("alt", "media")]);
        assert_eq!(answer.headers["retry-after"], "7");
        answer.error(429, "RESOURCE_EXHAUSTED");
    }
    assert_eq!(
        s.get("/storage/v1/b/acme-state/o/k", &[("alt", "media")])
            .body,
        b"v"
    );

    let answer = s.get(&format!("/v2/{PARENT}/services"), &[]);
    assert!(answer.headers.get("retry-after").is_none());
    answer.error(503, "UNAVAILABLE");
    s.get(&format!("/v2/{PARENT}/services"), &[]).ok();

    let gets = s
        .fake
        .calls()
        .iter()
        .filter(|(id, _)| id == "storage.objects.get")
        .count();
    assert_eq!(gets, 3, "failed calls are recorded too");
    s.assert_clean();
}

#[test]
fn logging_lists_a_services_entries_page_by_page() {
    let s = Session::start();
    let log = "projects/test-project/logs/run.googleapis.com%2Fstdout";
    for (i, service) in ["shop", "cart", "shop", "shop"].iter().enumerate() {
        s.fake.add_log_entry(
            log,
            json!(format!("line {i}")),
            &format!("2025-01-02T03:04:0{i}.5Z"),
            &[("service_name", service), ("location", "us-central1")],
        );
    }
    s.fake.add_log_entry(
        "projects/other-project/logs/run.googleapis.com%2Fstdout",
        json!({"message": "elsewhere"}),
        "2025-01-02T03:04:09Z",
        &[("service_name", "shop")],
    );

    let mut request = json!({
        "resourceNames": ["projects/test-project"],
        "filter": "resource.type = \"cloud_run_revision\" AND resource.labels.service_name=\"shop\" AND timestamp>=\"2025-01-02T03:04:00Z\"",
        "pageSize": 2,
    });
    let first = s.post("/v2/entries:list", &[], &request).ok();
    let texts = |page: &Value| -> Vec<String> {
        page["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["textPayload"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(texts(&first), ["line 0", "line 2"]);
    request["pageToken"] = first["nextPageToken"].clone();
    let second = s.post("/v2/entries:list", &[], &request).ok();
    assert_eq!(texts(&second), ["line 3"]);
    assert!(second.get("nextPageToken").is_none(), "{second}");

    let newest_first = s
        .post(
            "/v2/entries:list",
            &[],
            &json!({"resourceNames": ["projects/test-project"], "orderBy": "timestamp desc"}),
        )
        .ok();
    assert_eq!(
        texts(&newest_first),
        ["line 3", "line 2", "line 1", "line 0"]
    );
    assert_eq!(
        newest_first["entries"][0]["resource"]["labels"]["service_name"],
        "shop"
    );
    s.assert_clean();
}

#[test]
fn the_fakes_own_answers_are_checked_against_the_discovery_documents() {
    let s = Session::start();
    // An entry with a misspelt field: serving it breaks the LogEntry schema.
    s.fake.add_raw_log_entry(json!({
        "logName": "projects/test-project/logs/app",
        "timestamp": "2025-01-02T03:04:05Z",
        "textPayload": "hello",
        "severty": "ERROR",
    }));
    s.post(
        "/v2/entries:list",
        &[],
        &json!({"resourceNames": ["projects/test-project"]}),
    )
    .ok();
    let violations = s.fake.violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0].starts_with("response of logging.entries.list to POST /v2/entries:list: ")
            && violations[0].contains("severty: unknown field"),
        "{violations:?}"
    );
}

#[test]
fn methods_the_fake_does_not_implement_answer_501_and_are_recorded() {
    let s = Session::start();
    s.get(&format!("/v2/{PARENT}/jobs"), &[])
        .error(501, "UNIMPLEMENTED");
    s.get("/v1beta/projects/test-project/things", &[])
        .error(404, "NOT_FOUND");
    let violations = s.fake.violations();
    assert_eq!(violations.len(), 2, "{violations:?}");
    assert!(
        violations[0].contains("does not implement run.projects.locations.jobs.list"),
        "{violations:?}"
    );
    assert!(violations[1].contains("no Google API"), "{violations:?}");
}

#[test]
fn multipart_uploads_carry_checked_metadata() {
    let s = Session::start();
    let upload = |metadata: &Value, data: &[u8]| {
        let boundary = "nubo-boundary-7";
        let mut body = format!(
            "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n\
             --{boundary}\r\nContent-Type: application/zip\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(data);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        read(
            s.http
                .post(format!("{}/upload/storage/v1/b/artifacts/o", s.fake.url()))
                .bearer_auth(&s.token)
                .query(&[("uploadType", "multipart"), ("ifGenerationMatch", "0")])
                .header(
                    "content-type",
                    format!("multipart/related; boundary={boundary}"),
                )
                .body(body),
        )
    };

    let zip = b"PK\x03\x04 not really a zip \r\n--nubo-boundary";
    let meta = json!({"name": "releases/r1.zip", "metadata": {"release": "r1"}});
    let object = upload(&meta, zip).ok();
    assert_eq!(object["name"], "releases/r1.zip");
    assert_eq!(
        object["contentType"], "application/zip",
        "from the media part"
    );
    assert_eq!(object["metadata"], json!({"release": "r1"}));
    assert_eq!(object["size"], zip.len().to_string());
    assert_eq!(s.fake.object("artifacts", "releases/r1.zip").unwrap(), zip);
    assert_eq!(
        s.fake
            .object_metadata("artifacts", "releases/r1.zip")
            .unwrap()["metadata"]["release"],
        "r1"
    );
    s.assert_clean();

    let error = upload(&json!({"name": "releases/r2.zip", "contentTyp": "x"}), zip)
        .error(400, "INVALID_ARGUMENT");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("contentTyp: unknown field"),
        "{error}"
    );
    assert!(s.fake.object("artifacts", "releases/r2.zip").is_none());
    let violations = s.fake.violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
}

#[test]
fn services_are_upserted_listed_page_by_page_shared_and_deleted() {
    let s = Session::start();
    let services = format!("/v2/{PARENT}/services");

    // PATCH with allowMissing creates; without it, a missing service is 404.
    let op = s
        .patch(
            &format!("{services}/api"),
            &[("allowMissing", "true")],
            &service_body(IMAGE_V1),
        )
        .ok();
    s.wait(&op);
    assert_eq!(s.fake.service("api").unwrap()["generation"], "1");
    s.patch(&format!("{services}/nope"), &[], &service_body(IMAGE_V1))
        .error(404, "NOT_FOUND");
    s.post(
        &services,
        &[("serviceId", "Bad_Name")],
        &service_body(IMAGE_V1),
    )
    .error(400, "INVALID_ARGUMENT");
    s.create_service("web", &service_body(IMAGE_V1));

    let first = s.get(&services, &[("pageSize", "1")]).ok();
    assert_eq!(
        first["services"][0]["name"],
        format!("{PARENT}/services/api")
    );
    let token = first["nextPageToken"].as_str().expect("a second page");
    let second = s
        .get(&services, &[("pageSize", "1"), ("pageToken", token)])
        .ok();
    assert_eq!(
        second["services"][0]["name"],
        format!("{PARENT}/services/web")
    );
    assert!(second.get("nextPageToken").is_none(), "{second}");
    let everywhere = s
        .get("/v2/projects/test-project/locations/-/services", &[])
        .ok();
    assert_eq!(everywhere["services"].as_array().unwrap().len(), 2);

    // Public invocation: read-modify-write of the IAM policy, etag-checked.
    let policy = s.get(&format!("{services}/web:getIamPolicy"), &[]).ok();
    let binding = json!([{"role": "roles/run.invoker", "members": ["allUsers"]}]);
    let set = s
        .post(
            &format!("{services}/web:setIamPolicy"),
            &[],
            &json!({"policy": {"bindings": binding, "etag": policy["etag"]}}),
        )
        .ok();
    assert_eq!(set["bindings"], binding);
    assert_ne!(set["etag"], policy["etag"]);
    s.post(
        &format!("{services}/web:setIamPolicy"),
        &[],
        &json!({"policy": {"bindings": [], "etag": policy["etag"]}}),
    )
    .error(409, "ABORTED");
    assert_eq!(
        s.get(&format!("{services}/web:getIamPolicy"), &[]).ok()["bindings"],
        binding
    );

    s.delete(&format!("{services}/api"), &[("etag", "\"stale\"")])
        .error(409, "ABORTED");
    let op = s.delete(&format!("{services}/api"), &[]).ok();
    let done = s.wait(&op);
    assert_eq!(
        done["response"]["@type"],
        "type.googleapis.com/google.cloud.run.v2.Service"
    );
    assert!(done["response"]["deleteTime"].is_string(), "{done}");
    s.get(&format!("{services}/api"), &[])
        .error(404, "NOT_FOUND");
    assert!(s.fake.service("api").is_none());
    assert_eq!(
        s.get(&services, &[]).ok()["services"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    s.assert_clean();
}

#[test]
fn pubsub_scheduler_and_eventarc_requests_are_checked_against_their_documents() {
    let s = Session::start();
    // A misspelled field, a bad enum, a missing required query parameter:
    // refused as Google would, and recorded.
    s.send(
        Method::PUT,
        "/v1/projects/test-project/topics/orders",
        &[],
        Some(&json!({"labelz": {"a": "b"}})),
    )
    .error(400, "INVALID_ARGUMENT");
    s.post(
        "/v1/projects/test-project/locations/europe-west1/jobs",
        &[],
        &json!({
            "name": "projects/test-project/locations/europe-west1/jobs/nightly",
            "schedule": "0 3 * * *",
            "httpTarget": {"uri": "https://x.a.run.app/", "httpMethod": "FETCH"},
        }),
    )
    .error(400, "INVALID_ARGUMENT");
    s.post(
        "/v1/projects/test-project/locations/europe-west1/triggers",
        &[("triggerIdd", "t")],
        &json!({}),
    )
    .error(400, "INVALID_ARGUMENT");
    assert_eq!(s.fake.violations().len(), 3, "{:#?}", s.fake.violations());

    // Well-formed ones work, and keep state.
    let s = Session::start();
    s.send(
        Method::PUT,
        "/v1/projects/test-project/topics/orders",
        &[],
        Some(&json!({"labels": {"a": "b"}})),
    )
    .ok();
    s.send(
        Method::PUT,
        "/v1/projects/test-project/topics/orders",
        &[],
        Some(&json!({})),
    )
    .error(409, "ALREADY_EXISTS");
    let sub = s
        .send(
            Method::PUT,
            "/v1/projects/test-project/subscriptions/orders-push",
            &[],
            Some(&json!({
                "topic": "projects/test-project/topics/orders",
                "pushConfig": {"pushEndpoint": "http://insecure.example/"},
            })),
        )
        .error(400, "INVALID_ARGUMENT");
    assert!(sub.to_string().contains("push endpoint"), "{sub}");
    let job = s
        .post(
            "/v1/projects/test-project/locations/europe-west1/jobs",
            &[],
            &json!({
                "name": "projects/test-project/locations/europe-west1/jobs/nightly",
                "schedule": "0 3 * * *",
                "httpTarget": {"uri": "https://x.a.run.app/", "httpMethod": "POST"},
            }),
        )
        .ok();
    assert_eq!(job["state"], "ENABLED");
    s.get(
        "/v1/projects/test-project/locations/europe-west1/jobs/nightly",
        &[],
    )
    .ok();
    assert!(s.fake.violations().is_empty(), "{:#?}", s.fake.violations());
}
