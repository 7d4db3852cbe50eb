//! `validate`: is this service deployable, and where?
//!
//! Runs the provider-independent checks once, then resolves the service for
//! each requested target and checks it against that provider's spec. The
//! result keeps every diagnostic and, per target, which functions can run
//! there as written: the portability table.

pub mod service;
pub mod target;

use std::collections::HashSet;

use indexmap::IndexMap;
use serde::Serialize;

use crate::diag::Diagnostic;
use crate::manifest::{Loaded, ProviderKind};
use crate::provider::spec;
use crate::resolve::{self, Environment, Resolved};

/// What one function looks like on one target.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cell {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

impl Cell {
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// One target's column of the portability table.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    pub target: String,
    pub provider: ProviderKind,
    /// Problems with the target itself, which stop every function.
    pub target_errors: Vec<String>,
    pub functions: IndexMap<String, Cell>,
}

impl TargetReport {
    pub fn ok(&self) -> bool {
        self.target_errors.is_empty() && self.functions.values().all(Cell::ok)
    }
}

/// Everything `validate` found.
pub struct Outcome {
    pub diagnostics: Vec<Diagnostic>,
    pub targets: Vec<TargetReport>,
    /// The service resolved for each target that resolved cleanly.
    pub resolved: Vec<Resolved>,
}

impl Outcome {
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }

    /// Add diagnostics found before validation (unknown keys), in file order.
    pub fn merge(&mut self, earlier: Vec<Diagnostic>) {
        let mut all = std::mem::take(&mut self.diagnostics);
        all.extend(earlier);
        self.diagnostics = dedupe(all);
    }
}

/// Validate `loaded` for each of `targets` (names declared in the manifest).
pub fn validate(loaded: &Loaded, targets: &[String], env: &dyn Environment) -> Outcome {
    let mut diagnostics = service::check(loaded);
    let mut reports = Vec::new();
    let mut resolved_all = Vec::new();
    for name in targets {
        let Some(t) = loaded.manifest.targets.get(name) else {
            continue;
        };
        let mut report = TargetReport {
            target: name.clone(),
            provider: t.provider,
            target_errors: Vec::new(),
            functions: loaded
                .manifest
                .functions
                .keys()
                .map(|f| (f.clone(), Cell::default()))
                .collect(),
        };
        match resolve::resolve(loaded, name, env) {
            Err(errs) => {
                report
                    .target_errors
                    .push(format!("{} error(s) resolving the target", errs.len()));
                diagnostics.extend(errs);
            }
            Ok(resolved) => {
                let spec = spec::get(t.provider);
                for finding in target::check(loaded, &resolved, spec) {
                    let error = finding.diagnostic.is_error();
                    match (&finding.function, error) {
                        (None, true) => report.target_errors.push(finding.short),
                        (None, false) => {}
                        (Some(f), _) => {
                            if let Some(cell) = report.functions.get_mut(f) {
                                if error {
                                    cell.errors.push(finding.short);
                                } else {
                                    cell.warnings.push(finding.short);
                                }
                            }
                        }
                    }
                    diagnostics.push(finding.diagnostic);
                }
                resolved_all.push(resolved);
            }
        }
        reports.push(report);
    }
    Outcome {
        diagnostics: dedupe(diagnostics),
        targets: reports,
        resolved: resolved_all,
    }
}

/// Drop repeats (the same problem found for several targets), keep order.
fn dedupe(diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut seen = HashSet::new();
    let mut out: Vec<Diagnostic> = diagnostics
        .into_iter()
        .filter(|d| seen.insert((d.message.clone(), d.location())))
        .collect();
    // Errors first, then in file order.
    out.sort_by_key(|d| {
        (
            !d.is_error(),
            d.at.as_ref().map(|(_, s)| (s.start.line, s.start.col)),
        )
    });
    out
}
