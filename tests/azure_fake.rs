//! The spec-checked Azure fake (`tests/support/azure_fake.rs`): Entra ID's
//! token endpoint, ARM's request and response checking against Microsoft's
//! OpenAPI documents, resource groups, storage, plans, sites, slots,
//! settings and swaps with ARM's long-running operations, Kudu's zip
//! deployments, and the function hosts' canned answers.
//!
//! Each test talks HTTPS to a fresh fake with `reqwest::blocking`, trusting
//! only the test CA, as a client would, and ends by asserting what the fake
//! recorded as violations: none for well-formed sessions, exactly the
//! expected ones where a test sends something wrong.

#[path = "support/azure_fake.rs"]
mod azure_fake;

use std::io::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use azure_fake::{CLIENT_ID, CLIENT_SECRET, Content, Fake, SUBSCRIPTION_ID, TENANT_ID};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};

const WEB: &str = "2023-12-01";
const STORAGE: &str = "2023-05-01";
const RESOURCES: &str = "2024-07-01";
const ARM_SCOPE: &str = "https://management.azure.com/.default";
/// Azurite's well-known account key (public, protects nothing).
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn rg_path(rg: &str) -> String {
    format!("/subscriptions/{SUBSCRIPTION_ID}/resourcegroups/{rg}")
}

fn account_path(rg: &str, account: &str) -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{account}"
    )
}

fn plan_path(rg: &str, plan: &str) -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{rg}/providers/Microsoft.Web/serverfarms/{plan}"
    )
}

fn site_path(rg: &str, site: &str) -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{rg}/providers/Microsoft.Web/sites/{site}"
    )
}

/// A response, read fully.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("answer {} is not JSON ({e}): {}", self.status, self.text()))
    }

    #[track_caller]
    fn status(self, expected: u16) -> Answer {
        assert_eq!(
            self.status,
            expected,
            "expected {expected}, got {}: {}",
            self.status,
            self.text()
        );
        self
    }

    #[track_caller]
    fn ok(self) -> Value {
        self.status(200).json()
    }

    /// Asserts an ARM error answer and returns its `error` object.
    #[track_caller]
    fn arm_error(self, status: u16, code: &str) -> Value {
        assert_eq!(
            self.status,
            status,
            "expected {status} {code}, got {}: {}",
            self.status,
            self.text()
        );
        assert!(
            self.header("x-ms-request-id").is_some(),
            "no x-ms-request-id"
        );
        let error = self.json()["error"].clone();
        assert_eq!(error["code"], code, "{error}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{error}"
        );
        error
    }

    /// Asserts an Entra ID error answer and returns it.
    #[track_caller]
    fn aad_error(self, status: u16, error: &str, aadsts: u32) -> Value {
        assert_eq!(
            self.status,
            status,
            "expected {status}, got {}: {}",
            self.status,
            self.text()
        );
        let body = self.json();
        assert_eq!(body["error"], error, "{body}");
        assert_eq!(body["error_codes"], json!([aadsts]), "{body}");
        let description = body["error_description"].as_str().unwrap_or_default();
        assert!(
            description.starts_with(&format!("AADSTS{aadsts}: ")),
            "{body}"
        );
        assert!(description.contains("Trace ID: "), "{body}");
        body
    }
}

fn read(req: RequestBuilder) -> Answer {
    let response = req.send().expect("the fake answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().expect("a body").to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

/// A client that trusts the test CA, and nothing else.
fn trusting_client(resolve: &[(&str, std::net::SocketAddr)]) -> Client {
    let pem = std::fs::read(azure_fake::azure_https::ca_pem()).expect("the test CA");
    let ca = reqwest::Certificate::from_pem(&pem).expect("a PEM certificate");
    let mut builder = Client::builder()
        .tls_certs_only([ca])
        .timeout(Duration::from_secs(20));
    for (host, addr) in resolve {
        builder = builder.resolve(host, *addr);
    }
    builder.build().expect("a client")
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn request_token(http: &Client, fake: &Fake, pairs: &[(&str, &str)]) -> Answer {
    read(
        http.post(fake.token_endpoint())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs)),
    )
}

fn secret_grant<'a>(secret: &'a str, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", secret),
        ("scope", scope),
    ]
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An unsigned-looking JWT (the fake checks shape and claims only).
fn jwt(header: &Value, claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    format!(
        "{}.{}.{}",
        part(header),
        part(claims),
        URL_SAFE_NO_PAD.encode([7u8; 64])
    )
}

/// A zip holding `host.json` and one function whose code says `version`.
fn package(version: &str) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut buf);
        let options = zip::write::SimpleFileOptions::default();
        w.start_file("host.json", options).unwrap();
        w.write_all(br#"{"version": "2.0"}"#).unwrap();
        w.start_file("hello/function.json", options).unwrap();
        w.write_all(
            br#"{"bindings": [{"type": "httpTrigger", "direction": "in", "name": "req"}]}"#,
        )
        .unwrap();
        w.start_file("hello/index.js", options).unwrap();
        w.write_all(format!("module.exports = async () => ({{ body: '{version}' }});").as_bytes())
            .unwrap();
        w.finish().unwrap();
    }
    buf.into_inner()
}

/// A fake, a client trusting its CA and an ARM token it issued.
struct Session {
    fake: Fake,
    http: Client,
    token: String,
}

impl Session {
    fn start() -> Session {
        let fake = Fake::start();
        let http = trusting_client(&[]);
        let body = request_token(&http, &fake, &secret_grant(CLIENT_SECRET, ARM_SCOPE)).ok();
        let token = body["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned();
        Session { fake, http, token }
    }

    fn arm(&self, method: Method, path: &str, api_version: &str, body: Option<&Value>) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.fake.url()))
            .bearer_auth(&self.token);
        if !api_version.is_empty() {
            req = req.query(&[("api-version", api_version)]);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        read(req)
    }

    fn get(&self, path: &str, api_version: &str) -> Answer {
        self.arm(Method::GET, path, api_version, None)
    }

    fn put(&self, path: &str, api_version: &str, body: &Value) -> Answer {
        self.arm(Method::PUT, path, api_version, Some(body))
    }

    fn post(&self, path: &str, api_version: &str, body: Option<&Value>) -> Answer {
        self.arm(Method::POST, path, api_version, body)
    }

    fn delete(&self, path: &str, api_version: &str) -> Answer {
        self.arm(Method::DELETE, path, api_version, None)
    }

    /// GETs an absolute URL the fake handed out (ARM's hosts are the
    /// fake's own address here).
    fn follow(&self, url: &str) -> Answer {
        assert!(url.starts_with(self.fake.url()), "{url} is not the fake's");
        read(self.http.get(url).bearer_auth(&self.token))
    }

    /// Polls a `Location` URL until it stops answering 202, checking each
    /// 202 carries `Retry-After` (not honoured: the fake's operations take
    /// milliseconds) and its `Location`.
    #[track_caller]
    fn wait_location(&self, accepted: &Answer) -> Answer {
        let url = accepted
            .header("location")
            .expect("a Location header")
            .to_owned();
        assert!(accepted.header("retry-after").is_some(), "no Retry-After");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let answer = self.follow(&url);
            if answer.status != 202 {
                return answer;
            }
            assert!(
                answer.header("retry-after").is_some(),
                "no Retry-After while running"
            );
            assert!(
                Instant::now() < deadline,
                "the operation at {url} never finished"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls an `Azure-AsyncOperation` URL until the status is terminal.
    #[track_caller]
    fn wait_async(&self, accepted: &Answer) -> Value {
        let url = accepted
            .header("azure-asyncoperation")
            .expect("an Azure-AsyncOperation header")
            .to_owned();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let answer = self.follow(&url);
            let running = answer.header("retry-after").is_some();
            let status = answer.ok();
            match status["status"].as_str() {
                Some("InProgress") => assert!(running, "no Retry-After while InProgress"),
                Some("Succeeded" | "Failed" | "Canceled") => return status,
                other => panic!("unexpected operation status {other:?}: {status}"),
            }
            assert!(
                Instant::now() < deadline,
                "the operation at {url} never finished"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A Kudu or function-host request: sent to the fake's address with the
    /// site's `Host`.
    fn site_request(&self, method: Method, host: &str, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.fake.url()))
            .header("host", host)
    }

    /// Follows an absolute Kudu URL (`https://{site}.scm.azurewebsites.net/...`).
    fn follow_kudu(&self, url: &str) -> Answer {
        let rest = url.strip_prefix("https://").expect("an https URL");
        let (host, path) = rest.split_once('/').expect("a path");
        read(
            self.site_request(Method::GET, host, &format!("/{path}"))
                .bearer_auth(&self.token),
        )
    }

    fn create_group(&self, rg: &str) {
        let answer = self.put(&rg_path(rg), RESOURCES, &json!({"location": "westeurope"}));
        assert_eq!(answer.status, 201, "{}", answer.text());
    }

    /// Creates a storage account and polls it to the end.
    fn create_account(&self, rg: &str, account: &str) -> Value {
        let accepted = self
            .put(
                &account_path(rg, account),
                STORAGE,
                &json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2",
                        "properties": {"minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": false}}),
            )
            .status(202);
        self.wait_location(&accepted).ok()
    }

    fn create_plan(&self, rg: &str, plan: &str, sku: &str) -> Value {
        let kind = match sku {
            "EP1" => "elastic",
            _ => "functionapp",
        };
        self.put(
            &plan_path(rg, plan),
            WEB,
            &json!({"location": "westeurope", "kind": kind, "sku": {"name": sku}, "properties": {"reserved": true}}),
        )
        .ok()
    }

    fn create_site(&self, rg: &str, site: &str, plan: &str) -> Value {
        self.put(
            &site_path(rg, site),
            WEB,
            &json!({
                "location": "westeurope",
                "kind": "functionapp,linux",
                "properties": {
                    "serverFarmId": plan_path(rg, plan),
                    "httpsOnly": true,
                    "siteConfig": {"linuxFxVersion": "Node|20", "alwaysOn": false, "http20Enabled": true},
                },
            }),
        )
        .ok()
    }

    fn create_slot(&self, rg: &str, site: &str, slot: &str) -> Answer {
        self.put(
            &format!("{}/slots/{slot}", site_path(rg, site)),
            WEB,
            &json!({"location": "westeurope", "kind": "functionapp,linux",
                    "properties": {"siteConfig": {"linuxFxVersion": "Node|22"}}}),
        )
    }

    fn put_settings(&self, rg: &str, site: &str, slot: Option<&str>, settings: &Value) -> Value {
        let path = match slot {
            None => format!("{}/config/appsettings", site_path(rg, site)),
            Some(slot) => format!("{}/slots/{slot}/config/appsettings", site_path(rg, site)),
        };
        self.put(&path, WEB, &json!({"properties": settings})).ok()
    }

    fn list_settings(&self, rg: &str, site: &str, slot: Option<&str>) -> Value {
        let path = match slot {
            None => format!("{}/config/appsettings/list", site_path(rg, site)),
            Some(slot) => format!(
                "{}/slots/{slot}/config/appsettings/list",
                site_path(rg, site)
            ),
        };
        self.post(&path, WEB, None).ok()["properties"].clone()
    }

    /// Asserts that the fake recorded no violation.
    #[track_caller]
    fn assert_clean(&self) {
        let violations = self.fake.violations();
        assert!(
            violations.is_empty(),
            "the fake recorded violations:\n  {}",
            violations.join("\n  ")
        );
    }

    /// Asserts exactly one new violation since `before`, containing `needle`.
    #[track_caller]
    fn assert_one_new_violation(&self, before: usize, needle: &str) {
        let violations = self.fake.violations();
        let new = &violations[before..];
        assert!(
            new.len() == 1 && new[0].contains(needle),
            "expected one new violation containing {needle:?}, got:\n  {}",
            new.join("\n  ")
        );
    }
}

// ----- Entra ID ---------------------------------------------------------------

#[test]
fn a_client_secret_gets_a_token_and_a_wrong_one_is_refused() {
    let fake = Fake::start();
    let http = trusting_client(&[]);

    let token = request_token(&http, &fake, &secret_grant(CLIENT_SECRET, ARM_SCOPE)).ok();
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3599);
    assert_eq!(token["ext_expires_in"], 3599);
    let access = token["access_token"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(access.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], "https://management.azure.com");
    assert_eq!(claims["tid"], TENANT_ID);
    assert_eq!(claims["appid"], CLIENT_ID);
    let second = request_token(&http, &fake, &secret_grant(CLIENT_SECRET, ARM_SCOPE)).ok();
    assert_ne!(
        second["access_token"], token["access_token"],
        "tokens are unique"
    );

    // client_secret_basic works too.
    let basic = read(
        http.post(fake.token_endpoint())
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "client_credentials"),
                ("scope", ARM_SCOPE),
            ])),
    );
    assert!(basic.ok()["access_token"].is_string());

    // Refused credentials are answers, not violations.
    request_token(&http, &fake, &secret_grant("not-the-secret", ARM_SCOPE)).aad_error(
        401,
        "invalid_client",
        7_000_215,
    );
    let mut unknown = secret_grant(CLIENT_SECRET, ARM_SCOPE);
    unknown[1].1 = "00000000-0000-0000-0000-000000000000";
    request_token(&http, &fake, &unknown).aad_error(400, "unauthorized_client", 700_016);
    let other_tenant = read(
        http.post(format!(
            "{}/00000000-1111-2222-3333-444444444444/oauth2/v2.0/token",
            fake.url()
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&secret_grant(CLIENT_SECRET, ARM_SCOPE))),
    );
    other_tenant.aad_error(400, "invalid_request", 90_002);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    // Malformed requests are violations.
    request_token(
        &http,
        &fake,
        &secret_grant(CLIENT_SECRET, "https://management.azure.com"),
    )
    .aad_error(400, "invalid_scope", 1_002_012);
    let no_credential = [
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("scope", ARM_SCOPE),
    ];
    request_token(&http, &fake, &no_credential).aad_error(401, "invalid_client", 7_000_218);
    let mut password = secret_grant(CLIENT_SECRET, ARM_SCOPE);
    password[0].1 = "password";
    request_token(&http, &fake, &password).aad_error(400, "unsupported_grant_type", 70_003);
    let violations = fake.violations();
    assert_eq!(violations.len(), 3, "{violations:#?}");
    assert!(violations[0].contains("AADSTS1002012") && violations[0].contains("/.default"));
    assert!(violations[1].contains("AADSTS7000218"));
    assert!(violations[2].contains("AADSTS70003"));

    // The OpenID configuration points at the fake's token endpoint.
    let config = read(http.get(format!(
        "{}/{TENANT_ID}/v2.0/.well-known/openid-configuration",
        fake.url()
    )))
    .ok();
    assert_eq!(config["token_endpoint"], fake.token_endpoint());
    assert_eq!(
        config["issuer"],
        format!("https://login.microsoftonline.com/{TENANT_ID}/v2.0")
    );
}

#[test]
fn client_assertions_are_checked_for_audience_subject_and_time() {
    let fake = Fake::start();
    let http = trusting_client(&[]);
    let assertion_grant = |assertion: &str| {
        request_token(
            &http,
            &fake,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion),
                ("scope", ARM_SCOPE),
            ],
        )
    };
    let certificate = json!({"alg": "RS256", "typ": "JWT", "x5t": "dGh1bWJwcmludA"});
    let claims = |aud: &str, iss: &str, exp: i64| json!({"aud": aud, "iss": iss, "sub": iss, "exp": exp, "nbf": now_secs() - 5, "jti": "1"});

    let good = jwt(
        &certificate,
        &claims(&fake.token_endpoint(), CLIENT_ID, now_secs() + 600),
    );
    assert!(assertion_grant(&good).ok()["access_token"].is_string());
    let public = format!("https://login.microsoftonline.com/{TENANT_ID}/oauth2/v2.0/token");
    let good_public_audience = jwt(&certificate, &claims(&public, CLIENT_ID, now_secs() + 600));
    assert!(assertion_grant(&good_public_audience).ok()["access_token"].is_string());

    let expired = jwt(
        &certificate,
        &claims(&fake.token_endpoint(), CLIENT_ID, now_secs() - 10),
    );
    assertion_grant(&expired).aad_error(401, "invalid_client", 700_024);
    let someone_else = jwt(
        &certificate,
        &claims(&fake.token_endpoint(), "another-app", now_secs() + 600),
    );
    assertion_grant(&someone_else).aad_error(401, "invalid_client", 700_021);

    // Workload identity federation: only a trusted issuer and subject.
    let github = "https://token.actions.githubusercontent.com";
    let subject = "repo:nubo/app:environment:prod";
    let federated = jwt(
        &json!({"alg": "RS256", "typ": "JWT", "kid": "gh"}),
        &json!({"aud": "api://AzureADTokenExchange", "iss": github, "sub": subject, "exp": now_secs() + 300}),
    );
    assertion_grant(&federated).aad_error(400, "invalid_request", 70_021);
    fake.trust_federated_identity(github, subject);
    assert!(assertion_grant(&federated).ok()["access_token"].is_string());
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    assertion_grant("not-a-jwt").aad_error(400, "invalid_request", 50_027);
    let violations = fake.violations();
    assert_eq!(violations.len(), 1, "{violations:#?}");
    assert!(violations[0].contains("three parts"), "{violations:#?}");
}

#[test]
fn arm_takes_only_live_tokens_for_its_audience() {
    let s = Session::start();
    let path = rg_path("auth-rg");

    let missing = read(
        s.http
            .get(format!("{}{path}", s.fake.url()))
            .query(&[("api-version", RESOURCES)]),
    );
    let www = missing
        .header("www-authenticate")
        .unwrap_or_default()
        .to_owned();
    assert!(www.starts_with("Bearer authorization_uri="), "{www}");
    missing.arm_error(401, "AuthenticationFailed");

    // A token for Storage is not one for ARM.
    let storage_token = request_token(
        &s.http,
        &s.fake,
        &secret_grant(CLIENT_SECRET, "https://storage.azure.com/.default"),
    )
    .ok()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong_audience = read(
        s.http
            .get(format!("{}{path}", s.fake.url()))
            .query(&[("api-version", RESOURCES)])
            .bearer_auth(&storage_token),
    );
    let error = wrong_audience.arm_error(401, "InvalidAuthenticationTokenAudience");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("'https://storage.azure.com'"),
        "{error}"
    );

    let correlation = "0f0e0d0c-0b0a-4900-8800-777766665555";
    let answer = read(
        s.http
            .put(format!("{}{path}", s.fake.url()))
            .query(&[("api-version", RESOURCES)])
            .bearer_auth(&s.token)
            .header("x-ms-correlation-request-id", correlation)
            .json(&json!({"location": "westeurope"})),
    )
    .status(201);
    assert_eq!(
        answer.header("x-ms-correlation-request-id"),
        Some(correlation)
    );
    assert!(
        answer
            .header("x-ms-request-id")
            .is_some_and(|id| id.len() == 36)
    );

    s.fake.expire_tokens();
    let expired = s.get(&path, RESOURCES);
    let www = expired
        .header("www-authenticate")
        .unwrap_or_default()
        .to_owned();
    assert!(
        www.contains("error=\"invalid_token\"") && www.contains("expired"),
        "{www}"
    );
    assert!(expired.header("x-ms-correlation-request-id").is_some());
    expired.arm_error(401, "ExpiredAuthenticationToken");

    let fresh = Session {
        token: s.fake.issue_token(),
        ..s
    };
    assert_eq!(fresh.get(&path, RESOURCES).ok()["name"], "auth-rg");
    fresh.assert_clean();
}

// ----- request checking ------------------------------------------------------

#[test]
fn malformed_requests_are_answered_as_arm_would_and_recorded() {
    let s = Session::start();
    let rg = rg_path("shop-rg");

    let mut before = s.fake.violations().len();
    let mut expect = |answer: Answer, status: u16, code: &str, needle: &str| {
        answer.arm_error(status, code);
        s.assert_one_new_violation(before, needle);
        before += 1;
    };

    // A path no operation has.
    expect(
        s.get(&format!("/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/shop-rg/providers/Microsoft.Web/site/shop-api"), WEB),
        404,
        "InvalidResourceType",
        "no operation for GET",
    );
    // A version the document does not describe, and none at all.
    expect(
        s.put(&rg, "2019-05-01", &json!({"location": "westeurope"})),
        400,
        "InvalidApiVersionParameter",
        "api-version is \"2019-05-01\"",
    );
    expect(
        s.put(&rg, "", &json!({"location": "westeurope"})),
        400,
        "MissingApiVersionParameter",
        "missing required query parameter `api-version`",
    );
    // A misspelled field, and a missing required one.
    expect(
        s.put(
            &rg,
            RESOURCES,
            &json!({"location": "westeurope", "tag": {"a": "b"}}),
        ),
        400,
        "InvalidRequestContent",
        "tag",
    );
    expect(
        s.put(&rg, RESOURCES, &json!({"tags": {"a": "b"}})),
        400,
        "InvalidRequestContent",
        "location",
    );
    // A storage account name the document's pattern refuses.
    expect(
        s.put(&account_path("shop-rg", "Shop_Deploy"), STORAGE, &json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"})),
        400,
        "AccountNameInvalid",
        "accountName",
    );
    // A documented operation the fake does not implement.
    expect(
        s.post(
            &format!("{}/restart", site_path("shop-rg", "shop-api")),
            WEB,
            None,
        ),
        501,
        "NotImplemented",
        "does not implement WebApps_Restart",
    );
    // Nothing was created by the refused requests.
    s.arm(Method::HEAD, &rg, RESOURCES, None).status(404);
    let calls: Vec<String> = s.fake.calls().into_iter().map(|(id, _)| id).collect();
    assert!(calls.contains(&"WebApps_Restart".to_owned()), "{calls:?}");
    assert!(calls.contains(&"?".to_owned()), "{calls:?}");
    let violations = s.fake.violations();
    assert_eq!(violations.len(), 7, "{violations:#?}");
}

#[test]
fn a_subscription_other_than_the_fakes_is_not_found() {
    let s = Session::start();
    s.get(
        "/subscriptions/11111111-2222-4333-8444-555555555555/resourcegroups/x",
        RESOURCES,
    )
    .arm_error(404, "SubscriptionNotFound");
    s.assert_clean();
}

// ----- the deploy flow ---------------------------------------------------------

/// Everything of a function app with a staging slot, as the tests below use.
struct App {
    s: Session,
}

const RG: &str = "shop-rg";
const SITE: &str = "shop-api";

impl App {
    /// Resource group, storage account (polled), keys, container, EP1 plan,
    /// function app, staging slot, app settings on both, sticky names, a
    /// first package in production and the next one in staging, deployed
    /// with OneDeploy asynchronously.
    fn deploy() -> App {
        let s = Session::start();
        s.fake.set_storage_key("shopdeploy01", AZURITE_KEY);
        s.create_group(RG);
        let account = s.create_account(RG, "shopdeploy01");
        assert_eq!(account["properties"]["provisioningState"], "Succeeded");
        assert_eq!(
            account["properties"]["primaryEndpoints"]["blob"],
            "https://shopdeploy01.blob.core.windows.net/"
        );
        let keys = s
            .post(
                &format!("{}/listKeys", account_path(RG, "shopdeploy01")),
                STORAGE,
                None,
            )
            .ok();
        assert_eq!(keys["keys"][0]["keyName"], "key1");
        assert_eq!(keys["keys"][0]["value"], AZURITE_KEY);
        assert_eq!(keys["keys"][1]["keyName"], "key2");
        assert_ne!(keys["keys"][1]["value"], AZURITE_KEY);
        let container = s
            .put(
                &format!(
                    "{}/blobServices/default/containers/packages",
                    account_path(RG, "shopdeploy01")
                ),
                STORAGE,
                &json!({"properties": {"publicAccess": "None"}}),
            )
            .status(201)
            .json();
        assert_eq!(container["name"], "packages");
        let again = s
            .get(
                &format!(
                    "{}/blobServices/default/containers/packages",
                    account_path(RG, "shopdeploy01")
                ),
                STORAGE,
            )
            .ok();
        assert_eq!(again["properties"]["publicAccess"], "None");

        let plan = s.create_plan(RG, "shop-plan", "EP1");
        assert_eq!(plan["sku"]["tier"], "ElasticPremium");
        let site = s.create_site(RG, SITE, "shop-plan");
        assert_eq!(
            site["properties"]["defaultHostName"],
            "shop-api.azurewebsites.net"
        );
        assert_eq!(
            site["properties"]["enabledHostNames"],
            json!([
                "shop-api.azurewebsites.net",
                "shop-api.scm.azurewebsites.net"
            ])
        );
        assert_eq!(site["properties"]["state"], "Running");
        let slot = s.create_slot(RG, SITE, "staging").ok();
        assert_eq!(slot["name"], "shop-api/staging");
        assert_eq!(slot["type"], "Microsoft.Web/sites/slots");
        assert_eq!(
            slot["properties"]["defaultHostName"],
            "shop-api-staging.azurewebsites.net"
        );
        assert!(
            slot["properties"]["serverFarmId"]
                .as_str()
                .unwrap()
                .ends_with("/serverfarms/shop-plan"),
            "{slot}"
        );

        let storage = format!(
            "DefaultEndpointsProtocol=https;AccountName=shopdeploy01;AccountKey={AZURITE_KEY}"
        );
        s.put_settings(
            RG,
            SITE,
            None,
            &json!({
                "AzureWebJobsStorage": storage,
                "FUNCTIONS_EXTENSION_VERSION": "~4",
                "FUNCTIONS_WORKER_RUNTIME": "node",
                "GREETING": "hello v1",
                "SLOT_NAME": "production",
                "CUSTOM_EXTENSION_VERSION": "1",
            }),
        );
        s.put_settings(
            RG,
            SITE,
            Some("staging"),
            &json!({
                "AzureWebJobsStorage": storage,
                "FUNCTIONS_EXTENSION_VERSION": "~4",
                "FUNCTIONS_WORKER_RUNTIME": "node",
                "GREETING": "hello v2",
                "SLOT_NAME": "staging",
                "CUSTOM_EXTENSION_VERSION": "2",
            }),
        );
        let sticky = s
            .put(
                &format!("{}/config/slotConfigNames", site_path(RG, SITE)),
                WEB,
                &json!({"properties": {"appSettingNames": ["SLOT_NAME"]}}),
            )
            .ok();
        assert_eq!(
            sticky["properties"]["appSettingNames"],
            json!(["SLOT_NAME"])
        );
        assert_eq!(
            s.get(
                &format!("{}/config/slotConfigNames", site_path(RG, SITE)),
                WEB
            )
            .ok()["properties"]["appSettingNames"],
            json!(["SLOT_NAME"])
        );

        // v1 straight to production, synchronously with zipdeploy.
        let v1 = read(
            s.site_request(
                Method::POST,
                "shop-api.scm.azurewebsites.net",
                "/api/zipdeploy",
            )
            .bearer_auth(&s.token)
            .header("content-type", "application/octet-stream")
            .body(package("v1")),
        );
        assert_eq!(v1.status, 200, "{}", v1.text());
        // v2 to staging with OneDeploy, asynchronously, polled.
        let accepted = read(
            s.site_request(
                Method::POST,
                "shop-api-staging.scm.azurewebsites.net",
                "/api/publish",
            )
            .query(&[("type", "zip"), ("async", "true")])
            .bearer_auth(&s.token)
            .header("content-type", "application/octet-stream")
            .body(package("v2")),
        );
        assert_eq!(accepted.status, 202, "{}", accepted.text());
        let location = accepted.header("location").expect("a Location").to_owned();
        assert!(
            location.starts_with("https://shop-api-staging.scm.azurewebsites.net/api/deployments/latest?deployer=OneDeploy&time="),
            "{location}"
        );
        assert!(accepted.header("retry-after").is_some());
        let deadline = Instant::now() + Duration::from_secs(10);
        let deployment = loop {
            let answer = s.follow_kudu(&location);
            match answer.status {
                202 => assert_eq!(answer.json()["complete"], false),
                200 => break answer.json(),
                other => panic!("deployment status {other}: {}", answer.text()),
            }
            assert!(Instant::now() < deadline, "the deployment never finished");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(deployment["status"], 4, "{deployment}");
        assert_eq!(deployment["complete"], true);
        assert_eq!(deployment["active"], true);
        assert_eq!(deployment["deployer"], "OneDeploy");
        let by_id = s.follow_kudu(deployment["url"].as_str().unwrap()).ok();
        assert_eq!(by_id["id"], deployment["id"]);

        let synced = s.post(
            &format!("{}/syncfunctiontriggers", site_path(RG, SITE)),
            WEB,
            None,
        );
        assert_eq!(synced.status, 204);
        let synced = s.post(
            &format!("{}/slots/staging/syncfunctiontriggers", site_path(RG, SITE)),
            WEB,
            None,
        );
        assert_eq!(synced.status, 204);
        App { s }
    }

    fn swap_with_production(&self) -> Answer {
        self.s.post(
            &format!("{}/slotsswap", site_path(RG, SITE)),
            WEB,
            Some(&json!({"targetSlot": "staging", "preserveVnet": true})),
        )
    }

    fn swap_staging_into_production(&self) -> Answer {
        self.s.post(
            &format!("{}/slots/staging/slotsswap", site_path(RG, SITE)),
            WEB,
            Some(&json!({"targetSlot": "production", "preserveVnet": true})),
        )
    }

    fn setting(&self, slot: Option<&str>, name: &str) -> String {
        self.s
            .fake
            .app_settings(SITE, slot)
            .expect("the side exists")[name]
            .clone()
    }
}

#[test]
fn a_staging_slot_swapped_into_production_serves_its_package_and_settings() {
    let app = App::deploy();
    let s = &app.s;
    assert_eq!(s.fake.package(SITE, None), Some(package("v1")));
    assert_eq!(s.fake.package(SITE, Some("staging")), Some(package("v2")));
    assert_eq!(
        s.fake.content(SITE, Some("staging")),
        Content::Package(package("v2"))
    );
    assert_eq!(s.fake.trigger_syncs(SITE, None), 1);
    assert_eq!(s.fake.trigger_syncs(SITE, Some("staging")), 1);

    let accepted = app.swap_with_production().status(202);
    assert!(accepted.header("location").is_some());
    let status = s.wait_async(&accepted);
    assert_eq!(status["status"], "Succeeded", "{status}");
    assert!(status["endTime"].is_string(), "{status}");
    let result = s.follow(accepted.header("location").unwrap());
    assert_eq!(result.status, 200, "{}", result.text());
    assert_eq!(s.fake.swaps(), 1);

    // Production now serves staging's package and non-sticky settings;
    // the sticky name and *_EXTENSION_VERSION stay.
    assert_eq!(s.fake.content(SITE, None), Content::Package(package("v2")));
    assert_eq!(
        s.fake.content(SITE, Some("staging")),
        Content::Package(package("v1"))
    );
    assert_eq!(app.setting(None, "GREETING"), "hello v2");
    assert_eq!(app.setting(Some("staging"), "GREETING"), "hello v1");
    assert_eq!(app.setting(None, "SLOT_NAME"), "production");
    assert_eq!(app.setting(Some("staging"), "SLOT_NAME"), "staging");
    assert_eq!(
        app.setting(None, "CUSTOM_EXTENSION_VERSION"),
        "1",
        "*_EXTENSION_VERSION stays"
    );
    assert_eq!(
        app.setting(Some("staging"), "CUSTOM_EXTENSION_VERSION"),
        "2"
    );
    assert_eq!(s.list_settings(RG, SITE, None)["GREETING"], "hello v2");
    // The deployment history went with the content.
    assert_eq!(s.fake.deployments(SITE, None)[0]["deployer"], "OneDeploy");
    // Site-level settings did not move; the swap is on record.
    let production = s.get(&site_path(RG, SITE), WEB).ok();
    assert_eq!(production["properties"]["httpsOnly"], true);
    // The stack swaps; HTTP/2 (a protocol setting) stays with its slot.
    let config = &production["properties"]["siteConfig"];
    assert_eq!(config["linuxFxVersion"], "Node|22", "{config}");
    assert_eq!(config["http20Enabled"], true, "{config}");
    let staging = s
        .get(&format!("{}/slots/staging", site_path(RG, SITE)), WEB)
        .ok();
    assert_eq!(
        staging["properties"]["siteConfig"]["linuxFxVersion"],
        "Node|20"
    );
    assert!(
        staging["properties"]["siteConfig"]
            .get("http20Enabled")
            .is_none(),
        "{staging}"
    );
    assert_eq!(
        production["properties"]["slotSwapStatus"]["sourceSlotName"],
        "staging"
    );
    assert_eq!(
        production["properties"]["slotSwapStatus"]["destinationSlotName"],
        "production"
    );

    // The swap back, from the slot's side, with Location only.
    let accepted = app.swap_staging_into_production().status(202);
    s.wait_location(&accepted).status(200);
    assert_eq!(s.fake.swaps(), 2);
    assert_eq!(s.fake.content(SITE, None), Content::Package(package("v1")));
    assert_eq!(
        s.fake.content(SITE, Some("staging")),
        Content::Package(package("v2"))
    );
    assert_eq!(app.setting(None, "GREETING"), "hello v1");
    assert_eq!(app.setting(Some("staging"), "GREETING"), "hello v2");
    assert_eq!(app.setting(None, "SLOT_NAME"), "production");

    // What the client did, in order (reads and polls left out).
    let writes: Vec<String> = s
        .fake
        .calls()
        .into_iter()
        .filter(|(id, what)| {
            !what.starts_with("GET ")
                && !id.starts_with("ARM_")
                && id != azure_fake::TOKEN_OPERATION
        })
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        writes,
        [
            "ResourceGroups_CreateOrUpdate",
            "StorageAccounts_Create",
            "StorageAccounts_ListKeys",
            "BlobContainers_Create",
            "AppServicePlans_CreateOrUpdate",
            "WebApps_CreateOrUpdate",
            "WebApps_CreateOrUpdateSlot",
            "WebApps_UpdateApplicationSettings",
            "WebApps_UpdateApplicationSettingsSlot",
            "WebApps_UpdateSlotConfigurationNames",
            "Kudu_ZipDeploy",
            "Kudu_OneDeploy",
            "WebApps_SyncFunctionTriggers",
            "WebApps_SyncFunctionTriggersSlot",
            "WebApps_SwapSlotWithProduction",
            "WebApps_ListApplicationSettings",
            "WebApps_SwapSlotSlot",
        ]
    );
    s.assert_clean();
}

#[test]
fn a_failed_swap_changes_nothing() {
    let app = App::deploy();
    let s = &app.s;
    let snapshot = |slot: Option<&str>| {
        (
            s.fake.app_settings(SITE, slot),
            s.fake.content(SITE, slot),
            s.fake.deployments(SITE, slot).len(),
        )
    };
    let before = (snapshot(None), snapshot(Some("staging")));

    s.fake.fail_next_swap();
    let accepted = app.swap_with_production().status(202);
    let status = s.wait_async(&accepted);
    assert_eq!(status["status"], "Failed", "{status}");
    assert_eq!(status["error"]["code"], "Conflict", "{status}");
    assert!(
        status["error"]["message"]
            .as_str()
            .unwrap()
            .contains("staging"),
        "{status}"
    );
    // The Location URL answers the failure with its status and ARM's error.
    s.follow(accepted.header("location").unwrap())
        .arm_error(409, "Conflict");
    assert_eq!(s.fake.swaps(), 0);
    assert_eq!((snapshot(None), snapshot(Some("staging"))), before);

    // The next swap works again.
    let accepted = app.swap_with_production().status(202);
    assert_eq!(s.wait_async(&accepted)["status"], "Succeeded");
    assert_eq!(s.fake.content(SITE, None), Content::Package(package("v2")));
    s.assert_clean();
}

#[test]
fn run_from_package_urls_are_content_and_swap_with_their_settings() {
    let app = App::deploy();
    let s = &app.s;
    let v3 = "https://shopdeploy01.blob.core.windows.net/packages/v3.zip?sv=2023&sig=abc";
    let mut staging = s.list_settings(RG, SITE, Some("staging"));
    staging["WEBSITE_RUN_FROM_PACKAGE"] = json!(v3);
    s.put_settings(RG, SITE, Some("staging"), &staging);
    assert_eq!(
        s.fake.content(SITE, Some("staging")),
        Content::Url(v3.to_owned())
    );
    // The package is still there, but the URL wins.
    assert_eq!(s.fake.package(SITE, Some("staging")), Some(package("v2")));

    // Kudu refuses to deploy over a remote run-from-package URL.
    let refused = read(
        s.site_request(
            Method::POST,
            "shop-api-staging.scm.azurewebsites.net",
            "/api/zipdeploy",
        )
        .bearer_auth(&s.token)
        .body(package("v4")),
    );
    assert_eq!(refused.status, 409);
    assert!(
        refused
            .text()
            .starts_with("Run-From-Zip is set to a remote URL"),
        "{}",
        refused.text()
    );

    let accepted = app.swap_with_production().status(202);
    assert_eq!(s.wait_async(&accepted)["status"], "Succeeded");
    assert_eq!(s.fake.content(SITE, None), Content::Url(v3.to_owned()));
    assert_eq!(
        s.fake.content(SITE, Some("staging")),
        Content::Package(package("v1"))
    );

    // Sticky, the URL would have stayed.
    s.put(
        &format!("{}/config/slotConfigNames", site_path(RG, SITE)),
        WEB,
        &json!({"properties": {"appSettingNames": ["SLOT_NAME", "WEBSITE_RUN_FROM_PACKAGE"]}}),
    )
    .ok();
    let accepted = app.swap_with_production().status(202);
    assert_eq!(s.wait_async(&accepted)["status"], "Succeeded");
    assert_eq!(s.fake.content(SITE, None), Content::Url(v3.to_owned()));
    assert_eq!(s.fake.package(SITE, None), Some(package("v1")));
    s.assert_clean();
}

// ----- storage, groups, plans ---------------------------------------------------

#[test]
fn storage_accounts_are_created_asynchronously_with_global_names() {
    let s = Session::start();
    s.create_group("a-rg");
    s.create_group("b-rg");
    // Long enough to look at the account while it is created.
    s.fake.set_operation_delay(Duration::from_millis(800));
    let body =
        json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"});
    let accepted = s
        .put(&account_path("a-rg", "nubodeploy"), STORAGE, &body)
        .status(202);
    assert!(accepted.body.is_empty(), "202 has no body");
    let location = accepted.header("location").unwrap().to_owned();
    assert!(
        location.contains("/providers/Microsoft.Storage/locations/westeurope/asyncoperations/"),
        "{location}"
    );
    assert!(location.contains("monitor=true"), "{location}");
    assert_eq!(accepted.header("retry-after"), Some("1"));
    assert!(
        accepted.header("azure-asyncoperation").is_none(),
        "Storage answers Location only"
    );

    let creating = s.get(&account_path("a-rg", "nubodeploy"), STORAGE).ok();
    assert_eq!(creating["properties"]["provisioningState"], "Creating");
    s.post(
        &format!("{}/listKeys", account_path("a-rg", "nubodeploy")),
        STORAGE,
        None,
    )
    .arm_error(409, "StorageAccountIsNotProvisioned");
    assert_eq!(s.follow(&location).status, 202);

    let account = s.wait_location(&accepted).ok();
    assert_eq!(account["name"], "nubodeploy");
    assert_eq!(account["properties"]["provisioningState"], "Succeeded");
    let keys = s
        .post(
            &format!("{}/listKeys", account_path("a-rg", "nubodeploy")),
            STORAGE,
            None,
        )
        .ok();
    assert_eq!(
        STANDARD
            .decode(keys["keys"][0]["value"].as_str().unwrap())
            .unwrap()
            .len(),
        64
    );

    // The name is global: taken in another group; the same PUT again is an update.
    s.put(&account_path("b-rg", "nubodeploy"), STORAGE, &body)
        .arm_error(409, "StorageAccountAlreadyTaken");
    s.put(&account_path("a-rg", "nubodeploy"), STORAGE, &body)
        .ok();
    let availability = s
        .post(
            &format!(
                "/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Storage/checkNameAvailability"
            ),
            STORAGE,
            Some(&json!({"name": "nubodeploy", "type": "Microsoft.Storage/storageAccounts"})),
        )
        .ok();
    assert_eq!(availability["nameAvailable"], false);
    assert_eq!(availability["reason"], "AlreadyExists");

    s.put(
        &format!(
            "{}/blobServices/default/containers/pkgs",
            account_path("a-rg", "nubodeploy")
        ),
        STORAGE,
        &json!({}),
    )
    .status(201);
    s.put(
        &format!(
            "{}/blobServices/default/containers/pkgs",
            account_path("a-rg", "nubodeploy")
        ),
        STORAGE,
        &json!({}),
    )
    .status(200);
    s.get(
        &format!(
            "{}/blobServices/default/containers/nothing",
            account_path("a-rg", "nubodeploy")
        ),
        STORAGE,
    )
    .arm_error(404, "ContainerNotFound");
    assert_eq!(
        s.delete(&account_path("a-rg", "nubodeploy"), STORAGE)
            .status,
        200
    );
    s.get(&account_path("a-rg", "nubodeploy"), STORAGE)
        .arm_error(404, "ResourceNotFound");
    assert_eq!(
        s.delete(&account_path("a-rg", "nubodeploy"), STORAGE)
            .status,
        204
    );
    s.assert_clean();
}

#[test]
fn deleting_a_resource_group_deletes_everything_in_it() {
    let s = Session::start();
    s.create_group(RG);
    s.create_account(RG, "shopdeploy01");
    s.create_plan(RG, "shop-plan", "Y1");
    s.create_site(RG, SITE, "shop-plan");
    // Long enough to look at the group while it is deleted.
    s.fake.set_operation_delay(Duration::from_millis(800));

    let accepted = s.delete(&rg_path(RG), RESOURCES).status(202);
    assert!(
        accepted
            .header("location")
            .unwrap()
            .contains("/operationresults/")
    );
    assert_eq!(
        s.get(&rg_path(RG), RESOURCES).ok()["properties"]["provisioningState"],
        "Deleting"
    );
    s.put(
        &format!("{}/slots/staging", site_path(RG, SITE)),
        WEB,
        &json!({"location": "westeurope"}),
    )
    .arm_error(409, "ResourceGroupBeingDeleted");
    s.wait_location(&accepted).status(200);

    assert_eq!(
        s.arm(Method::HEAD, &rg_path(RG), RESOURCES, None).status,
        404
    );
    s.get(&site_path(RG, SITE), WEB)
        .arm_error(404, "ResourceGroupNotFound");
    assert_eq!(
        s.fake.resource(&format!("{}{}", "", site_path(RG, SITE))),
        None
    );
    assert_eq!(s.fake.resource(&account_path(RG, "shopdeploy01")), None);
    // The account's global name is free again.
    s.create_group("other-rg");
    s.create_account("other-rg", "shopdeploy01");
    s.assert_clean();
}

#[test]
fn ids_and_names_are_case_insensitive() {
    let s = Session::start();
    s.create_group("Shop-RG");
    let group = s
        .get(
            &format!("/SUBSCRIPTIONS/{SUBSCRIPTION_ID}/RESOURCEGROUPS/shop-rg"),
            RESOURCES,
        )
        .ok();
    assert_eq!(group["name"], "Shop-RG", "the name as created");
    assert_eq!(
        s.arm(Method::HEAD, &rg_path("SHOP-RG"), RESOURCES, None)
            .status,
        204
    );
    s.create_plan("shop-rg", "Shop-Plan", "Y1");
    s.create_site("SHOP-RG", "Shop-Api", "shop-plan");
    let site = s
        .fake
        .resource(&site_path("shop-rg", "shop-api").to_uppercase())
        .expect("found");
    assert_eq!(site["name"], "Shop-Api");
    assert_eq!(
        site["properties"]["defaultHostName"],
        "shop-api.azurewebsites.net"
    );
    assert!(
        site["properties"]["serverFarmId"]
            .as_str()
            .unwrap()
            .ends_with("/serverfarms/Shop-Plan")
    );
    // Host names are global, whatever the case.
    s.create_group("other-rg");
    s.create_plan("other-rg", "p", "Y1");
    s.put(
        &site_path("other-rg", "SHOP-API"),
        WEB,
        &json!({"location": "westeurope", "properties": {"serverFarmId": plan_path("other-rg", "p")}}),
    )
    .arm_error(409, "Conflict");
    s.assert_clean();
}

#[test]
fn plans_decide_about_slots_and_flex_consumption_refuses_them() {
    let s = Session::start();
    s.create_group(RG);

    // Flex Consumption: a site needs functionAppConfig, and gets no slot.
    let flex = s.create_plan(RG, "flex-plan", "FC1");
    assert_eq!(flex["sku"]["tier"], "FlexConsumption");
    let without = s.put(
        &site_path(RG, "flex-api"),
        WEB,
        &json!({"location": "westeurope", "kind": "functionapp,linux",
                "properties": {"serverFarmId": plan_path(RG, "flex-plan")}}),
    );
    let error = without.arm_error(400, "BadRequest");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("Site.FunctionAppConfig is invalid."),
        "{error}"
    );
    s.put(
        &site_path(RG, "flex-api"),
        WEB,
        &json!({"location": "westeurope", "kind": "functionapp,linux", "properties": {
            "serverFarmId": plan_path(RG, "flex-plan"),
            "functionAppConfig": {
                "deployment": {"storage": {"type": "blobContainer",
                    "value": "https://shopdeploy01.blob.core.windows.net/packages",
                    "authentication": {"type": "StorageAccountConnectionString",
                                       "storageAccountConnectionStringName": "DEPLOYMENT_STORAGE_CONNECTION_STRING"}}},
                "runtime": {"name": "node", "version": "20"},
                "scaleAndConcurrency": {"maximumInstanceCount": 100, "instanceMemoryMB": 2048},
            },
        }}),
    )
    .ok();
    let error = s
        .create_slot(RG, "flex-api", "staging")
        .arm_error(400, "BadRequest");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Flex Consumption"),
        "{error}"
    );
    assert_eq!(
        s.get(&format!("{}/slots", site_path(RG, "flex-api")), WEB)
            .ok()["value"],
        json!([])
    );

    // Consumption: one staging slot.
    s.create_plan(RG, "y1-plan", "Y1");
    s.create_site(RG, "y1-api", "y1-plan");
    s.create_slot(RG, "y1-api", "staging").ok();
    let error = s
        .create_slot(RG, "y1-api", "canary")
        .arm_error(400, "BadRequest");
    assert!(
        error["message"].as_str().unwrap().contains("Dynamic"),
        "{error}"
    );
    // Updating the existing slot is not a new one.
    s.create_slot(RG, "y1-api", "staging").ok();
    let slots = s
        .get(&format!("{}/slots", site_path(RG, "y1-api")), WEB)
        .ok();
    assert_eq!(slots["value"].as_array().unwrap().len(), 1);
    assert_eq!(slots["value"][0]["name"], "y1-api/staging");

    // A plan with apps cannot go; deleting the app with its empty plan can.
    s.delete(&plan_path(RG, "y1-plan"), WEB)
        .arm_error(409, "Conflict");
    assert_eq!(
        s.arm(
            Method::DELETE,
            &format!("{}/slots/staging", site_path(RG, "y1-api")),
            WEB,
            None
        )
        .status,
        200
    );
    let gone = read(
        s.http
            .delete(format!("{}{}", s.fake.url(), site_path(RG, "y1-api")))
            .query(&[("api-version", WEB), ("deleteEmptyServerFarm", "true")])
            .bearer_auth(&s.token),
    );
    assert_eq!(gone.status, 200, "{}", gone.text());
    s.get(&plan_path(RG, "y1-plan"), WEB)
        .arm_error(404, "ResourceNotFound");
    s.assert_clean();
}

// ----- faults and timing ------------------------------------------------------------

#[test]
fn fail_next_answers_429_with_retry_after_then_succeeds() {
    let s = Session::start();
    s.create_group(RG);
    s.fake.fail_next("ResourceGroups_Get", 429, 2, Some(7));
    for _ in 0..2 {
        let throttled = s.get(&rg_path(RG), RESOURCES);
        assert_eq!(throttled.header("retry-after"), Some("7"));
        let error = throttled.arm_error(429, "TooManyRequests");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("Please try again after '7' seconds"),
            "{error}"
        );
    }
    assert_eq!(s.get(&rg_path(RG), RESOURCES).ok()["name"], RG);

    s.fake.fail_next("StorageAccounts_Create", 503, 1, None);
    let body =
        json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"});
    s.put(&account_path(RG, "faulty01"), STORAGE, &body)
        .arm_error(503, "ServiceUnavailable");
    assert_eq!(
        s.fake.resource(&account_path(RG, "faulty01")),
        None,
        "a failed call changes nothing"
    );
    s.put(&account_path(RG, "faulty01"), STORAGE, &body)
        .status(202);

    s.fake
        .fail_next(azure_fake::TOKEN_OPERATION, 503, 1, Some(2));
    let refused = request_token(&s.http, &s.fake, &secret_grant(CLIENT_SECRET, ARM_SCOPE));
    assert_eq!(refused.header("retry-after"), Some("2"));
    refused.aad_error(503, "temporarily_unavailable", 50_196);
    request_token(&s.http, &s.fake, &secret_grant(CLIENT_SECRET, ARM_SCOPE)).ok();

    let ids: Vec<String> = s.fake.calls().into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        ids.iter().filter(|id| *id == "ResourceGroups_Get").count(),
        3
    );
    s.assert_clean();
}

#[test]
fn operations_take_the_operation_delay() {
    let app = App::deploy();
    let s = &app.s;
    let delay = Duration::from_millis(900);
    s.fake.set_operation_delay(delay);

    let started = Instant::now();
    let accepted = app.swap_with_production().status(202);
    assert_eq!(accepted.header("retry-after"), Some("1"));
    let first = s
        .follow(accepted.header("azure-asyncoperation").unwrap())
        .ok();
    assert_eq!(first["status"], "InProgress");
    assert_eq!(
        s.fake.content(SITE, None),
        Content::Package(package("v1")),
        "nothing moved yet"
    );
    assert_eq!(s.follow(accepted.header("location").unwrap()).status, 202);
    assert_eq!(s.wait_async(&accepted)["status"], "Succeeded");
    assert!(
        started.elapsed() >= delay,
        "finished after {:?}",
        started.elapsed()
    );
    assert_eq!(s.fake.content(SITE, None), Content::Package(package("v2")));

    // A swap while another runs is refused.
    let accepted = app.swap_with_production().status(202);
    app.swap_with_production().arm_error(409, "Conflict");
    s.wait_async(&accepted);

    // Plans and sites answer 202 when asked to.
    s.fake.set_operation_delay(Duration::from_millis(150));
    s.fake.create_async("AppServicePlans_CreateOrUpdate");
    let accepted = s
        .put(
            &plan_path(RG, "async-plan"),
            WEB,
            &json!({"location": "westeurope", "sku": {"name": "EP2"}}),
        )
        .status(202);
    assert_eq!(
        accepted.json()["properties"]["provisioningState"],
        "InProgress"
    );
    assert_eq!(s.wait_async(&accepted)["status"], "Succeeded");
    let plan = s.wait_location(&accepted).ok();
    assert_eq!(plan["properties"]["provisioningState"], "Succeeded");
    assert_eq!(plan["sku"]["name"], "EP2");
    s.assert_clean();
}

// ----- Kudu ---------------------------------------------------------------------

#[test]
fn kudu_takes_bearer_tokens_or_publishing_credentials() {
    let app = App::deploy();
    let s = &app.s;
    let host = "shop-api.scm.azurewebsites.net";
    let (user, password) = s
        .fake
        .publishing_credentials(SITE, None)
        .expect("credentials");
    assert_eq!(user, "$shop-api");
    let (slot_user, _) = s
        .fake
        .publishing_credentials(SITE, Some("staging"))
        .unwrap();
    assert_eq!(slot_user, "$shop-api__staging");

    let anonymous = read(s.site_request(Method::GET, host, "/api/deployments"));
    assert_eq!(anonymous.status, 401);
    let wrong = read(
        s.site_request(Method::GET, host, "/api/deployments")
            .basic_auth(&user, Some("nope")),
    );
    assert_eq!(wrong.status, 401);
    // Staging's credentials are not production's.
    let (_, staging_password) = s
        .fake
        .publishing_credentials(SITE, Some("staging"))
        .unwrap();
    let crossed = read(
        s.site_request(Method::GET, host, "/api/deployments")
            .basic_auth(&user, Some(&staging_password)),
    );
    assert_eq!(crossed.status, 401);
    let storage_token = request_token(
        &s.http,
        &s.fake,
        &secret_grant(CLIENT_SECRET, "https://storage.azure.com/.default"),
    )
    .ok()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let not_arm = read(
        s.site_request(Method::GET, host, "/api/deployments")
            .bearer_auth(&storage_token),
    );
    assert_eq!(not_arm.status, 401);

    let listed = read(
        s.site_request(Method::GET, host, "/api/deployments")
            .basic_auth(&user, Some(&password)),
    )
    .ok();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["deployer"], "ZipDeploy");

    // A body that is not a zip fails the deployment, status 3.
    let accepted = read(
        s.site_request(Method::POST, host, "/api/zipdeploy")
            .query(&[("isAsync", "true")])
            .basic_auth(&user, Some(&password))
            .body(b"not a zip".to_vec()),
    );
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    // A second deployment while one runs is refused.
    let busy = read(
        s.site_request(Method::POST, host, "/api/zipdeploy")
            .basic_auth(&user, Some(&password))
            .body(package("v9")),
    );
    assert_eq!(busy.status, 409);
    assert!(
        busy.text().contains("deployment currently in progress"),
        "{}",
        busy.text()
    );
    std::thread::sleep(Duration::from_millis(150));
    let failed = s.follow_kudu(accepted.header("location").unwrap()).ok();
    assert_eq!(failed["status"], 3, "{failed}");
    assert!(
        failed["status_text"]
            .as_str()
            .unwrap()
            .contains("not a valid zip"),
        "{failed}"
    );
    assert_eq!(
        s.fake.package(SITE, None),
        Some(package("v1")),
        "a failed deployment changes nothing"
    );
    let latest = read(
        s.site_request(Method::GET, host, "/api/deployments/nothing-like-this")
            .bearer_auth(&s.token),
    );
    assert_eq!(latest.status, 404);
    s.assert_clean();

    // Kudu's own parameters only: OneDeploy's flag is `async`.
    let before = s.fake.violations().len();
    let sync = read(
        s.site_request(Method::POST, host, "/api/publish")
            .query(&[("type", "zip"), ("isAsync", "true")])
            .bearer_auth(&s.token)
            .body(package("v5")),
    );
    assert_eq!(sync.status, 200, "deployed synchronously: {}", sync.text());
    s.assert_one_new_violation(before, "unknown query parameter `isAsync`");
    let untyped = read(
        s.site_request(Method::POST, host, "/api/publish")
            .bearer_auth(&s.token)
            .body(package("v6")),
    );
    assert_eq!(untyped.status, 400);
    assert!(
        untyped.text().contains("type='' not recognized"),
        "{}",
        untyped.text()
    );
    s.assert_one_new_violation(before + 1, "type=''");
    let other = read(
        s.site_request(Method::GET, host, "/api/vfs/site/wwwroot/")
            .bearer_auth(&s.token),
    );
    assert_eq!(other.status, 501);
    s.assert_one_new_violation(before + 2, "/api/vfs");
}

#[test]
fn function_hosts_answer_canned_replies_and_record_what_they_served() {
    let app = App::deploy();
    let s = &app.s;
    s.fake.answer(
        "shop-api.azurewebsites.net/api/hello",
        200,
        r#"{"greeting": "hello"}"#,
    );
    s.fake
        .answer("*-staging.azurewebsites.net", 503, "warming up");

    let hello = read(
        s.site_request(
            Method::GET,
            "shop-api.azurewebsites.net",
            "/api/hello?name=x",
        )
        .header("x-functions-key", "abc"),
    );
    assert_eq!(hello.status, 200);
    assert_eq!(hello.json()["greeting"], "hello");
    let staging = read(
        s.site_request(
            Method::POST,
            "shop-api-staging.azurewebsites.net",
            "/api/hello",
        )
        .body("hi"),
    );
    assert_eq!(staging.status, 503);
    assert_eq!(staging.text(), "warming up");
    let missing = read(s.site_request(Method::GET, "shop-api.azurewebsites.net", "/api/other"));
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("404 Web Site not found"));
    let unknown = read(s.site_request(Method::GET, "no-such-app.azurewebsites.net", "/api/hello"));
    assert_eq!(unknown.status, 404);

    let served = s.fake.served();
    assert_eq!(served.len(), 4);
    assert_eq!(served[0].path, "/api/hello?name=x");
    assert_eq!(served[0].site.as_deref(), Some(SITE));
    assert_eq!(served[0].slot, None);
    assert_eq!(served[0].content, Content::Package(package("v1")));
    assert!(
        served[0]
            .headers
            .iter()
            .any(|(k, v)| k == "x-functions-key" && v == "abc")
    );
    assert_eq!(served[1].slot.as_deref(), Some("staging"));
    assert_eq!(served[1].content, Content::Package(package("v2")));
    assert_eq!(served[1].body, b"hi");
    assert_eq!(served[3].site, None);

    // After a swap, production's host serves what staging did.
    let accepted = app.swap_with_production().status(202);
    s.wait_async(&accepted);
    read(s.site_request(Method::GET, "shop-api.azurewebsites.net", "/api/hello"));
    assert_eq!(s.fake.served()[4].content, Content::Package(package("v2")));
    s.assert_clean();
}

// ----- transport -----------------------------------------------------------------

#[test]
fn only_a_client_that_trusts_the_test_ca_connects() {
    let fake = Fake::start();
    let plain = Client::builder().build().unwrap();
    let err = plain
        .post(fake.token_endpoint())
        .body(form(&secret_grant(CLIENT_SECRET, ARM_SCOPE)))
        .send()
        .unwrap_err();
    assert!(
        err.is_connect() || err.to_string().contains("certificate"),
        "{err:?}"
    );
    let http = fake.url().replacen("https://", "http://", 1);
    assert!(
        plain.get(format!("{http}/")).send().is_err(),
        "no plain HTTP"
    );
    assert!(
        fake.calls().is_empty(),
        "nothing got through: {:?}",
        fake.calls()
    );
}

#[test]
fn azure_host_names_reach_the_fake_through_resolve() {
    let fake = Fake::start();
    let addr = fake.addr();
    let http = trusting_client(&[
        ("login.microsoftonline.com", addr),
        ("management.azure.com", addr),
        ("hello-fn.scm.azurewebsites.net", addr),
        ("hello-fn.azurewebsites.net", addr),
    ]);
    let port = addr.port();
    let token = read(
        http.post(format!(
            "https://login.microsoftonline.com:{port}/{TENANT_ID}/oauth2/v2.0/token"
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&secret_grant(
            CLIENT_SECRET,
            "https://management.core.windows.net//.default",
        ))),
    )
    .ok()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let arm = format!("https://management.azure.com:{port}");
    let put = |path: &str, version: &str, body: Value| {
        read(
            http.put(format!("{arm}{path}"))
                .query(&[("api-version", version)])
                .bearer_auth(&token)
                .json(&body),
        )
    };
    put(
        &rg_path("dns-rg"),
        RESOURCES,
        json!({"location": "westeurope"}),
    )
    .status(201);
    put(
        &plan_path("dns-rg", "p"),
        WEB,
        json!({"location": "westeurope", "sku": {"name": "Y1"}}),
    )
    .ok();
    put(
        &site_path("dns-rg", "hello-fn"),
        WEB,
        json!({"location": "westeurope", "properties": {"serverFarmId": plan_path("dns-rg", "p")}}),
    )
    .ok();
    let accepted = read(
        http.post(format!(
            "https://hello-fn.scm.azurewebsites.net:{port}/api/zipdeploy?isAsync=true"
        ))
        .bearer_auth(&token)
        .body(package("dns")),
    );
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    // The Location names the SCM host (and port) the request used.
    let location = accepted.header("location").unwrap().to_owned();
    assert!(
        location.starts_with(&format!(
            "https://hello-fn.scm.azurewebsites.net:{port}/api/deployments/latest"
        )),
        "{location}"
    );
    std::thread::sleep(Duration::from_millis(150));
    let done = read(http.get(&location).bearer_auth(&token)).ok();
    assert_eq!(done["status"], 4);
    fake.answer("hello-fn.azurewebsites.net", 200, "hi");
    let hello = read(http.get(format!(
        "https://hello-fn.azurewebsites.net:{port}/api/hello"
    )));
    assert_eq!(hello.text(), "hi");
    assert_eq!(fake.served()[0].content, Content::Package(package("dns")));
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}
