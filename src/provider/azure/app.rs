//! The Function App package of a service on Azure: one app per runtime (an
//! app has one language worker), holding every function of that runtime,
//! so one slot swap moves them all.
//!
//! The package is the union of the functions' artifacts (they come from the
//! same service folder, so a path means the same file in each; a conflict is
//! an error) plus what the Azure Functions host reads:
//!
//! - `host.json`: version 2.0, the extension bundle (queue, blob and timer
//!   bindings), `routePrefix: ""` so routes are the manifest's paths, and the
//!   longest function timeout as `functionTimeout`;
//! - one folder per **Azure function** with its `function.json` (classic
//!   model: `scriptFile` is the shim, `entryPoint` its export): one per HTTP
//!   route (`{function}`, `{function}-http-2`, …; Azure binds one route per
//!   function), `{function}-timer-{n}`, `{function}-queue-{n}`,
//!   `{function}-blob-{n}`, and `{function}-call` (route
//!   `_nubo/call/{function}`) for every function some `calls:` names;
//! - `nubo.json`: which manifest function, handler, route and trigger each
//!   Azure function is, who may call whom, and which app each function
//!   lives in (for calls across runtimes).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::manifest::{Event, Language, StorageOn};
use crate::resolve::{Function, Resolved};

/// One Function App package.
#[derive(Debug, Clone)]
pub struct AppPackage {
    /// The Function App's name.
    pub app: String,
    pub language: Language,
    pub path: PathBuf,
    pub sha256: String,
    /// The Azure functions in it.
    pub azure_functions: Vec<String>,
    /// Those started by timers, queues and blobs (not by HTTP): the ones
    /// the staging slot keeps disabled, so that only production consumes
    /// events.
    pub triggered: Vec<String>,
}

/// The Function App of each runtime: `{service}-{target}`, or with the
/// runtime appended (`-node`, `-python`, `-custom`) when the service mixes
/// runtimes.
pub fn app_names(resolved: &Resolved) -> BTreeMap<String, String> {
    let mut languages: Vec<Language> = Vec::new();
    for f in resolved.functions.values() {
        if !languages.contains(&f.runtime.language()) {
            languages.push(f.runtime.language());
        }
    }
    let base = format!("{}-{}", resolved.service, resolved.target);
    resolved
        .functions
        .values()
        .map(|f| {
            let app = if languages.len() > 1 {
                format!("{base}-{}", language_suffix(f.runtime.language()))
            } else {
                base.clone()
            };
            (f.name.clone(), app)
        })
        .collect()
}

fn language_suffix(l: Language) -> &'static str {
    match l {
        Language::Node => "node",
        Language::Python => "python",
        _ => "custom",
    }
}

/// `/orders/{id}` → `orders/{id}`; `{rest+}` → `{*rest}` (a catch-all).
pub fn azure_route(path: &str) -> String {
    path.trim_start_matches('/')
        .split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
                Some(name) => format!("{{*{name}}}"),
                None => seg.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// A manifest schedule as NCRONTAB (six fields, seconds first).
pub fn ncrontab(s: &crate::manifest::ScheduleEvent) -> Result<String, String> {
    match (&s.cron, s.every) {
        (Some(c), _) => Ok(format!("0 {c}")),
        (None, Some(every)) => {
            let secs = every.0.as_secs();
            if secs < 60 {
                if secs == 0 || 60 % secs != 0 {
                    return Err(format!(
                        "`every: {every}` has no NCRONTAB form (seconds dividing a minute)"
                    ));
                }
                return Ok(format!("*/{secs} * * * * *"));
            }
            crate::provider::gcp::triggers::every_as_cron(every.0).map(|c| format!("0 {c}"))
        }
        (None, None) => Err("a schedule needs `cron` or `every`".to_owned()),
    }
}

fn http_function(route: &str, method: &str, public: bool) -> Value {
    let mut trigger = json!({
        "type": "httpTrigger",
        "direction": "in",
        "name": "req",
        "authLevel": if public { "anonymous" } else { "function" },
        "route": azure_route(route),
    });
    if method != "ANY" {
        let mut methods = vec![method.to_lowercase()];
        if method == "GET" {
            methods.push("head".to_owned());
        }
        trigger["methods"] = json!(methods);
    }
    json!({
        "entryPoint": "http",
        "bindings": [trigger, {"type": "http", "direction": "out", "name": "$return"}],
    })
}

/// Point `function_json` at the shim's `entryPoint` export: Node.js loads
/// `../nubo_azure.js` itself; Python loads the folder's `__init__.py`, which
/// imports the entry from `nubo_azure` (the app's root is on `sys.path`).
fn point_at_shim(
    language: Language,
    folder: &str,
    mut function_json: Value,
) -> (Value, Option<(String, Vec<u8>)>) {
    let entry = function_json["entryPoint"]
        .as_str()
        .unwrap_or("http")
        .to_owned();
    match language {
        Language::Python => {
            function_json["scriptFile"] = json!("__init__.py");
            function_json["entryPoint"] = json!("main");
            let init = format!(
                "# Generated by nubo: the Azure function `{folder}` is nubo_azure.{entry}.\nfrom nubo_azure import {entry} as main  # noqa: F401\n"
            );
            (
                function_json,
                Some((format!("{folder}/__init__.py"), init.into_bytes())),
            )
        }
        _ => {
            function_json["scriptFile"] = json!("../nubo_azure.js");
            (function_json, None)
        }
    }
}

/// Files the host reads: (name in the package, bytes).
pub type HostFiles = Vec<(String, Vec<u8>)>;

/// The host files and the Azure functions of `functions` (one runtime):
/// (file name, bytes), the Azure function names, and those of them not
/// started by HTTP.
pub fn host_files(
    resolved: &Resolved,
    functions: &[&Function],
) -> Result<(HostFiles, Vec<String>, Vec<String>), String> {
    let apps = app_names(resolved);
    let callees: std::collections::BTreeSet<&str> = resolved
        .functions
        .values()
        .flat_map(|f| f.calls.iter().map(String::as_str))
        .collect();
    let mut files: Vec<(String, Value)> = Vec::new();
    let mut inits: Vec<(String, Vec<u8>)> = Vec::new();
    let mut entries = serde_json::Map::new();
    let mut timeout = 0u64;
    for f in functions {
        timeout = timeout.max(f.timeout.0.as_secs());
        let handler = format!("{}.{}", f.handler_file, f.handler_export);
        let base = json!({"function": f.name, "handler": handler});
        let mut add = |name: String, function_json: Value, extra: Value| {
            let mut entry = base.clone();
            for (k, v) in extra.as_object().cloned().unwrap_or_default() {
                entry[k] = v;
            }
            entries.insert(name.clone(), entry);
            let (function_json, init) = point_at_shim(f.runtime.language(), &name, function_json);
            inits.extend(init);
            files.push((format!("{name}/function.json"), function_json));
        };
        let (mut http, mut timers, mut queues, mut blobs) = (0, 0, 0, 0);
        for e in &f.events {
            match e {
                Event::Http(h) => {
                    http += 1;
                    let name = if http == 1 {
                        f.name.clone()
                    } else {
                        format!("{}-http-{http}", f.name)
                    };
                    add(
                        name,
                        http_function(&h.path, h.method.as_str(), h.public),
                        json!({"kind": "http", "route": h.path}),
                    );
                }
                Event::Schedule(s) => {
                    timers += 1;
                    let schedule = ncrontab(s).map_err(|e| format!("`{}`: {e}", f.name))?;
                    let text = match (&s.cron, s.every) {
                        (Some(c), _) => format!("cron {c}"),
                        (None, Some(e)) => format!("every {e}"),
                        _ => String::new(),
                    };
                    add(
                        format!("{}-timer-{timers}", f.name),
                        json!({
                            "entryPoint": "timer",
                            "bindings": [{"type": "timerTrigger", "direction": "in", "name": "timer", "schedule": schedule}],
                        }),
                        json!({"kind": "schedule", "schedule": text}),
                    );
                }
                Event::Queue(q) => {
                    queues += 1;
                    add(
                        format!("{}-queue-{queues}", f.name),
                        json!({
                            "entryPoint": "queue",
                            "bindings": [{"type": "queueTrigger", "direction": "in", "name": "message",
                                          "queueName": q.name, "connection": "AzureWebJobsStorage"}],
                        }),
                        json!({"kind": "queue", "queue": q.name}),
                    );
                }
                Event::Storage(s) => {
                    if s.on == StorageOn::Deleted {
                        return Err(format!(
                            "`{}`: storage `on: deleted` on Azure needs Event Grid subscriptions, \
                             which are not available yet in nubo {}",
                            f.name,
                            env!("CARGO_PKG_VERSION")
                        ));
                    }
                    blobs += 1;
                    let prefix = s.prefix.clone().unwrap_or_default();
                    add(
                        format!("{}-blob-{blobs}", f.name),
                        json!({
                            "entryPoint": "blob",
                            "bindings": [{"type": "blobTrigger", "direction": "in", "name": "data",
                                          "path": format!("{}/{prefix}{{name}}", s.bucket),
                                          "connection": "AzureWebJobsStorage"}],
                        }),
                        json!({"kind": "storage", "bucket": s.bucket, "prefix": prefix,
                               "suffix": s.suffix.clone().unwrap_or_default()}),
                    );
                }
            }
        }
        if callees.contains(f.name.as_str()) {
            let callers: Vec<&str> = resolved
                .functions
                .values()
                .filter(|c| c.calls.contains(&f.name))
                .map(|c| c.name.as_str())
                .collect();
            add(
                format!("{}-call", f.name),
                json!({
                    "entryPoint": "call",
                    "bindings": [
                        {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous",
                         "methods": ["post"], "route": format!("_nubo/call/{}", f.name)},
                        {"type": "http", "direction": "out", "name": "$return"},
                    ],
                }),
                json!({"kind": "call", "callers": callers}),
            );
        }
    }
    let timeout = timeout.max(1);
    let host = json!({
        "version": "2.0",
        "extensionBundle": {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"},
        "extensions": {"http": {"routePrefix": ""}},
        "functionTimeout": format!("{:02}:{:02}:{:02}", timeout / 3600, timeout % 3600 / 60, timeout % 60),
    });
    let calls: BTreeMap<&str, &Vec<String>> = resolved
        .functions
        .values()
        .map(|f| (f.name.as_str(), &f.calls))
        .collect();
    let nubo = json!({"functions": entries, "calls": calls, "apps": apps});
    let names: Vec<String> = entries.keys().cloned().collect();
    let triggered: Vec<String> = entries
        .iter()
        .filter(|(_, e)| matches!(e["kind"].as_str(), Some("schedule" | "queue" | "storage")))
        .map(|(n, _)| n.clone())
        .collect();
    let mut out: Vec<(String, Vec<u8>)> = vec![
        ("host.json".to_owned(), pretty(&host)),
        ("nubo.json".to_owned(), pretty(&nubo)),
    ];
    out.extend(files.into_iter().map(|(n, v)| (n, pretty(&v))));
    out.extend(inits);
    Ok((out, names, triggered))
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).expect("JSON");
    b.push(b'\n');
    b
}

/// Build the app packages of a packaged service into `out`.
pub fn build(
    resolved: &Resolved,
    report: &crate::package::Report,
    out: &Path,
) -> Result<Vec<AppPackage>, String> {
    let artifacts: BTreeMap<String, PathBuf> = report
        .functions
        .iter()
        .map(|(name, a)| (name.clone(), a.path.clone()))
        .collect();
    build_from(resolved, &artifacts, out)
}

/// Build the app packages from each function's artifact (a zip) into `out`.
pub fn build_from(
    resolved: &Resolved,
    artifacts: &BTreeMap<String, PathBuf>,
    out: &Path,
) -> Result<Vec<AppPackage>, String> {
    let apps = app_names(resolved);
    let mut by_app: BTreeMap<&str, Vec<&Function>> = BTreeMap::new();
    for f in resolved.functions.values() {
        by_app.entry(apps[&f.name].as_str()).or_default().push(f);
    }
    let mut built = Vec::new();
    for (app, functions) in by_app {
        let language = functions[0].runtime.language();
        if !matches!(language, Language::Node | Language::Python) {
            return Err(format!(
                "`{}`: {} Function Apps are not available yet in nubo {} (Node.js and Python ones are)",
                functions[0].name,
                language_suffix(language),
                env!("CARGO_PKG_VERSION")
            ));
        }
        // The union of the artifacts.
        let mut files: BTreeMap<String, (Vec<u8>, String)> = BTreeMap::new();
        for f in &functions {
            let path = artifacts
                .get(&f.name)
                .ok_or_else(|| format!("`{}` has no packaged artifact", f.name))?;
            let file = std::fs::File::open(path)
                .map_err(|e| format!("could not read {}: {e}", path.display()))?;
            let mut zip = zip::ZipArchive::new(file)
                .map_err(|e| format!("{} is not a zip archive: {e}", path.display()))?;
            for i in 0..zip.len() {
                let mut entry = zip.by_index(i).map_err(|e| e.to_string())?;
                if entry.is_dir() {
                    continue;
                }
                let name = entry
                    .name()
                    .map(|n| n.into_owned())
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let mut bytes = Vec::with_capacity(entry.size() as usize);
                std::io::Read::read_to_end(&mut entry, &mut bytes).map_err(|e| e.to_string())?;
                match files.get(&name) {
                    Some((have, from)) if *have != bytes => {
                        return Err(format!(
                            "`{from}` and `{}` put different `{name}` into the Function App {app}",
                            f.name
                        ));
                    }
                    Some(_) => {}
                    None => {
                        files.insert(name, (bytes, f.name.clone()));
                    }
                }
            }
        }
        let (host, names, triggered) = host_files(resolved, &functions)?;
        for (name, bytes) in host {
            if let Some((_, from)) = files.get(&name) {
                return Err(format!(
                    "`{from}` has a file `{name}`, which the Function App's host needs for itself"
                ));
            }
            files.insert(name, (bytes, String::new()));
        }
        let entries: Vec<crate::package::zip::Entry> = files
            .into_iter()
            .map(|(name, (bytes, _))| crate::package::zip::Entry {
                name,
                source: crate::package::zip::Source::Bytes(bytes),
                executable: false,
            })
            .collect();
        std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
        let path = out.join(format!("{app}.zip"));
        let written = crate::package::zip::write(&entries, &path, 2).map_err(|e| e.to_string())?;
        built.push(AppPackage {
            app: app.to_owned(),
            language,
            path,
            sha256: written.sha256,
            azure_functions: names,
            triggered,
        });
    }
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_become_azure_routes() {
        assert_eq!(azure_route("/orders/{id}"), "orders/{id}");
        assert_eq!(azure_route("/files/{rest+}"), "files/{*rest}");
        assert_eq!(azure_route("/"), "");
    }
}
