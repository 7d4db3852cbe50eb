//! Checks that need the whole service but no provider: names, handler
//! files, `calls` links and cycles, HTTP routes, schedules, release settings.

use std::collections::HashMap;
use std::path::Path;

use crate::diag::Diagnostic;
use crate::manifest::{Event, HttpMethod, Language, Loaded, Runtime, Strategy};
use crate::resolve::split_handler;
use crate::suggest::help_or;

/// The name rule for services, targets and functions: portable to every cloud.
pub fn is_name(s: &str, max: usize) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !s.ends_with('-')
        && !s.contains("--")
}

pub fn check(l: &Loaded) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let m = &l.manifest;
    if m.nubo != 1 {
        out.push(
            l.error_at("nubo", format!("unsupported manifest format `{}`", m.nubo))
                .label("this nubo reads format 1")
                .help("set `nubo: 1`, or upgrade nubo if the manifest was written for a newer one"),
        );
    }
    if !is_name(&m.service, 40) {
        out.push(
            l.error_at("service", format!("invalid service name `{}`", m.service))
                .label("not a valid name")
                .help("use a lowercase letter, then lowercase letters, digits or single hyphens; at most 40 characters"),
        );
    }
    if m.targets.is_empty() {
        out.push(
            l.error_at_key("targets", "no targets")
                .help("add one, e.g. `dev: { provider: local }`"),
        );
    }
    for name in m.targets.keys() {
        if !is_name(name, 20) {
            out.push(
                l.error_at_key(&format!("targets.{name}"), format!("invalid target name `{name}`"))
                    .help("use a lowercase letter, then lowercase letters, digits or single hyphens; at most 20 characters"),
            );
        }
    }
    if m.functions.is_empty() {
        out.push(
            l.error_at_key("functions", "no functions")
                .help("add one with a `handler:`"),
        );
    }
    let names: Vec<&str> = m.functions.keys().map(String::as_str).collect();
    for (name, f) in &m.functions {
        let fp = format!("functions.{name}");
        if !is_name(name, 40) {
            out.push(
                l.error_at_key(&fp, format!("invalid function name `{name}`"))
                    .help("use a lowercase letter, then lowercase letters, digits or single hyphens; at most 40 characters (every cloud accepts these)"),
            );
        }
        check_handler(l, name, &mut out);
        for (key, _) in f.env.iter().chain(&m.defaults.env) {
            if !is_env_key(key) {
                let path = if f.env.contains_key(key) {
                    format!("{fp}.env.{key}")
                } else {
                    format!("defaults.env.{key}")
                };
                let fixed: String = key
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() {
                            c.to_ascii_uppercase()
                        } else {
                            '_'
                        }
                    })
                    .collect();
                out.push(
                    l.error_at_key(&path, format!("invalid environment variable name `{key}`"))
                        .help(format!(
                            "use letters, digits and `_`, not starting with a digit, e.g. `{fixed}`"
                        )),
                );
            }
        }
        for (i, callee) in f.calls.iter().enumerate() {
            let cp = format!("{fp}.calls[{i}]");
            if !m.functions.contains_key(callee) {
                out.push(
                    l.error_at(
                        &cp,
                        format!("function `{name}` calls `{callee}`, which does not exist"),
                    )
                    .label("no such function")
                    .help(help_or(callee, &names, "the functions are")),
                );
            } else if f.calls[..i].contains(callee) {
                out.push(l.warning_at(&cp, format!("`{callee}` is listed twice in `calls`")));
            }
        }
        for (i, event) in f.events.iter().enumerate() {
            check_event(l, &format!("{fp}.events[{i}]"), event, &mut out);
        }
    }
    check_cycles(l, &mut out);
    check_routes(l, &mut out);
    check_release(l, &names, &mut out);
    out
}

pub fn is_env_key(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_handler(l: &Loaded, name: &str, out: &mut Vec<Diagnostic>) {
    let m = &l.manifest;
    let f = &m.functions[name];
    let path = format!("functions.{name}.handler");
    let Some((file, _)) = split_handler(&f.handler) else {
        // `resolve` reports handlers without an export.
        return;
    };
    if file.starts_with('/') || file.split('/').any(|c| c == "..") {
        out.push(
            l.error_at(
                &path,
                format!("handler `{}` points outside the service", f.handler),
            )
            .help("handler paths are relative to nubo.yaml and stay inside its directory"),
        );
        return;
    }
    let Some(runtime) = f.runtime.or(m.defaults.runtime) else {
        return;
    };
    let dir = &l.dir;
    let candidates: Vec<String> = match runtime.language() {
        Language::Node => ["js", "mjs", "cjs"]
            .iter()
            .map(|ext| format!("{file}.{ext}"))
            .collect(),
        Language::Python => vec![format!("{file}.py")],
        Language::Binary => {
            let base = Path::new(file).parent().map(|p| p.join("bootstrap"));
            let mut c = vec!["bootstrap".to_owned()];
            if let Some(b) = base.filter(|b| b.as_os_str() != "bootstrap") {
                c.insert(0, b.to_string_lossy().into_owned());
            }
            c
        }
    };
    if candidates.iter().any(|c| dir.join(c).is_file()) {
        return;
    }
    let looked = candidates
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(" or ");
    let mut d = l
        .error_at(&path, format!("handler file for `{}` not found", f.handler))
        .label(format!("no {looked}"));
    if runtime == Runtime::Provided {
        d = d.help("a `provided` function needs an executable `bootstrap` beside its handler or beside nubo.yaml");
    } else if let Some(other) = other_language_file(dir, file, runtime.language()) {
        let hint = match runtime.language() {
            Language::Node => "it is a Python file: set `runtime: python3.12`",
            _ => "it is a JavaScript file: set `runtime: nodejs22`",
        };
        d = d.help(format!("found `{other}`; {hint}"));
    } else {
        d = d.help(format!(
            "paths are relative to the directory of {}",
            crate::diag::display_path(&l.source.name)
        ));
    }
    out.push(d);
}

fn other_language_file(dir: &Path, file: &str, lang: Language) -> Option<String> {
    let exts: &[&str] = match lang {
        Language::Node => &["py"],
        Language::Python => &["js", "mjs", "cjs"],
        Language::Binary => &[],
    };
    exts.iter()
        .map(|e| format!("{file}.{e}"))
        .find(|c| dir.join(c).is_file())
}

fn check_event(l: &Loaded, path: &str, event: &Event, out: &mut Vec<Diagnostic>) {
    match event {
        Event::Http(h) => {
            let p = format!("{path}.http.path");
            if let Err(why) = check_route_path(&h.path) {
                out.push(
                    l.error_at(&p, format!("invalid HTTP path `{}`", h.path))
                        .label(why)
                        .help("paths start with `/` and use letters, digits, `-`, `_`, `.`, and `{name}` for parameters, e.g. `/orders/{id}`"),
                );
            }
        }
        Event::Schedule(s) => {
            let p = format!("{path}.schedule");
            match (&s.cron, &s.every) {
                (Some(_), Some(_)) => out.push(
                    l.error_at(&p, "a schedule has either `cron` or `every`, not both")
                        .help("keep one of them, or split it into two `schedule` events"),
                ),
                (None, None) => {
                    out.push(l.error_at(&p, "a schedule needs `cron` or `every`").help(
                        "e.g. `schedule: { cron: \"0 3 * * *\" }` or `schedule: { every: 1h }`",
                    ))
                }
                (Some(cron), None) => {
                    if let Err(why) = check_cron(cron) {
                        out.push(
                            l.error_at(&format!("{p}.cron"), format!("invalid cron expression `{cron}`"))
                                .label(why)
                                .help("five fields in UTC: minute hour day-of-month month day-of-week, e.g. `0 3 * * *`"),
                        );
                    }
                }
                (None, Some(_)) => {}
            }
        }
        Event::Queue(q) => {
            if q.batch == 0 {
                out.push(
                    l.error_at(
                        &format!("{path}.queue.batch"),
                        "`batch: 0` would never deliver a message",
                    )
                    .help("batch is the most messages per invocation, at least 1"),
                );
            }
            if !is_resource_name(&q.name) {
                out.push(
                    l.error_at(&format!("{path}.queue.name"), format!("invalid queue name `{}`", q.name))
                        .help("use lowercase letters, digits and hyphens, starting with a letter; at most 63 characters"),
                );
            }
        }
        Event::Storage(s) => {
            if !is_resource_name(&s.bucket) {
                out.push(
                    l.error_at(&format!("{path}.storage.bucket"), format!("invalid bucket name `{}`", s.bucket))
                        .help("use lowercase letters, digits and hyphens, starting with a letter; at most 63 characters"),
                );
            }
        }
    }
}

fn is_resource_name(s: &str) -> bool {
    is_name(s, 63)
}

/// Why `path` is not a valid route, if it is not.
fn check_route_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err("must start with `/`".to_owned());
    }
    if path.len() > 1 && path.ends_with('/') {
        return Err("must not end with `/`".to_owned());
    }
    if path == "/_nubo" || path.starts_with("/_nubo/") {
        return Err("`/_nubo/` is reserved: nubo's triggers deliver there".to_owned());
    }
    let mut params = Vec::new();
    for seg in path.split('/').skip(1) {
        if seg.is_empty() && path != "/" {
            return Err("has an empty segment (`//`)".to_owned());
        }
        if let Some(inner) = seg.strip_prefix('{') {
            let Some(name) = inner.strip_suffix('}') else {
                return Err(format!("`{seg}` is missing its closing `}}`"));
            };
            let name = name.strip_suffix('+').unwrap_or(name);
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("`{seg}` is not a valid parameter"));
            }
            if params.contains(&name) {
                return Err(format!("parameter `{name}` appears twice"));
            }
            params.push(name);
        } else if !seg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
        {
            return Err(format!("segment `{seg}` has characters routes cannot hold"));
        }
    }
    Ok(())
}

/// A route's shape with parameter names erased: `/a/{id}` and `/a/{x}` collide.
fn route_shape(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

fn check_routes(l: &Loaded, out: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<(String, HttpMethod), (String, usize, String)> = HashMap::new();
    for (name, f) in &l.manifest.functions {
        for (i, event) in f.events.iter().enumerate() {
            let Event::Http(h) = event else { continue };
            let shape = route_shape(&h.path);
            let methods: Vec<HttpMethod> = if h.method == HttpMethod::Any {
                vec![HttpMethod::Any]
            } else {
                vec![h.method, HttpMethod::Any]
            };
            let clash = methods.iter().find_map(|m| seen.get(&(shape.clone(), *m)));
            let clash = clash.or_else(|| {
                (h.method == HttpMethod::Any)
                    .then(|| seen.iter().find(|((s, _), _)| *s == shape).map(|(_, v)| v))
                    .flatten()
            });
            if let Some((other, j, route)) = clash {
                let first = l
                    .spans
                    .best(&format!("functions.{other}.events[{j}].http"))
                    .map(|s| format!(" (line {})", s.start.line))
                    .unwrap_or_default();
                let mut note = format!("`{other}` serves `{route}`{first}");
                if route.split_once(' ').is_some_and(|(_, p)| p != h.path) {
                    note.push_str(
                        "; routes that differ only in parameter names are the same route",
                    );
                } else if route.starts_with("ANY ") || h.method == HttpMethod::Any {
                    note.push_str("; `ANY` includes every method");
                }
                out.push(
                    l.error_at(
                        &format!("functions.{name}.events[{i}].http"),
                        format!("duplicate HTTP route `{} {}`", h.method.as_str(), h.path),
                    )
                    .label("already routed")
                    .note(note)
                    .help("each method and path may be served by one function"),
                );
            } else {
                seen.insert(
                    (shape, h.method),
                    (name.clone(), i, format!("{} {}", h.method.as_str(), h.path)),
                );
            }
        }
    }
}

fn check_cycles(l: &Loaded, out: &mut Vec<Diagnostic>) {
    let m = &l.manifest;
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state: HashMap<&str, u8> = HashMap::new();
    let mut reported = std::collections::HashSet::new();
    for start in m.functions.keys() {
        if state.get(start.as_str()).copied().unwrap_or(0) != 0 {
            continue;
        }
        // Iterative DFS: (function, index of next callee).
        let mut stack: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
        state.insert(start.as_str(), 1);
        while let Some((f, i)) = stack.pop() {
            let calls = &m.functions[f].calls;
            if i >= calls.len() {
                state.insert(f, 2);
                continue;
            }
            stack.push((f, i + 1));
            let callee = calls[i].as_str();
            if !m.functions.contains_key(callee) {
                continue;
            }
            match state.get(callee).copied().unwrap_or(0) {
                0 => {
                    state.insert(callee, 1);
                    stack.push((callee, 0));
                }
                1 => {
                    let from = stack.iter().position(|(g, _)| *g == callee).unwrap_or(0);
                    let mut chain: Vec<&str> = stack[from..].iter().map(|(g, _)| *g).collect();
                    let mut key = chain.clone();
                    key.sort_unstable();
                    if reported.insert(key) {
                        chain.push(callee);
                        out.push(
                            l.error_at(
                                &format!("functions.{f}.calls[{i}]"),
                                format!("call cycle: {}", chain.join(" → ")),
                            )
                            .label("closes the cycle")
                            .help("a chain of calls must end; a release pins each call to a callee, so a cycle could never be deployed"),
                        );
                    }
                }
                _ => {}
            }
        }
    }
}

fn check_release(l: &Loaded, names: &[&str], out: &mut Vec<Diagnostic>) {
    let r = &l.manifest.release;
    if r.keep < 2 {
        out.push(
            l.error_at(
                "release.keep",
                format!("`keep: {}` leaves nothing to roll back to", r.keep),
            )
            .help("keep at least 2 releases: the live one and the one before it"),
        );
    }
    match (&r.strategy, &r.canary) {
        (Strategy::Canary, None) => out.push(
            l.error_at(
                "release.strategy",
                "strategy `canary` needs a `canary:` block",
            )
            .help("e.g. `canary: { steps: [10, 50], interval: 5m }`"),
        ),
        (Strategy::BlueGreen, Some(_)) => out.push(
            l.warning_at_key(
                "release.canary",
                "`canary` settings are ignored with strategy `blue-green`",
            )
            .help("set `strategy: canary` to use them"),
        ),
        _ => {}
    }
    if let Some(c) = &r.canary {
        let mut last = 0u8;
        for (i, step) in c.steps.iter().enumerate() {
            let p = format!("release.canary.steps[{i}]");
            if !(1..=99).contains(step) {
                out.push(
                    l.error_at(&p, format!("canary step {step}% is out of range"))
                        .label("expected 1 to 99")
                        .help("steps are the percent of requests on the new release before it takes all of them"),
                );
            } else if *step <= last {
                out.push(
                    l.error_at(&p, "canary steps must rise")
                        .label(format!("{step}% after {last}%"))
                        .help("list the steps in rising order, e.g. `[10, 50]`"),
                );
            }
            last = last.max(*step);
        }
        if c.steps.is_empty() {
            out.push(
                l.error_at("release.canary.steps", "no canary steps")
                    .help("e.g. `steps: [10, 50]`"),
            );
        }
    }
    for (i, check) in r.checks.iter().enumerate() {
        let p = format!("release.checks[{i}]");
        let Some(f) = l.manifest.functions.get(&check.invoke) else {
            out.push(
                l.error_at(
                    &format!("{p}.invoke"),
                    format!("check invokes `{}`, which does not exist", check.invoke),
                )
                .label("no such function")
                .maybe_help(crate::suggest::help(&check.invoke, names)),
            );
            continue;
        };
        let http = f.events.iter().any(|e| matches!(e, Event::Http(_)));
        if let (true, Some(serde_json::Value::Object(with))) = (http, &check.with) {
            const REQUEST: [&str; 5] = ["method", "path", "query", "headers", "body"];
            for key in with.keys() {
                if !REQUEST.contains(&key.as_str()) {
                    out.push(
                        l.error_at_key(
                            &format!("{p}.with.{key}"),
                            format!("unknown request field `{key}`"),
                        )
                        .help(help_or(
                            key,
                            &REQUEST,
                            "an HTTP check sends",
                        )),
                    );
                }
            }
        }
        if let Some(status) = check.expect.as_ref().and_then(|e| e.status)
            && !(100..=599).contains(&status)
        {
            out.push(
                l.error_at(
                    &format!("{p}.expect.status"),
                    format!("`{status}` is not an HTTP status code"),
                )
                .label("expected 100 to 599"),
            );
        }
        if check.expect.as_ref().and_then(|e| e.status).is_some() && !http {
            out.push(l.warning_at(
                &format!("{p}.expect.status"),
                format!(
                    "`{}` has no HTTP event; `status` is the handler's returned status",
                    check.invoke
                ),
            ));
        }
    }
}

/// Why a five-field cron expression is invalid, if it is.
pub fn check_cron(expr: &str) -> Result<(), String> {
    const FIELDS: [(&str, u32, u32); 5] = [
        ("minute", 0, 59),
        ("hour", 0, 23),
        ("day of month", 1, 31),
        ("month", 1, 12),
        ("day of week", 0, 7),
    ];
    let parts: Vec<&str> = expr.split_whitespace().collect();
    if parts.len() != 5 {
        return Err(format!("expected 5 fields, found {}", parts.len()));
    }
    for (part, (what, lo, hi)) in parts.iter().zip(FIELDS) {
        for item in part.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (item, None),
            };
            if let Some(s) = step
                && !matches!(s.parse::<u32>(), Ok(n) if n >= 1)
            {
                return Err(format!("bad step `{s}` in the {what} field"));
            }
            if range == "*" {
                continue;
            }
            let bounds: Vec<&str> = range.split('-').collect();
            if bounds.len() > 2 {
                return Err(format!("bad range `{range}` in the {what} field"));
            }
            for b in &bounds {
                match b.parse::<u32>() {
                    Ok(n) if n >= lo && n <= hi => {}
                    _ => {
                        return Err(format!(
                            "`{b}` is out of range for the {what} field ({lo}-{hi})"
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_fields() {
        assert!(check_cron("0 3 * * *").is_ok());
        assert!(check_cron("*/15 0-6,22 1 1-12/2 1-5").is_ok());
        assert_eq!(
            check_cron("0 25 * * *").unwrap_err(),
            "`25` is out of range for the hour field (0-23)"
        );
        assert!(check_cron("0 3 * *").is_err());
    }

    #[test]
    fn route_paths() {
        assert!(check_route_path("/orders/{id}").is_ok());
        assert!(check_route_path("/").is_ok());
        assert!(check_route_path("orders").is_err());
        assert!(check_route_path("/a/{id}/{id}").is_err());
        assert!(check_route_path("/a//b").is_err());
        assert!(check_route_path("/_nubo/queue/q").is_err());
        assert!(check_route_path("/_nubox").is_ok());
        assert_eq!(route_shape("/a/{id}"), route_shape("/a/{x}"));
    }

    #[test]
    fn names() {
        assert!(is_name("shop", 40));
        assert!(is_name("a1-b", 40));
        assert!(!is_name("Shop", 40));
        assert!(!is_name("a--b", 40));
        assert!(!is_name("a-", 40));
        assert!(!is_name("1a", 40));
    }
}
