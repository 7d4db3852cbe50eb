//! Kudu (the SCM site, `{site}[-{slot}].scm.azurewebsites.net`) and the
//! function apps' own hosts (`{site}[-{slot}].azurewebsites.net`) for the
//! Azure fake (`azure_fake.rs`).
//!
//! Kudu, as its source and wiki describe it
//! (<https://github.com/projectkudu/kudu/wiki/Deploying-from-a-zip-file-or-url>,
//! `Kudu.Services/Deployment/PushDeploymentController.cs` and
//! `DeploymentController.cs`):
//!
//! - `POST`/`PUT /api/zipdeploy[?isAsync=true]` and OneDeploy
//!   `POST`/`PUT /api/publish?type=zip[&async=true]` take the zip in the
//!   body. Synchronous: 200 when deployed. Asynchronous: 202 at once with
//!   `Location: https://{host}/api/deployments/latest?deployer=…&time=…`
//!   and `Retry-After`. 409 with Kudu's text when a deployment is already
//!   running on that side, or when `WEBSITE_RUN_FROM_PACKAGE` is a URL.
//!   OneDeploy's `type` is required (`type='' not recognized`); query
//!   parameters are the controllers' (names case-insensitive, as ASP.NET
//!   binds them), and an unknown one is recorded as a violation although
//!   Kudu ignores it, since it is almost always a mistake (`isAsync` given
//!   to OneDeploy, whose flag is `async`, deploys synchronously).
//! - `GET /api/deployments/latest`: 202 with the pending deployment while
//!   one runs, then 200 with the newest finished one; `GET
//!   /api/deployments/{id}`: 200 with it; `GET /api/deployments`: all,
//!   newest first. A deployment is Kudu's `DeployResult` JSON: `status` 0
//!   pending, 1 building, 2 deploying, 3 failed, 4 success, with
//!   `status_text`, `complete`, `active`, `end_time`, ...
//! - Auth: a bearer token for ARM (what clients with Entra credentials
//!   send), or Basic with the side's publishing credentials
//!   (`Fake::publishing_credentials`). 401 otherwise.
//! - A deployment finishes after the fake's operation delay: its zip
//!   becomes the side's package. A body that is not a zip fails the
//!   deployment (status 3), as extraction would.
//!
//! Function hosts: no Azure Functions host runs here. Each request is
//! recorded ([`Served`], with what the side served at that moment) and
//! answered from the canned replies of `Fake::answer`, or App Service's
//! 404 page.

use std::io::Cursor;
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{
    ARM_AUDIENCES, Content, Incoming, KUDU_DEPLOYMENT, KUDU_DEPLOYMENTS, KUDU_ONEDEPLOY,
    KUDU_ZIPDEPLOY, SITE_HTTP, State, json_response, now_rfc3339, random_hex, text_response,
};

/// Kudu's texts (`Kudu.Services/Resources.resx`).
const DEPLOYMENT_IN_PROGRESS: &str =
    "There is a deployment currently in progress. Please try again when it completes.";
const RUN_FROM_REMOTE_ZIP: &str = "Run-From-Zip is set to a remote URL using WEBSITE_RUN_FROM_PACKAGE \
     or WEBSITE_USE_ZIP app setting. Deployment is not supported in this configuration.";

/// The page App Service answers for a site or path with nothing behind it.
const NOT_FOUND_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Microsoft Azure Web App - \
     Error 404</title></head><body><h1>404 Web Site not found.</h1><p>You may be seeing this \
     error due to one of the reasons listed below: Custom domain has not been configured inside \
     Azure; client cache is still pointing the domain to an old IP address; the app does not \
     exist or does not serve this path.</p></body></html>";

/// Query parameters of the Kudu controllers, lowercase.
const ZIPDEPLOY_PARAMS: [&str; 7] = [
    "isasync",
    "author",
    "authoremail",
    "deployer",
    "message",
    "trackdeploymentprogress",
    "clean",
];
/// OneDeploy's, plus `RemoteBuild` and `Deployer`, which the Flex
/// Consumption deployer takes.
const PUBLISH_PARAMS: [&str; 9] = [
    "type",
    "async",
    "path",
    "restart",
    "clean",
    "ignorestack",
    "trackdeploymentprogress",
    "remotebuild",
    "deployer",
];
/// The `Location` of an asynchronous deployment carries these.
const DEPLOYMENTS_PARAMS: [&str; 2] = ["deployer", "time"];
/// Kudu's boolean parameters (ASP.NET binds only `true`/`false`).
const BOOL_PARAMS: [&str; 7] = [
    "isasync",
    "async",
    "trackdeploymentprogress",
    "clean",
    "restart",
    "ignorestack",
    "remotebuild",
];

/// One Kudu deployment of a side.
pub(super) struct Deployment {
    id: String,
    deployer: String,
    message: String,
    author: Option<String>,
    received: String,
    end: Option<String>,
    ready_at: Instant,
    /// The package, or why the deployment fails.
    outcome: Result<Vec<u8>, String>,
    /// `None` while running, then whether it succeeded.
    succeeded: Option<bool>,
    active: bool,
}

impl Deployment {
    /// Kudu's `DeployResult` JSON.
    pub(super) fn json(&self, host: &str, site: &str) -> Value {
        let (status, text) = match (self.succeeded, &self.outcome) {
            (None, _) => (2, String::new()),
            (Some(true), _) => (4, String::new()),
            (Some(false), Err(why)) => (3, why.clone()),
            (Some(false), Ok(_)) => (3, "Deployment failed.".to_owned()),
        };
        let url = format!("https://{host}/api/deployments/{}", self.id);
        json!({
            "id": self.id,
            "status": status,
            "status_text": text,
            "author_email": "N/A",
            "author": self.author.as_deref().unwrap_or("N/A"),
            "deployer": self.deployer,
            "message": self.message,
            "progress": if self.succeeded.is_none() { "Deploying the package" } else { "" },
            "received_time": self.received,
            "start_time": self.received,
            "end_time": self.end,
            "last_success_end_time": if self.succeeded == Some(true) { self.end.clone() } else { None },
            "complete": self.succeeded.is_some(),
            "active": self.active,
            "is_temp": false,
            "is_readonly": true,
            "url": url,
            "log_url": format!("{url}/log"),
            "site_name": site,
        })
    }
}

/// A canned answer of a function host.
pub(super) struct Canned {
    pub(super) pattern: String,
    pub(super) status: u16,
    pub(super) body: String,
}

/// A request to a function app's host, as the fake saw and answered it.
#[derive(Debug, Clone)]
pub struct Served {
    /// The `Host`, lowercase, without port.
    pub host: String,
    /// The site and slot the host names, if one exists.
    pub site: Option<String>,
    pub slot: Option<String>,
    pub method: String,
    /// Path and query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// What the side served when the request came: the fake cannot run it,
    /// but a test can check which code would have answered.
    pub content: Content,
    pub status: u16,
}

/// `{site}.scm.azurewebsites.net` or `{site}-{slot}.scm.azurewebsites.net`.
pub(super) fn scm_host(site: &str, slot: Option<&str>) -> String {
    match slot {
        None => format!("{site}.scm.azurewebsites.net"),
        Some(slot) => format!("{site}-{slot}.scm.azurewebsites.net"),
    }
    .to_ascii_lowercase()
}

impl State {
    /// The site (key) and slot (lowercase) a host prefix names:
    /// `{site}` or `{site}-{slot}`, both of which may contain hyphens; host
    /// names are unique, so at most one matches.
    fn side_for_host(&self, prefix: &str) -> Option<(String, Option<String>)> {
        for (key, site) in &self.sites {
            if site.name.eq_ignore_ascii_case(prefix) {
                return Some((key.clone(), None));
            }
            for slot in site.slots.keys() {
                if format!("{}-{slot}", site.name).eq_ignore_ascii_case(prefix) {
                    return Some((key.clone(), Some(slot.clone())));
                }
            }
        }
        None
    }
}

/// Kudu.
pub(super) fn handle(st: &mut State, req: &Incoming, prefix: &str) -> Response {
    st.settle();
    let path = req.path.trim_end_matches('/').to_ascii_lowercase();
    let label = match path.as_str() {
        "/api/zipdeploy" => KUDU_ZIPDEPLOY,
        "/api/publish" => KUDU_ONEDEPLOY,
        "/api/deployments" => KUDU_DEPLOYMENTS,
        p if p.starts_with("/api/deployments/") && p.matches('/').count() == 3 => KUDU_DEPLOYMENT,
        _ => "?",
    };
    st.calls.push((label.to_owned(), req.describe_with_host()));
    let Some((key, slot)) = st.side_for_host(prefix) else {
        // No such app: what App Service's front end answers.
        return html(404, NOT_FOUND_PAGE);
    };
    if !kudu_authorized(st, req, &key, slot.as_deref()) {
        let mut response = text_response(
            401,
            "401 - Unauthorized: Access is denied due to invalid credentials.",
        );
        if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{}\"", req.host)) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        return response;
    }
    let method = req.method.as_str();
    let allowed: &[&str] = match label {
        KUDU_ZIPDEPLOY | KUDU_ONEDEPLOY => &["POST", "PUT"],
        KUDU_DEPLOYMENT | KUDU_DEPLOYMENTS => &["GET"],
        _ => {
            let message = format!(
                "the fake's Kudu implements /api/zipdeploy, /api/publish and /api/deployments, not {}",
                req.path
            );
            kudu_violation(st, req, &message);
            return text_response(501, &message);
        }
    };
    if !allowed.contains(&method) {
        let message = format!("{} takes {}, not {method}", req.path, allowed.join(" or "));
        kudu_violation(st, req, &message);
        return json_response(405, &json!({"Message": message}));
    }
    let known: &[&str] = match label {
        KUDU_ZIPDEPLOY => &ZIPDEPLOY_PARAMS,
        KUDU_ONEDEPLOY => &PUBLISH_PARAMS,
        _ => &DEPLOYMENTS_PARAMS,
    };
    for (name, value) in &req.query {
        let lower = name.to_ascii_lowercase();
        if !known.contains(&lower.as_str()) {
            kudu_violation(
                st,
                req,
                format!(
                    "unknown query parameter `{name}` (Kudu ignores it; {} takes {})",
                    req.path,
                    known.join(", ")
                ),
            );
        } else if BOOL_PARAMS.contains(&lower.as_str())
            && !value.eq_ignore_ascii_case("true")
            && !value.eq_ignore_ascii_case("false")
        {
            let message = format!("The value '{value}' is not valid for {name}.");
            kudu_violation(st, req, &message);
            return json_response(400, &json!({"Message": message}));
        }
    }
    if let Some((status, retry_after)) = st.take_fault(label) {
        let mut response = text_response(
            status,
            &format!("Injected failure {status}. (injected by the fake)"),
        );
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, secs.into());
        }
        return response;
    }
    let site_name = st.sites[&key].name.clone();
    match label {
        KUDU_ZIPDEPLOY | KUDU_ONEDEPLOY => deploy(st, req, &key, slot.as_deref(), label),
        KUDU_DEPLOYMENTS => {
            let side = st.sites[&key]
                .side(slot.as_deref())
                .expect("side_for_host found it");
            let all: Vec<Value> = side
                .content
                .deployments
                .iter()
                .rev()
                .map(|d| d.json(&req.host, &site_name))
                .collect();
            json_response(200, &Value::Array(all))
        }
        _ => {
            let id = req
                .path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default();
            let side = st.sites[&key]
                .side(slot.as_deref())
                .expect("side_for_host found it");
            let deployments = &side.content.deployments;
            if id.eq_ignore_ascii_case("latest") {
                if let Some(pending) = deployments.iter().find(|d| d.succeeded.is_none()) {
                    let mut response = json_response(202, &pending.json(&req.host, &site_name));
                    let location = format!("{}{}", req.base(), super::uri_of(req));
                    if let Ok(v) = HeaderValue::from_str(&location) {
                        response.headers_mut().insert(header::LOCATION, v);
                    }
                    let retry = st.retry_after(pending.ready_at);
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, retry.into());
                    return response;
                }
                return match deployments.iter().rev().find(|d| d.succeeded.is_some()) {
                    Some(d) => json_response(200, &d.json(&req.host, &site_name)),
                    None => {
                        json_response(404, &json!({"Message": "Deployment 'latest' not found."}))
                    }
                };
            }
            match deployments.iter().find(|d| d.id.eq_ignore_ascii_case(id)) {
                Some(d) => json_response(200, &d.json(&req.host, &site_name)),
                None => json_response(
                    404,
                    &json!({"Message": format!("Deployment '{id}' not found.")}),
                ),
            }
        }
    }
}

fn kudu_violation(st: &mut State, req: &Incoming, message: impl std::fmt::Display) {
    st.violations
        .push(format!("{}: {message}", req.describe_with_host()));
}

/// A bearer token for ARM, or Basic with the side's publishing credentials.
fn kudu_authorized(st: &State, req: &Incoming, key: &str, slot: Option<&str>) -> bool {
    let Some(value) = req.header(header::AUTHORIZATION) else {
        return false;
    };
    if let Some(token) = value.strip_prefix("Bearer ") {
        return st.bearer_ok(token.trim(), &ARM_AUDIENCES);
    }
    let Some((user, password)) = value
        .strip_prefix("Basic ")
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())))
    else {
        return false;
    };
    let site = &st.sites[key];
    let Some(side) = site.side(slot) else {
        return false;
    };
    let expected = match &side.slot {
        None => format!("${}", site.name),
        Some(slot) => format!("${}__{slot}", site.name),
    };
    user.eq_ignore_ascii_case(&expected) && password == side.password
}

/// `zipdeploy` or OneDeploy.
fn deploy(st: &mut State, req: &Incoming, key: &str, slot: Option<&str>, label: &str) -> Response {
    let flag = |name: &str| {
        req.query
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case(name) && v.eq_ignore_ascii_case("true"))
    };
    let param = |name: &str| {
        req.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let (asynchronous, deployer, message) = if label == KUDU_ONEDEPLOY {
        let kind = param("type").unwrap_or_default();
        if !kind.eq_ignore_ascii_case("zip") {
            const TYPES: [&str; 8] = [
                "war", "jar", "ear", "lib", "startup", "static", "script", "zip",
            ];
            if TYPES.iter().any(|t| t.eq_ignore_ascii_case(&kind)) {
                let message = format!("the fake's OneDeploy implements type=zip, not type={kind}");
                kudu_violation(st, req, &message);
                return text_response(501, &message);
            }
            let message = format!("type='{kind}' not recognized");
            kudu_violation(st, req, &message);
            return json_response(400, &Value::from(message));
        }
        (
            flag("async"),
            "OneDeploy".to_owned(),
            "OneDeploy".to_owned(),
        )
    } else {
        (
            flag("isAsync"),
            param("deployer").unwrap_or_else(|| "ZipDeploy".to_owned()),
            param("message").unwrap_or_else(|| "Created via a push deployment".to_owned()),
        )
    };
    let json_body = req
        .header(header::CONTENT_TYPE)
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/json"));
    if json_body {
        let message = "the fake's Kudu deploys a zip in the body, not a packageUri";
        kudu_violation(st, req, message);
        return text_response(501, message);
    }
    let delay = st.operation_delay;
    let side = st
        .sites
        .get_mut(key)
        .and_then(|s| s.side_mut(slot))
        .expect("side_for_host found it");
    if matches!(side.serving(), Content::Url(_)) {
        return text_response(409, RUN_FROM_REMOTE_ZIP);
    }
    if side
        .content
        .deployments
        .iter()
        .any(|d| d.succeeded.is_none())
    {
        return text_response(409, DEPLOYMENT_IN_PROGRESS);
    }
    let outcome = check_zip(&req.body).map(|()| req.body.to_vec());
    let now = now_rfc3339();
    let ready_at = Instant::now()
        + if asynchronous {
            delay
        } else {
            Default::default()
        };
    side.content.deployments.push(Deployment {
        id: random_hex(16),
        deployer: deployer.clone(),
        message,
        author: param("author"),
        received: now,
        end: None,
        ready_at,
        outcome,
        succeeded: None,
        active: false,
    });
    if !asynchronous {
        settle(st);
        let side = st.sites[key].side(slot).expect("found above");
        let last = side.content.deployments.last().expect("just pushed");
        return match &last.outcome {
            Ok(_) => Response::builder()
                .status(200)
                .body(Body::empty())
                .expect("a valid response"),
            Err(why) => text_response(400, &format!("Deployment Failed. {why}")),
        };
    }
    let time = now_rfc3339();
    let time = format!("{}_{}Z", &time[..10], time[11..19].replace(':', "-"));
    let location = format!(
        "{}/api/deployments/latest?deployer={}&time={time}",
        req.base(),
        super::percent_encode(&deployer)
    );
    let mut response = Response::builder()
        .status(202)
        .body(Body::empty())
        .expect("a valid response");
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    let retry = st.retry_after(ready_at);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, retry.into());
    response
}

/// Whether `body` is a zip archive Kudu could extract.
fn check_zip(body: &[u8]) -> Result<(), String> {
    if body.is_empty() {
        return Err("The request body is empty: there is no zip to deploy.".to_owned());
    }
    match zip::ZipArchive::new(Cursor::new(body)) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("The package is not a valid zip file: {e}")),
    }
}

/// Finishes the Kudu deployments whose time has come.
pub(super) fn settle(st: &mut State) {
    let now = Instant::now();
    for site in st.sites.values_mut() {
        let sides = std::iter::once(&mut site.production).chain(site.slots.values_mut());
        for side in sides {
            let due: Vec<usize> = side
                .content
                .deployments
                .iter()
                .enumerate()
                .filter(|(_, d)| d.succeeded.is_none() && d.ready_at <= now)
                .map(|(i, _)| i)
                .collect();
            for i in due {
                let ok = side.content.deployments[i].outcome.is_ok();
                if ok {
                    for d in &mut side.content.deployments {
                        d.active = false;
                    }
                    side.content.package = side.content.deployments[i].outcome.clone().ok();
                }
                let d = &mut side.content.deployments[i];
                d.succeeded = Some(ok);
                d.active = ok;
                d.end = Some(now_rfc3339());
            }
        }
    }
}

/// A function app's own host.
pub(super) fn serve_site(st: &mut State, req: &Incoming, prefix: &str) -> Response {
    st.settle();
    st.calls
        .push((SITE_HTTP.to_owned(), req.describe_with_host()));
    let mut side = st.side_for_host(prefix);
    let mut host = req.host.clone();
    // Production's routing rules send their share to a slot: the n-th
    // request goes there when n mod 100 falls below the rule's percent.
    if let Some((key, None)) = &side {
        let s = st.sites.get_mut(key).expect("side_for_host found it");
        let n = s.routed % 100;
        s.routed += 1;
        let mut from = 0.0;
        for r in &s.ramp_up_rules {
            let to = from + r["reroutePercentage"].as_f64().unwrap_or(0.0);
            if (n as f64) >= from && (n as f64) < to {
                let rule_host = r["actionHostName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let name = s.name.to_ascii_lowercase();
                if let Some(slot) = rule_host
                    .strip_suffix(".azurewebsites.net")
                    .and_then(|h| h.strip_prefix(&format!("{name}-")))
                {
                    side = Some((key.clone(), Some(slot.to_owned())));
                    host = host.replacen(&name, &format!("{name}-{slot}"), 1);
                }
                break;
            }
            from = to;
        }
    }
    let (site, slot, content) = match &side {
        Some((key, slot)) => {
            let s = &st.sites[key];
            let side = s.side(slot.as_deref()).expect("side_for_host found it");
            (Some(s.name.clone()), side.slot.clone(), side.serving())
        }
        None => (None, None, Content::Nothing),
    };
    // Canned answers follow the side that serves, as the real routing does.
    let target = format!("{host}{}", req.path);
    let canned = st
        .answers
        .iter()
        .rev()
        .find(|c| side.is_some() && pattern_matches(&c.pattern, &target))
        .map(|c| (c.status, c.body.clone()));
    let faulted = st.take_fault(SITE_HTTP);
    let (status, body, is_page) = match (faulted, canned) {
        (Some((status, _)), _) => (status, format!("Injected failure {status}."), false),
        (None, Some((status, body))) => (status, body, false),
        (None, None) => (404, NOT_FOUND_PAGE.to_owned(), true),
    };
    st.served.push(Served {
        host: req.host.clone(),
        site,
        slot,
        method: req.method.clone(),
        path: super::uri_of(req),
        headers: req.header_pairs(),
        body: req.body.to_vec(),
        content,
        status,
    });
    if is_page {
        html(status, &body)
    } else if serde_json::from_str::<Value>(&body).is_ok() {
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(Body::from(body))
            .expect("a valid response")
    } else {
        text_response(status, &body)
    }
}

/// `host[/path-prefix]` with `*` for any run of characters, against
/// `host/path` (the path part is a prefix).
fn pattern_matches(pattern: &str, target: &str) -> bool {
    let (pattern_host, pattern_path) = pattern
        .split_once('/')
        .map_or((pattern, None), |(h, p)| (h, Some(p)));
    let (host, path) = target.split_once('/').unwrap_or((target, ""));
    if !glob(pattern_host, host) {
        return false;
    }
    match pattern_path {
        None => true,
        Some(p) => glob(&format!("{p}*"), path),
    }
}

/// `*`-glob matching, case-insensitive.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.to_ascii_lowercase(), text.to_ascii_lowercase());
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == t;
    }
    let mut rest = t.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

fn html(status: u16, page: &str) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html")
        .body(Body::from(page.to_owned()))
        .expect("a valid response")
}
