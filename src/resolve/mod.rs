//! Resolve a manifest for one target: defaults merged, variables expanded.
//!
//! The output is what every later phase works from: one effective
//! configuration per function. Secrets stay references ([`EnvValue::Secret`])
//! and `${release}` stays a placeholder until the release engine knows the id.
//! Environment access goes through [`Environment`] so tests never touch the
//! process environment.

pub mod vars;

use std::collections::HashMap;

use indexmap::IndexMap;

use crate::diag::Diagnostic;
use crate::manifest::yaml::{Pos, Span};
use crate::manifest::{
    Duration, Event, HandlerStyle, Loaded, ProviderKind, Release, Runtime, Target,
};
use vars::{Part, Var};

/// Memory a function gets when neither it nor `defaults` sets one, in MiB.
pub const DEFAULT_MEMORY: u32 = 256;
/// Timeout a function gets when neither it nor `defaults` sets one.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;

/// Where variables read the environment from.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Environment for ProcessEnv {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one sanctioned read of the process environment"
    )]
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Environment for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// A service resolved for one target.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub service: String,
    pub target: String,
    pub provider: ProviderKind,
    /// The target's settings with variables expanded.
    pub settings: Target,
    pub functions: IndexMap<String, Function>,
    pub release: Release,
}

/// One function's effective configuration.
#[derive(Debug, Clone)]
pub struct Function {
    pub name: String,
    /// The handler module path relative to the manifest, without extension.
    pub handler_file: String,
    /// The exported function's name.
    pub handler_export: String,
    pub runtime: Runtime,
    pub memory: u32,
    /// Whether the manifest sets `memory` (itself or in `defaults`).
    pub memory_set: bool,
    pub timeout: Duration,
    pub env: IndexMap<String, EnvValue>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub events: Vec<Event>,
    pub calls: Vec<String>,
    pub handler_style: HandlerStyle,
}

/// An environment value after resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Text(String),
    /// A reference to a secret in the provider's secret store; never a value.
    Secret(String),
    /// Text that contains `${release}`, filled in per release.
    PerRelease(Vec<Part>),
}

impl EnvValue {
    /// Size in bytes as it will be stored on the provider (a secret counts its reference).
    pub fn stored_len(&self) -> usize {
        match self {
            EnvValue::Text(t) => t.len(),
            EnvValue::Secret(name) => name.len() + 10,
            EnvValue::PerRelease(parts) => parts
                .iter()
                .map(|p| match p {
                    Part::Text(t) => t.len(),
                    Part::Var { .. } => 12,
                })
                .sum(),
        }
    }
}

struct Ctx<'a> {
    loaded: &'a Loaded,
    target: &'a str,
    env: &'a dyn Environment,
    errors: Vec<Diagnostic>,
}

impl Ctx<'_> {
    /// The span of characters `offset..offset+len` inside the string at `path`.
    fn inner_span(&self, path: &str, offset: usize, len: usize) -> Option<Span> {
        let span = self.loaded.spans.value(path)?;
        if span.start.line != span.end.line {
            return Some(span);
        }
        // Quoted scalars start one character before their text.
        let line = self.loaded.source.text.lines().nth(span.start.line - 1)?;
        let quoted = line
            .chars()
            .nth(span.start.col)
            .is_some_and(|c| c == '"' || c == '\'');
        let col = span.start.col + offset + usize::from(quoted);
        Some(Span {
            start: Pos {
                line: span.start.line,
                col,
            },
            end: Pos {
                line: span.start.line,
                col: col + len,
            },
        })
    }

    fn expand(&mut self, path: &str, text: &str, allow_secret: bool) -> Option<EnvValue> {
        let parts = match vars::parse(text) {
            Ok(p) => p,
            Err(e) => {
                let span = self.inner_span(path, e.offset, e.len);
                self.errors.push(
                    Diagnostic::error(e.message)
                        .at(&self.loaded.source, span)
                        .maybe_help(e.help),
                );
                return None;
            }
        };
        let mut out = Vec::new();
        let mut per_release = false;
        let only = parts.len() == 1;
        for part in parts {
            match part {
                Part::Text(t) => out.push(Part::Text(t)),
                Part::Var { var, offset, len } => match &var {
                    Var::Target => out.push(Part::Text(self.target.to_owned())),
                    Var::Service => out.push(Part::Text(self.loaded.manifest.service.clone())),
                    Var::Release => {
                        per_release = true;
                        out.push(Part::Var { var, offset, len });
                    }
                    Var::Env { name, default } => {
                        match self.env.var(name).or_else(|| default.clone()) {
                            Some(v) => out.push(Part::Text(v)),
                            None => {
                                let span = self.inner_span(path, offset, len);
                                self.errors.push(
                                Diagnostic::error(format!("environment variable `{name}` is not set"))
                                    .at(&self.loaded.source, span)
                                    .label("no value and no default")
                                    .help(format!("set `{name}` in the environment, or give a default: `${{env:{name}, value}}`")),
                            );
                                return None;
                            }
                        }
                    }
                    Var::Secret { name } => {
                        let span = self.inner_span(path, offset, len);
                        if !allow_secret {
                            self.errors.push(
                                Diagnostic::error(
                                    "a secret can only be the value of an environment variable",
                                )
                                .at(&self.loaded.source, span)
                                .help("move it to a function's `env:`"),
                            );
                            return None;
                        }
                        if !only {
                            self.errors.push(
                                Diagnostic::error(format!("`${{secret:{name}}}` must be the whole value"))
                                    .at(&self.loaded.source, span)
                                    .label("mixed with other text")
                                    .help("secrets are bound by reference in the provider's secret store; store the full value as the secret"),
                            );
                            return None;
                        }
                        return Some(EnvValue::Secret(name.clone()));
                    }
                },
            }
        }
        if per_release {
            return Some(EnvValue::PerRelease(out));
        }
        Some(EnvValue::Text(
            out.into_iter()
                .map(|p| match p {
                    Part::Text(t) => t,
                    Part::Var { var, .. } => var.to_string(),
                })
                .collect(),
        ))
    }

    fn expand_setting(&mut self, path: &str, value: &Option<String>) -> Option<String> {
        let text = value.as_ref()?;
        match self.expand(path, text, false)? {
            EnvValue::Text(t) => Some(t),
            _ => {
                self.errors.push(
                    self.loaded
                        .error_at(path, "`${release}` cannot be used in a target's settings")
                        .help("the release id is only known during a deploy"),
                );
                None
            }
        }
    }
}

/// Resolve `loaded` for the target named `target`.
pub fn resolve(
    loaded: &Loaded,
    target: &str,
    env: &dyn Environment,
) -> Result<Resolved, Vec<Diagnostic>> {
    let m = &loaded.manifest;
    let Some(t) = m.targets.get(target) else {
        let names: Vec<&str> = m.targets.keys().map(String::as_str).collect();
        let help = crate::suggest::help_or(target, &names, "the targets are");
        return Err(vec![
            loaded
                .error_at_key("targets", format!("no target named `{target}`"))
                .help(help),
        ]);
    };
    let mut cx = Ctx {
        loaded,
        target,
        env,
        errors: Vec::new(),
    };
    let tp = format!("targets.{target}");
    let settings = Target {
        provider: t.provider,
        region: cx.expand_setting(&format!("{tp}.region"), &t.region),
        project: cx.expand_setting(&format!("{tp}.project"), &t.project),
        subscription: cx.expand_setting(&format!("{tp}.subscription"), &t.subscription),
        resource_group: cx.expand_setting(&format!("{tp}.resource_group"), &t.resource_group),
        location: cx.expand_setting(&format!("{tp}.location"), &t.location),
        state: cx.expand_setting(&format!("{tp}.state"), &t.state),
        profile: cx.expand_setting(&format!("{tp}.profile"), &t.profile),
        port: t.port,
        endpoint: cx.expand_setting(&format!("{tp}.endpoint"), &t.endpoint),
    };

    let mut functions = IndexMap::new();
    for (name, f) in &m.functions {
        let fp = format!("functions.{name}");
        let runtime = match f.runtime.or(m.defaults.runtime) {
            Some(r) => r,
            None => {
                cx.errors.push(
                    loaded
                        .error_at_key(&fp, format!("function `{name}` has no runtime"))
                        .help(format!(
                            "set `runtime:` on the function or in `defaults:`; one of {}",
                            crate::suggest::one_of(&Runtime::ALL.map(Runtime::as_str))
                        )),
                );
                continue;
            }
        };
        let Some((file, export)) = split_handler(&f.handler) else {
            cx.errors.push(
                loaded
                    .error_at(
                        &format!("{fp}.handler"),
                        format!("handler `{}` does not name an export", f.handler),
                    )
                    .label("expected `path/file.export`")
                    .help(format!(
                        "for example `{}.handler`",
                        f.handler.trim_end_matches('.')
                    )),
            );
            continue;
        };
        let mut env_values = IndexMap::new();
        let merged = m
            .defaults
            .env
            .iter()
            .map(|(k, v)| (k, v, format!("defaults.env.{k}")))
            .filter(|(k, _, _)| !f.env.contains_key(*k))
            .chain(f.env.iter().map(|(k, v)| (k, v, format!("{fp}.env.{k}"))));
        for (k, v, path) in merged.collect::<Vec<_>>() {
            if let Some(value) = cx.expand(&path, v, true) {
                env_values.insert(k.clone(), value);
            }
        }
        functions.insert(
            name.clone(),
            Function {
                name: name.clone(),
                handler_file: file.to_owned(),
                handler_export: export.to_owned(),
                runtime,
                memory: f.memory.or(m.defaults.memory).unwrap_or(DEFAULT_MEMORY),
                memory_set: f.memory.or(m.defaults.memory).is_some(),
                timeout: f
                    .timeout
                    .or(m.defaults.timeout)
                    .unwrap_or(Duration::from_secs(DEFAULT_TIMEOUT_SECS)),
                env: env_values,
                include: f.include.clone(),
                exclude: f.exclude.clone(),
                events: f.events.clone(),
                calls: f.calls.clone(),
                handler_style: f
                    .handler_style
                    .or(m.defaults.handler_style)
                    .unwrap_or_default(),
            },
        );
    }
    if !cx.errors.is_empty() {
        return Err(cx.errors);
    }
    Ok(Resolved {
        service: m.service.clone(),
        target: target.to_owned(),
        provider: t.provider,
        settings,
        functions,
        release: m.release.clone(),
    })
}

/// `src/checkout.handler` → (`src/checkout`, `handler`).
pub fn split_handler(handler: &str) -> Option<(&str, &str)> {
    let (file, export) = handler.rsplit_once('.')?;
    let file_name = file.rsplit('/').next().unwrap_or(file);
    let ident = export
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && export
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    (!file_name.is_empty() && ident).then_some((file, export))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn loaded(text: &str) -> Loaded {
        crate::manifest::load_str(Path::new("nubo.yaml"), text.to_owned(), PathBuf::from("."))
            .unwrap()
    }

    #[test]
    fn merges_defaults_and_expands_variables() {
        let l = loaded(
            "nubo: 1\nservice: shop\ntargets:\n  dev: { provider: local }\ndefaults:\n  runtime: nodejs22\n  memory: 512\n  env: { LOG: info, STAGE: x }\nfunctions:\n  a:\n    handler: src/a.handler\n    env:\n      STAGE: \"${target}-${service}\"\n      KEY: ${secret:k}\n      HOME_DIR: ${env:NUBO_TEST_HOME, /home}\n      R: r-${release}\n",
        );
        let r = resolve(&l, "dev", &HashMap::new()).unwrap();
        let a = &r.functions["a"];
        assert_eq!(a.memory, 512);
        assert_eq!(a.runtime, Runtime::Nodejs22);
        assert_eq!(a.env["LOG"], EnvValue::Text("info".into()));
        assert_eq!(a.env["STAGE"], EnvValue::Text("dev-shop".into()));
        assert_eq!(a.env["KEY"], EnvValue::Secret("k".into()));
        assert_eq!(a.env["HOME_DIR"], EnvValue::Text("/home".into()));
        assert!(matches!(a.env["R"], EnvValue::PerRelease(_)));
        assert_eq!(
            (a.handler_file.as_str(), a.handler_export.as_str()),
            ("src/a", "handler")
        );
    }

    #[test]
    fn missing_env_points_at_the_variable() {
        let l = loaded(
            "nubo: 1\nservice: shop\ntargets:\n  dev: { provider: local }\nfunctions:\n  a:\n    handler: src/a.handler\n    runtime: nodejs22\n    env:\n      TOKEN: \"x-${env:NUBO_SURELY_UNSET}\"\n",
        );
        let errs = resolve(&l, "dev", &HashMap::new()).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].location().unwrap(), "nubo.yaml:10:17");
        assert!(errs[0].message.contains("`NUBO_SURELY_UNSET` is not set"));
    }
}
