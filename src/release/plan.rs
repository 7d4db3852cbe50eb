//! `plan`: what a deploy would do, as a pure function.
//!
//! Inputs: the desired units (from the resolved service and its packaged
//! artifacts), the recorded releases, and the live view read back from the
//! provider. No network, no filesystem: the whole decision is testable.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::provider::Route;
use crate::state::{ConfigSummary, ReleaseRecord};

/// One function as the next release wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub unit: String,
    pub artifact: String,
    pub config: ConfigSummary,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Action {
    Create,
    Update { changes: Vec<String> },
    Unchanged,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionPlan {
    pub function: String,
    #[serde(flatten)]
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub functions: Vec<FunctionPlan>,
    /// The release serving now (the base of the comparison).
    pub live: Option<String>,
    /// The provider serves something the state does not record as live.
    pub drift: Option<String>,
    /// Whether a new release is needed.
    pub changes: bool,
}

impl Plan {
    pub fn count(&self, pred: impl Fn(&Action) -> bool) -> usize {
        self.functions.iter().filter(|f| pred(&f.action)).count()
    }
}

/// What a deploy of `desired` changes, given the release serving now.
pub fn plan(
    desired: &BTreeMap<String, Desired>,
    releases: &[ReleaseRecord],
    recorded_live: Option<&Route>,
    live: Option<&Route>,
) -> Plan {
    let base = live.and_then(|r| releases.iter().find(|rel| rel.id == r.primary));
    let drift = match (recorded_live, live) {
        (Some(a), Some(b)) if a != b => Some(format!(
            "the provider serves {}, the state recorded {}",
            describe(b),
            describe(a)
        )),
        (None, Some(b)) => Some(format!(
            "the provider serves {} that nubo did not record",
            describe(b)
        )),
        (Some(a), None) => Some(format!(
            "the state recorded {} but the provider serves nothing",
            describe(a)
        )),
        _ => None,
    };
    let mut functions = Vec::new();
    for (name, want) in desired {
        let action = match base.and_then(|b| b.functions.get(name)) {
            None => Action::Create,
            Some(have) if have.unit == want.unit => Action::Unchanged,
            Some(have) => Action::Update {
                changes: changes(&have.config, &want.config, have.artifact != want.artifact),
            },
        };
        functions.push(FunctionPlan {
            function: name.clone(),
            action,
        });
    }
    if let Some(b) = base {
        for name in b.functions.keys().filter(|n| !desired.contains_key(*n)) {
            functions.push(FunctionPlan {
                function: name.clone(),
                action: Action::Remove,
            });
        }
    }
    let changes = base.is_none()
        || live.is_some_and(|l| l.canary.is_some())
        || functions.iter().any(|f| f.action != Action::Unchanged);
    Plan {
        functions,
        live: base.map(|b| b.id.clone()),
        drift,
        changes,
    }
}

fn describe(r: &Route) -> String {
    match &r.canary {
        Some((c, w)) => format!("`{}` with `{c}` at {w}%", r.primary),
        None => format!("`{}`", r.primary),
    }
}

/// What differs, in words: never an environment value.
fn changes(have: &ConfigSummary, want: &ConfigSummary, code: bool) -> Vec<String> {
    let mut out = Vec::new();
    if code {
        out.push("code".to_owned());
    }
    if have.runtime != want.runtime {
        out.push(format!("runtime {} → {}", have.runtime, want.runtime));
    }
    if have.handler != want.handler {
        out.push(format!("handler {} → {}", have.handler, want.handler));
    }
    if have.memory != want.memory {
        out.push(format!("memory {} → {} MiB", have.memory, want.memory));
    }
    if have.timeout_ms != want.timeout_ms {
        out.push(format!(
            "timeout {}ms → {}ms",
            have.timeout_ms, want.timeout_ms
        ));
    }
    for key in want.env.keys().filter(|k| !have.env.contains_key(*k)) {
        out.push(format!("env +{key}"));
    }
    for key in have.env.keys().filter(|k| !want.env.contains_key(*k)) {
        out.push(format!("env -{key}"));
    }
    for (key, v) in &want.env {
        if have.env.get(key).is_some_and(|h| h != v) {
            out.push(format!("env ~{key}"));
        }
    }
    if have.calls != want.calls {
        out.push("calls".to_owned());
    }
    if have.events != want.events {
        out.push("events".to_owned());
    }
    if out.is_empty() {
        out.push("configuration".to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{FunctionRecord, Origin, ReleaseStatus};

    fn cfg(memory: u32, env: &[(&str, &str)]) -> ConfigSummary {
        ConfigSummary {
            runtime: "nodejs22".into(),
            handler: "src/a.handler".into(),
            memory,
            timeout_ms: 10_000,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            calls: vec![],
            events: vec![],
        }
    }

    fn release(id: &str, fs: &[(&str, &str, &str, ConfigSummary)]) -> ReleaseRecord {
        ReleaseRecord {
            id: id.into(),
            seq: id[1..].parse().unwrap(),
            created: String::new(),
            manifest_hash: String::new(),
            origin: Origin::default(),
            functions: fs
                .iter()
                .map(|(n, unit, art, c)| {
                    (
                        n.to_string(),
                        FunctionRecord {
                            version: "1".into(),
                            unit: unit.to_string(),
                            artifact: art.to_string(),
                            config: c.clone(),
                        },
                    )
                })
                .collect(),
            changed: vec![],
            status: ReleaseStatus::Ready,
        }
    }

    fn want(unit: &str, art: &str, c: ConfigSummary) -> Desired {
        Desired {
            unit: unit.into(),
            artifact: art.into(),
            config: c,
        }
    }

    #[test]
    fn first_deploy_creates_everything() {
        let desired = BTreeMap::from([("a".to_owned(), want("u1", "z1", cfg(128, &[])))]);
        let p = plan(&desired, &[], None, None);
        assert!(p.changes);
        assert_eq!(p.functions[0].action, Action::Create);
        assert_eq!(p.live, None);
    }

    #[test]
    fn diff_against_the_live_release_without_values() {
        let live = release(
            "r1",
            &[
                ("a", "u1", "z1", cfg(128, &[("KEY", "h1"), ("OLD", "h2")])),
                ("b", "u2", "z2", cfg(128, &[])),
                ("gone", "u3", "z3", cfg(128, &[])),
            ],
        );
        let desired = BTreeMap::from([
            (
                "a".to_owned(),
                want("u9", "z9", cfg(512, &[("KEY", "h5"), ("NEW", "h6")])),
            ),
            ("b".to_owned(), want("u2", "z2", cfg(128, &[]))),
        ]);
        let route = Route::to("r1");
        let p = plan(
            &desired,
            std::slice::from_ref(&live),
            Some(&route),
            Some(&route),
        );
        assert_eq!(p.live.as_deref(), Some("r1"));
        assert_eq!(
            p.functions[0].action,
            Action::Update {
                changes: vec![
                    "code".into(),
                    "memory 128 → 512 MiB".into(),
                    "env +NEW".into(),
                    "env -OLD".into(),
                    "env ~KEY".into()
                ]
            }
        );
        assert_eq!(p.functions[1].action, Action::Unchanged);
        assert_eq!(p.functions[2].action, Action::Remove);
        assert!(p.changes);
        assert!(p.drift.is_none());
    }

    #[test]
    fn nothing_to_do_and_drift() {
        let live = release("r1", &[("a", "u1", "z1", cfg(128, &[]))]);
        let desired = BTreeMap::from([("a".to_owned(), want("u1", "z1", cfg(128, &[])))]);
        let p = plan(
            &desired,
            std::slice::from_ref(&live),
            Some(&Route::to("r0")),
            Some(&Route::to("r1")),
        );
        assert!(!p.changes);
        assert!(
            p.drift
                .unwrap()
                .contains("the provider serves `r1`, the state recorded `r0`")
        );
    }
}
