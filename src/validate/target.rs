//! Checks of a resolved service against one provider's spec: what that cloud
//! allows (runtimes, memory, timeouts, names, environment, triggers, regions).
//! Each finding is tied to the function it concerns, for the portability table.

use regex::Regex;

use crate::diag::Diagnostic;
use crate::manifest::{Event, EventKind, HandlerStyle, Loaded, ProviderKind};
use crate::provider::spec::ProviderSpec;
use crate::resolve::Resolved;
use crate::suggest::one_of;

/// A finding, and the function it concerns (`None`: the whole target).
pub struct Finding {
    pub function: Option<String>,
    pub short: String,
    pub diagnostic: Diagnostic,
}

struct Out<'a> {
    l: &'a Loaded,
    r: &'a Resolved,
    spec: &'a ProviderSpec,
    findings: Vec<Finding>,
}

impl Out<'_> {
    fn push(&mut self, function: Option<&str>, short: impl Into<String>, d: Diagnostic) {
        self.findings.push(Finding {
            function: function.map(str::to_owned),
            short: short.into(),
            diagnostic: d,
        });
    }

    /// "an aws target", "a gcp target".
    fn a_target(&self) -> String {
        let p = self.spec.provider.as_str();
        let article = if p.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {p} target")
    }

    fn on(&self) -> String {
        format!("{} (target `{}`)", self.spec.provider, self.r.target)
    }

    /// The path that sets `field` for `function`: its own, else `defaults`.
    fn origin(&self, function: &str, field: &str) -> String {
        let fp = format!("functions.{function}.{field}");
        if self.l.spans.key(&fp).is_some() {
            fp
        } else if self.l.spans.key(&format!("defaults.{field}")).is_some() {
            format!("defaults.{field}")
        } else {
            format!("functions.{function}")
        }
    }
}

pub fn check(l: &Loaded, r: &Resolved, spec: &ProviderSpec) -> Vec<Finding> {
    let mut out = Out {
        l,
        r,
        spec,
        findings: Vec::new(),
    };
    check_settings(&mut out);
    let name_re = Regex::new(&spec.names.pattern).ok();
    let key_re = Regex::new(&spec.env.key_pattern).ok();
    let service_level_name = !spec.names.format.contains("{function}");
    if service_level_name {
        let name = spec.names.render(&r.service, &r.target, "");
        check_name(&mut out, None, &name, name_re.as_ref());
    }
    for f in r.functions.values() {
        let name = &f.name;
        let fp = format!("functions.{name}");
        let on = out.on();

        if !spec.runtimes.contains_key(&f.runtime) {
            let available: Vec<&str> = spec.runtimes.keys().map(|r| r.as_str()).collect();
            let d = l
                .error_at(
                    &out.origin(name, "runtime"),
                    format!(
                        "runtime `{}` of `{name}` is not available on {on}",
                        f.runtime
                    ),
                )
                .help(format!("{} runs {}", spec.provider, one_of(&available)));
            out.push(Some(name), format!("runtime {} unavailable", f.runtime), d);
        }

        let mem = &spec.memory;
        if !mem.configurable {
            if f.memory > mem.max {
                let d = l
                    .error_at(
                        &out.origin(name, "memory"),
                        format!(
                            "memory {} MiB of `{name}` is more than {on} gives a function",
                            f.memory
                        ),
                    )
                    .label(format!("at most {} MiB", mem.max));
                out.push(Some(name), format!("memory over {} MiB", mem.max), d);
            } else if f.memory_set {
                let d = l
                    .warning_at(
                        &out.origin(name, "memory"),
                        format!(
                            "memory is not configurable on {on}; `{name}` gets up to {} MiB",
                            mem.max
                        ),
                    )
                    .help("the setting is ignored there");
                out.push(Some(name), "memory ignored", d);
            }
        } else if f.memory < mem.min || f.memory > mem.max {
            let d = l
                .error_at(
                    &out.origin(name, "memory"),
                    format!(
                        "memory {} MiB of `{name}` is out of range on {on}",
                        f.memory
                    ),
                )
                .label(format!("expected {} to {} MiB", mem.min, mem.max))
                .help(format!("set `memory` between {} and {}", mem.min, mem.max));
            out.push(
                Some(name),
                format!("memory outside {}–{} MiB", mem.min, mem.max),
                d,
            );
        } else if !(f.memory - mem.min).is_multiple_of(mem.step) {
            let below = f.memory - (f.memory - mem.min) % mem.step;
            let d = l
                .error_at(
                    &out.origin(name, "memory"),
                    format!(
                        "memory {} MiB of `{name}` is not a size {on} offers",
                        f.memory
                    ),
                )
                .help(format!(
                    "sizes go in steps of {} MiB: try {} or {}",
                    mem.step,
                    below,
                    below + mem.step
                ));
            out.push(
                Some(name),
                format!("memory not a multiple of {} MiB", mem.step),
                d,
            );
        }

        let kinds: Vec<Option<EventKind>> = if f.events.is_empty() {
            vec![None]
        } else {
            f.events.iter().map(|e| Some(e.kind())).collect()
        };
        if let Some((kind, limit)) = kinds
            .iter()
            .map(|k| (*k, spec.timeout.for_kind(*k)))
            .min_by_key(|(_, d)| *d)
            .filter(|(_, limit)| f.timeout > *limit)
        {
            let what = match kind {
                Some(k) => format!("{k}-triggered functions"),
                None => "functions reached only through `calls`".to_owned(),
            };
            let d = l
                .error_at(
                    &out.origin(name, "timeout"),
                    format!(
                        "timeout {} of `{name}` is over the limit on {on}",
                        f.timeout
                    ),
                )
                .label(format!("at most {limit} for {what}"))
                .help(format!(
                    "lower `timeout` to {limit} or less, or split the work"
                ));
            out.push(Some(name), format!("timeout {} > {limit}", f.timeout), d);
        }

        if !service_level_name {
            let rendered = spec.names.render(&r.service, &r.target, name);
            check_name(&mut out, Some(name), &rendered, name_re.as_ref());
        }

        let total: usize = f.env.iter().map(|(k, v)| k.len() + v.stored_len()).sum();
        if total > spec.env.max_bytes {
            let d = l
                .error_at_key(
                    &format!("{fp}.env"),
                    format!("environment of `{name}` is {total} bytes, over the limit on {on}"),
                )
                .label(format!(
                    "at most {} bytes of keys and values",
                    spec.env.max_bytes
                ))
                .help("move large values to a file in the package or to a secret");
            out.push(
                Some(name),
                format!("env {total} B > {} B", spec.env.max_bytes),
                d,
            );
        }
        for key in f.env.keys() {
            let kp = if l.spans.key(&format!("{fp}.env.{key}")).is_some() {
                format!("{fp}.env.{key}")
            } else {
                format!("defaults.env.{key}")
            };
            let reserved = spec.env.reserved_keys.iter().any(|k| k == key)
                || spec
                    .env
                    .reserved_prefixes
                    .iter()
                    .any(|p| key.starts_with(p.as_str()));
            if reserved {
                let d = l
                    .error_at_key(
                        &kp,
                        format!("environment variable `{key}` is reserved on {on}"),
                    )
                    .help("rename it; the platform sets or forbids this name");
                out.push(Some(name), format!("env `{key}` reserved"), d);
            } else if crate::validate::service::is_env_key(key)
                && key_re.as_ref().is_some_and(|re| !re.is_match(key))
            {
                let d = l
                    .error_at_key(
                        &kp,
                        format!("environment variable name `{key}` is not allowed on {on}"),
                    )
                    .label(format!("must match `{}`", spec.env.key_pattern))
                    .help("use letters, digits and `_`, starting with a letter, e.g. `API_KEY`");
                out.push(Some(name), format!("env `{key}` name"), d);
            }
        }

        for (i, event) in f.events.iter().enumerate() {
            check_event(&mut out, name, &format!("{fp}.events[{i}]"), event);
        }

        if f.handler_style == HandlerStyle::Native {
            let d = l
                .warning_at(&out.origin(name, "handler_style"), format!("`{name}` uses a native handler: it runs only where that signature is native"))
                .help("neutral handlers run unchanged on every target");
            out.push(Some(name), "native handler", d);
        }
        let m = &l.manifest.functions[name];
        for other in ProviderKind::ALL {
            if m.escape_hatch(other).is_some() && other != spec.provider {
                let d = l
                    .warning_at_key(
                        &format!("{fp}.{other}"),
                        format!("`{name}` has `{other}` settings, which do not apply on {on}"),
                    )
                    .help(
                        "provider settings are not portable; the function runs there without them",
                    );
                out.push(Some(name), format!("{other} settings ignored"), d);
            }
        }
    }
    out.findings
}

fn check_name(out: &mut Out, function: Option<&str>, rendered: &str, re: Option<&Regex>) {
    let spec = out.spec;
    // A name that breaks nubo's own rule is already reported once.
    let own_ok = crate::validate::service::is_name(&out.r.service, 40)
        && crate::validate::service::is_name(&out.r.target, 20)
        && function.is_none_or(|f| crate::validate::service::is_name(f, 40));
    if !own_ok {
        return;
    }
    let too_long = rendered.chars().count() > spec.names.max_length;
    let bad = re.is_some_and(|re| !re.is_match(rendered));
    if !too_long && !bad {
        return;
    }
    let path = match function {
        Some(f) => format!("functions.{f}"),
        None => format!("targets.{}", out.r.target),
    };
    let what = if too_long {
        format!(
            "{} characters, at most {}",
            rendered.chars().count(),
            spec.names.max_length
        )
    } else {
        "not allowed".to_owned()
    };
    let on = out.on();
    let d = out
        .l
        .error_at_key(&path, format!("name `{rendered}` is not valid on {on}"))
        .label(what)
        .note(format!(
            "{} names {} `{}`; the rule: {}",
            spec.provider,
            if function.is_some() {
                "each function"
            } else {
                "the app"
            },
            spec.names.format,
            spec.names.rule
        ))
        .help(if too_long {
            "shorten the service, target or function name"
        } else {
            "rename the service, target or function to fit the rule"
        });
    let short = if too_long {
        format!("name over {} chars", spec.names.max_length)
    } else {
        "name not allowed".to_owned()
    };
    out.push(function, short, d);
}

fn check_event(out: &mut Out, name: &str, path: &str, event: &Event) {
    let kind = event.kind();
    let on = out.on();
    let l = out.l;
    let Some(es) = out.spec.events.get(kind) else {
        let d = l
            .error_at_key(
                &format!("{path}.{kind}"),
                format!("{kind} events are not available on {on}"),
            )
            .label("unsupported trigger");
        out.push(Some(name), format!("no {kind} events"), d);
        return;
    };
    match event {
        Event::Queue(q) => {
            if let Some(max) = es.batch_max.filter(|max| q.batch > *max) {
                let d = l
                    .warning_at(
                        &format!("{path}.queue.batch"),
                        format!(
                            "on {on}, each invocation gets {}; `batch: {}` acts as {max}",
                            if max == 1 {
                                "one message".to_owned()
                            } else {
                                format!("at most {max} messages")
                            },
                            q.batch
                        ),
                    )
                    .note(format!("{} queues use {}", out.spec.provider, es.via));
                out.push(Some(name), format!("batch capped at {max}"), d);
            }
        }
        Event::Schedule(s) => {
            if s.cron.is_some() && es.cron == Some(false) {
                let d = l.error_at(
                    &format!("{path}.schedule.cron"),
                    format!("cron schedules are not available on {on}"),
                );
                out.push(Some(name), "no cron", d);
            }
            if let Some(every) = s.every {
                if es.every == Some(false) {
                    let d = l.error_at(
                        &format!("{path}.schedule.every"),
                        format!("`every` schedules are not available on {on}"),
                    );
                    out.push(Some(name), "no `every`", d);
                } else if let Some(g) = es
                    .every_as_cron
                    .filter(|g| !crate::provider::spec::every_fits_cron(every, *g))
                {
                    let d = l
                        .error_at(&format!("{path}.schedule.every"), format!("`every: {every}` cannot be run as written on {on}"))
                        .label("no cron expression fires exactly this often")
                        .note(format!("{} has no interval syntax; nubo writes `every` as cron with {g} granularity", es.via))
                        .help("use an interval that divides an hour or a day evenly (5m, 15m, 30m, 1h, 6h, 12h, 24h), or write `cron:`");
                    out.push(Some(name), format!("every {every} not cron-able"), d);
                } else if let Some(min) = es.min_interval.filter(|min| every < *min) {
                    let d = l
                        .error_at(
                            &format!("{path}.schedule.every"),
                            format!("`every: {every}` is more often than {on} allows"),
                        )
                        .label(format!("at least {min}"))
                        .help(format!(
                            "{} fires at most once every {min}: use `every: {min}` or more",
                            es.via
                        ));
                    out.push(Some(name), format!("every < {min}"), d);
                }
            }
        }
        Event::Storage(s) => {
            if let Some(on_list) = &es.on
                && !on_list.contains(&s.on)
            {
                let d = l.error_at(
                    &format!("{path}.storage.on"),
                    format!(
                        "storage `{}` events are not available on {on}",
                        s.on.as_str()
                    ),
                );
                out.push(
                    Some(name),
                    format!("no storage {} events", s.on.as_str()),
                    d,
                );
            }
        }
        Event::Http(_) => {}
    }
}

fn check_settings(out: &mut Out) {
    let l = out.l;
    let r = out.r;
    let spec = out.spec;
    let tp = format!("targets.{}", r.target);
    for (key, set) in r.settings.settings() {
        let known = spec
            .target
            .required
            .iter()
            .chain(&spec.target.optional)
            .any(|k| k == key);
        if set && !known {
            let allowed: Vec<&str> = spec
                .target
                .required
                .iter()
                .chain(&spec.target.optional)
                .map(String::as_str)
                .collect();
            let d = l
                .error_at_key(
                    &format!("{tp}.{key}"),
                    format!("`{key}` is not a setting of {}", out.a_target()),
                )
                .help(format!("{} takes {}", out.a_target(), one_of(&allowed)));
            out.push(None, format!("`{key}` not a {} setting", spec.provider), d);
        }
    }
    for key in &spec.target.required {
        let set = r.settings.settings().iter().any(|(k, s)| k == key && *s);
        if !set {
            let required: Vec<String> = spec
                .target
                .required
                .iter()
                .map(|k| format!("`{k}`"))
                .collect();
            let d = l
                .error_at_key(&tp, format!("target `{}` needs `{key}`", r.target))
                .help(format!(
                    "{} needs {}",
                    out.a_target(),
                    required.join(" and ")
                ));
            out.push(None, format!("missing `{key}`"), d);
        }
    }
    let region = match spec.provider {
        ProviderKind::Azure => r.settings.location.as_deref().map(|v| ("location", v)),
        _ => r.settings.region.as_deref().map(|v| ("region", v)),
    };
    if let Some((key, value)) = region
        && !spec.regions.is_empty()
        && !spec.regions.iter().any(|x| x == value)
    {
        let d = l
            .error_at(
                &format!("{tp}.{key}"),
                format!("unknown {} {key} `{value}`", spec.provider),
            )
            .maybe_help(crate::suggest::help(
                value,
                &spec.regions.iter().map(String::as_str).collect::<Vec<_>>(),
            ));
        out.push(None, format!("unknown {key}"), d);
    }
    if spec.provider == ProviderKind::Azure
        && let Some(sub) = &r.settings.subscription
        && !is_uuid(sub)
    {
        let d = l
            .error_at(
                &format!("{tp}.subscription"),
                format!("subscription `{sub}` is not a subscription id"),
            )
            .label("expected a UUID like 00000000-0000-0000-0000-000000000000")
            .help("`az account show --query id` prints it");
        out.push(None, "bad subscription id", d);
    }
    if spec.provider == ProviderKind::Gcp
        && let Some(project) = &r.settings.project
        && !is_gcp_project(project)
    {
        let d = l
            .error_at(
                &format!("{tp}.project"),
                format!("`{project}` is not a Google Cloud project id"),
            )
            .label("6 to 30 lowercase letters, digits or hyphens, starting with a letter");
        out.push(None, "bad project id", d);
    }
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_gcp_project(s: &str) -> bool {
    (6..=30).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}
