//! `package`: one deterministic, content-addressed zip per distinct file set.
//!
//! Guarantees: the same inputs give byte-identical zips anywhere, at any
//! time (`zip`); an artifact's id is the sha256 of its bytes, so functions
//! with the same files share one artifact and "did this function change?"
//! is a comparison of [`unit_hash`]es; provider size limits are checked
//! before anything leaves the machine; a file set whose inputs are unchanged
//! since the last run is not zipped again (`cache`).

mod cache;
pub mod select;
pub mod zip;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::provider::spec::ProviderSpec;
use crate::resolve::{EnvValue, Function, Resolved};
use select::{FileEntry, SelectError};
use zip::{Entry, Source, ZipError, hex};

/// Bumped when the archive layout changes, so old cache entries miss.
const FORMAT: &str = "nubo-artifact-v1";

/// One artifact: a zip shared by every function with the same file set.
#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    /// sha256 of the zip: the artifact's id.
    pub sha256: String,
    pub path: PathBuf,
    pub zipped: u64,
    pub unzipped: u64,
    pub files: usize,
    /// True when the zip of an earlier run was reused.
    pub reused: bool,
    pub functions: Vec<String>,
}

/// A function's artifact and the hash of its deployable unit.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionArtifact {
    pub artifact: String,
    pub path: PathBuf,
    pub sha256: String,
    pub zipped: u64,
    pub unzipped: u64,
    pub files: usize,
    /// Hash of artifact + resolved configuration: changes iff a deploy must publish.
    pub unit: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    pub provider: String,
    pub out: PathBuf,
    pub artifacts: Vec<Artifact>,
    pub functions: IndexMap<String, FunctionArtifact>,
}

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(transparent)]
    Zip(#[from] ZipError),
    #[error("the package of `{function}` is {} {what}, over {provider}'s limit of {}", human_size(*.size), human_size(*.limit))]
    TooLarge {
        function: String,
        what: &'static str,
        size: u64,
        limit: u64,
        provider: String,
        /// The biggest directories by unzipped size.
        biggest: Vec<(String, u64)>,
    },
    #[error("`{}` is not a JSON object; nubo sets its `main` for `{function}` on Google Cloud", .path.display())]
    BadPackageJson { function: String, path: PathBuf },
    #[error("`{file}` in the package of `{function}` is a name nubo's {provider} shim needs")]
    Reserved {
        function: String,
        file: String,
        provider: String,
    },
    #[error("could not write `{}`", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl PackageError {
    /// Whether the user's input is at fault (exit 2) rather than the machine (exit 1).
    pub fn is_input_error(&self) -> bool {
        !matches!(
            self,
            PackageError::Select(SelectError::Io { .. })
                | PackageError::Write { .. }
                | PackageError::Zip(ZipError::Read { .. } | ZipError::Write { .. })
        )
    }
}

/// Where artifacts go when `--out` is not given.
pub fn default_out(manifest_dir: &Path, target: &str) -> PathBuf {
    manifest_dir.join(".nubo").join("build").join(target)
}

/// Package every function of `resolved` into `out`.
pub fn package(
    resolved: &Resolved,
    manifest: &Path,
    spec: &ProviderSpec,
    out: &Path,
) -> Result<Report, PackageError> {
    let root = manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(out).map_err(|source| PackageError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let tree = select::walk(root, manifest, Some(out))?;
    let dev_deps = if tree.has.contains("node_modules") {
        select::node_dev_dependencies(root)
    } else {
        Vec::new()
    };

    // Group functions by file set: identical sets share one artifact.
    let mut groups: IndexMap<String, Group> = IndexMap::new();
    let mut selections: HashMap<select::Selection, Vec<&FileEntry>> = HashMap::new();
    for f in resolved.functions.values() {
        let selection = select::Selection::of(f);
        let files = match selections.get(&selection) {
            Some(files) => files.clone(),
            None => {
                let files = select::matching(&tree, f, &dev_deps)?;
                selections.insert(selection, files.clone());
                files
            }
        };
        select::check_handler(&files, f)?;
        let mut generated = generated_files(resolved, f);
        let mut files = files;
        // Google's Node.js buildpack loads the file package.json's `main`
        // names: the artifact's package.json points it at the shim (the
        // user's, if there is one, with only `main` changed).
        if resolved.provider == crate::manifest::ProviderKind::Gcp
            && f.runtime.language() == crate::manifest::Language::Node
            && f.handler_style == crate::manifest::HandlerStyle::Neutral
        {
            let theirs = files.iter().position(|e| e.rel == "package.json");
            let manifest = gcp_package_json(theirs.map(|i| files[i]), f)?;
            if let Some(i) = theirs {
                files.remove(i);
            }
            generated.push(("package.json".to_owned(), manifest));
        }
        // A user's file with a shim's name would make two zip entries of one name.
        if let Some((name, _)) = generated
            .iter()
            .find(|(name, _)| files.iter().any(|e| &e.rel == name))
        {
            return Err(PackageError::Reserved {
                function: f.name.clone(),
                file: name.clone(),
                provider: resolved.provider.to_string(),
            });
        }
        let unzipped: u64 = files.iter().map(|e| e.size).sum::<u64>()
            + generated.iter().map(|(_, b)| b.len() as u64).sum::<u64>();
        let limit = spec.package.unzipped_max_mib * 1024 * 1024;
        if unzipped > limit {
            return Err(too_large(f, "unzipped", unzipped, limit, spec, &files));
        }
        let key = file_set_key(&files, &generated);
        groups
            .entry(key)
            .or_insert_with(|| Group {
                files,
                generated,
                functions: Vec::new(),
            })
            .functions
            .push(f.name.clone());
    }

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let cache_path = root.join(".nubo").join("cache").join("package.json");
    let mut cache = cache::Cache::load(&cache_path);
    let mut artifacts = Vec::new();
    for (key, group) in &groups {
        let (files, functions) = (&group.files, &group.functions);
        let (written, reused) = match cache.lookup(key, files, out) {
            Some(hit) => (hit, true),
            None => {
                let mut entries: Vec<Entry> = files
                    .iter()
                    .map(|e| Entry {
                        name: e.rel.clone(),
                        source: Source::File(e.abs.clone(), e.size),
                        executable: e.executable,
                    })
                    .collect();
                entries.extend(group.generated.iter().map(|(name, bytes)| Entry {
                    name: name.clone(),
                    source: Source::Bytes(bytes.clone()),
                    executable: false,
                }));
                entries.sort_by(|a, b| a.name.cmp(&b.name));
                // Per process: a `plan` may package while a `deploy` does.
                let tmp = out.join(format!(".tmp-{}-{}.zip", &key[..16], std::process::id()));
                let written = zip::write(&entries, &tmp, threads).inspect_err(|_| {
                    let _ = std::fs::remove_file(&tmp);
                })?;
                let dest = out.join(format!("{}.zip", written.sha256));
                std::fs::rename(&tmp, &dest).map_err(|source| PackageError::Write {
                    path: dest.clone(),
                    source,
                })?;
                let by_name: std::collections::HashMap<&str, &String> = entries
                    .iter()
                    .map(|e| e.name.as_str())
                    .zip(&written.content)
                    .collect();
                let digests: Vec<String> = files
                    .iter()
                    .map(|f| by_name[f.rel.as_str()].clone())
                    .collect();
                cache.store(key, files, &digests, &written, &dest);
                (written, false)
            }
        };
        let limit = spec.package.zipped_max_mib * 1024 * 1024;
        if written.zipped > limit {
            let f = &resolved.functions[&functions[0]];
            return Err(too_large(f, "zipped", written.zipped, limit, spec, files));
        }
        artifacts.push(Artifact {
            path: out.join(format!("{}.zip", written.sha256)),
            sha256: written.sha256,
            zipped: written.zipped,
            unzipped: written.unzipped,
            files: written.files,
            reused,
            functions: functions.clone(),
        });
    }
    let mut functions = IndexMap::new();
    for f in resolved.functions.values() {
        let a = artifacts
            .iter()
            .find(|a| a.functions.contains(&f.name))
            .expect("every function is in a group");
        functions.insert(
            f.name.clone(),
            FunctionArtifact {
                artifact: a.sha256.clone(),
                path: a.path.clone(),
                sha256: a.sha256.clone(),
                zipped: a.zipped,
                unzipped: a.unzipped,
                files: a.files,
                unit: unit_hash(f, &a.sha256),
            },
        );
    }
    let report = Report {
        target: resolved.target.clone(),
        provider: resolved.provider.to_string(),
        out: out.to_path_buf(),
        artifacts,
        functions,
    };
    write_manifest(&report)?;
    prune(out, &report);
    cache.save(&cache_path);
    Ok(report)
}

/// Functions that share one artifact.
struct Group<'t> {
    files: Vec<&'t FileEntry>,
    generated: Vec<(String, Vec<u8>)>,
    functions: Vec<String>,
}

/// The artifact's package.json for a Cloud Run Node.js function: the user's
/// (kept as it is but for `main`) or a minimal one; `main` is the shim.
fn gcp_package_json(theirs: Option<&FileEntry>, f: &Function) -> Result<Vec<u8>, PackageError> {
    let mut doc = match theirs {
        Some(e) => {
            let text = std::fs::read(&e.abs).map_err(|source| {
                PackageError::Select(SelectError::Io {
                    path: e.abs.clone(),
                    source,
                })
            })?;
            match serde_json::from_slice::<serde_json::Value>(&text) {
                Ok(v @ serde_json::Value::Object(_)) => v,
                _ => {
                    return Err(PackageError::BadPackageJson {
                        function: f.name.clone(),
                        path: e.abs.clone(),
                    });
                }
            }
        }
        // The same for every function, so functions with one file set share one artifact.
        None => serde_json::json!({"private": true}),
    };
    doc["main"] = serde_json::Value::String("nubo_gcp.js".to_owned());
    let mut bytes = serde_json::to_vec_pretty(&doc).expect("JSON serializes");
    bytes.push(b'\n');
    Ok(bytes)
}

/// Files nubo generates into an artifact: the per-provider handler shim and
/// the `nubo` call helper (DESIGN.md, "Neutral handlers"). The local cloud
/// runs its own bootstraps and needs none; a native handler gets none.
fn generated_files(resolved: &Resolved, f: &Function) -> Vec<(String, Vec<u8>)> {
    if f.handler_style != crate::manifest::HandlerStyle::Neutral {
        return Vec::new();
    }
    let files: &[(&str, &str)] = match (resolved.provider, f.runtime.language()) {
        (crate::manifest::ProviderKind::Aws, crate::manifest::Language::Node) => &[
            (
                "nubo_aws.js",
                include_str!("../../templates/aws/node/nubo_aws.js"),
            ),
            (
                "node_modules/nubo/index.js",
                include_str!("../../templates/aws/node/nubo/index.js"),
            ),
            (
                "node_modules/nubo/package.json",
                include_str!("../../templates/aws/node/nubo/package.json"),
            ),
        ],
        (crate::manifest::ProviderKind::Aws, crate::manifest::Language::Python) => &[
            (
                "nubo_aws.py",
                include_str!("../../templates/aws/python/nubo_aws.py"),
            ),
            (
                "nubo.py",
                include_str!("../../templates/aws/python/nubo.py"),
            ),
        ],
        // Cloud Run functions: the Functions Framework serves target `nubo`.
        (crate::manifest::ProviderKind::Gcp, crate::manifest::Language::Node) => &[
            (
                "nubo_gcp.js",
                include_str!("../../templates/gcp/node/nubo_gcp.js"),
            ),
            (
                "node_modules/nubo/index.js",
                include_str!("../../templates/gcp/node/nubo/index.js"),
            ),
            (
                "node_modules/nubo/package.json",
                include_str!("../../templates/gcp/node/nubo/package.json"),
            ),
        ],
        (crate::manifest::ProviderKind::Gcp, crate::manifest::Language::Python) => &[
            (
                "main.py",
                include_str!("../../templates/gcp/python/main.py"),
            ),
            (
                "nubo.py",
                include_str!("../../templates/gcp/python/nubo.py"),
            ),
        ],
        // Azure Functions, classic (v3) model: function.json files point
        // at `nubo_azure.js` (see provider::azure::app).
        (crate::manifest::ProviderKind::Azure, crate::manifest::Language::Node) => &[
            (
                "nubo_azure.js",
                include_str!("../../templates/azure/node/nubo_azure.js"),
            ),
            (
                "node_modules/nubo/index.js",
                include_str!("../../templates/azure/node/nubo/index.js"),
            ),
            (
                "node_modules/nubo/package.json",
                include_str!("../../templates/azure/node/nubo/package.json"),
            ),
        ],
        (crate::manifest::ProviderKind::Azure, crate::manifest::Language::Python) => &[
            (
                "nubo_azure.py",
                include_str!("../../templates/azure/python/nubo_azure.py"),
            ),
            (
                "nubo.py",
                include_str!("../../templates/azure/python/nubo.py"),
            ),
        ],
        _ => &[],
    };
    files
        .iter()
        .map(|(name, text)| ((*name).to_owned(), text.as_bytes().to_vec()))
        .collect()
}

/// The identity of a file set, before any byte is read: archive names,
/// modes and source paths, and generated content. Equal keys give
/// byte-identical zips.
fn file_set_key(files: &[&FileEntry], generated: &[(String, Vec<u8>)]) -> String {
    let mut h = Sha256::new();
    h.update(FORMAT.as_bytes());
    for f in files {
        h.update([0]);
        h.update(f.rel.as_bytes());
        h.update([0, u8::from(f.executable), 0]);
        h.update(f.abs.as_os_str().as_encoded_bytes());
    }
    for (name, bytes) in generated {
        h.update([1]);
        h.update(name.as_bytes());
        h.update([0]);
        h.update(Sha256::digest(bytes));
    }
    hex(&h.finalize())
}

/// Hash of a function's deployable unit: its artifact and every setting a
/// deploy publishes (runtime, handler, memory, timeout, env, calls). Secret
/// values never enter it: a secret is hashed as its reference.
pub fn unit_hash(f: &Function, artifact_sha256: &str) -> String {
    let env: BTreeMap<&str, String> = f
        .env
        .iter()
        .map(|(k, v)| {
            let v = match v {
                EnvValue::Text(t) => format!("text:{t}"),
                EnvValue::Secret(name) => format!("secret:{name}"),
                EnvValue::PerRelease(parts) => format!("release:{parts:?}"),
            };
            (k.as_str(), v)
        })
        .collect();
    let mut calls = f.calls.clone();
    calls.sort();
    let unit = serde_json::json!({
        "format": FORMAT,
        "artifact": artifact_sha256,
        "runtime": f.runtime.as_str(),
        "handler": format!("{}.{}", f.handler_file, f.handler_export),
        "handler_style": format!("{:?}", f.handler_style),
        "memory": f.memory,
        "timeout_ms": f.timeout.as_millis() as u64,
        "env": env,
        "calls": calls,
    });
    hex(&Sha256::digest(unit.to_string().as_bytes()))
}

fn too_large(
    f: &Function,
    what: &'static str,
    size: u64,
    limit: u64,
    spec: &ProviderSpec,
    files: &[&FileEntry],
) -> PackageError {
    // Sizes by directory, two levels deep (`node_modules/aws-sdk`, `src/lib`).
    let mut dirs: BTreeMap<String, u64> = BTreeMap::new();
    for file in files {
        let parts: Vec<&str> = file.rel.split('/').collect();
        let dir = match parts.len() {
            1 => ".".to_owned(),
            2 => parts[0].to_owned(),
            _ => format!("{}/{}", parts[0], parts[1]),
        };
        *dirs.entry(dir).or_default() += file.size;
    }
    let mut biggest: Vec<(String, u64)> = dirs.into_iter().collect();
    biggest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    biggest.truncate(5);
    PackageError::TooLarge {
        function: f.name.clone(),
        what,
        size,
        limit,
        provider: spec.provider.to_string(),
        biggest,
    }
}

/// `artifacts.json`: function → path, sha256, sizes, file count; written atomically.
fn write_manifest(report: &Report) -> Result<(), PackageError> {
    let functions: IndexMap<&str, serde_json::Value> = report
        .functions
        .iter()
        .map(|(name, f)| {
            (
                name.as_str(),
                serde_json::json!({
                    "path": f.path.file_name().map(|n| n.to_string_lossy().into_owned()),
                    "sha256": f.sha256,
                    "zipped": f.zipped,
                    "unzipped": f.unzipped,
                    "files": f.files,
                    "unit": f.unit,
                }),
            )
        })
        .collect();
    let doc = serde_json::json!({
        "target": report.target,
        "provider": report.provider,
        "functions": functions,
    });
    let path = report.out.join("artifacts.json");
    let mut text = serde_json::to_string_pretty(&doc).expect("json serializes");
    text.push('\n');
    write_atomic(&path, text.as_bytes()).map_err(|source| PackageError::Write { path, source })
}

/// Write via a temporary file and a rename, so readers never see half a file.
pub use crate::state::write_atomic;

/// Remove zips in `out` that no function uses any more (only names nubo writes).
fn prune(out: &Path, report: &Report) {
    let Ok(entries) = std::fs::read_dir(out) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // A temporary zip is another run's work in progress unless it is old
        // (left by a killed process).
        let abandoned = name.starts_with(".tmp-")
            && name.ends_with(".zip")
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(600));
        let ours = name
            .strip_suffix(".zip")
            .is_some_and(|stem| stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit()))
            || abandoned;
        if ours
            && !report
                .artifacts
                .iter()
                .any(|a| a.path.file_name() == Some(entry.file_name().as_os_str()))
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// `1.5 MiB`
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_for_people() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(50 * 1024 * 1024), "50.0 MiB");
    }
}
