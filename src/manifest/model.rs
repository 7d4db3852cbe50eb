//! The typed model of `nubo.yaml`, format 1.
//!
//! These types are the single source of truth for the manifest: the loader
//! decodes into them and `nubo schema` is generated from them. They hold the
//! text exactly as written: `${...}` variables are resolved in a later phase
//! (`crate::resolve`), so every field keeps a precise type in the schema.

use std::fmt;
use std::str::FromStr;

use indexmap::IndexMap;
use schemars::{JsonSchema, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A nubo service: functions, where they deploy and how releases move.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "nubo.yaml")]
pub struct Manifest {
    /// Manifest format version. This nubo reads format `1`.
    #[schemars(range(min = 1, max = 1))]
    pub nubo: u32,
    /// Service name: a lowercase letter, then lowercase letters, digits or hyphens; at most 40 characters.
    #[schemars(pattern(r"^[a-z][a-z0-9-]{0,39}$"))]
    pub service: String,
    /// Where the service deploys, by target name. The first target is the default.
    #[schemars(length(min = 1))]
    pub targets: IndexMap<String, Target>,
    /// Settings every function inherits unless it sets its own.
    #[serde(default)]
    pub defaults: Defaults,
    /// The service's functions, by name.
    #[schemars(length(min = 1))]
    pub functions: IndexMap<String, Function>,
    /// How releases are checked, switched and retained.
    #[serde(default)]
    pub release: Release,
}

/// A place the service deploys to.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The cloud: `local` (the embedded local cloud), `aws`, `gcp` or `azure`.
    pub provider: ProviderKind,
    /// AWS region or Google Cloud region, e.g. `eu-west-1`, `europe-west1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Google Cloud project id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Azure subscription id (a UUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// Azure resource group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
    /// Azure location, e.g. `westeurope`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Where nubo keeps this target's state: `s3://`, `gs://`, `azblob://`; default `.nubo/state/` beside the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// AWS shared-config profile to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Port of the local cloud's HTTP gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Send every AWS API call to this URL instead of AWS (an emulator such as moto); `AWS_ENDPOINT_URL` does the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl Target {
    /// The target's settings by their manifest key, for checks driven by provider specs.
    pub fn settings(&self) -> [(&'static str, bool); 9] {
        [
            ("region", self.region.is_some()),
            ("project", self.project.is_some()),
            ("subscription", self.subscription.is_some()),
            ("resource_group", self.resource_group.is_some()),
            ("location", self.location.is_some()),
            ("state", self.state.is_some()),
            ("profile", self.profile.is_some()),
            ("port", self.port.is_some()),
            ("endpoint", self.endpoint.is_some()),
        ]
    }
}

/// A cloud nubo deploys to.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// The embedded local cloud: no account, no containers.
    #[default]
    Local,
    /// AWS Lambda and API Gateway.
    Aws,
    /// Google Cloud Run functions.
    Gcp,
    /// Azure Functions.
    Azure,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 4] = [
        ProviderKind::Local,
        ProviderKind::Aws,
        ProviderKind::Gcp,
        ProviderKind::Azure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Local => "local",
            ProviderKind::Aws => "aws",
            ProviderKind::Gcp => "gcp",
            ProviderKind::Azure => "azure",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Settings inherited by every function.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Language runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,
    /// Memory in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub memory: Option<u32>,
    /// Longest a single invocation may run, e.g. `500ms`, `10s`, `5m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Environment variables; values may use `${...}` variables.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// `neutral` (the default: one handler for every cloud) or `native` (the provider's own signature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler_style: Option<HandlerStyle>,
}

/// A function: one handler, its settings and what triggers it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Function {
    /// `path/file.export`, relative to `nubo.yaml`: `src/checkout.handler` is the `handler` export of `src/checkout.js` (or `.py`).
    pub handler: String,
    /// What the function does, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Language runtime; default from `defaults.runtime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,
    /// Memory in MiB; default from `defaults.memory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub memory: Option<u32>,
    /// Longest a single invocation may run; default from `defaults.timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Environment variables, added to `defaults.env`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// Globs of files to package; default: the handler's directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Globs of files to leave out of the package.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// What invokes the function.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
    /// Functions this one calls with `nubo.call`; calls stay within one release.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<String>,
    /// `neutral` (one handler for every cloud) or `native` (the provider's own signature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler_style: Option<HandlerStyle>,
    /// Raw settings passed to the local cloud as they are (not portable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<IndexMap<String, serde_json::Value>>,
    /// Raw AWS Lambda settings passed as they are (not portable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<IndexMap<String, serde_json::Value>>,
    /// Raw Google Cloud settings passed as they are (not portable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp: Option<IndexMap<String, serde_json::Value>>,
    /// Raw Azure Functions settings passed as they are (not portable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<IndexMap<String, serde_json::Value>>,
}

impl Function {
    /// The escape hatch for `provider`, when the function has one.
    pub fn escape_hatch(
        &self,
        provider: ProviderKind,
    ) -> Option<&IndexMap<String, serde_json::Value>> {
        match provider {
            ProviderKind::Local => self.local.as_ref(),
            ProviderKind::Aws => self.aws.as_ref(),
            ProviderKind::Gcp => self.gcp.as_ref(),
            ProviderKind::Azure => self.azure.as_ref(),
        }
    }
}

/// A language runtime.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Runtime {
    /// Node.js 22.
    #[serde(rename = "nodejs22")]
    Nodejs22,
    /// Node.js 24.
    #[serde(rename = "nodejs24")]
    Nodejs24,
    /// Python 3.12.
    #[serde(rename = "python3.12")]
    Python312,
    /// Python 3.13.
    #[serde(rename = "python3.13")]
    Python313,
    /// A `bootstrap` executable that speaks the AWS Lambda Runtime API.
    #[serde(rename = "provided")]
    Provided,
}

impl Runtime {
    pub const ALL: [Runtime; 5] = [
        Runtime::Nodejs22,
        Runtime::Nodejs24,
        Runtime::Python312,
        Runtime::Python313,
        Runtime::Provided,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Nodejs22 => "nodejs22",
            Runtime::Nodejs24 => "nodejs24",
            Runtime::Python312 => "python3.12",
            Runtime::Python313 => "python3.13",
            Runtime::Provided => "provided",
        }
    }

    /// The language family: decides handler file extensions and shims.
    pub fn language(self) -> Language {
        match self {
            Runtime::Nodejs22 | Runtime::Nodejs24 => Language::Node,
            Runtime::Python312 | Runtime::Python313 => Language::Python,
            Runtime::Provided => Language::Binary,
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    Node,
    Python,
    Binary,
}

/// How a handler is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HandlerStyle {
    /// nubo's provider-neutral signature: the same code on every cloud.
    #[default]
    Neutral,
    /// The provider's own signature (not portable).
    Native,
}

/// Something that invokes a function. Written as a one-key mapping: `- http: {...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// An HTTP route.
    Http(HttpEvent),
    /// Messages from a durable queue.
    Queue(QueueEvent),
    /// A timer: `cron` or `every`.
    Schedule(ScheduleEvent),
    /// Objects created or deleted in a bucket.
    Storage(StorageEvent),
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Http(_) => EventKind::Http,
            Event::Queue(_) => EventKind::Queue,
            Event::Schedule(_) => EventKind::Schedule,
            Event::Storage(_) => EventKind::Storage,
        }
    }
}

/// The kinds of trigger, as provider specs name them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Http,
    Queue,
    Schedule,
    Storage,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Http => "http",
            EventKind::Queue => "queue",
            EventKind::Schedule => "schedule",
            EventKind::Storage => "storage",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An HTTP route served by the target's gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpEvent {
    /// HTTP method, or `ANY`.
    pub method: HttpMethod,
    /// Route path starting with `/`; `{name}` marks a path parameter.
    #[schemars(pattern(r"^/"))]
    pub path: String,
    /// Whether anyone on the internet may call the route without
    /// credentials. On Google Cloud a route is otherwise reachable only with
    /// an identity token of a principal allowed to invoke it; the local cloud
    /// and AWS API Gateway routes are open either way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public: bool,
}

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
    Any,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Head => "HEAD",
            HttpMethod::Options => "OPTIONS",
            HttpMethod::Any => "ANY",
        }
    }
}

/// Messages from a durable queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueEvent {
    /// Queue name; nubo creates it.
    pub name: String,
    /// Most messages handed to one invocation.
    #[serde(default = "one")]
    #[schemars(range(min = 1))]
    pub batch: u32,
}

fn one() -> u32 {
    1
}

/// A timer. Set exactly one of `cron` and `every`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEvent {
    /// Five-field cron expression in UTC: minute hour day-of-month month day-of-week.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// A fixed interval, e.g. `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Duration>,
}

/// Objects created or deleted in a bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageEvent {
    /// Bucket name; nubo creates it.
    pub bucket: String,
    /// Which change fires the event.
    #[serde(default)]
    pub on: StorageOn,
    /// Only objects whose key starts with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Only objects whose key ends with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
}

/// A change to a bucket's objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StorageOn {
    #[default]
    Created,
    Deleted,
}

impl StorageOn {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageOn::Created => "created",
            StorageOn::Deleted => "deleted",
        }
    }
}

/// How a new release goes live.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// `blue-green` (all traffic moves at once) or `canary` (in steps).
    #[serde(default)]
    pub strategy: Strategy,
    /// Canary steps; used when `strategy` is `canary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
    /// Invocations run against the staged release before any traffic moves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    /// How many releases are retained for rollback.
    #[serde(default = "default_keep")]
    #[schemars(range(min = 1))]
    pub keep: u32,
}

fn default_keep() -> u32 {
    10
}

impl Default for Release {
    fn default() -> Self {
        Release {
            strategy: Strategy::default(),
            canary: None,
            checks: Vec::new(),
            keep: default_keep(),
        }
    }
}

/// A release strategy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// All traffic moves to the new release in one switch.
    #[default]
    BlueGreen,
    /// Traffic moves in steps; failures roll back automatically.
    Canary,
}

/// Canary steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    /// Percent of requests on the new release at each step, rising, each from 1 to 99.
    #[schemars(length(min = 1))]
    pub steps: Vec<u8>,
    /// How long each step lasts before the next.
    pub interval: Duration,
}

/// An invocation of the staged release that must pass before traffic moves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// The function to invoke.
    pub invoke: String,
    /// The event to send: for an HTTP function a request `{method, path, query, headers, body}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with: Option<serde_json::Value>,
    /// What the response must look like.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
}

/// What a check expects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// HTTP status code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 599))]
    pub status: Option<u16>,
    /// Text the response body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
}

/// A length of time written with a unit: `500ms`, `10s`, `5m`, `1h`, `1m30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub fn from_secs(secs: u64) -> Self {
        Duration(std::time::Duration::from_secs(secs))
    }

    pub fn as_millis(self) -> u128 {
        self.0.as_millis()
    }
}

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("a duration needs a unit: write `{0}s` for seconds or `{0}ms` for milliseconds")]
    NoUnit(String),
    #[error(
        "`{0}` is not a duration: expected a number and a unit (`ms`, `s`, `m` or `h`), like `10s` or `1m30s`"
    )]
    Invalid(String),
    #[error("a duration must be longer than zero")]
    Zero,
    #[error("`{0}` is too long a duration")]
    Overflow(String),
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DurationError::NoUnit(text.to_owned()));
        }
        let mut total: u128 = 0;
        let mut rest = text;
        if rest.is_empty() {
            return Err(DurationError::Invalid(s.to_owned()));
        }
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(DurationError::Invalid(s.to_owned()));
            }
            let n: u128 = rest[..digits]
                .parse()
                .map_err(|_| DurationError::Overflow(s.to_owned()))?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let millis_per = match &rest[..unit_len] {
                "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                _ => return Err(DurationError::Invalid(s.to_owned())),
            };
            rest = &rest[unit_len..];
            total = n
                .checked_mul(millis_per)
                .and_then(|v| total.checked_add(v))
                .filter(|v| *v <= u64::MAX as u128 / 1000)
                .ok_or_else(|| DurationError::Overflow(s.to_owned()))?;
        }
        if total == 0 {
            return Err(DurationError::Zero);
        }
        Ok(Duration(std::time::Duration::from_millis(total as u64)))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, per) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
            if ms >= per {
                write!(f, "{}{unit}", ms / per)?;
                ms %= per;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        json_schema!({
            "description": "A length of time with a unit: `500ms`, `10s`, `5m`, `1h`, `1m30s`.",
            "type": "string",
            "pattern": "^([0-9]+(ms|s|m|h))+$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        let d: Duration = "1m30s".parse().unwrap();
        assert_eq!(d.as_millis(), 90_000);
        assert_eq!(d.to_string(), "1m30s");
        assert_eq!("500ms".parse::<Duration>().unwrap().as_millis(), 500);
        assert_eq!(
            "10".parse::<Duration>(),
            Err(DurationError::NoUnit("10".into()))
        );
        assert!(matches!(
            "10 minutes".parse::<Duration>(),
            Err(DurationError::Invalid(_))
        ));
        assert_eq!("0s".parse::<Duration>(), Err(DurationError::Zero));
        assert!(matches!(
            "99999999999999999999h".parse::<Duration>(),
            Err(DurationError::Overflow(_))
        ));
    }
}
