//! Request and response validation for Azure Resource Manager (ARM), driven
//! by the resource providers' OpenAPI 2.0 ("Swagger") documents from
//! [azure-rest-api-specs](https://github.com/Azure/azure-rest-api-specs).
//!
//! A fake ARM backend (or a recording proxy) hands each request nubo makes to
//! [`Api::validate_request`] and each canned reply to
//! [`Api::validate_response`], so that a wrong URL, `api-version`, query
//! parameter or JSON field fails a test instead of a deploy against the real
//! service. It is the Azure counterpart of `gcp_discovery.rs`.
//!
//! Include it from a test file with
//! `#[path = "support/azure_openapi.rs"] mod azure_openapi;`.
//!
//! What the documents say, and how this module reads them:
//!
//! - [`Api::load`] takes the documents whose operations are wanted. The files
//!   their `$ref`s name (`./CommonDefinitions.json#/definitions/Site`,
//!   `../../../../../common-types/resource-management/v5/types.json#/parameters/SubscriptionIdParameter`)
//!   are read as needed, relative to the referring file, for their
//!   definitions and parameters only. `$ref`s are followed in parameters,
//!   responses, schemas, `allOf`, `items` and `additionalProperties`;
//!   `x-ms-examples` are not read. A `$ref` to a file or JSON pointer that
//!   does not exist fails the load, naming it, and so do `$ref` cycles among
//!   parameters and `allOf` cycles; a schema `$ref` chain that never reaches
//!   a schema (`A` is `$ref: B`, `B` is `$ref: A`) is reported where a value
//!   meets it.
//! - An operation is found by HTTP method and path template, from `paths` and
//!   `x-ms-paths` (whose `?a=b` suffix must then be in the query). Literal
//!   segments match case-insensitively, as ARM does (`resourcegroups` is
//!   `resourceGroups`); `{x}` matches one non-empty segment, percent-decoded,
//!   and a path parameter marked `x-ms-skip-url-encoding` (`{scope}`,
//!   `{resourceId}`) one or more. Where several templates match, the one with
//!   the most literal characters wins (`.../sites/{name}` over
//!   `/{resourceId}`).
//! - The generic resource operations (`/{resourceId}` and
//!   `.../providers/{resourceProviderNamespace}/{parentResourcePath}/{resourceType}/{resourceName}`)
//!   would take any resource path. ARM forwards such a request to the
//!   resource provider named by its last `providers/{namespace}/{type}`, so
//!   when the loaded documents describe that provider (`Microsoft.Web`), the
//!   path must be one of the provider's own operations: a typo such as
//!   `.../Microsoft.Web/site/app` is no operation rather than a generic one.
//!   So load the documents of every type of such a provider that is used
//!   (WebApps.json does not describe `Microsoft.Web/staticSites`).
//! - `api-version` must be the `info.version` of the operation's document, as
//!   each version of a provider is its own contract, except where the
//!   parameter is marked `x-ms-api-version: false` (the generic operations,
//!   which pass on the version of the target resource type).
//! - Query parameters must be documented; required path, query and header
//!   parameters present; values of their declared type, `format`, `enum`
//!   (unless `x-ms-enum.modelAsString`), `pattern`, `minLength`/`maxLength`
//!   and `minimum`/`maximum`. Patterns are searched, not anchored, as JSON
//!   Schema does (the documents anchor them themselves), with the `regex`
//!   crate's syntax, whose `\w` is Unicode-aware like ARM's name rules (and
//!   unlike ECMAScript's). Query parameter names and enum values are
//!   compared exactly. Headers a document does not declare are not checked:
//!   every HTTP client sends some.
//! - JSON bodies are checked strictly: an unknown field is an error although
//!   ARM ignores many, because for a client it is almost always a typo.
//!   `allOf` merges the properties and `required` of every part, so inherited
//!   properties (`location` and `tags` of a tracked resource) are known;
//!   `x-ms-client-flatten` only changes generated SDKs, so the wire keeps its
//!   nesting (`properties.siteConfig`). `additionalProperties` makes a map.
//!   An object schema with no properties at all (`{"type": "object"}`) is
//!   free-form, as AutoRest reads it. A `discriminator` sends the value to the
//!   definition that inherits from the base through `allOf` and whose
//!   `x-ms-discriminator-value` (or name) is the value's discriminator; a
//!   value no definition claims is checked against the base.
//! - `readOnly` properties are accepted in requests (ARM ignores them) and
//!   not required from clients; responses must carry every `required`
//!   property. JSON `null` is accepted anywhere below the top level.
//! - `enum` is enforced unless `x-ms-enum.modelAsString` is `true`, which
//!   admits any string. Formats: `int32`/`int64` are range-checked integers,
//!   `date-time` RFC 3339 (with an offset), `date`, `uuid`, `duration`
//!   (ISO 8601) and `byte` (base64) are matched; other formats (`uri`,
//!   `arm-id`, `password`, ...) take any string.
//!
//! Not checked: `x-ms-mutability` (create-only properties sent in an update),
//! `uniqueItems`, `multipleOf`, formats beyond those above, header values of
//! responses, and non-JSON bodies (`type: file`, `consumes` without JSON),
//! which are not inspected.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

#[path = "spec_text.rs"]
mod spec_text;
use spec_text::{describe, entry_path, field_path, malformed_escape, percent_decode};

/// How many `$ref`s in a row may be followed before the chain is taken for a
/// cycle (`A` is `$ref: B` and `B` is `$ref: A`), which would otherwise never
/// reach a schema that consumes part of the JSON value.
const MAX_REF_HOPS: usize = 32;

/// The keys of a path item that are operations.
const HTTP_METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

/// A set of ARM OpenAPI documents, with every operation they describe.
#[derive(Debug)]
pub struct Api {
    /// Every document read: those given to [`Api::load`] first, then those
    /// their `$ref`s pulled in.
    pub documents: Vec<Document>,
    /// Every operation, by [`Operation::id`].
    pub operations: BTreeMap<String, Operation>,
    /// Every schema read, indexed by [`SchemaId`].
    schemas: Vec<Schema>,
    /// Named definitions: `(document index, definition name)`.
    definitions: HashMap<(usize, String), SchemaId>,
    /// For each schema with a `discriminator`, the definitions deriving from
    /// it through `allOf`, by discriminator value.
    subtypes: HashMap<SchemaId, BTreeMap<String, SchemaId>>,
    /// Resource provider namespaces the operations pin with a literal
    /// `providers/{namespace}` (the last one of their path), lowercased.
    namespaces: BTreeSet<String>,
    routes: Vec<Route>,
}

/// One OpenAPI document.
#[derive(Debug)]
pub struct Document {
    /// The file, with `.` and `..` resolved.
    pub path: PathBuf,
    /// The file name, e.g. `WebApps.json`, as messages name the document.
    pub name: String,
    /// `info.title`.
    pub title: String,
    /// `info.version`, the `api-version` of its operations (`2023-12-01`).
    pub version: String,
    /// Whether the document was given to the loader (its operations are
    /// taken) rather than only referenced (its definitions are used).
    pub loaded_for_operations: bool,
    /// How many operations were taken from it.
    pub operation_count: usize,
}

/// One operation of a document.
#[derive(Debug)]
pub struct Operation {
    /// The key of [`Api::operations`]: the `operationId`, or
    /// `{document name}#{operationId}` where several loaded documents use the
    /// same one (`storage.json#Operations_List`, `resources.json#Operations_List`).
    pub id: String,
    /// `operationId` as the document gives it, e.g. `WebApps_CreateOrUpdate`.
    pub operation_id: String,
    /// File name of the document, e.g. `WebApps.json`.
    pub document: String,
    /// `info.version` of the document.
    pub api_version: String,
    /// Whether `api-version` may be any value (`x-ms-api-version: false`).
    pub any_api_version: bool,
    /// `GET`, `PUT`, `POST`, `DELETE`, `PATCH`, `HEAD` or `OPTIONS`.
    pub http_method: String,
    /// The key under `paths` or `x-ms-paths`, e.g.
    /// `/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Web/sites/{name}`.
    pub path: String,
    /// Path, query and header parameters, the path item's merged in.
    pub parameters: Vec<Parameter>,
    /// The `in: body` parameter, if any.
    pub body: Option<BodyParameter>,
    /// Whether the body is JSON (`consumes` names JSON or is absent).
    pub json_body: bool,
    /// Response schema by status code (`200`, `default`); `None` for a
    /// response without a body.
    pub responses: BTreeMap<String, Option<SchemaId>>,
    /// `x-ms-long-running-operation`.
    pub long_running: bool,
}

/// Where a parameter goes in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Location {
    Path,
    Query,
    Header,
}

/// The wire type of a parameter; all of them travel as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    String,
    Integer,
    Number,
    Boolean,
}

/// A path, query or header parameter.
#[derive(Debug)]
pub struct Parameter {
    /// The name in the path template, the query or the header (`api-version`, `If-Match`).
    pub name: String,
    pub location: Location,
    pub param_type: ParamType,
    /// e.g. `int32` for `$top`.
    pub format: Option<String>,
    pub required: bool,
    pub pattern: Option<Regex>,
    pub enum_values: Option<Vec<String>>,
    /// `x-ms-enum.modelAsString`: the enum only suggests values.
    pub open_enum: bool,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    /// `x-ms-skip-url-encoding` on a path parameter: the value may span
    /// several segments (`{scope}` = `subscriptions/s/resourceGroups/rg`).
    pub multi_segment: bool,
    /// `x-ms-api-version: false`: this `api-version` is not the document's.
    pub any_api_version: bool,
}

/// The `in: body` parameter of an operation.
#[derive(Debug)]
pub struct BodyParameter {
    /// e.g. `siteEnvelope`.
    pub name: String,
    pub required: bool,
    pub schema: SchemaId,
}

/// A schema's index in [`Api`]; [`Api::schema`] gives the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchemaId(usize);

/// The `type` of a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaType {
    String,
    Integer,
    Number,
    Boolean,
    Array,
    Object,
    /// A file download or upload: not JSON, not inspected.
    File,
}

/// What `additionalProperties` allows beyond the declared properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Additional {
    /// Not given: nothing else (this module is strict where JSON Schema is not).
    Absent,
    /// `false`.
    Forbidden,
    /// `true` or `{}`.
    Any,
    /// A schema every other value must follow (a map).
    Schema(SchemaId),
}

/// A JSON schema in the OpenAPI 2.0 dialect.
#[derive(Debug)]
pub struct Schema {
    /// Where it is written, e.g. `CommonDefinitions.json#/definitions/Site`.
    pub location: String,
    /// The definition name, for schemas under `definitions`.
    pub name: Option<String>,
    /// `$ref`: the schema this one stands for (its other keys are ignored,
    /// as OpenAPI 2.0 says, but for `readOnly`).
    pub reference: Option<SchemaId>,
    pub schema_type: Option<SchemaType>,
    pub format: Option<String>,
    pub enum_values: Option<Vec<Value>>,
    /// `x-ms-enum.modelAsString`: any string is allowed.
    pub open_enum: bool,
    pub pattern: Option<Regex>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: bool,
    pub exclusive_maximum: bool,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub items: Option<SchemaId>,
    /// The schema's own properties (see [`Schema::object`] for the merged ones).
    pub properties: BTreeMap<String, SchemaId>,
    pub required: Vec<String>,
    pub additional: Additional,
    pub all_of: Vec<SchemaId>,
    pub read_only: bool,
    /// The property naming the subtype, e.g. `kind`.
    pub discriminator: Option<String>,
    /// `x-ms-discriminator-value`.
    pub discriminator_value: Option<String>,
    /// The object this schema describes with `allOf` merged in; `None` for
    /// schemas that are not objects.
    pub object: Option<ObjectView>,
}

impl Schema {
    /// A schema with no constraints, to be filled in.
    fn blank(location: String, name: Option<String>) -> Schema {
        Schema {
            location,
            name,
            reference: None,
            schema_type: None,
            format: None,
            enum_values: None,
            open_enum: false,
            pattern: None,
            min_length: None,
            max_length: None,
            minimum: None,
            maximum: None,
            exclusive_minimum: false,
            exclusive_maximum: false,
            min_items: None,
            max_items: None,
            items: None,
            properties: BTreeMap::new(),
            required: Vec::new(),
            additional: Additional::Absent,
            all_of: Vec::new(),
            read_only: false,
            discriminator: None,
            discriminator_value: None,
            object: None,
        }
    }
}

/// The properties of an object schema and of everything it inherits through
/// `allOf`, an own property overriding an inherited one.
#[derive(Debug, Clone)]
pub struct ObjectView {
    pub properties: BTreeMap<String, SchemaId>,
    pub required: BTreeSet<String>,
    pub additional: Additional,
    /// The discriminator property and the schema that declares it.
    pub discriminator: Option<(String, SchemaId)>,
    /// No properties, no `additionalProperties`: any object.
    pub free_form: bool,
}

/// Which way a JSON value travels, for the `readOnly` rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Request,
    Response,
}

/// One way of reaching an operation.
#[derive(Debug)]
struct Route {
    operation: String,
    http_method: String,
    template: Template,
    /// `x-ms-paths` only: the `?a=b` the query must carry.
    fixed_query: Vec<(String, Option<String>)>,
    /// The namespace after the template's last literal `providers`, lowercased.
    namespace: Option<String>,
}

/// A path template split at `/`.
#[derive(Debug)]
struct Template {
    segments: Vec<Segment>,
    /// Characters of literal segments: the more, the more specific.
    literal_len: usize,
    vars: usize,
    multi_vars: usize,
}

#[derive(Debug)]
enum Segment {
    Literal(String),
    /// A parameter; `true` when it may span several segments.
    Var(String, bool),
}

/// A template matched against a path.
struct Matched {
    params: BTreeMap<String, String>,
    /// For each path segment, whether a variable took it.
    captured: Vec<bool>,
}

impl Template {
    /// Parses `/a/{b}/c`; `multi` tells which variables span segments.
    fn parse(source: &str, multi: impl Fn(&str) -> bool) -> Result<Template, String> {
        let rest = source
            .strip_prefix('/')
            .ok_or_else(|| format!("path template {source} does not start with /"))?;
        let mut template = Template {
            segments: Vec::new(),
            literal_len: 0,
            vars: 0,
            multi_vars: 0,
        };
        for segment in rest.split('/') {
            let var = segment
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .filter(|name| !name.is_empty() && !name.contains(['{', '}']));
            if let Some(name) = var {
                let multi = multi(name);
                template.vars += 1;
                template.multi_vars += usize::from(multi);
                template.segments.push(Segment::Var(name.to_owned(), multi));
            } else if segment.contains(['{', '}']) {
                return Err(format!(
                    "path template {source}: segment {segment:?} mixes text and a parameter, which this module does not support"
                ));
            } else {
                template.literal_len += segment.len();
                template.segments.push(Segment::Literal(segment.to_owned()));
            }
        }
        Ok(template)
    }

    fn var_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Var(name, _) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// Matches `segments` (the path split at `/`, percent-decoded).
    fn matches(&self, segments: &[String]) -> Option<Matched> {
        let mut spans = Vec::new();
        if !self.match_from(0, segments, 0, &mut spans) {
            return None;
        }
        let mut captured = vec![false; segments.len()];
        let mut params = BTreeMap::new();
        for (name, start, end) in spans {
            captured[start..end].iter_mut().for_each(|c| *c = true);
            params.insert(name.to_owned(), segments[start..end].join("/"));
        }
        Some(Matched { params, captured })
    }

    /// Matches template segments from `t` against path segments from `p`,
    /// recording `(variable, first, end)` spans; a multi-segment variable
    /// takes as much as it can and gives back what the rest needs.
    fn match_from<'t>(
        &'t self,
        t: usize,
        path: &[String],
        p: usize,
        spans: &mut Vec<(&'t str, usize, usize)>,
    ) -> bool {
        let Some(segment) = self.segments.get(t) else {
            return p == path.len();
        };
        match segment {
            Segment::Literal(literal) => {
                p < path.len()
                    && path[p].eq_ignore_ascii_case(literal)
                    && self.match_from(t + 1, path, p + 1, spans)
            }
            Segment::Var(name, multi) => {
                let last = if *multi {
                    path.len()
                } else {
                    (p + 1).min(path.len())
                };
                for end in (p + 1..=last).rev() {
                    if path[p..end].iter().all(String::is_empty) {
                        continue;
                    }
                    spans.push((name, p, end));
                    if self.match_from(t + 1, path, end, spans) {
                        return true;
                    }
                    spans.pop();
                }
                false
            }
        }
    }
}

impl Api {
    /// Reads the documents at `paths` (and those their `$ref`s name) and
    /// takes the operations of the former. Panics with the file name if one
    /// cannot be read or holds something this module does not understand,
    /// and on `$ref`s to nothing, so that a validator never silently checks
    /// less than it seems to.
    pub fn load<P: AsRef<Path>>(paths: impl IntoIterator<Item = P>) -> Api {
        let mut loader = Loader::default();
        let given: Vec<usize> = paths
            .into_iter()
            .map(|p| match loader.document(&normalize(p.as_ref())) {
                Ok(index) => index,
                Err(e) => panic!("{e}"),
            })
            .collect();
        loader.build(&given)
    }

    /// Builds the validator from parsed documents, each under the file path
    /// its `$ref`s are relative to (handy for small hand-written documents in
    /// tests); files they reference that are not given are read from disk.
    pub fn from_documents(documents: Vec<(PathBuf, Value)>) -> Api {
        let mut loader = Loader::default();
        let given: Vec<usize> = documents
            .into_iter()
            .map(|(path, value)| loader.add(normalize(&path), value))
            .collect();
        loader.build(&given)
    }

    /// The schema behind `id`.
    pub fn schema(&self, id: SchemaId) -> &Schema {
        &self.schemas[id.0]
    }

    /// The definition `name` of the document whose file name is `document`.
    pub fn definition(&self, document: &str, name: &str) -> Option<SchemaId> {
        let index = self.documents.iter().position(|d| d.name == document)?;
        self.definitions.get(&(index, name.to_owned())).copied()
    }

    /// The operation serving `http_method path` (the URL path after the host,
    /// without the query), and its path parameters, percent-decoded. The
    /// query is not consulted, so of several `x-ms-paths` that differ only in
    /// their query the first is returned.
    pub fn match_request(
        &self,
        http_method: &str,
        path: &str,
    ) -> Option<(&Operation, BTreeMap<String, String>)> {
        let (route, matched) = self.find_route(http_method, path, None)?;
        Some((&self.operations[&route.operation], matched.params))
    }

    /// Checks one request: `path` is the URL path after the host, `query` the
    /// percent-decoded query pairs in order, `headers` the request headers
    /// (names in any case), `body` the raw body (an empty body counts as
    /// none). Returns the operation's [`Operation::id`], or every violation
    /// found, each naming the operation.
    pub fn validate_request(
        &self,
        http_method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &[(String, String)],
        body: Option<&[u8]>,
    ) -> Result<String, Vec<String>> {
        if path.contains(['?', '#']) {
            return Err(vec![format!(
                "{http_method} {path}: the path must not carry a query or fragment; pass the query separately"
            )]);
        }
        let Some((route, matched)) = self.find_route(http_method, path, Some(query)) else {
            return Err(vec![self.no_operation_message(http_method, path)]);
        };
        let op = &self.operations[&route.operation];
        let mut out = Vec::new();
        if let Some(bad) = malformed_escape(path) {
            out.push(format!(
                "path {path} has a malformed percent-escape at {bad:?}"
            ));
        }
        check_path_params(op, &matched.params, &mut out);
        check_query(op, route, query, &mut out);
        check_headers(op, headers, &mut out);
        self.check_body(op, body.filter(|b| !b.is_empty()), &mut out);
        if out.is_empty() {
            Ok(op.id.clone())
        } else {
            Err(out
                .into_iter()
                .map(|message| format!("{}: {message}", op.id))
                .collect())
        }
    }

    /// Checks a JSON response body of `operation` (an [`Operation::id`]) with
    /// HTTP status `status` against the schema documented for that status, or
    /// for `default`. `Value::Null` stands for an empty body.
    pub fn validate_response(
        &self,
        operation: &str,
        status: u16,
        body: &Value,
    ) -> Result<(), Vec<String>> {
        let Some(op) = self.operations.get(operation) else {
            return Err(vec![self.no_operation_id_message(operation)]);
        };
        let code = status.to_string();
        let Some(schema) = op
            .responses
            .get(&code)
            .or_else(|| op.responses.get("default"))
        else {
            return Err(vec![format!(
                "{}: status {status} is not documented (it documents {})",
                op.id,
                op.responses.keys().cloned().collect::<Vec<_>>().join(", ")
            )]);
        };
        let mut out = Vec::new();
        match schema {
            None => {
                let empty = body.is_null() || body.as_object().is_some_and(Map::is_empty);
                if !empty {
                    out.push(format!(
                        "response: status {status} has no body, but the response is {}",
                        describe(body)
                    ));
                }
            }
            Some(schema) if body.is_null() => out.push(format!(
                "response: status {status} has a body ({}), but the response has none",
                self.schema_label(*schema)
            )),
            Some(schema) => {
                self.check_json(*schema, body, "response", Direction::Response, &mut out);
            }
        }
        if out.is_empty() {
            Ok(())
        } else {
            Err(out
                .into_iter()
                .map(|message| format!("{}: {message}", op.id))
                .collect())
        }
    }

    /// Checks `value` against a schema, reporting violations under JSON paths
    /// that start with `root`.
    pub fn check_json(
        &self,
        schema: SchemaId,
        value: &Value,
        root: &str,
        direction: Direction,
        out: &mut Vec<String>,
    ) {
        let owner = self.schema_label(schema);
        Checker {
            api: self,
            direction,
            out,
        }
        .check(schema, value, root, &owner);
    }

    /// A short name for a schema in messages: its definition name, or where
    /// it is written.
    fn schema_label(&self, id: SchemaId) -> String {
        match self.resolve(id) {
            Ok((schema, _)) => schema
                .name
                .clone()
                .unwrap_or_else(|| schema.location.clone()),
            Err(_) => self.schema(id).location.clone(),
        }
    }

    /// Follows `$ref`s to a concrete schema.
    fn resolve(&self, mut id: SchemaId) -> Result<(&Schema, SchemaId), String> {
        for _ in 0..MAX_REF_HOPS {
            let schema = &self.schemas[id.0];
            match schema.reference {
                Some(target) => id = target,
                None => return Ok((schema, id)),
            }
        }
        Err(format!(
            "$ref cycle through {}",
            self.schemas[id.0].location
        ))
    }

    /// The best route for a request: among the routes whose templates match,
    /// the one with the most literal characters, then the fewest variables,
    /// then the fewest multi-segment ones, then (with a query) the most
    /// `x-ms-paths` query pairs, then the first read.
    fn find_route(
        &self,
        http_method: &str,
        path: &str,
        query: Option<&[(String, String)]>,
    ) -> Option<(&Route, Matched)> {
        let segments = split_path(path)?;
        self.routes
            .iter()
            .filter(|r| r.http_method.eq_ignore_ascii_case(http_method))
            .filter(|r| query.is_none_or(|q| fixed_query_satisfied(r, q)))
            .filter_map(|r| Some((r, r.template.matches(&segments)?)))
            .filter(|(_, m)| self.forwarded_namespace(&segments, m).is_none())
            .min_by_key(|(r, _)| {
                (
                    std::cmp::Reverse(r.template.literal_len),
                    r.template.vars,
                    r.template.multi_vars,
                    std::cmp::Reverse(query.map_or(0, |_| r.fixed_query.len())),
                )
            })
    }

    /// The namespace of a documented provider that a generic template (one
    /// whose variables took the provider namespace and resource type of the
    /// path's last `providers/{namespace}/{type}`) would wrongly stand in for.
    fn forwarded_namespace(&self, segments: &[String], matched: &Matched) -> Option<String> {
        let at = (0..segments.len().saturating_sub(2))
            .rev()
            .find(|&i| segments[i].eq_ignore_ascii_case("providers"))?;
        let namespace = segments[at + 1].to_ascii_lowercase();
        (matched.captured[at + 1]
            && matched.captured[at + 2]
            && self.namespaces.contains(&namespace))
        .then(|| segments[at + 1].clone())
    }

    /// "No operation", with a hint when the path is served under another
    /// HTTP method, or when only a generic operation would take it.
    fn no_operation_message(&self, http_method: &str, path: &str) -> String {
        let mut message = format!("no operation for {http_method} {path}");
        let Some(segments) = split_path(path) else {
            message.push_str(" (a path starts with /)");
            return message;
        };
        let matching: Vec<(&Route, Matched)> = self
            .routes
            .iter()
            .filter_map(|r| Some((r, r.template.matches(&segments)?)))
            .collect();
        let mut others: Vec<String> = matching
            .iter()
            .filter(|(r, m)| {
                !r.http_method.eq_ignore_ascii_case(http_method)
                    && self.forwarded_namespace(&segments, m).is_none()
            })
            .map(|(r, _)| format!("{} {}", r.http_method, r.operation))
            .collect();
        others.sort();
        others.dedup();
        if !others.is_empty() {
            let _ = write!(message, " (the path is served by {})", others.join(", "));
        }
        let generic = matching.iter().find_map(|(r, m)| {
            let namespace = self.forwarded_namespace(&segments, m)?;
            r.http_method
                .eq_ignore_ascii_case(http_method)
                .then_some((namespace, &r.operation))
        });
        if let Some((namespace, operation)) = generic {
            let _ = write!(
                message,
                " ({namespace} is described by the loaded documents, and none of its operations has this path; the generic {operation} does not stand in for it)"
            );
        }
        message
    }

    fn no_operation_id_message(&self, id: &str) -> String {
        let qualified: Vec<&str> = self
            .operations
            .values()
            .filter(|op| op.operation_id == id)
            .map(|op| op.id.as_str())
            .collect();
        if qualified.is_empty() {
            format!("no operation {id} in the loaded documents")
        } else {
            format!(
                "operation {id} is in several documents; name one of {}",
                qualified.join(", ")
            )
        }
    }

    /// Checks the body against the operation's body parameter.
    fn check_body(&self, op: &Operation, body: Option<&[u8]>, out: &mut Vec<String>) {
        match (&op.body, body) {
            (None, None) => {}
            (None, Some(body)) => out.push(format!(
                "{} {} takes no request body, but got {} bytes",
                op.http_method,
                op.path,
                body.len()
            )),
            (Some(param), None) => {
                if param.required {
                    out.push(format!(
                        "{} {} needs a request body (`{}`, {})",
                        op.http_method,
                        op.path,
                        param.name,
                        self.schema_label(param.schema)
                    ));
                }
            }
            (Some(_), Some(_)) if !op.json_body => {}
            (Some(param), Some(body)) => match serde_json::from_slice::<Value>(body) {
                Ok(Value::Null) if param.required => out.push(format!(
                    "request body is null, but `{}` ({}) is required",
                    param.name,
                    self.schema_label(param.schema)
                )),
                Ok(value) => {
                    self.check_json(param.schema, &value, "request", Direction::Request, out)
                }
                Err(e) => out.push(format!("request body is not valid JSON: {e}")),
            },
        }
    }
}

/// Whether the query carries the `?a=b` of an `x-ms-paths` key.
fn fixed_query_satisfied(route: &Route, query: &[(String, String)]) -> bool {
    route.fixed_query.iter().all(|(name, value)| {
        query
            .iter()
            .any(|(n, v)| n == name && value.as_ref().is_none_or(|value| value == v))
    })
}

fn check_path_params(op: &Operation, params: &BTreeMap<String, String>, out: &mut Vec<String>) {
    for param in op
        .parameters
        .iter()
        .filter(|p| p.location == Location::Path)
    {
        let Some(value) = params.get(&param.name) else {
            out.push(format!(
                "the path does not carry its parameter `{}`",
                param.name
            ));
            continue;
        };
        if let Err(e) = param.check_value(value) {
            out.push(format!("path parameter `{}`: {e}", param.name));
        }
    }
}

fn check_query(op: &Operation, route: &Route, query: &[(String, String)], out: &mut Vec<String>) {
    let mut given: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in query {
        given.entry(name.as_str()).or_default().push(value);
    }
    for (&name, values) in &given {
        if route.fixed_query.iter().any(|(n, _)| n == name) {
            continue;
        }
        let Some(param) = op
            .parameters
            .iter()
            .find(|p| p.location == Location::Query && p.name == name)
        else {
            out.push(unknown_query_message(op, name));
            continue;
        };
        if values.len() > 1 {
            out.push(format!(
                "query parameter `{name}` is given {} times",
                values.len()
            ));
        }
        for value in values {
            if let Err(e) = param.check_value(value) {
                out.push(format!("query parameter `{name}`: {e}"));
            }
        }
        if name == "api-version"
            && !param.any_api_version
            && values.iter().any(|v| *v != op.api_version)
        {
            out.push(format!(
                "api-version is {:?}, but {} describes {} (ARM rejects versions it does not serve)",
                values[0], op.document, op.api_version
            ));
        }
    }
    for param in &op.parameters {
        if param.location == Location::Query
            && param.required
            && !given.contains_key(param.name.as_str())
        {
            let mut message = format!("missing required query parameter `{}`", param.name);
            if param.name == "api-version" && !param.any_api_version {
                let _ = write!(message, " ({} describes {})", op.document, op.api_version);
            }
            out.push(message);
        }
    }
}

fn unknown_query_message(op: &Operation, name: &str) -> String {
    let known: Vec<&str> = op
        .parameters
        .iter()
        .filter(|p| p.location == Location::Query)
        .map(|p| p.name.as_str())
        .collect();
    let mut message = format!(
        "unknown query parameter `{name}` (it takes {})",
        known.join(", ")
    );
    if let Some(p) = op
        .parameters
        .iter()
        .find(|p| p.location != Location::Query && p.name == name)
    {
        let location = match p.location {
            Location::Path => "path",
            Location::Query => "query",
            Location::Header => "header",
        };
        let _ = write!(message, "; `{}` is a {location} parameter", p.name);
    }
    message
}

fn check_headers(op: &Operation, headers: &[(String, String)], out: &mut Vec<String>) {
    for param in op
        .parameters
        .iter()
        .filter(|p| p.location == Location::Header)
    {
        let values: Vec<&str> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(&param.name))
            .map(|(_, v)| v.as_str())
            .collect();
        if values.is_empty() && param.required {
            out.push(format!("missing required header `{}`", param.name));
        }
        for value in values {
            if let Err(e) = param.check_value(value) {
                out.push(format!("header `{}`: {e}", param.name));
            }
        }
    }
}

impl Parameter {
    /// Checks one textual value against the parameter's type, format, enum,
    /// pattern, length and bounds.
    pub fn check_value(&self, value: &str) -> Result<(), String> {
        match self.param_type {
            ParamType::Integer => {
                let format = self.format.as_deref().unwrap_or("int64");
                check_format(format, value)?;
                let n: i64 = value
                    .parse()
                    .map_err(|_| format!("{value:?} is not an integer"))?;
                check_bounds(n as f64, self.minimum, self.maximum, false, false)?;
            }
            ParamType::Number => {
                let n: f64 = value
                    .parse()
                    .map_err(|_| format!("{value:?} is not a number"))?;
                check_bounds(n, self.minimum, self.maximum, false, false)?;
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
                check_length(value, self.min_length, self.max_length)?;
                if let Some(pattern) = &self.pattern
                    && !pattern.is_match(value)
                {
                    return Err(format!("{value:?} does not match {}", pattern.as_str()));
                }
            }
        }
        match &self.enum_values {
            Some(allowed) if !self.open_enum && !allowed.iter().any(|a| a == value) => {
                Err(format!("{value:?} is not one of {}", allowed.join(", ")))
            }
            _ => Ok(()),
        }
    }
}

fn check_length(value: &str, min: Option<u64>, max: Option<u64>) -> Result<(), String> {
    let len = value.chars().count() as u64;
    if let Some(min) = min.filter(|&min| len < min) {
        return Err(format!(
            "{value:?} is {len} characters long, shorter than the minimum {min}"
        ));
    }
    if let Some(max) = max.filter(|&max| len > max) {
        return Err(format!(
            "{value:?} is {len} characters long, longer than the maximum {max}"
        ));
    }
    Ok(())
}

fn check_bounds(
    n: f64,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: bool,
    exclusive_maximum: bool,
) -> Result<(), String> {
    if let Some(min) = minimum {
        if exclusive_minimum && n <= min {
            return Err(format!("{n} is not above the exclusive minimum {min}"));
        }
        if n < min {
            return Err(format!("{n} is below the minimum {min}"));
        }
    }
    if let Some(max) = maximum {
        if exclusive_maximum && n >= max {
            return Err(format!("{n} is not below the exclusive maximum {max}"));
        }
        if n > max {
            return Err(format!("{n} is above the maximum {max}"));
        }
    }
    Ok(())
}

/// Walks a JSON value and its schema together. The walk descends into the
/// value at every step but `$ref` (whose chains are bounded) and a
/// discriminator's dispatch (which happens once per value), so it ends even
/// for recursive schemas.
struct Checker<'a> {
    api: &'a Api,
    direction: Direction,
    out: &'a mut Vec<String>,
}

impl Checker<'_> {
    /// `at` is the JSON path of `value`; `owner` names the schema it belongs
    /// to, for "not a property of" messages.
    fn check(&mut self, id: SchemaId, value: &Value, at: &str, owner: &str) {
        if value.is_null() {
            return;
        }
        let (schema, id) = match self.api.resolve(id) {
            Ok(resolved) => resolved,
            Err(e) => return self.out.push(format!("{at}: {e}")),
        };
        let owner = schema.name.as_deref().unwrap_or(owner);
        if schema.schema_type == Some(SchemaType::File) {
            return;
        }
        if let Some(view) = &schema.object {
            return self.check_object(id, view, value, at, owner, false);
        }
        self.check_enum(schema, value, at);
        match schema.schema_type {
            Some(SchemaType::String) => self.check_string(schema, value, at),
            Some(SchemaType::Integer) => self.check_integer(schema, value, at),
            Some(SchemaType::Number) => match value.as_f64() {
                Some(n) => self.check_bounds(schema, n, at),
                None => self.mismatch(at, "a number", value),
            },
            Some(SchemaType::Boolean) => {
                if !value.is_boolean() {
                    self.mismatch(at, "a boolean", value);
                }
            }
            Some(SchemaType::Array) => self.check_array(schema, value, at, owner),
            Some(SchemaType::Object | SchemaType::File) | None => {}
        }
        // `allOf` of non-object schemas: the value must satisfy every part.
        for &part in &schema.all_of {
            self.check(part, value, at, owner);
        }
    }

    fn check_object(
        &mut self,
        id: SchemaId,
        view: &ObjectView,
        value: &Value,
        at: &str,
        owner: &str,
        dispatched: bool,
    ) {
        let Some(object) = value.as_object() else {
            return self.mismatch(at, "an object", value);
        };
        if let Some((property, base)) = &view.discriminator
            && !dispatched
            && let Some(Value::String(kind)) = object.get(property)
            && let Some(&subtype) = self.api.subtypes.get(base).and_then(|s| s.get(kind))
            && subtype != id
        {
            let schema = self.api.schema(subtype);
            let sub_owner = schema.name.as_deref().unwrap_or(owner);
            let view = schema
                .object
                .as_ref()
                .expect("a subtype of an object is an object");
            return self.check_object(subtype, view, value, at, sub_owner, true);
        }
        if view.free_form {
            return;
        }
        for (key, v) in object {
            if let Some(&p) = view.properties.get(key) {
                self.check(p, v, &field_path(at, key), &format!("{owner}.{key}"));
                continue;
            }
            match view.additional {
                Additional::Any => {}
                Additional::Schema(a) => self.check(a, v, &entry_path(at, key), owner),
                Additional::Absent | Additional::Forbidden => self.out.push(format!(
                    "{}: unknown field (not a property of {owner})",
                    field_path(at, key)
                )),
            }
        }
        for key in &view.required {
            if object.contains_key(key) {
                continue;
            }
            let read_only = view.properties.get(key).is_some_and(|&p| self.read_only(p));
            if self.direction == Direction::Request && read_only {
                continue;
            }
            self.out.push(format!(
                "{}: missing, but {owner} requires it",
                field_path(at, key)
            ));
        }
    }

    /// Whether a property is `readOnly`, on its own `$ref` or its target.
    fn read_only(&self, mut id: SchemaId) -> bool {
        for _ in 0..MAX_REF_HOPS {
            let schema = self.api.schema(id);
            if schema.read_only {
                return true;
            }
            match schema.reference {
                Some(target) => id = target,
                None => return false,
            }
        }
        false
    }

    fn check_enum(&mut self, schema: &Schema, value: &Value, at: &str) {
        let Some(allowed) = &schema.enum_values else {
            return;
        };
        if (schema.open_enum && value.is_string()) || allowed.contains(value) {
            return;
        }
        let listed: Vec<String> = allowed.iter().map(Value::to_string).collect();
        self.out
            .push(format!("{at}: {value} is not one of {}", listed.join(", ")));
    }

    fn check_string(&mut self, schema: &Schema, value: &Value, at: &str) {
        let Some(s) = value.as_str() else {
            let expected = match &schema.format {
                Some(f) => format!("a string ({f})"),
                None => "a string".to_owned(),
            };
            return self.mismatch(at, &expected, value);
        };
        if let Some(format) = &schema.format
            && let Err(e) = check_format(format, s)
        {
            self.out.push(format!("{at}: {e}"));
        }
        if let Err(e) = check_length(s, schema.min_length, schema.max_length) {
            self.out.push(format!("{at}: {e}"));
        }
        if let Some(pattern) = &schema.pattern
            && !pattern.is_match(s)
        {
            self.out
                .push(format!("{at}: {s:?} does not match {}", pattern.as_str()));
        }
    }

    fn check_integer(&mut self, schema: &Schema, value: &Value, at: &str) {
        let format = schema.format.as_deref().unwrap_or("int64");
        let fits = match value {
            Value::Number(n) => match n.as_i64() {
                Some(i) => check_format(format, &i.to_string()).is_ok(),
                None => n.is_u64() && !matches!(format, "int32" | "int64"),
            },
            _ => false,
        };
        if !fits {
            return self.mismatch(at, &format!("an integer ({format})"), value);
        }
        if let Some(n) = value.as_f64() {
            self.check_bounds(schema, n, at);
        }
    }

    fn check_bounds(&mut self, schema: &Schema, n: f64, at: &str) {
        if let Err(e) = check_bounds(
            n,
            schema.minimum,
            schema.maximum,
            schema.exclusive_minimum,
            schema.exclusive_maximum,
        ) {
            self.out.push(format!("{at}: {e}"));
        }
    }

    fn check_array(&mut self, schema: &Schema, value: &Value, at: &str, owner: &str) {
        let Some(array) = value.as_array() else {
            return self.mismatch(at, "an array", value);
        };
        let len = array.len() as u64;
        if let Some(min) = schema.min_items.filter(|&min| len < min) {
            self.out
                .push(format!("{at}: {len} items, fewer than the minimum {min}"));
        }
        if let Some(max) = schema.max_items.filter(|&max| len > max) {
            self.out
                .push(format!("{at}: {len} items, more than the maximum {max}"));
        }
        if let Some(items) = schema.items {
            for (i, v) in array.iter().enumerate() {
                self.check(items, v, &format!("{at}[{i}]"), owner);
            }
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
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
        .unwrap()
});
static DURATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^-?P([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?(T([0-9]+H)?([0-9]+M)?([0-9]+(\.[0-9]+)?S)?)?$",
    )
    .unwrap()
});
static BASE64: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9+/_-]*={0,2}$").unwrap());

/// Checks a string against an OpenAPI `format`; formats without a checked
/// textual shape (`uri`, `arm-id`, `password`) and unknown ones accept
/// anything.
fn check_format(format: &str, s: &str) -> Result<(), String> {
    let ok = match format {
        "int32" => s.parse::<i32>().is_ok(),
        "int64" => s.parse::<i64>().is_ok(),
        "date" => DATE.is_match(s),
        "date-time" => DATE_TIME.is_match(s),
        "uuid" => UUID.is_match(s),
        // `P` or `PT` alone name no duration.
        "duration" => DURATION.is_match(s) && !s.ends_with(['P', 'T']),
        "byte" => BASE64.is_match(s),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{s:?} is not a valid {format}"))
    }
}

// ---------------------------------------------------------------------------
// Loading.

/// Reads documents and their schemas into the flat form [`Api`] keeps.
#[derive(Default)]
struct Loader {
    docs: Vec<LoadedDoc>,
    by_path: HashMap<PathBuf, usize>,
    schemas: Vec<Schema>,
    /// `(document, JSON pointer)` of every schema read.
    by_pointer: HashMap<(usize, String), SchemaId>,
    /// Schemas allocated but not read yet.
    queue: Vec<(SchemaId, usize, String)>,
    /// `$ref`s to nothing: `where -> what`.
    dangling: Vec<String>,
    /// Compiled patterns by their text.
    patterns: HashMap<String, Regex>,
}

struct LoadedDoc {
    path: PathBuf,
    name: String,
    value: Rc<Value>,
}

/// A parameter object found through its `$ref`s.
struct ParamSource {
    doc: usize,
    pointer: String,
    value: Value,
}

impl Loader {
    /// The index of the document at `path`, reading it the first time.
    fn document(&mut self, path: &Path) -> Result<usize, String> {
        if let Some(&index) = self.by_path.get(path) {
            return Ok(index);
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read OpenAPI document {}: {e}", path.display()))?;
        let value = serde_json::from_str(&text)
            .map_err(|e| format!("OpenAPI document {} is not JSON: {e}", path.display()))?;
        Ok(self.add(path.to_owned(), value))
    }

    fn add(&mut self, path: PathBuf, value: Value) -> usize {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        assert!(
            value["swagger"].as_str() == Some("2.0"),
            "{}: not an OpenAPI 2.0 document (swagger: {})",
            path.display(),
            value["swagger"]
        );
        let index = self.docs.len();
        self.by_path.insert(path.clone(), index);
        self.docs.push(LoadedDoc {
            path,
            name,
            value: Rc::new(value),
        });
        index
    }

    fn at(&self, doc: usize, pointer: &str) -> String {
        format!("{}#{pointer}", self.docs[doc].name)
    }

    /// Resolves a `$ref` written in `doc` to a document and JSON pointer,
    /// reading the document if needed. A target that does not exist is
    /// recorded as dangling.
    fn follow(&mut self, doc: usize, reference: &str, at: &str) -> Option<(usize, String)> {
        let (file, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let target = if file.is_empty() {
            doc
        } else {
            let base = self.docs[doc].path.parent().unwrap_or(Path::new(""));
            match self.document(&normalize(&base.join(file))) {
                Ok(index) => index,
                Err(e) => {
                    self.dangling.push(format!("{at} -> {reference} ({e})"));
                    return None;
                }
            }
        };
        let pointer = percent_decode(fragment, false);
        if self.docs[target].value.pointer(&pointer).is_none() {
            self.dangling.push(format!("{at} -> {reference}"));
            return None;
        }
        Some((target, pointer))
    }

    /// The schema at `pointer` in `doc`, allocated now and read later.
    fn schema_at(&mut self, doc: usize, pointer: String) -> SchemaId {
        if let Some(&id) = self.by_pointer.get(&(doc, pointer.clone())) {
            return id;
        }
        let id = SchemaId(self.schemas.len());
        let name = pointer
            .strip_prefix("/definitions/")
            .filter(|rest| !rest.contains('/'))
            .map(unescape_pointer);
        self.schemas
            .push(Schema::blank(self.at(doc, &pointer), name));
        self.by_pointer.insert((doc, pointer.clone()), id);
        self.queue.push((id, doc, pointer));
        id
    }

    /// A schema standing for nothing, after a dangling `$ref`.
    fn placeholder(&mut self, at: &str) -> SchemaId {
        let id = SchemaId(self.schemas.len());
        self.schemas
            .push(Schema::blank(format!("{at} (dangling $ref)"), None));
        id
    }

    /// Reads every queued schema, queueing the ones it contains.
    fn drain(&mut self) {
        while let Some((id, doc, pointer)) = self.queue.pop() {
            self.read_schema(id, doc, &pointer);
        }
    }

    fn read_schema(&mut self, id: SchemaId, doc: usize, pointer: &str) {
        let root = Rc::clone(&self.docs[doc].value);
        let s = root
            .pointer(pointer)
            .expect("schemas are queued at existing pointers");
        let at = self.at(doc, pointer);
        let Some(object) = s.as_object() else {
            panic!("{at}: a schema must be an object, not {}", describe(s));
        };
        let read_only = s["readOnly"].as_bool().unwrap_or(false);
        if let Some(reference) = object.get("$ref") {
            let reference = reference
                .as_str()
                .unwrap_or_else(|| panic!("{at}: $ref is not a string"));
            let target = match self.follow(doc, reference, &at) {
                Some((d, p)) => self.schema_at(d, p),
                None => self.placeholder(&at),
            };
            let schema = &mut self.schemas[id.0];
            schema.reference = Some(target);
            schema.read_only = read_only;
            return;
        }

        let schema_type = match &s["type"] {
            Value::Null => None,
            Value::String(t) => match t.as_str() {
                "string" => Some(SchemaType::String),
                "integer" => Some(SchemaType::Integer),
                "number" => Some(SchemaType::Number),
                "boolean" => Some(SchemaType::Boolean),
                "array" => Some(SchemaType::Array),
                "object" => Some(SchemaType::Object),
                "file" => Some(SchemaType::File),
                other => panic!("{at}: unsupported type {other:?}"),
            },
            other => panic!("{at}: unsupported type {other}"),
        };
        for unsupported in ["anyOf", "oneOf", "not"] {
            assert!(
                !object.contains_key(unsupported),
                "{at}: `{unsupported}` is not OpenAPI 2.0 and not supported"
            );
        }
        let items = match &s["items"] {
            Value::Null => None,
            Value::Object(_) => Some(self.schema_at(doc, format!("{pointer}/items"))),
            other => panic!("{at}: unsupported items {}", describe(other)),
        };
        let properties = s["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, _)| {
                let child = format!("{pointer}/properties/{}", escape_pointer(name));
                (name.clone(), child)
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|(name, child)| (name, self.schema_at(doc, child)))
            .collect();
        let additional = match &s["additionalProperties"] {
            Value::Null => Additional::Absent,
            Value::Bool(false) => Additional::Forbidden,
            Value::Bool(true) => Additional::Any,
            Value::Object(o) if o.is_empty() => Additional::Any,
            Value::Object(_) => {
                Additional::Schema(self.schema_at(doc, format!("{pointer}/additionalProperties")))
            }
            other => panic!("{at}: unsupported additionalProperties {}", describe(other)),
        };
        let all_of = (0..s["allOf"].as_array().map_or(0, Vec::len))
            .map(|i| self.schema_at(doc, format!("{pointer}/allOf/{i}")))
            .collect();
        let number = |key: &str| s[key].as_f64();
        let count = |key: &str| s[key].as_u64();
        let enum_values = s["enum"].as_array().cloned();
        let pattern = s["pattern"]
            .as_str()
            .map(|p| compile_pattern(p, &at, &mut self.patterns));
        let schema = &mut self.schemas[id.0];
        schema.schema_type = schema_type;
        schema.format = str_field(s, "format");
        schema.open_enum = enum_values.is_some() && s["x-ms-enum"]["modelAsString"] == true;
        schema.enum_values = enum_values;
        schema.pattern = pattern;
        schema.min_length = count("minLength");
        schema.max_length = count("maxLength");
        schema.minimum = number("minimum");
        schema.maximum = number("maximum");
        schema.exclusive_minimum = s["exclusiveMinimum"] == true;
        schema.exclusive_maximum = s["exclusiveMaximum"] == true;
        schema.min_items = count("minItems");
        schema.max_items = count("maxItems");
        schema.items = items;
        schema.properties = properties;
        schema.required = string_list(&s["required"]).unwrap_or_default();
        schema.additional = additional;
        schema.all_of = all_of;
        schema.read_only = read_only;
        schema.discriminator = str_field(s, "discriminator");
        schema.discriminator_value = str_field(s, "x-ms-discriminator-value");
    }

    /// Follows a parameter's `$ref`s to the parameter object.
    fn parameter_source(&mut self, doc: usize, pointer: String) -> Option<ParamSource> {
        let (mut doc, mut pointer) = (doc, pointer);
        for _ in 0..MAX_REF_HOPS {
            let value = self.docs[doc].value.pointer(&pointer)?.clone();
            match value["$ref"].as_str() {
                Some(reference) => {
                    let at = self.at(doc, &pointer);
                    (doc, pointer) = self.follow(doc, reference, &at)?;
                }
                None => {
                    return Some(ParamSource {
                        doc,
                        pointer,
                        value,
                    });
                }
            }
        }
        panic!("{}: $ref cycle between parameters", self.at(doc, &pointer));
    }

    /// Reads the operations of document `doc` (from `paths` and `x-ms-paths`).
    fn read_operations(&mut self, doc: usize) -> Vec<(Operation, Route)> {
        let root = Rc::clone(&self.docs[doc].value);
        let version = root["info"]["version"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no info.version", self.docs[doc].name))
            .to_owned();
        let doc_consumes = string_list(&root["consumes"]);
        let mut found = Vec::new();
        for section in ["paths", "x-ms-paths"] {
            for (key, item) in root[section].as_object().into_iter().flatten() {
                let item_pointer = format!("/{section}/{}", escape_pointer(key));
                for (method, op) in item.as_object().into_iter().flatten() {
                    if method == "parameters" || method.starts_with("x-") {
                        continue;
                    }
                    assert!(
                        HTTP_METHODS.contains(&method.as_str()),
                        "{}: unsupported key {method:?} in a path item",
                        self.at(doc, &item_pointer)
                    );
                    let pointer = format!("{item_pointer}/{method}");
                    let consumes = string_list(&op["consumes"]).or_else(|| doc_consumes.clone());
                    found.push(self.read_operation(doc, &pointer, key, method, &version, consumes));
                }
            }
        }
        found
    }

    fn read_operation(
        &mut self,
        doc: usize,
        pointer: &str,
        key: &str,
        method: &str,
        version: &str,
        consumes: Option<Vec<String>>,
    ) -> (Operation, Route) {
        let root = Rc::clone(&self.docs[doc].value);
        let op = root
            .pointer(pointer)
            .expect("operations are read from the document");
        let at = self.at(doc, pointer);
        let operation_id =
            str_field(op, "operationId").unwrap_or_else(|| panic!("{at}: no operationId"));

        // The path item's parameters, then the operation's, which override
        // them by name and location.
        let item_pointer = &pointer[..pointer.rfind('/').expect("a pointer has segments")];
        let mut sources: Vec<ParamSource> = Vec::new();
        for list in [
            format!("{item_pointer}/parameters"),
            format!("{pointer}/parameters"),
        ] {
            let count = root
                .pointer(&list)
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            for i in 0..count {
                let Some(source) = self.parameter_source(doc, format!("{list}/{i}")) else {
                    continue;
                };
                let same = |s: &ParamSource| {
                    s.value["name"] == source.value["name"] && s.value["in"] == source.value["in"]
                };
                sources.retain(|s| !same(s));
                sources.push(source);
            }
        }

        let mut parameters = Vec::new();
        let mut body = None;
        for source in sources {
            let p = &source.value;
            let p_at = self.at(source.doc, &source.pointer);
            let name = str_field(p, "name").unwrap_or_else(|| panic!("{p_at}: no name"));
            let location = match p["in"].as_str() {
                Some("path") => Location::Path,
                Some("query") => Location::Query,
                Some("header") => Location::Header,
                Some("body") => {
                    assert!(body.is_none(), "{at}: two body parameters");
                    body = Some(BodyParameter {
                        name,
                        required: p["required"].as_bool().unwrap_or(false),
                        schema: self.schema_at(source.doc, format!("{}/schema", source.pointer)),
                    });
                    continue;
                }
                other => panic!("{p_at}: unsupported parameter location {other:?}"),
            };
            parameters.push(parse_parameter(
                p,
                name,
                location,
                &p_at,
                &mut self.patterns,
            ));
        }

        let mut responses = BTreeMap::new();
        for (code, _) in op["responses"].as_object().into_iter().flatten() {
            let r_pointer = format!("{pointer}/responses/{}", escape_pointer(code));
            let Some(source) = self.parameter_source(doc, r_pointer) else {
                continue;
            };
            let schema = source
                .value
                .get("schema")
                .map(|_| self.schema_at(source.doc, format!("{}/schema", source.pointer)));
            responses.insert(code.clone(), schema);
        }

        let (path_part, query_part) = key.split_once('?').unwrap_or((key, ""));
        let fixed_query = query_part
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (pair.to_owned(), None),
            })
            .collect();
        let multi = |name: &str| {
            parameters
                .iter()
                .any(|p| p.location == Location::Path && p.name == name && p.multi_segment)
        };
        let template = Template::parse(path_part, multi).unwrap_or_else(|e| panic!("{at}: {e}"));
        for var in template.var_names() {
            assert!(
                parameters
                    .iter()
                    .any(|p| p.location == Location::Path && p.name == var),
                "{at}: the path has {{{var}}}, but no path parameter `{var}` is declared"
            );
        }
        for p in parameters.iter().filter(|p| p.location == Location::Path) {
            assert!(
                template.var_names().any(|v| v == p.name),
                "{at}: path parameter `{}` is not in the path",
                p.name
            );
        }
        let namespace = template
            .segments
            .windows(2)
            .rev()
            .find_map(|pair| match pair {
                [Segment::Literal(p), next] if p.eq_ignore_ascii_case("providers") => Some(next),
                _ => None,
            })
            .and_then(|next| match next {
                Segment::Literal(ns) => Some(ns.to_ascii_lowercase()),
                Segment::Var(..) => None,
            });
        let json_body = body.as_ref().is_some_and(|b: &BodyParameter| {
            let file = self.schemas[b.schema.0].schema_type == Some(SchemaType::File);
            let json = consumes
                .as_ref()
                .is_none_or(|c| c.is_empty() || c.iter().any(|m| m.contains("json")));
            json && !file
        });
        let any_api_version = parameters
            .iter()
            .any(|p| p.name == "api-version" && p.any_api_version);
        let http_method = method.to_ascii_uppercase();
        let route = Route {
            operation: String::new(),
            http_method: http_method.clone(),
            template,
            fixed_query,
            namespace,
        };
        let operation = Operation {
            id: String::new(),
            operation_id,
            document: self.docs[doc].name.clone(),
            api_version: version.to_owned(),
            any_api_version,
            http_method,
            path: key.to_owned(),
            parameters,
            body,
            json_body,
            responses,
            long_running: op["x-ms-long-running-operation"] == true,
        };
        (operation, route)
    }

    /// Reads everything and assembles the [`Api`]: the operations of the
    /// `given` documents, and every definition of every document read (so
    /// that discriminator subtypes are known even where nothing refers to
    /// them).
    fn build(mut self, given: &[usize]) -> Api {
        let mut operations = Vec::new();
        for &doc in given {
            for found in self.read_operations(doc) {
                operations.push((doc, found));
            }
        }
        let mut definitions = HashMap::new();
        let mut read = 0;
        loop {
            self.drain();
            if read == self.docs.len() {
                break;
            }
            for doc in read..self.docs.len() {
                let root = Rc::clone(&self.docs[doc].value);
                for name in root["definitions"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(n, _)| n)
                {
                    let id = self.schema_at(doc, format!("/definitions/{}", escape_pointer(name)));
                    definitions.insert((doc, name.clone()), id);
                }
            }
            read = self.docs.len();
        }
        self.dangling.sort();
        assert!(
            self.dangling.is_empty(),
            "$ref to nothing: {}",
            self.dangling.join(", ")
        );
        self.compute_object_views();
        let subtypes = self.collect_subtypes(&definitions);

        // Unique ids: the operationId, qualified where it repeats.
        let mut uses: HashMap<String, usize> = HashMap::new();
        for (_, (op, _)) in &operations {
            *uses.entry(op.operation_id.clone()).or_default() += 1;
        }
        let mut documents: Vec<Document> = self
            .docs
            .iter()
            .enumerate()
            .map(|(i, d)| Document {
                path: d.path.clone(),
                name: d.name.clone(),
                title: d.value["info"]["title"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                version: d.value["info"]["version"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                loaded_for_operations: given.contains(&i),
                operation_count: 0,
            })
            .collect();
        let mut by_id = BTreeMap::new();
        let mut routes = Vec::new();
        let mut namespaces = BTreeSet::new();
        for (doc, (mut op, mut route)) in operations {
            op.id = if uses[&op.operation_id] > 1 {
                format!("{}#{}", op.document, op.operation_id)
            } else {
                op.operation_id.clone()
            };
            route.operation = op.id.clone();
            namespaces.extend(route.namespace.clone());
            documents[doc].operation_count += 1;
            let id = op.id.clone();
            if let Some(previous) = by_id.insert(id.clone(), op) {
                panic!(
                    "operation {id} is in {} and in another document of the same name",
                    previous.document
                );
            }
            routes.push(route);
        }
        Api {
            documents,
            operations: by_id,
            schemas: self.schemas,
            definitions,
            subtypes,
            namespaces,
            routes,
        }
    }

    /// Follows `$ref`s from `id` to a concrete schema, if they end.
    fn concrete(&self, mut id: SchemaId) -> Option<SchemaId> {
        for _ in 0..MAX_REF_HOPS {
            match self.schemas[id.0].reference {
                Some(target) => id = target,
                None => return Some(id),
            }
        }
        None
    }

    /// Fills [`Schema::object`] for every object schema.
    fn compute_object_views(&mut self) {
        let mut views: Vec<Option<Option<ObjectView>>> = vec![None; self.schemas.len()];
        for id in 0..self.schemas.len() {
            self.object_view(SchemaId(id), &mut views, &mut Vec::new());
        }
        for (schema, view) in self.schemas.iter_mut().zip(views) {
            schema.object = view.flatten();
        }
    }

    fn object_view(
        &self,
        id: SchemaId,
        views: &mut Vec<Option<Option<ObjectView>>>,
        visiting: &mut Vec<SchemaId>,
    ) -> Option<ObjectView> {
        if let Some(done) = &views[id.0] {
            return done.clone();
        }
        let schema = &self.schemas[id.0];
        if schema.reference.is_some() {
            views[id.0] = Some(None);
            return None;
        }
        if visiting.contains(&id) {
            let cycle: Vec<&str> = visiting
                .iter()
                .map(|v| self.schemas[v.0].location.as_str())
                .collect();
            panic!("allOf cycle: {} -> {}", cycle.join(" -> "), schema.location);
        }
        visiting.push(id);
        let mut merged = ObjectView {
            properties: BTreeMap::new(),
            required: BTreeSet::new(),
            additional: Additional::Absent,
            discriminator: None,
            free_form: false,
        };
        let mut object = schema.schema_type == Some(SchemaType::Object)
            || !schema.properties.is_empty()
            || schema.additional != Additional::Absent
            || schema.discriminator.is_some();
        for &part in &schema.all_of {
            let Some(part) = self.concrete(part) else {
                panic!("{}: allOf member is a $ref cycle", schema.location);
            };
            if let Some(view) = self.object_view(part, views, visiting) {
                object = true;
                merged.properties.extend(view.properties);
                merged.required.extend(view.required);
                if merged.additional == Additional::Absent {
                    merged.additional = view.additional;
                }
                merged.discriminator = merged.discriminator.or(view.discriminator);
            }
        }
        visiting.pop();
        let view = object.then(|| {
            merged
                .properties
                .extend(schema.properties.iter().map(|(k, v)| (k.clone(), *v)));
            merged.required.extend(schema.required.iter().cloned());
            if schema.additional != Additional::Absent {
                merged.additional = schema.additional;
            }
            if let Some(property) = &schema.discriminator {
                merged.discriminator = Some((property.clone(), id));
            }
            merged.free_form = merged.properties.is_empty()
                && merged.additional == Additional::Absent
                && merged.discriminator.is_none();
            merged
        });
        views[id.0] = Some(view.clone());
        view
    }

    /// For each schema with a discriminator, the definitions deriving from it.
    fn collect_subtypes(
        &self,
        definitions: &HashMap<(usize, String), SchemaId>,
    ) -> HashMap<SchemaId, BTreeMap<String, SchemaId>> {
        let mut subtypes: HashMap<SchemaId, BTreeMap<String, SchemaId>> = HashMap::new();
        let mut sorted: Vec<(&(usize, String), &SchemaId)> = definitions.iter().collect();
        sorted.sort();
        for ((_, name), &id) in sorted {
            let Some(id) = self.concrete(id) else {
                continue;
            };
            let value = self.schemas[id.0]
                .discriminator_value
                .clone()
                .unwrap_or_else(|| name.clone());
            let mut stack: Vec<SchemaId> = self.schemas[id.0].all_of.clone();
            let mut seen = BTreeSet::new();
            while let Some(part) = stack.pop() {
                let Some(part) = self.concrete(part) else {
                    continue;
                };
                if !seen.insert(part) {
                    continue;
                }
                let schema = &self.schemas[part.0];
                if schema.discriminator.is_some() {
                    subtypes
                        .entry(part)
                        .or_default()
                        .entry(value.clone())
                        .or_insert(id);
                }
                stack.extend(schema.all_of.iter().copied());
            }
        }
        subtypes
    }
}

fn parse_parameter(
    p: &Value,
    name: String,
    location: Location,
    at: &str,
    patterns: &mut HashMap<String, Regex>,
) -> Parameter {
    let param_type = match p["type"].as_str() {
        Some("string") => ParamType::String,
        Some("integer") => ParamType::Integer,
        Some("number") => ParamType::Number,
        Some("boolean") => ParamType::Boolean,
        other => panic!("{at}: unsupported parameter type {other:?}"),
    };
    let enum_values = p["enum"].as_array().map(|values| {
        values
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect()
    });
    Parameter {
        location,
        param_type,
        format: str_field(p, "format"),
        required: p["required"].as_bool().unwrap_or(false) || location == Location::Path,
        pattern: p["pattern"]
            .as_str()
            .map(|pattern| compile_pattern(pattern, at, patterns)),
        open_enum: p["x-ms-enum"]["modelAsString"] == true,
        enum_values,
        min_length: p["minLength"].as_u64(),
        max_length: p["maxLength"].as_u64(),
        minimum: p["minimum"].as_f64(),
        maximum: p["maximum"].as_f64(),
        multi_segment: location == Location::Path && p["x-ms-skip-url-encoding"] == true,
        any_api_version: p["x-ms-api-version"] == false,
        name,
    }
}

/// Compiles a `pattern` once per distinct text: hundreds of operations share
/// the resource group name's, and compiling `\w` is slow in a debug build.
fn compile_pattern(pattern: &str, at: &str, cache: &mut HashMap<String, Regex>) -> Regex {
    if let Some(regex) = cache.get(pattern) {
        return regex.clone();
    }
    let regex = Regex::new(pattern)
        .unwrap_or_else(|e| panic!("{at}: pattern {pattern} is not supported: {e}"));
    cache.insert(pattern.to_owned(), regex.clone());
    regex
}

/// `path` with `.` and `..` resolved without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The segments of an absolute URL path, each percent-decoded; `None` for a
/// path that does not start with `/`.
fn split_path(path: &str) -> Option<Vec<String>> {
    Some(
        path.strip_prefix('/')?
            .split('/')
            .map(|s| percent_decode(s, false))
            .collect(),
    )
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn unescape_pointer(key: &str) -> String {
    key.replace("~1", "/").replace("~0", "~")
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
