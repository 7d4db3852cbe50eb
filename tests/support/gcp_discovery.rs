//! Request and response validation for Google Cloud REST APIs, driven by their
//! [discovery documents](https://developers.google.com/discovery/v1/reference/apis).
//!
//! A fake Google Cloud backend (or a recording proxy) hands each request nubo
//! makes to [`Api::validate_request`] and each canned reply to
//! [`Api::validate_response`], so that a wrong URL, query parameter or JSON
//! field fails a test instead of a deploy against the real service.
//!
//! Include it from a test file with
//! `#[path = "support/gcp_discovery.rs"] mod gcp_discovery;`.
//!
//! What the documents say, and how this module reads them:
//!
//! - A method is found by matching the URL path against `servicePath +
//!   flatPath` (or `path` where there is no `flatPath`, as in storage.v1), and
//!   against its media upload paths (`/upload/storage/v1/b/{bucket}/o`).
//!   `{x}` matches one path segment, `{+x}` anything including slashes; where
//!   several templates match, the one with the most literal characters wins
//!   (`.../services/{id}:getIamPolicy` over `.../services/{id}`).
//! - Parameters are then read through the method's `path` template, so they
//!   come out under their declared names (`parent`, `name`) rather than the
//!   flat names (`projectsId`, `locationsId`). `{x}` values are fully
//!   percent-decoded; `{+x}` values are decoded except for `%2F`, which stays
//!   encoded, as Google's HTTP transcoding does (logging's log IDs rely on it:
//!   `projects/p/logs/cloudaudit.googleapis.com%2Factivity`). Patterns are
//!   matched against those values.
//! - JSON bodies are checked against the schemas strictly: an unknown field is
//!   an error although Google ignores some, because for a client it is almost
//!   always a typo. JSON `null` is accepted anywhere. Output-only
//!   (`readOnly`) fields are accepted in requests, as Google ignores them.
//! - String formats are checked, not just accepted: `int64`/`uint64` must be
//!   decimal integers, `google-duration` like `300s`, `date-time` and
//!   `google-datetime` RFC 3339, `byte` base64. `google-fieldmask` and
//!   unknown formats take any string.
//! - Media uploads: `uploadType=media` bodies are raw bytes and not inspected,
//!   `multipart` bodies are required but not parsed, `resumable` session
//!   initiations may carry JSON metadata, which is checked. The follow-up
//!   `PUT ...?upload_id=` chunk requests of a resumable upload are not
//!   described by the documents and are not recognised.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

#[path = "spec_text.rs"]
mod spec_text;
use spec_text::{describe, entry_path, field_path, malformed_escape, percent_decode};

/// How many `$ref`s in a row may be followed before the chain is taken for a
/// cycle (`A` is `$ref: B` and `B` is `$ref: A`), which would otherwise never
/// reach a schema that consumes part of the JSON value.
const MAX_REF_HOPS: usize = 32;

/// One API (e.g. `run:v2`), as its discovery document describes it.
#[derive(Debug)]
pub struct Api {
    /// `name:version` as the document's `id` gives it, e.g. `run:v2`.
    pub id: String,
    /// e.g. `https://run.googleapis.com/`.
    pub root_url: String,
    /// Prefix of every method path, e.g. `storage/v1/` (empty for run.v2).
    pub service_path: String,
    /// The standard query parameters every method accepts (`alt`, `fields`,
    /// `key`, `prettyPrint`, `quotaUser`, `uploadType`, ...). The set differs
    /// between documents: storage.v1 has `userIp` but not `$.xgafv`.
    pub parameters: BTreeMap<String, Parameter>,
    /// Named schemas, the targets of `$ref`.
    pub schemas: BTreeMap<String, Schema>,
    /// Every method of every resource, by id (`run.projects.locations.services.create`).
    pub methods: BTreeMap<String, Method>,
    routes: Vec<Route>,
}

/// One REST method of an API.
#[derive(Debug)]
pub struct Method {
    /// e.g. `storage.objects.insert`.
    pub id: String,
    /// `GET`, `POST`, `PATCH`, `PUT` or `DELETE`.
    pub http_method: String,
    /// Path template relative to `servicePath` with one variable per segment
    /// (`v2/projects/{projectsId}/locations/{locationsId}/services`); the
    /// document's `path` where it gives no `flatPath`.
    pub flat_path: String,
    /// Path template naming the real parameters (`v2/{+parent}/services`).
    pub path: String,
    /// Path and query parameters of this method (not the standard ones).
    pub parameters: BTreeMap<String, Parameter>,
    /// Schema name of the JSON request body, if the method takes one.
    pub request: Option<String>,
    /// Schema name of the JSON response body, if the method returns one.
    pub response: Option<String>,
    /// Whether `alt=media` may ask for the content instead of the metadata
    /// (storage.objects.get).
    pub supports_media_download: bool,
    /// The upload endpoints, for methods that accept media.
    pub media_upload: Option<MediaUpload>,
}

/// Where a parameter goes in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
}

/// The wire type of a parameter; all of them travel as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    String,
    Integer,
    Boolean,
    Number,
}

/// A path or query parameter.
#[derive(Debug)]
pub struct Parameter {
    pub location: Location,
    pub param_type: ParamType,
    /// e.g. `int64` for storage's `ifGenerationMatch`, which is typed `string`.
    pub format: Option<String>,
    pub required: bool,
    /// Whether the parameter may be given more than once.
    pub repeated: bool,
    /// For path parameters, the shape of the whole `{+name}` value, e.g.
    /// `^projects/[^/]+/locations/[^/]+$`.
    pub pattern: Option<Regex>,
    pub enum_values: Option<Vec<String>>,
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
}

/// How a method accepts media (`mediaUpload` in the document).
#[derive(Debug)]
pub struct MediaUpload {
    /// Accepted content types, e.g. `*/*`.
    pub accept: Vec<String>,
    /// Largest accepted upload in bytes, where the document gives one.
    pub max_size: Option<u64>,
    /// The path for `uploadType=media` and `uploadType=multipart`.
    pub simple: Option<UploadProtocol>,
    /// The path dedicated to resumable uploads.
    pub resumable: Option<UploadProtocol>,
}

/// One upload endpoint of a [`MediaUpload`].
#[derive(Debug)]
pub struct UploadProtocol {
    /// Absolute path template, e.g. `/upload/storage/v1/b/{bucket}/o`.
    pub path: String,
    /// Whether metadata and media may be sent together (`uploadType=multipart`).
    pub multipart: bool,
}

/// A JSON schema in the discovery dialect.
#[derive(Debug)]
pub struct Schema {
    pub kind: SchemaKind,
    /// Methods whose request body must set this property
    /// (`annotations.required`, e.g. `Bucket.name` for `storage.buckets.insert`).
    pub required_for: Vec<String>,
    /// Output only: set by the service, ignored in requests.
    pub read_only: bool,
}

/// The shape a [`Schema`] prescribes.
#[derive(Debug)]
pub enum SchemaKind {
    /// `$ref`: the named schema of [`Api::schemas`].
    Ref(String),
    /// `type: object`: fixed `properties`, or a map whose values all follow
    /// `additional` (`additionalProperties`).
    Object {
        properties: BTreeMap<String, Schema>,
        additional: Option<Box<Schema>>,
    },
    /// `type: array`; `None` when the document leaves `items` out.
    Array(Option<Box<Schema>>),
    String {
        format: Option<String>,
        enum_values: Option<Vec<String>>,
    },
    Integer {
        format: Option<String>,
    },
    Number {
        format: Option<String>,
    },
    Boolean,
    /// `type: any` (e.g. the values of an `Operation`'s `metadata`).
    Any,
}

/// How a request reached its method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RouteKind {
    /// The method's ordinary path; the body, if any, is JSON.
    Rest,
    /// `mediaUpload.protocols.simple.path`.
    SimpleUpload,
    /// `mediaUpload.protocols.resumable.path`.
    ResumableUpload,
}

/// One way of reaching a method: a template that recognises its URLs and a
/// template that reads its parameters out of them.
#[derive(Debug)]
struct Route {
    method_id: String,
    http_method: String,
    kind: RouteKind,
    /// Decides whether a path belongs to the method (from `flatPath`).
    matcher: Template,
    /// Reads the declared path parameters (from `path`).
    extractor: Template,
}

/// A compiled path template made of literals, `{x}` and `{+x}`.
#[derive(Debug)]
struct Template {
    source: String,
    regex: Regex,
    /// Variable names in order, and whether each is `{+x}`.
    vars: Vec<(String, bool)>,
    /// Characters outside variables: the more, the more specific.
    literal_len: usize,
}

impl Template {
    fn parse(source: &str) -> Template {
        let mut pattern = String::from("^");
        let mut vars = Vec::new();
        let mut literal_len = 0;
        let mut rest = source;
        while let Some(open) = rest.find('{') {
            let (literal, after) = rest.split_at(open);
            pattern.push_str(&regex::escape(literal));
            literal_len += literal.len();
            let close = after
                .find('}')
                .unwrap_or_else(|| panic!("unclosed `{{` in path template {source}"));
            let expr = &after[1..close];
            let (name, reserved) = match expr.strip_prefix('+') {
                Some(name) => (name, true),
                None => (expr, false),
            };
            assert!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')),
                "unsupported expression {{{expr}}} in path template {source}"
            );
            pattern.push_str(if reserved { "(.+)" } else { "([^/]+)" });
            vars.push((name.to_owned(), reserved));
            rest = &after[close + 1..];
        }
        pattern.push_str(&regex::escape(rest));
        literal_len += rest.len();
        pattern.push('$');
        Template {
            source: source.to_owned(),
            regex: Regex::new(&pattern).expect("an escaped template is a valid regex"),
            vars,
            literal_len,
        }
    }

    /// The variables of `path`, percent-decoded, if the template matches it.
    fn captures(&self, path: &str) -> Option<BTreeMap<String, String>> {
        let caps = self.regex.captures(path)?;
        Some(
            self.vars
                .iter()
                .zip(caps.iter().skip(1))
                .map(|((name, reserved), m)| {
                    let raw = m.expect("every group takes part in a match").as_str();
                    (name.clone(), percent_decode(raw, *reserved))
                })
                .collect(),
        )
    }
}

impl Api {
    /// Reads a discovery document; panics with the file name if it cannot be
    /// read or is not a discovery document this module understands.
    pub fn load(path: impl AsRef<Path>) -> Api {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read discovery document {}: {e}", path.display()));
        let doc: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("discovery document {} is not JSON: {e}", path.display()));
        Api::from_document(&doc)
    }

    /// Builds the validator from a parsed discovery document (handy for small
    /// hand-written documents in tests). Panics on constructs it does not
    /// understand and on `$ref`s to schemas the document lacks, so that a
    /// validator never silently checks less than it seems to.
    pub fn from_document(doc: &Value) -> Api {
        let id = doc["id"]
            .as_str()
            .or_else(|| doc["name"].as_str())
            .expect("a discovery document has an `id`")
            .to_owned();
        let parameters = parse_parameters(&doc["parameters"], &id);
        let schemas: BTreeMap<String, Schema> = doc["schemas"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, s)| (name.clone(), parse_schema(s, name)))
            .collect();

        let mut found = Vec::new();
        collect_methods(doc, &id, &mut found);
        let service_path = str_field(doc, "servicePath").unwrap_or_default();
        let mut routes = Vec::new();
        for m in &found {
            routes.push(Route {
                method_id: m.id.clone(),
                http_method: m.http_method.clone(),
                kind: RouteKind::Rest,
                matcher: Template::parse(&join_path(&service_path, &m.flat_path)),
                extractor: Template::parse(&join_path(&service_path, &m.path)),
            });
            let uploads = m.media_upload.iter().flat_map(|media| {
                [
                    (RouteKind::SimpleUpload, &media.simple),
                    (RouteKind::ResumableUpload, &media.resumable),
                ]
            });
            for (kind, protocol) in uploads {
                if let Some(protocol) = protocol {
                    routes.push(Route {
                        method_id: m.id.clone(),
                        http_method: m.http_method.clone(),
                        kind,
                        matcher: Template::parse(&protocol.path),
                        extractor: Template::parse(&protocol.path),
                    });
                }
            }
        }

        let api = Api {
            root_url: str_field(doc, "rootUrl").unwrap_or_default(),
            service_path,
            parameters,
            schemas,
            methods: found.into_iter().map(|m| (m.id.clone(), m)).collect(),
            routes,
            id,
        };
        api.assert_refs_resolve();
        api
    }

    /// The method serving `http_method path` (the URL path after the host,
    /// without the query), and its path parameters under their declared names.
    pub fn match_request(
        &self,
        http_method: &str,
        path: &str,
    ) -> Option<(&Method, BTreeMap<String, String>)> {
        let (route, params) = self.find_route(http_method, path)?;
        Some((&self.methods[&route.method_id], params))
    }

    /// Checks one request: `path` is the URL path after the host, `query` the
    /// percent-decoded query pairs in order, `body` the raw body (an empty
    /// body counts as none). Returns the method's id, or every violation found.
    pub fn validate_request(
        &self,
        http_method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&[u8]>,
    ) -> Result<String, Vec<String>> {
        if path.contains(['?', '#']) {
            return Err(vec![format!(
                "{http_method} {path}: the path must not carry a query or fragment; pass the query separately"
            )]);
        }
        let Some((route, params)) = self.find_route(http_method, path) else {
            return Err(vec![self.no_method_message(http_method, path)]);
        };
        let method = &self.methods[&route.method_id];
        let mut out = Vec::new();
        if let Some(bad) = malformed_escape(path) {
            out.push(format!(
                "path {path} has a malformed percent-escape at {bad:?}"
            ));
        }
        check_path_params(method, &params, &mut out);
        let upload_type = self.check_query(method, query, &mut out);
        let body = body.filter(|b| !b.is_empty());
        self.check_body(method, route, upload_type, body, &mut out);
        if out.is_empty() {
            Ok(method.id.clone())
        } else {
            Err(out)
        }
    }

    /// Checks a JSON response body of `method_id` against its response schema
    /// (media downloads, `alt=media`, are not JSON and not for this function).
    pub fn validate_response(&self, method_id: &str, body: &Value) -> Result<(), Vec<String>> {
        let Some(method) = self.methods.get(method_id) else {
            return Err(vec![format!("{} has no method {method_id}", self.id)]);
        };
        let mut out = Vec::new();
        match &method.response {
            Some(schema) => self.check_json(schema, body, "response", None, &mut out),
            None => {
                let empty = body.is_null() || body.as_object().is_some_and(|o| o.is_empty());
                if !empty {
                    out.push(format!(
                        "{method_id} returns no body, but the response is {}",
                        describe(body)
                    ));
                }
            }
        }
        if out.is_empty() { Ok(()) } else { Err(out) }
    }

    /// Checks `value` against the named schema, reporting violations under
    /// JSON paths that start with `root`. `method_id` enables the
    /// `annotations.required` checks that apply to that method's requests.
    pub fn check_json(
        &self,
        schema: &str,
        value: &Value,
        root: &str,
        method_id: Option<&str>,
        out: &mut Vec<String>,
    ) {
        let start = Schema {
            kind: SchemaKind::Ref(schema.to_owned()),
            required_for: Vec::new(),
            read_only: false,
        };
        Checker {
            api: self,
            method_id,
            out,
        }
        .check(&start, value, root, schema);
    }

    /// The best route for a request: among the routes whose templates match,
    /// the one with the most literal characters, then the fewest variables,
    /// then the first read (a tie the six documents never produce).
    fn find_route(
        &self,
        http_method: &str,
        path: &str,
    ) -> Option<(&Route, BTreeMap<String, String>)> {
        self.routes
            .iter()
            .filter(|r| r.http_method.eq_ignore_ascii_case(http_method))
            .filter(|r| r.matcher.regex.is_match(path))
            .filter_map(|r| Some((r, r.extractor.captures(path)?)))
            .min_by_key(|(r, _)| {
                (
                    std::cmp::Reverse(r.matcher.literal_len),
                    r.matcher.vars.len(),
                )
            })
    }

    /// "No method" with a hint when the path is served under another HTTP
    /// method, the most common slip (PUT for PATCH, GET for a POST `:list`).
    fn no_method_message(&self, http_method: &str, path: &str) -> String {
        let mut message = format!("no method of {} for {http_method} {path}", self.id);
        let matching: Vec<&Route> = self
            .routes
            .iter()
            .filter(|r| r.matcher.regex.is_match(path))
            .collect();
        if let Some(best) = matching.iter().map(|r| r.matcher.literal_len).max() {
            let mut others: Vec<String> = matching
                .iter()
                .filter(|r| r.matcher.literal_len == best)
                .map(|r| format!("{} {}", r.http_method, r.method_id))
                .collect();
            others.dedup();
            let _ = write!(message, " (the path is served by {})", others.join(", "));
        }
        message
    }

    /// Checks the query against the method's and the standard parameters, and
    /// returns the `uploadType` given, if any.
    fn check_query<'q>(
        &self,
        method: &Method,
        query: &'q [(String, String)],
        out: &mut Vec<String>,
    ) -> Option<&'q str> {
        let mut given: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, value) in query {
            given.entry(name.as_str()).or_default().push(value);
        }
        for (&name, values) in &given {
            let param = match method.parameters.get(name) {
                Some(p) if p.location == Location::Path => {
                    out.push(format!(
                        "`{name}` is a path parameter of {}, not a query parameter",
                        method.id
                    ));
                    continue;
                }
                Some(p) => p,
                None => match self.parameters.get(name) {
                    Some(p) => p,
                    None => {
                        out.push(self.unknown_query_message(method, name));
                        continue;
                    }
                },
            };
            if values.len() > 1 && !param.repeated {
                out.push(format!(
                    "query parameter `{name}` is given {} times but is not repeated",
                    values.len()
                ));
            }
            for value in values {
                if let Err(e) = param.check_value(value) {
                    out.push(format!("query parameter `{name}`: {e}"));
                }
            }
        }
        for (name, param) in &method.parameters {
            if param.location == Location::Query
                && param.required
                && !given.contains_key(name.as_str())
            {
                out.push(format!(
                    "missing required query parameter `{name}` of {}",
                    method.id
                ));
            }
        }
        if given.get("alt").is_some_and(|v| v.contains(&"media")) && !method.supports_media_download
        {
            out.push(format!(
                "{} does not support alt=media downloads",
                method.id
            ));
        }
        given.get("uploadType").and_then(|v| v.first().copied())
    }

    fn unknown_query_message(&self, method: &Method, name: &str) -> String {
        let own: Vec<&str> = method
            .parameters
            .iter()
            .filter(|(_, p)| p.location == Location::Query)
            .map(|(n, _)| n.as_str())
            .collect();
        let own = if own.is_empty() {
            "no query parameters of its own".to_owned()
        } else {
            own.join(", ")
        };
        format!(
            "unknown query parameter `{name}` for {} (it takes {own}, and the standard {})",
            method.id,
            self.parameters
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// Checks the body against what the route expects: JSON of the request
    /// schema on the ordinary path, media on an upload path.
    fn check_body(
        &self,
        method: &Method,
        route: &Route,
        upload_type: Option<&str>,
        body: Option<&[u8]>,
        out: &mut Vec<String>,
    ) {
        if route.kind == RouteKind::Rest {
            // A media upload sent to the metadata path is a classic slip.
            if let (Some(kind), Some(media)) = (upload_type, &method.media_upload) {
                let paths: Vec<&str> = [&media.simple, &media.resumable]
                    .into_iter()
                    .flatten()
                    .map(|p| p.path.as_str())
                    .collect();
                out.push(format!(
                    "uploadType={kind} needs a media upload path of {} ({}), not {}",
                    method.id,
                    paths.join(" or "),
                    route.matcher.source
                ));
            } else {
                self.check_json_body(method, body, true, out);
            }
            return;
        }

        let media = method
            .media_upload
            .as_ref()
            .expect("upload routes are made from mediaUpload");
        let mut allowed = Vec::new();
        if route.kind == RouteKind::SimpleUpload {
            allowed.push("media");
            if media.simple.as_ref().is_some_and(|p| p.multipart) {
                allowed.push("multipart");
            }
        }
        if media.resumable.is_some() {
            allowed.push("resumable");
        }
        match upload_type {
            None => out.push(format!(
                "{} on its upload path {} needs uploadType ({})",
                method.id,
                route.matcher.source,
                allowed.join(", ")
            )),
            Some(kind) if !allowed.contains(&kind) => out.push(format!(
                "uploadType={kind} is not accepted on {} (accepted: {})",
                route.matcher.source,
                allowed.join(", ")
            )),
            Some("resumable") => self.check_json_body(method, body, false, out),
            Some(kind) => {
                let size = body.map_or(0, <[u8]>::len);
                if kind == "multipart" && size == 0 {
                    out.push(format!(
                        "uploadType=multipart to {} without a body",
                        method.id
                    ));
                }
                if let Some(max) = media.max_size.filter(|&max| size as u64 > max) {
                    out.push(format!(
                        "upload of {size} bytes exceeds the maxSize of {max} bytes of {}",
                        method.id
                    ));
                }
            }
        }
    }

    fn check_json_body(
        &self,
        method: &Method,
        body: Option<&[u8]>,
        required: bool,
        out: &mut Vec<String>,
    ) {
        match (&method.request, body) {
            (None, None) => {}
            (None, Some(body)) => out.push(format!(
                "{} {} takes no request body, but got {} bytes",
                method.http_method,
                method.id,
                body.len()
            )),
            (Some(schema), None) => {
                if required {
                    out.push(format!(
                        "{} {} needs a request body ({schema})",
                        method.http_method, method.id
                    ));
                }
            }
            (Some(schema), Some(body)) => match serde_json::from_slice::<Value>(body) {
                Ok(value) => self.check_json(schema, &value, "request", Some(&method.id), out),
                Err(e) => out.push(format!(
                    "request body of {} is not valid JSON: {e}",
                    method.id
                )),
            },
        }
    }

    /// Follows `$ref`s to a concrete schema, also returning the name of the
    /// last schema referenced (for messages).
    fn resolve<'s>(
        &'s self,
        mut schema: &'s Schema,
    ) -> Result<(&'s Schema, Option<&'s str>), String> {
        let mut name = None;
        for _ in 0..MAX_REF_HOPS {
            let SchemaKind::Ref(target) = &schema.kind else {
                return Ok((schema, name));
            };
            schema = self
                .schemas
                .get(target)
                .ok_or_else(|| format!("schema {target} is not in the document"))?;
            name = Some(target.as_str());
        }
        Err(format!("$ref cycle through schema {}", name.unwrap_or("?")))
    }

    /// Panics, naming them, if any `$ref` points to a schema the document
    /// does not define.
    fn assert_refs_resolve(&self) {
        let mut refs: Vec<(String, &str)> = Vec::new();
        for (name, schema) in &self.schemas {
            schema.collect_refs(name, &mut refs);
        }
        for m in self.methods.values() {
            for target in m.request.iter().chain(&m.response) {
                refs.push((m.id.clone(), target));
            }
        }
        let dangling: Vec<String> = refs
            .into_iter()
            .filter(|(_, target)| !self.schemas.contains_key(*target))
            .map(|(at, target)| format!("{at} -> {target}"))
            .collect();
        assert!(
            dangling.is_empty(),
            "{}: $ref to undefined schemas: {}",
            self.id,
            dangling.join(", ")
        );
    }
}

impl Parameter {
    /// Checks one textual value against the parameter's type, format, enum
    /// and bounds (not its pattern, which only path parameters have).
    pub fn check_value(&self, value: &str) -> Result<(), String> {
        match self.param_type {
            ParamType::Integer => {
                let format = self.format.as_deref().unwrap_or("int64");
                check_format(format, value)?;
                let n: i64 = value
                    .parse()
                    .map_err(|_| format!("{value:?} is not an integer"))?;
                if let Some(min) = self.minimum.filter(|&min| n < min) {
                    return Err(format!("{n} is below the minimum {min}"));
                }
                if let Some(max) = self.maximum.filter(|&max| n > max) {
                    return Err(format!("{n} is above the maximum {max}"));
                }
            }
            ParamType::Number => {
                value
                    .parse::<f64>()
                    .map_err(|_| format!("{value:?} is not a number"))?;
            }
            ParamType::Boolean => {
                if !matches!(value, "true" | "false") {
                    return Err(format!("{value:?} is not a boolean (true or false)"));
                }
            }
            ParamType::String => {
                if let Some(format) = &self.format {
                    check_format(format, value)?;
                }
            }
        }
        match &self.enum_values {
            Some(allowed) if !allowed.iter().any(|a| a == value) => {
                Err(format!("{value:?} is not one of {}", allowed.join(", ")))
            }
            _ => Ok(()),
        }
    }
}

impl Schema {
    fn collect_refs<'s>(&'s self, at: &str, out: &mut Vec<(String, &'s str)>) {
        match &self.kind {
            SchemaKind::Ref(target) => out.push((at.to_owned(), target)),
            SchemaKind::Object {
                properties,
                additional,
            } => {
                for (name, p) in properties {
                    p.collect_refs(&format!("{at}.{name}"), out);
                }
                if let Some(a) = additional {
                    a.collect_refs(&format!("{at}[*]"), out);
                }
            }
            SchemaKind::Array(Some(items)) => items.collect_refs(&format!("{at}[]"), out),
            _ => {}
        }
    }
}

/// Walks a JSON value and its schema together. The walk descends into the
/// value at every step but `$ref`, whose chains are bounded, so it ends even
/// for recursive schemas.
struct Checker<'a> {
    api: &'a Api,
    method_id: Option<&'a str>,
    out: &'a mut Vec<String>,
}

impl Checker<'_> {
    /// `at` is the JSON path of `value`; `owner` names the schema it belongs
    /// to, for "not a property of" messages.
    fn check(&mut self, schema: &Schema, value: &Value, at: &str, owner: &str) {
        if value.is_null() {
            return;
        }
        let (schema, owner) = match self.api.resolve(schema) {
            Ok((schema, name)) => (schema, name.unwrap_or(owner)),
            Err(e) => return self.out.push(format!("{at}: {e}")),
        };
        // One function per kind keeps this frame, which every level of
        // nesting repeats, small.
        match &schema.kind {
            SchemaKind::Ref(_) => unreachable!("resolve follows every $ref"),
            SchemaKind::Any => {}
            SchemaKind::Object {
                properties,
                additional,
            } => self.check_object(properties, additional.as_deref(), value, at, owner),
            SchemaKind::Array(items) => self.check_array(items.as_deref(), value, at, owner),
            SchemaKind::String {
                format,
                enum_values,
            } => self.check_string(format.as_deref(), enum_values.as_deref(), value, at),
            SchemaKind::Integer { format } => self.check_integer(format.as_deref(), value, at),
            SchemaKind::Number { .. } => {
                let fits = value.is_number()
                    || matches!(value.as_str(), Some("NaN" | "Infinity" | "-Infinity"));
                if !fits {
                    self.mismatch(at, "a number", value);
                }
            }
            SchemaKind::Boolean => {
                if !value.is_boolean() {
                    self.mismatch(at, "a boolean", value);
                }
            }
        }
    }

    fn check_object(
        &mut self,
        properties: &BTreeMap<String, Schema>,
        additional: Option<&Schema>,
        value: &Value,
        at: &str,
        owner: &str,
    ) {
        let Some(object) = value.as_object() else {
            return self.mismatch(at, "an object", value);
        };
        for (key, v) in object {
            if let Some(p) = properties.get(key) {
                self.check(p, v, &field_path(at, key), &format!("{owner}.{key}"));
            } else if let Some(a) = additional {
                self.check(a, v, &entry_path(at, key), owner);
            } else {
                self.out.push(format!(
                    "{}: unknown field (not a property of {owner})",
                    field_path(at, key)
                ));
            }
        }
        if let Some(method) = self.method_id {
            for (key, p) in properties {
                if p.required_for.iter().any(|m| m == method) && !object.contains_key(key) {
                    self.out.push(format!(
                        "{}: missing, but {method} requires it",
                        field_path(at, key)
                    ));
                }
            }
        }
    }

    fn check_array(&mut self, items: Option<&Schema>, value: &Value, at: &str, owner: &str) {
        let Some(array) = value.as_array() else {
            return self.mismatch(at, "an array", value);
        };
        if let Some(items) = items {
            for (i, v) in array.iter().enumerate() {
                self.check(items, v, &format!("{at}[{i}]"), owner);
            }
        }
    }

    fn check_string(
        &mut self,
        format: Option<&str>,
        enum_values: Option<&[String]>,
        value: &Value,
        at: &str,
    ) {
        match value {
            Value::String(s) => {
                if let Some(format) = format
                    && let Err(e) = check_format(format, s)
                {
                    self.out.push(format!("{at}: {e}"));
                }
                if let Some(allowed) = enum_values
                    && !allowed.contains(s)
                {
                    self.out
                        .push(format!("{at}: {s:?} is not one of {}", allowed.join(", ")));
                }
            }
            // Protobuf's JSON mapping accepts 64-bit integers as numbers too.
            Value::Number(n) if format == Some("int64") && n.is_i64() => {}
            Value::Number(n) if format == Some("uint64") && n.is_u64() => {}
            _ => {
                let expected = match format {
                    Some(f) => format!("a string ({f})"),
                    None => "a string".to_owned(),
                };
                self.mismatch(at, &expected, value);
            }
        }
    }

    /// A JSON integer in the range of `format`; 64-bit ones also as strings.
    fn check_integer(&mut self, format: Option<&str>, value: &Value, at: &str) {
        let format = format.unwrap_or("int64");
        let fits = match value {
            Value::Number(n) => match n.as_i64() {
                Some(i) => check_format(format, &i.to_string()).is_ok(),
                None => n.is_u64() && format == "uint64",
            },
            Value::String(s) => {
                matches!(format, "int64" | "uint64") && check_format(format, s).is_ok()
            }
            _ => false,
        };
        if !fits {
            self.mismatch(at, &format!("an integer ({format})"), value);
        }
    }

    fn mismatch(&mut self, at: &str, expected: &str, value: &Value) {
        self.out.push(format!(
            "{at}: expected {expected}, got {}",
            describe(value)
        ));
    }
}

static DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$").unwrap());
static DATE_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$",
    )
    .unwrap()
});
static DURATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^-?[0-9]+(\.[0-9]{1,9})?s$").unwrap());
static BASE64: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9+/_-]*={0,2}$").unwrap());

/// Checks a string against a discovery `format`; formats without a textual
/// shape (`google-fieldmask`) and unknown ones accept anything.
fn check_format(format: &str, s: &str) -> Result<(), String> {
    let ok = match format {
        "int64" => s.parse::<i64>().is_ok(),
        "uint64" => s.parse::<u64>().is_ok(),
        "int32" => s.parse::<i32>().is_ok(),
        "uint32" => s.parse::<u32>().is_ok(),
        "date" => DATE.is_match(s),
        "date-time" | "google-datetime" => DATE_TIME.is_match(s),
        "google-duration" => DURATION.is_match(s),
        "byte" => BASE64.is_match(s),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{s:?} is not a valid {format}"))
    }
}

fn check_path_params(method: &Method, params: &BTreeMap<String, String>, out: &mut Vec<String>) {
    for (name, param) in &method.parameters {
        if param.location != Location::Path {
            continue;
        }
        let Some(value) = params.get(name) else {
            if param.required {
                out.push(format!(
                    "the path of {} does not carry its required parameter `{name}`",
                    method.id
                ));
            }
            continue;
        };
        if let Some(pattern) = &param.pattern
            && !pattern.is_match(value)
        {
            out.push(format!(
                "path parameter `{name}` of {} is {value:?}, which does not match {}",
                method.id,
                pattern.as_str()
            ));
        }
        if let Err(e) = param.check_value(value) {
            out.push(format!("path parameter `{name}`: {e}"));
        }
    }
}

fn collect_methods(node: &Value, at: &str, out: &mut Vec<Method>) {
    for (name, m) in node["methods"].as_object().into_iter().flatten() {
        out.push(parse_method(m, &format!("{at}.{name}")));
    }
    for (name, r) in node["resources"].as_object().into_iter().flatten() {
        collect_methods(r, &format!("{at}.{name}"), out);
    }
}

fn parse_method(m: &Value, at: &str) -> Method {
    let required =
        |key: &str| str_field(m, key).unwrap_or_else(|| panic!("method {at} has no `{key}`"));
    let id = required("id");
    let path = required("path");
    let media_upload = m.get("mediaUpload").map(|media| {
        let protocol = |name: &str| {
            let p = &media["protocols"][name];
            Some(UploadProtocol {
                path: str_field(p, "path")?,
                multipart: p["multipart"].as_bool().unwrap_or(false),
            })
        };
        MediaUpload {
            accept: media["accept"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            max_size: media["maxSize"].as_str().and_then(|s| s.parse().ok()),
            simple: protocol("simple"),
            resumable: protocol("resumable"),
        }
    });
    Method {
        http_method: required("httpMethod"),
        flat_path: str_field(m, "flatPath").unwrap_or_else(|| path.clone()),
        parameters: parse_parameters(&m["parameters"], &id),
        request: str_field(&m["request"], "$ref"),
        response: str_field(&m["response"], "$ref"),
        supports_media_download: m["supportsMediaDownload"].as_bool().unwrap_or(false),
        media_upload,
        path,
        id,
    }
}

fn parse_parameters(params: &Value, at: &str) -> BTreeMap<String, Parameter> {
    params
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, p)| (name.clone(), parse_parameter(p, &format!("{at}?{name}"))))
        .collect()
}

fn parse_parameter(p: &Value, at: &str) -> Parameter {
    let location = match p["location"].as_str() {
        Some("path") => Location::Path,
        Some("query") => Location::Query,
        other => panic!("{at}: unsupported parameter location {other:?}"),
    };
    let param_type = match p["type"].as_str() {
        Some("string") => ParamType::String,
        Some("integer") => ParamType::Integer,
        Some("boolean") => ParamType::Boolean,
        Some("number") => ParamType::Number,
        other => panic!("{at}: unsupported parameter type {other:?}"),
    };
    Parameter {
        location,
        param_type,
        format: str_field(p, "format"),
        required: p["required"].as_bool().unwrap_or(false),
        repeated: p["repeated"].as_bool().unwrap_or(false),
        pattern: p["pattern"].as_str().map(|pattern| {
            Regex::new(pattern).unwrap_or_else(|e| panic!("{at}: bad pattern {pattern}: {e}"))
        }),
        enum_values: string_list(&p["enum"]),
        minimum: p["minimum"].as_str().and_then(|s| s.parse().ok()),
        maximum: p["maximum"].as_str().and_then(|s| s.parse().ok()),
    }
}

fn parse_schema(s: &Value, at: &str) -> Schema {
    let kind = if let Some(target) = s["$ref"].as_str() {
        SchemaKind::Ref(target.to_owned())
    } else {
        match s["type"].as_str() {
            Some("object") => parse_object(s, at),
            None if s.get("properties").is_some() => parse_object(s, at),
            Some("array") => SchemaKind::Array(
                s.get("items")
                    .map(|items| Box::new(parse_schema(items, &format!("{at}[]")))),
            ),
            Some("string") => SchemaKind::String {
                format: str_field(s, "format"),
                enum_values: string_list(&s["enum"]),
            },
            Some("integer") => SchemaKind::Integer {
                format: str_field(s, "format"),
            },
            Some("number") => SchemaKind::Number {
                format: str_field(s, "format"),
            },
            Some("boolean") => SchemaKind::Boolean,
            Some("any") | None => SchemaKind::Any,
            Some(other) => panic!("schema {at}: unsupported type {other:?}"),
        }
    };
    Schema {
        kind,
        required_for: string_list(&s["annotations"]["required"]).unwrap_or_default(),
        read_only: s["readOnly"].as_bool().unwrap_or(false),
    }
}

fn parse_object(s: &Value, at: &str) -> SchemaKind {
    let properties = s["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, p)| (name.clone(), parse_schema(p, &format!("{at}.{name}"))))
        .collect();
    let additional = match &s["additionalProperties"] {
        a @ Value::Object(_) => Some(Box::new(parse_schema(a, &format!("{at}[*]")))),
        Value::Bool(true) => Some(Box::new(Schema {
            kind: SchemaKind::Any,
            required_for: Vec::new(),
            read_only: false,
        })),
        _ => None,
    };
    SchemaKind::Object {
        properties,
        additional,
    }
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v[key].as_str().map(str::to_owned)
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|items| {
        items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect()
    })
}

/// `servicePath` + a method path, as an absolute URL path. Paths that are
/// already absolute (media upload paths) are relative to the root URL instead.
fn join_path(service_path: &str, path: &str) -> String {
    if path.starts_with('/') {
        return path.to_owned();
    }
    let service_path = service_path.trim_matches('/');
    if service_path.is_empty() {
        format!("/{path}")
    } else {
        format!("/{service_path}/{path}")
    }
}
