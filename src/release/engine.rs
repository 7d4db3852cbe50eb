//! Deploy, switch, rollback and recovery over a [`Provider`] and a [`State`].

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::plan::{self, Desired, Plan};
use crate::manifest::{Check, Event as ManifestEvent, Strategy};
use crate::package::{self, zip::hex};
use crate::provider::{ArtifactRef, Provider, ProviderError, PublishSpec, Route, StagedRelease};
use crate::resolve::{EnvValue, Function, Resolved};
use crate::state::{
    ConfigSummary, FunctionRecord, Journal, LockGuard, Origin, PointerRecord, ReleaseRecord,
    ReleaseStatus, State, StateError, Step, now,
};

/// Most provider calls of one kind in flight at once (clouds throttle).
const PARALLEL: usize = 16;

/// What the engine reports while it works.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    /// An interrupted operation was finished or undone.
    Recover {
        message: String,
    },
    Plan {
        plan: Plan,
    },
    /// A function moved through a phase: `uploaded`, `published`, `reused`, `staged`.
    Function {
        function: String,
        phase: String,
    },
    Check {
        index: usize,
        function: String,
        ok: bool,
        status: u16,
        ms: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Switch {
        #[serde(skip_serializing_if = "Option::is_none")]
        from: Option<Route>,
        to: Route,
    },
    Rollback {
        to: Route,
        reason: String,
    },
    Prune {
        release: String,
    },
}

pub trait Observer: Sync {
    fn event(&self, event: &Event);
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{context}")]
    Provider {
        context: String,
        #[source]
        source: ProviderError,
    },
    #[error("release `{release}` failed its checks: {}", .failures.join("; "))]
    ChecksFailed {
        release: String,
        failures: Vec<String>,
        /// Where traffic went back to, when a canary step failed.
        rolled_back_to: Option<String>,
    },
    #[error("no release `{id}`")]
    UnknownRelease { id: String, known: Vec<String> },
    #[error("release `{0}` failed its checks; it cannot take traffic")]
    NotReady(String),
    #[error("release `{0}` was never checked (its deploy was interrupted); deploy again")]
    Unchecked(String),
    #[error("there is no earlier release to roll back to")]
    NoPrevious,
    #[error("`{0}` is already serving")]
    AlreadyLive(String),
}

fn provider_err(context: impl Into<String>) -> impl FnOnce(ProviderError) -> EngineError {
    let context = context.into();
    move |source| EngineError::Provider { context, source }
}

pub struct Engine<'a> {
    pub provider: &'a dyn Provider,
    pub state: &'a State,
    pub observer: &'a dyn Observer,
}

pub struct DeployInput<'a> {
    pub resolved: &'a Resolved,
    pub package: &'a package::Report,
    pub manifest_hash: String,
    pub origin: Origin,
    /// Stage and check, but move no traffic.
    pub no_switch: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeployOutcome {
    /// The new release, or `None` when nothing changed.
    pub release: Option<String>,
    pub previous: Option<String>,
    pub switched: bool,
    pub published: Vec<String>,
    pub uploaded: usize,
    pub pruned: Vec<String>,
    pub timings_ms: BTreeMap<String, u64>,
}

/// The configuration summary `plan` compares, from a resolved function.
pub fn summarize(f: &Function) -> ConfigSummary {
    let digest = |s: &str| hex(&Sha256::digest(s.as_bytes()))[..16].to_owned();
    ConfigSummary {
        runtime: f.runtime.to_string(),
        handler: format!("{}.{}", f.handler_file, f.handler_export),
        memory: f.memory,
        timeout_ms: f.timeout.as_millis() as u64,
        env: f
            .env
            .iter()
            .map(|(k, v)| {
                let repr = match v {
                    EnvValue::Text(t) => format!("text:{t}"),
                    EnvValue::Secret(name) => format!("secret:{name}"),
                    EnvValue::PerRelease(parts) => format!("release:{parts:?}"),
                };
                (k.clone(), digest(&repr))
            })
            .collect(),
        calls: f.calls.clone(),
        events: f
            .events
            .iter()
            .map(|e| match e {
                ManifestEvent::Http(h) => format!("http {} {}", h.method.as_str(), h.path),
                ManifestEvent::Queue(q) => format!("queue {} batch {}", q.name, q.batch),
                ManifestEvent::Schedule(s) => match (&s.cron, &s.every) {
                    (Some(c), _) => format!("schedule cron {c}"),
                    (_, Some(e)) => format!("schedule every {e}"),
                    _ => "schedule".to_owned(),
                },
                ManifestEvent::Storage(s) => format!(
                    "storage {} {} {} {}",
                    s.bucket,
                    s.on.as_str(),
                    s.prefix.as_deref().unwrap_or(""),
                    s.suffix.as_deref().unwrap_or("")
                ),
            })
            .collect(),
    }
}

/// The desired units of a packaged service. Where the provider binds a
/// caller's version to its callees' (`calls_bind_versions`), a function's
/// unit also covers the units of everything it reaches through `calls:`.
pub fn desired(resolved: &Resolved, report: &package::Report) -> BTreeMap<String, Desired> {
    let bind = crate::provider::spec::get(resolved.provider).calls_bind_versions;
    let mut units: BTreeMap<String, String> = BTreeMap::new();
    for f in resolved.functions.values() {
        let unit = if bind {
            bound_unit(resolved, report, &f.name, &mut units, &mut Vec::new())
        } else {
            report.functions[&f.name].unit.clone()
        };
        units.insert(f.name.clone(), unit);
    }
    resolved
        .functions
        .values()
        .map(|f| {
            let a = &report.functions[&f.name];
            (
                f.name.clone(),
                Desired {
                    unit: units[&f.name].clone(),
                    artifact: a.sha256.clone(),
                    config: summarize(f),
                },
            )
        })
        .collect()
}

/// A function's unit folded with its callees' bound units (validation
/// rejects cycles in `calls:`; one met anyway is cut, not followed).
fn bound_unit(
    resolved: &Resolved,
    report: &package::Report,
    name: &str,
    done: &mut BTreeMap<String, String>,
    path: &mut Vec<String>,
) -> String {
    if let Some(u) = done.get(name) {
        return u.clone();
    }
    let own = report.functions[name].unit.clone();
    let Some(f) = resolved.functions.get(name) else {
        return own;
    };
    if f.calls.is_empty() || path.iter().any(|p| p == name) {
        return own;
    }
    path.push(name.to_owned());
    let mut callees: Vec<&String> = f.calls.iter().collect();
    callees.sort();
    callees.dedup();
    let mut h = Sha256::new();
    h.update(own.as_bytes());
    for c in callees {
        if !resolved.functions.contains_key(c.as_str()) {
            continue;
        }
        let u = bound_unit(resolved, report, c, done, path);
        h.update(format!("\0{c}={u}").as_bytes());
    }
    path.pop();
    let unit = hex(&h.finalize());
    done.insert(name.to_owned(), unit.clone());
    unit
}

/// Run `work` over `items` with at most [`PARALLEL`] threads; first error wins.
fn parallel<T: Sync, R: Send>(
    items: &[T],
    work: impl Fn(&T) -> Result<R, EngineError> + Sync,
) -> Result<Vec<R>, EngineError> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<R, EngineError>>>> =
        Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..PARALLEL.min(items.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { return };
                    let r = work(item);
                    let failed = r.is_err();
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                    if failed {
                        // Stop handing out work; others finish what they hold.
                        next.store(items.len(), Ordering::SeqCst);
                        return;
                    }
                }
            });
        }
    });
    let mut out = Vec::with_capacity(items.len());
    for r in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        match r {
            Some(r) => out.push(r?),
            None => continue,
        }
    }
    Ok(out)
}

impl Engine<'_> {
    fn journal(
        &self,
        op: &str,
        release: Option<&str>,
        from: Option<&Route>,
        to: Option<&Route>,
        step: Step,
    ) -> Result<(), EngineError> {
        self.state.save_journal(&Journal {
            op: op.to_owned(),
            release: release.map(str::to_owned),
            from: from.cloned(),
            to: to.cloned(),
            step,
            started: now(),
            pid: std::process::id(),
        })?;
        Ok(())
    }

    /// What is serving, read back from the provider.
    pub fn live(&self) -> Result<Option<Route>, EngineError> {
        self.provider
            .live()
            .map_err(provider_err("could not read what is serving"))
    }

    /// Finish or undo an operation a previous process did not complete.
    /// Returns what was done, for the command to say.
    pub fn recover(&self) -> Result<Option<String>, EngineError> {
        let Some(j) = self.state.journal()? else {
            return Ok(None);
        };
        let live = self.live()?;
        let message = match j.step {
            Step::Staging | Step::Staged => {
                let id = j.release.as_deref().unwrap_or("?");
                match self.state.release(id)?.map(|r| r.status) {
                    Some(ReleaseStatus::Ready) => format!(
                        "an interrupted `{}` left release `{id}` checked but never switched; `nubo switch {id}` serves it",
                        j.op
                    ),
                    _ => format!(
                        "an interrupted `{}` left release `{id}` unfinished; it never took traffic",
                        j.op
                    ),
                }
            }
            Step::Switching => {
                let to = j.to.clone();
                if let (Some(live), true) =
                    (&live, live.as_ref().is_some_and(|l| l.canary.is_some()))
                {
                    // An interrupted canary goes back to the release it started from.
                    let back = Route::to(&live.primary);
                    self.journal(
                        &j.op,
                        j.release.as_deref(),
                        Some(live),
                        Some(&back),
                        Step::Switching,
                    )?;
                    self.provider
                        .route(&back)
                        .map_err(provider_err("could not roll back the interrupted canary"))?;
                    self.state.save_pointer(&PointerRecord {
                        route: back.clone(),
                        updated: now(),
                    })?;
                    self.observer.event(&Event::Rollback {
                        to: back,
                        reason: "interrupted canary".to_owned(),
                    });
                    format!(
                        "rolled back an interrupted canary; `{}` serves all traffic again",
                        live.primary
                    )
                } else if live.is_some() && live == to {
                    self.state.save_pointer(&PointerRecord {
                        route: live.clone().expect("checked"),
                        updated: now(),
                    })?;
                    format!(
                        "an interrupted `{}` had switched to `{}`; recorded it as live",
                        j.op,
                        live.as_ref().map_or("", |l| &l.primary)
                    )
                } else {
                    if let Some(l) = &live {
                        self.state.save_pointer(&PointerRecord {
                            route: l.clone(),
                            updated: now(),
                        })?;
                    }
                    format!(
                        "an interrupted `{}` did not switch; {} still serving",
                        j.op,
                        live.as_ref()
                            .map_or("nothing is".to_owned(), |l| format!("`{}` is", l.primary))
                    )
                }
            }
            Step::Pruning => format!("finished an interrupted `{}` (pruning is redone)", j.op),
        };
        self.state.clear_journal()?;
        self.observer.event(&Event::Recover {
            message: message.clone(),
        });
        Ok(Some(message))
    }

    /// What a deploy of `desired` would change.
    pub fn plan(&self, desired: &BTreeMap<String, Desired>) -> Result<Plan, EngineError> {
        let releases = self.state.releases()?;
        let recorded = self.state.pointer()?.map(|p| p.route);
        let live = self.live()?;
        Ok(plan::plan(
            desired,
            &releases,
            recorded.as_ref(),
            live.as_ref(),
        ))
    }

    /// Lock held by the caller: plan, upload, publish, stage, check, switch, record, prune.
    pub fn deploy(
        &self,
        input: &DeployInput<'_>,
        lock: &mut LockGuard<'_>,
    ) -> Result<DeployOutcome, EngineError> {
        let mut timings = BTreeMap::new();
        let t = Instant::now();
        let desired = desired(input.resolved, input.package);
        let plan = self.plan(&desired)?;
        self.observer.event(&Event::Plan { plan: plan.clone() });
        let releases = self.state.releases()?;
        let live = self.live()?;
        let base = live
            .as_ref()
            .and_then(|l| releases.iter().find(|r| r.id == l.primary));
        timings.insert("plan".to_owned(), t.elapsed().as_millis() as u64);
        if !plan.changes {
            return Ok(DeployOutcome {
                release: None,
                previous: base.map(|b| b.id.clone()),
                switched: false,
                published: Vec::new(),
                uploaded: 0,
                pruned: Vec::new(),
                timings_ms: timings,
            });
        }

        let t = Instant::now();
        self.provider
            .ensure_base(input.resolved)
            .map_err(provider_err("could not prepare the target"))?;
        let seq = self.state.next_seq()?;
        let id = format!("r{seq}");
        self.journal("deploy", Some(&id), live.as_ref(), None, Step::Staging)?;

        // Upload the artifacts of functions that need a new version.
        let changed: Vec<&Function> = input
            .resolved
            .functions
            .values()
            .filter(|f| {
                base.and_then(|b| b.functions.get(&f.name))
                    .is_none_or(|r| r.unit != desired[&f.name].unit)
            })
            .collect();
        let mut artifacts: Vec<ArtifactRef> = Vec::new();
        for f in &changed {
            let a = &input.package.functions[&f.name];
            if !artifacts.iter().any(|x| x.sha256 == a.sha256) {
                artifacts.push(ArtifactRef {
                    sha256: a.sha256.clone(),
                    path: a.path.clone(),
                    size: a.zipped,
                });
            }
        }
        let uploaded = parallel(&artifacts, |a| {
            self.provider.upload(a).map_err(provider_err(format!(
                "could not upload artifact {}",
                &a.sha256[..12]
            )))
        })?
        .into_iter()
        .filter(|sent| *sent)
        .count();
        timings.insert("upload".to_owned(), t.elapsed().as_millis() as u64);

        // Publish new versions; unchanged functions keep theirs.
        let t = Instant::now();
        let published = parallel(&changed, |f| {
            self.observer.event(&Event::Function {
                function: f.name.clone(),
                phase: "publishing".to_owned(),
            });
            let a = &input.package.functions[&f.name];
            let artifact = ArtifactRef {
                sha256: a.sha256.clone(),
                path: a.path.clone(),
                size: a.zipped,
            };
            let version = self
                .provider
                .publish(&PublishSpec {
                    previous: base
                        .and_then(|b| b.functions.get(&f.name))
                        .map(|r| r.version.as_str()),
                    function: f,
                    artifact: &artifact,
                    unit: &desired[&f.name].unit,
                    callees: f
                        .calls
                        .iter()
                        .filter_map(|c| Some((c.as_str(), desired.get(c)?.unit.as_str())))
                        .collect(),
                    release: &id,
                })
                .map_err(provider_err(format!("could not publish `{}`", f.name)))?;
            self.observer.event(&Event::Function {
                function: f.name.clone(),
                phase: "published".to_owned(),
            });
            Ok((f.name.clone(), version))
        })?;
        let mut functions = BTreeMap::new();
        for f in input.resolved.functions.values() {
            let version = match published.iter().find(|(n, _)| *n == f.name) {
                Some((_, v)) => v.clone(),
                None => {
                    self.observer.event(&Event::Function {
                        function: f.name.clone(),
                        phase: "reused".to_owned(),
                    });
                    base.and_then(|b| b.functions.get(&f.name))
                        .map(|r| r.version.clone())
                        .expect("unchanged functions exist in the base release")
                }
            };
            let d = &desired[&f.name];
            functions.insert(
                f.name.clone(),
                FunctionRecord {
                    version,
                    unit: d.unit.clone(),
                    artifact: d.artifact.clone(),
                    config: d.config.clone(),
                },
            );
        }
        let record = ReleaseRecord {
            id: id.clone(),
            seq,
            created: now(),
            manifest_hash: input.manifest_hash.clone(),
            origin: input.origin.clone(),
            functions,
            changed: changed.iter().map(|f| f.name.clone()).collect(),
            status: ReleaseStatus::Unchecked,
        };
        let mut staged = record.staged();
        staged.artifacts = input
            .package
            .functions
            .iter()
            .map(|(name, a)| (name.clone(), a.path.clone()))
            .collect();
        self.provider
            .stage(&staged)
            .map_err(provider_err(format!("could not stage release `{id}`")))?;
        self.state.save_release(&record)?;
        self.journal("deploy", Some(&id), live.as_ref(), None, Step::Staged)?;
        timings.insert("publish".to_owned(), t.elapsed().as_millis() as u64);

        // Checked before live.
        let t = Instant::now();
        let checks = &input.resolved.release.checks;
        let failures = self.run_checks(&id, checks);
        timings.insert("checks".to_owned(), t.elapsed().as_millis() as u64);
        if !failures.is_empty() {
            return Err(self.failed(&record, failures, None)?);
        }
        let mut record = record;
        record.status = ReleaseStatus::Ready;
        self.state.save_release(&record)?;
        if input.no_switch {
            self.state.clear_journal()?;
            return Ok(DeployOutcome {
                release: Some(id),
                previous: base.map(|b| b.id.clone()),
                switched: false,
                published: published.into_iter().map(|(n, _)| n).collect(),
                uploaded,
                pruned: Vec::new(),
                timings_ms: timings,
            });
        }

        let t = Instant::now();
        let previous = live.as_ref().map(|l| l.primary.clone());
        match (
            &input.resolved.release.strategy,
            &input.resolved.release.canary,
            &live,
        ) {
            (Strategy::Canary, Some(canary), Some(from)) if from.canary.is_none() => {
                for step in &canary.steps {
                    let split = Route {
                        primary: from.primary.clone(),
                        canary: Some((id.clone(), *step)),
                    };
                    self.move_traffic("deploy", Some(&id), live.as_ref(), &split)?;
                    wait(canary.interval.0, lock);
                    let failures = self.run_checks(&id, checks);
                    if !failures.is_empty() {
                        let back = Route::to(&from.primary);
                        self.move_traffic("deploy", Some(&id), Some(&split), &back)?;
                        self.observer.event(&Event::Rollback {
                            to: back,
                            reason: format!("canary step {step}% failed"),
                        });
                        return Err(self.failed(&record, failures, Some(&from.primary))?);
                    }
                }
                self.move_traffic("deploy", Some(&id), live.as_ref(), &Route::to(&id))?;
            }
            _ => self.move_traffic("deploy", Some(&id), live.as_ref(), &Route::to(&id))?,
        }
        timings.insert("switch".to_owned(), t.elapsed().as_millis() as u64);

        let t = Instant::now();
        self.journal("deploy", Some(&id), None, None, Step::Pruning)?;
        let pruned = self.prune(
            input.resolved.release.keep as usize,
            &id,
            previous.as_deref(),
        )?;
        self.state.clear_journal()?;
        timings.insert("prune".to_owned(), t.elapsed().as_millis() as u64);
        Ok(DeployOutcome {
            release: Some(id),
            previous,
            switched: true,
            published: published.into_iter().map(|(n, _)| n).collect(),
            uploaded,
            pruned,
            timings_ms: timings,
        })
    }

    /// Record that `record` failed its checks and end the operation; the
    /// error to return (or a state error that prevented recording it).
    fn failed(
        &self,
        record: &ReleaseRecord,
        failures: Vec<String>,
        rolled_back_to: Option<&str>,
    ) -> Result<EngineError, EngineError> {
        let mut failed = record.clone();
        failed.status = ReleaseStatus::Failed;
        self.state.save_release(&failed)?;
        self.state.clear_journal()?;
        Ok(EngineError::ChecksFailed {
            release: record.id.clone(),
            failures,
            rolled_back_to: rolled_back_to.map(str::to_owned),
        })
    }

    /// Journal, route, record: the one way traffic moves.
    fn move_traffic(
        &self,
        op: &str,
        release: Option<&str>,
        from: Option<&Route>,
        to: &Route,
    ) -> Result<(), EngineError> {
        self.journal(op, release, from, Some(to), Step::Switching)?;
        self.provider.route(to).map_err(provider_err(format!(
            "could not move traffic to `{}`",
            to.primary
        )))?;
        self.state.save_pointer(&PointerRecord {
            route: to.clone(),
            updated: now(),
        })?;
        self.observer.event(&Event::Switch {
            from: from.cloned(),
            to: to.clone(),
        });
        Ok(())
    }

    /// Run `checks` against release `id`; the failures, in words.
    fn run_checks(&self, id: &str, checks: &[Check]) -> Vec<String> {
        let mut failures = Vec::new();
        for (i, check) in checks.iter().enumerate() {
            let t = Instant::now();
            let event = check.with.clone().unwrap_or(serde_json::Value::Null);
            let (ok, status, reason) = match self.provider.invoke(id, &check.invoke, &event) {
                Err(e) => (false, 0, Some(format!("invocation failed: {e}"))),
                Ok(r) => {
                    let want = check.expect.as_ref().and_then(|e| e.status);
                    let status_ok = match want {
                        Some(w) => r.status == w,
                        None => (200..300).contains(&r.status),
                    };
                    let needle = check
                        .expect
                        .as_ref()
                        .and_then(|e| e.body_contains.as_deref());
                    if !status_ok {
                        let expected =
                            want.map_or("a 2xx status".to_owned(), |w| format!("status {w}"));
                        (
                            false,
                            r.status,
                            Some(format!("expected {expected}, got {}", r.status)),
                        )
                    } else if let Some(n) = needle.filter(|n| !r.body.contains(*n)) {
                        (
                            false,
                            r.status,
                            Some(format!("the body does not contain `{n}`")),
                        )
                    } else {
                        (true, r.status, None)
                    }
                }
            };
            self.observer.event(&Event::Check {
                index: i + 1,
                function: check.invoke.clone(),
                ok,
                status,
                ms: t.elapsed().as_millis() as u64,
                reason: reason.clone(),
            });
            if let Some(r) = reason {
                failures.push(format!("check {} (`{}`): {r}", i + 1, check.invoke));
            }
        }
        failures
    }

    fn ready(&self, id: &str) -> Result<ReleaseRecord, EngineError> {
        match self.state.release(id)? {
            Some(r) if r.status == ReleaseStatus::Ready => Ok(r),
            Some(r) if r.status == ReleaseStatus::Unchecked => Err(EngineError::Unchecked(r.id)),
            Some(_) => Err(EngineError::NotReady(id.to_owned())),
            None => Err(EngineError::UnknownRelease {
                id: id.to_owned(),
                known: self.state.releases()?.into_iter().map(|r| r.id).collect(),
            }),
        }
    }

    /// Move all traffic to a retained release: one pointer write.
    pub fn switch(&self, id: &str, op: &str) -> Result<(Option<Route>, Route), EngineError> {
        self.ready(id)?;
        let live = self.live()?;
        let to = Route::to(id);
        if live.as_ref() == Some(&to) {
            return Err(EngineError::AlreadyLive(id.to_owned()));
        }
        self.move_traffic(op, Some(id), live.as_ref(), &to)?;
        self.state.clear_journal()?;
        Ok((live, to))
    }

    /// The release to roll back to: `to`, or the newest ready release older than the live one.
    pub fn rollback_target(&self, to: Option<&str>) -> Result<String, EngineError> {
        if let Some(id) = to {
            return Ok(self.ready(id)?.id);
        }
        let live = self.live()?;
        let releases = self.state.releases()?;
        let live_seq = live
            .as_ref()
            .and_then(|l| releases.iter().find(|r| r.id == l.primary))
            .map(|r| r.seq);
        releases
            .iter()
            .rev()
            .filter(|r| r.status == ReleaseStatus::Ready)
            .find(|r| live_seq.is_some_and(|s| r.seq < s))
            .map(|r| r.id.clone())
            .ok_or(EngineError::NoPrevious)
    }

    /// Retire releases beyond `keep`, never the live one or the one before it.
    fn prune(
        &self,
        keep: usize,
        live: &str,
        previous: Option<&str>,
    ) -> Result<Vec<String>, EngineError> {
        let releases = self.state.releases()?;
        let live_seq = releases.iter().find(|r| r.id == live).map_or(0, |r| r.seq);
        let mut retained: Vec<&ReleaseRecord> = Vec::new();
        let mut retire: Vec<&ReleaseRecord> = Vec::new();
        let mut ready_kept = 0;
        for r in releases.iter().rev() {
            let pinned = r.id == live || Some(r.id.as_str()) == previous;
            let keep_it = match r.status {
                ReleaseStatus::Ready => {
                    let k = pinned || ready_kept < keep;
                    if k {
                        ready_kept += 1;
                    }
                    k
                }
                // Kept for inspection until a newer release is live.
                ReleaseStatus::Failed | ReleaseStatus::Unchecked => r.seq > live_seq,
            };
            if keep_it {
                retained.push(r);
            } else {
                retire.push(r);
            }
        }
        let keep_staged: Vec<StagedRelease> = retained.iter().map(|r| r.staged()).collect();
        let mut pruned = Vec::new();
        for r in retire {
            self.provider
                .retire(&r.staged(), &keep_staged)
                .map_err(provider_err(format!("could not retire release `{}`", r.id)))?;
            self.state.delete_release(&r.id)?;
            self.observer.event(&Event::Prune {
                release: r.id.clone(),
            });
            pruned.push(r.id.clone());
        }
        Ok(pruned)
    }

    /// Remove everything nubo created for the target, and its records.
    pub fn remove(&self) -> Result<Vec<String>, EngineError> {
        let releases = self.state.releases()?;
        self.provider
            .remove()
            .map_err(provider_err("could not remove the target"))?;
        self.state.purge()?;
        Ok(releases.into_iter().map(|r| r.id).collect())
    }
}

/// Sleep through a canary interval, keeping the lock fresh.
fn wait(interval: Duration, lock: &mut LockGuard<'_>) {
    let end = Instant::now() + interval;
    let mut refreshed = Instant::now();
    while Instant::now() < end {
        std::thread::sleep(
            Duration::from_millis(50).min(end.saturating_duration_since(Instant::now())),
        );
        if refreshed.elapsed() > Duration::from_secs(60) {
            let _ = lock.refresh("nubo deploy");
            refreshed = Instant::now();
        }
    }
}
