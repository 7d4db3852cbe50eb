//! What each cloud allows, read from `providers/<name>.yaml`.
//!
//! Limits, runtimes, name rules, regions and trigger support are data, cited
//! from each cloud's documentation in the YAML files, not code. The files are
//! compiled into the binary and decoded with the manifest's own loader, so a
//! malformed spec fails the test suite, never a user's run.

use std::sync::OnceLock;

use indexmap::IndexMap;
use serde::Deserialize;

use crate::manifest::yaml;
use crate::manifest::{Duration, EventKind, ProviderKind, Runtime, StorageOn, de};

/// What one provider allows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    pub provider: ProviderKind,
    pub title: String,
    pub target: TargetKeys,
    /// nubo runtime → the provider's identifier for it.
    pub runtimes: IndexMap<Runtime, String>,
    pub memory: MemorySpec,
    pub timeout: TimeoutSpec,
    pub names: NameSpec,
    pub env: EnvSpec,
    pub package: PackageSpec,
    pub events: EventsSpec,
    pub regions: Vec<String>,
    /// Whether a caller's version is bound to its callees' versions (the
    /// cloud cannot tell a running version which release a request belongs
    /// to, so `nubo.call` must name the callee's version itself): a change
    /// to a callee then makes a new version of every function that reaches
    /// it through `calls:`.
    #[serde(default)]
    pub calls_bind_versions: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetKeys {
    pub required: Vec<String>,
    pub optional: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySpec {
    pub min: u32,
    pub max: u32,
    pub step: u32,
    #[serde(default = "yes")]
    pub configurable: bool,
}

fn yes() -> bool {
    true
}

/// Longest timeout per trigger kind; `none` is for functions only reached by `calls`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutSpec {
    pub http: Duration,
    pub queue: Duration,
    pub schedule: Duration,
    pub storage: Duration,
    pub none: Duration,
}

impl TimeoutSpec {
    pub fn for_kind(&self, kind: Option<EventKind>) -> Duration {
        match kind {
            Some(EventKind::Http) => self.http,
            Some(EventKind::Queue) => self.queue,
            Some(EventKind::Schedule) => self.schedule,
            Some(EventKind::Storage) => self.storage,
            None => self.none,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameSpec {
    /// The resource name nubo gives, with `{service}`, `{target}`, `{function}`.
    pub format: String,
    pub max_length: usize,
    pub pattern: String,
    /// The rule in words, for messages.
    pub rule: String,
}

impl NameSpec {
    pub fn render(&self, service: &str, target: &str, function: &str) -> String {
        self.format
            .replace("{service}", service)
            .replace("{target}", target)
            .replace("{function}", function)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSpec {
    pub max_bytes: usize,
    pub key_pattern: String,
    pub reserved_keys: Vec<String>,
    pub reserved_prefixes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageSpec {
    pub zipped_max_mib: u64,
    pub unzipped_max_mib: u64,
}

/// Trigger kinds and what implements them; an absent kind is unsupported.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsSpec {
    #[serde(default)]
    pub http: Option<EventSpec>,
    #[serde(default)]
    pub queue: Option<EventSpec>,
    #[serde(default)]
    pub schedule: Option<EventSpec>,
    #[serde(default)]
    pub storage: Option<EventSpec>,
}

impl EventsSpec {
    pub fn get(&self, kind: EventKind) -> Option<&EventSpec> {
        match kind {
            EventKind::Http => self.http.as_ref(),
            EventKind::Queue => self.queue.as_ref(),
            EventKind::Schedule => self.schedule.as_ref(),
            EventKind::Storage => self.storage.as_ref(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// The service that implements the trigger there.
    pub via: String,
    #[serde(default)]
    pub batch_max: Option<u32>,
    #[serde(default)]
    pub cron: Option<bool>,
    #[serde(default)]
    pub every: Option<bool>,
    #[serde(default)]
    pub min_interval: Option<Duration>,
    #[serde(default)]
    pub on: Option<Vec<StorageOn>>,
    /// Where the cloud has no rate syntax, `every` is rendered as a cron
    /// expression of this granularity (`1m` for unix cron, `1s` for NCRONTAB).
    #[serde(default)]
    pub every_as_cron: Option<Duration>,
}

const SOURCES: [(ProviderKind, &str); 4] = [
    (
        ProviderKind::Local,
        include_str!("../../providers/local.yaml"),
    ),
    (ProviderKind::Aws, include_str!("../../providers/aws.yaml")),
    (ProviderKind::Gcp, include_str!("../../providers/gcp.yaml")),
    (
        ProviderKind::Azure,
        include_str!("../../providers/azure.yaml"),
    ),
];

/// Decode one spec file's text; errors are `file:line:column: message`.
/// Whether `every` maps exactly onto a cron expression of `granularity`: a
/// whole number of units that divides the next larger unit evenly, or a day.
pub fn every_fits_cron(every: Duration, granularity: Duration) -> bool {
    let ms = every.as_millis();
    let g = granularity.as_millis().max(1);
    if !ms.is_multiple_of(g) {
        return false;
    }
    let (second, minute, hour, day) = (1_000, 60_000, 3_600_000, 86_400_000);
    let fits =
        |unit: u128, next: u128| ms.is_multiple_of(unit) && ms <= next && next.is_multiple_of(ms);
    (g <= second && ms < minute && fits(second, minute))
        || (ms < hour && fits(minute, hour))
        || (ms < day && fits(hour, day))
        || ms == day
}

pub fn parse(name: &str, text: &str) -> Result<ProviderSpec, Vec<String>> {
    let root = yaml::parse(text)
        .map_err(|e| {
            vec![format!(
                "{name}:{}:{}: {}",
                e.span.start.line,
                e.span.start.col + 1,
                e.message
            )]
        })?
        .ok_or_else(|| vec![format!("{name}: empty")])?;
    de::from_node::<ProviderSpec>(&root)
        .map(|(spec, _)| spec)
        .map_err(|errs| {
            errs.into_iter()
                .map(|e| match e.span {
                    Some(s) => {
                        format!("{name}:{}:{}: {}", s.start.line, s.start.col + 1, e.message)
                    }
                    None => format!("{name}: {}", e.message),
                })
                .collect()
        })
}

/// The built-in spec of `provider`.
pub fn get(provider: ProviderKind) -> &'static ProviderSpec {
    static SPECS: OnceLock<Vec<ProviderSpec>> = OnceLock::new();
    let specs = SPECS.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(kind, text)| {
                let name = format!("providers/{kind}.yaml");
                // The files are part of the binary; the test suite proves they decode.
                parse(&name, text)
                    .unwrap_or_else(|errs| panic!("built-in {name} is invalid: {errs:?}"))
            })
            .collect()
    });
    specs
        .iter()
        .find(|s| s.provider == provider)
        .expect("a spec for every provider")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_as_cron() {
        let d = |s: &str| s.parse::<Duration>().unwrap();
        for ok in ["1m", "5m", "15m", "30m", "1h", "2h", "6h", "12h", "24h"] {
            assert!(every_fits_cron(d(ok), d("1m")), "{ok}");
        }
        for bad in ["7m", "90m", "5h", "2h30m", "30s", "48h"] {
            assert!(!every_fits_cron(d(bad), d("1m")), "{bad}");
        }
        assert!(every_fits_cron(d("30s"), d("1s")));
        assert!(!every_fits_cron(d("7s"), d("1s")));
    }

    #[test]
    fn every_builtin_spec_decodes_and_is_consistent() {
        for (kind, text) in SOURCES {
            let spec = parse(&format!("providers/{kind}.yaml"), text).unwrap();
            assert_eq!(spec.provider, kind);
            assert!(spec.memory.min <= spec.memory.max, "{kind}: memory range");
            assert!(spec.memory.step >= 1, "{kind}: memory step");
            regex::Regex::new(&spec.names.pattern).unwrap();
            regex::Regex::new(&spec.env.key_pattern).unwrap();
            assert!(!spec.runtimes.is_empty(), "{kind}: runtimes");
            for key in spec.target.required.iter().chain(&spec.target.optional) {
                assert!(
                    crate::manifest::Target::default()
                        .settings()
                        .iter()
                        .any(|(k, _)| k == key),
                    "{kind}: unknown target key {key}"
                );
            }
        }
    }
}
