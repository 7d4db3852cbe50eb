//! Which files go into each function's artifact, and the checks that keep
//! anything else out: paths that leave the service, credential files, the
//! handler missing from its own package.
//!
//! The service directory is walked once; each function's file set is then a
//! filter over that walk: its `include` globs (default: the handler's
//! directory), the runtime's dependencies (production `node_modules`, a
//! vendored Python folder, a `bootstrap`), minus `exclude`, `.nuboignore`
//! and what is never packaged (`.nubo/`, `.git/`, `.env*`, the manifest).

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::manifest::Language;
use crate::resolve::Function;

/// A file found in the service directory.
#[derive(Debug, Clone)]
pub struct FileEntry {
    /// Path relative to the service directory, `/`-separated.
    pub rel: String,
    /// Where to read it (a symlink's target for links inside the service).
    pub abs: PathBuf,
    pub size: u64,
    /// Modification time in nanoseconds since the epoch, for the cache.
    pub mtime_ns: i128,
    pub executable: bool,
    /// Set when the path is a symlink that resolves outside the service.
    pub outside: Option<PathBuf>,
}

/// Every file of the service directory that may be packaged.
#[derive(Debug, Default)]
pub struct Tree {
    pub files: Vec<FileEntry>,
    /// Directory symlinks that leave the service: (rel path, target).
    pub outside_dirs: Vec<(String, PathBuf)>,
    /// Files whose names are not UTF-8 (shown lossily): zips cannot name them portably.
    pub not_utf8: Vec<String>,
    /// Whether the top level has these, for the runtime defaults.
    pub has: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("could not read `{}`", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{rel}` in the package of `{function}` resolves outside the service directory, to `{}`", .target.display())]
    Outside {
        function: String,
        rel: String,
        target: PathBuf,
    },
    #[error(
        "`{rel}` looks like a credential; it is not packaged into `{function}` unless included by name"
    )]
    Credential { function: String, rel: String },
    #[error("`{rel}` in the package of `{function}` has a name that is not UTF-8")]
    NotUtf8 { function: String, rel: String },
    #[error("`{pattern}` in `functions.{function}.{field}` points outside the service directory")]
    PatternOutside {
        function: String,
        field: &'static str,
        pattern: String,
    },
    #[error("invalid glob `{pattern}` in `functions.{function}.{field}`: {message}")]
    Glob {
        function: String,
        field: &'static str,
        pattern: String,
        message: String,
    },
    #[error("the handler file of `{function}` is not in its package (looked for {looked})")]
    HandlerMissing { function: String, looked: String },
    #[error("the .nuboignore file is invalid: {message}")]
    Ignore { message: String },
}

/// Never packaged, whatever the globs say.
fn never(rel: &str, is_dir: bool) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    if is_dir {
        return name == ".git" || rel == ".nubo" || name == ".hg" || name == ".svn";
    }
    name.starts_with(".env") || name == ".nuboignore" || name == ".DS_Store"
}

/// Names that look like credentials (private keys, cloud credentials, tokens).
fn looks_like_credential(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel).to_ascii_lowercase();
    name.ends_with(".pem")
        || name.ends_with(".key")
        || name.ends_with(".p12")
        || name.ends_with(".pfx")
        || name.starts_with("id_rsa")
        || name.starts_with("id_ecdsa")
        || name.starts_with("id_ed25519")
        || name.starts_with("id_dsa")
        || name == ".netrc"
        || name == ".npmrc"
        || name == ".pypirc"
        || rel.ends_with(".aws/credentials")
        || rel.ends_with(".docker/config.json")
        || rel.contains(".ssh/")
}

/// Walk `root`, skipping what is never packaged, `out` and `.nuboignore` matches.
pub fn walk(root: &Path, manifest: &Path, out: Option<&Path>) -> Result<Tree, SelectError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SelectError::Io { path, source }
    };
    let root = root.canonicalize().map_err(io(root))?;
    let manifest = manifest.canonicalize().ok();
    let out = out.and_then(|o| o.canonicalize().ok());
    let ignore = {
        let mut b = ignore::gitignore::GitignoreBuilder::new(&root);
        let file = root.join(".nuboignore");
        if file.is_file()
            && let Some(e) = b.add(&file)
        {
            return Err(SelectError::Ignore {
                message: e.to_string(),
            });
        }
        b.build().map_err(|e| SelectError::Ignore {
            message: e.to_string(),
        })?
    };
    let mut tree = Tree::default();
    let mut seen_dirs: HashSet<PathBuf> = HashSet::new();
    seen_dirs.insert(root.clone());
    // (directory on disk, its rel path)
    let mut stack: Vec<(PathBuf, String)> = vec![(root.clone(), String::new())];
    while let Some((dir, rel_dir)) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(io(&dir))?;
        for entry in entries {
            let entry = entry.map_err(io(&dir))?;
            let (name, utf8) = match entry.file_name().to_str() {
                Some(n) => (n.to_owned(), true),
                None => (entry.file_name().to_string_lossy().into_owned(), false),
            };
            let rel = if rel_dir.is_empty() {
                name.clone()
            } else {
                format!("{rel_dir}/{name}")
            };
            let path = entry.path();
            let link = entry.file_type().map_err(io(&path))?.is_symlink();
            let meta = match std::fs::metadata(&path) {
                Ok(m) => m,
                // A dangling symlink: nothing to package.
                Err(_) if link => continue,
                Err(e) => return Err(io(&path)(e)),
            };
            let is_dir = meta.is_dir();
            if never(&rel, is_dir) || ignore.matched(&rel, is_dir).is_ignore() {
                continue;
            }
            let target = if link {
                let t = path.canonicalize().map_err(io(&path))?;
                if !t.starts_with(&root) {
                    if is_dir {
                        tree.outside_dirs.push((rel.clone(), t));
                    } else {
                        tree.files.push(FileEntry {
                            rel,
                            abs: path,
                            size: meta.len(),
                            mtime_ns: mtime(&meta),
                            executable: false,
                            outside: Some(t),
                        });
                    }
                    continue;
                }
                t
            } else {
                path.clone()
            };
            if rel_dir.is_empty() {
                tree.has.insert(name.clone());
            }
            if is_dir {
                let canonical = if link { target.clone() } else { path.clone() };
                if out.as_ref().is_some_and(|o| *o == canonical) {
                    continue;
                }
                // A link back up the tree would loop forever.
                if seen_dirs.insert(canonical.canonicalize().unwrap_or(canonical)) {
                    stack.push((target, rel));
                }
                continue;
            }
            if !meta.is_file() {
                continue;
            }
            if !utf8 {
                tree.not_utf8.push(rel);
                continue;
            }
            if manifest.as_ref().is_some_and(|m| *m == target) {
                continue;
            }
            tree.files.push(FileEntry {
                rel,
                abs: target,
                size: meta.len(),
                mtime_ns: mtime(&meta),
                executable: is_executable(&meta),
                outside: None,
            });
        }
    }
    tree.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(tree)
}

fn mtime(meta: &std::fs::Metadata) -> i128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128)
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::Metadata) -> bool {
    false
}

/// A gitignore-style pattern as globs: `*.md` matches at any depth, `dir/`
/// and a bare directory name match everything below, `/x` is anchored.
fn expand(pattern: &str) -> Vec<String> {
    let p = pattern.trim();
    let anchored = p.starts_with('/');
    let p = p.trim_start_matches('/');
    let p = p.strip_prefix("./").unwrap_or(p);
    let dir_only = p.ends_with('/');
    let p = p.trim_end_matches('/');
    let base = if anchored || p.contains('/') {
        p.to_owned()
    } else {
        format!("**/{p}")
    };
    if dir_only {
        vec![format!("{base}/**")]
    } else {
        vec![base.clone(), format!("{base}/**")]
    }
}

fn globset(
    function: &str,
    field: &'static str,
    patterns: &[String],
) -> Result<GlobSet, SelectError> {
    build(function, field, patterns, expand)
}

/// Globs that match files by their own name only, without the "and
/// everything below" of a directory pattern.
fn file_globset(function: &str, patterns: &[String]) -> Result<GlobSet, SelectError> {
    build(function, "include", patterns, |p| {
        expand(p).into_iter().take(1).collect()
    })
}

fn build(
    function: &str,
    field: &'static str,
    patterns: &[String],
    expand: impl Fn(&str) -> Vec<String>,
) -> Result<GlobSet, SelectError> {
    let mut b = GlobSetBuilder::new();
    for pattern in patterns {
        if pattern.split(['/', '\\']).any(|c| c == "..") {
            return Err(SelectError::PatternOutside {
                function: function.to_owned(),
                field,
                pattern: pattern.clone(),
            });
        }
        for g in expand(pattern) {
            let glob = GlobBuilder::new(&g)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| SelectError::Glob {
                    function: function.to_owned(),
                    field,
                    pattern: pattern.clone(),
                    message: e.kind().to_string(),
                })?;
            b.add(glob);
        }
    }
    b.build().map_err(|e| SelectError::Glob {
        function: function.to_owned(),
        field,
        pattern: patterns.join(", "),
        message: e.to_string(),
    })
}

/// Whether an include pattern names files specifically (`certs/*.pem`,
/// `server.key`), rather than everything under a folder (`src/**`).
fn names_files(pattern: &str) -> bool {
    let last = pattern.rsplit('/').next().unwrap_or("");
    !last.is_empty() && last != "*" && last != "**"
}

/// Development-only packages under `node_modules`, from `package-lock.json`
/// (`"dev": true`), else from `package.json`'s `devDependencies`.
pub fn node_dev_dependencies(root: &Path) -> Vec<String> {
    let read = |name: &str| -> Option<serde_json::Value> {
        serde_json::from_slice(&std::fs::read(root.join(name)).ok()?).ok()
    };
    if let Some(lock) = read("package-lock.json")
        && let Some(packages) = lock.get("packages").and_then(|p| p.as_object())
    {
        return packages
            .iter()
            .filter(|(path, meta)| {
                path.starts_with("node_modules/")
                    && meta.get("dev").and_then(|d| d.as_bool()) == Some(true)
            })
            .map(|(path, _)| path.clone())
            .collect();
    }
    read("package.json")
        .and_then(|p| {
            p.get("devDependencies")
                .and_then(|d| d.as_object())
                .cloned()
        })
        .map(|deps| deps.keys().map(|k| format!("node_modules/{k}")).collect())
        .unwrap_or_default()
}

/// What decides a function's file set. Functions with equal selections
/// (say, several handlers in one `src/`) get the same files, so the walk is
/// filtered once per distinct selection, not once per function.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selection {
    include: Vec<String>,
    exclude: Vec<String>,
    language: Language,
    handler_dir: String,
}

impl Selection {
    pub fn of(f: &Function) -> Selection {
        Selection {
            include: f.include.clone(),
            exclude: f.exclude.clone(),
            language: f.runtime.language(),
            handler_dir: handler_dir(f).to_owned(),
        }
    }
}

fn handler_dir(f: &Function) -> &str {
    f.handler_file.rsplit_once('/').map_or("", |(d, _)| d)
}

/// The files of `f`'s artifact, in archive order; checks that its handler is among them.
pub fn select<'t>(
    tree: &'t Tree,
    f: &Function,
    dev_deps: &[String],
) -> Result<Vec<&'t FileEntry>, SelectError> {
    let files = matching(tree, f, dev_deps)?;
    check_handler(&files, f)?;
    Ok(files)
}

/// The files `f`'s [`Selection`] takes from the tree.
pub fn matching<'t>(
    tree: &'t Tree,
    f: &Function,
    dev_deps: &[String],
) -> Result<Vec<&'t FileEntry>, SelectError> {
    let lang = f.runtime.language();
    let handler_dir = handler_dir(f);
    let mut include: Vec<String> = if f.include.is_empty() {
        if handler_dir.is_empty() {
            vec!["/**".to_owned()]
        } else {
            vec![format!("/{handler_dir}/")]
        }
    } else {
        f.include.clone()
    };
    // The runtime's own dependencies come along whatever `include` says.
    let mut deps: Vec<String> = Vec::new();
    match lang {
        Language::Node => {
            for name in ["node_modules", "package.json"] {
                if tree.has.contains(name) {
                    deps.push(format!("/{name}"));
                }
            }
        }
        Language::Python => {
            for name in ["vendor", ".python_packages"] {
                if tree.has.contains(name) {
                    deps.push(format!("/{name}/"));
                }
            }
        }
        Language::Binary => {
            if tree.has.contains("bootstrap") {
                deps.push("/bootstrap".to_owned());
            }
        }
    }
    include.extend(deps);
    let mut exclude = f.exclude.clone();
    exclude.extend(dev_deps.iter().map(|d| format!("/{d}/")));
    exclude.extend(
        [
            "/node_modules/.bin/",
            "/node_modules/.cache/",
            "/node_modules/.package-lock.json",
        ]
        .map(String::from),
    );
    let includes = globset(&f.name, "include", &include)?;
    let explicit: Vec<String> = f
        .include
        .iter()
        .filter(|p| names_files(p))
        .cloned()
        .collect();
    let explicit = file_globset(&f.name, &explicit)?;
    let excludes = globset(&f.name, "exclude", &exclude)?;

    for (rel, target) in &tree.outside_dirs {
        let probe = format!("{rel}/x");
        if includes.is_match(&probe) && !excludes.is_match(&probe) {
            return Err(SelectError::Outside {
                function: f.name.clone(),
                rel: rel.clone(),
                target: target.clone(),
            });
        }
    }
    if let Some(rel) = tree
        .not_utf8
        .iter()
        .find(|rel| includes.is_match(rel.as_str()) && !excludes.is_match(rel.as_str()))
    {
        return Err(SelectError::NotUtf8 {
            function: f.name.clone(),
            rel: rel.clone(),
        });
    }
    let mut out = Vec::new();
    for file in &tree.files {
        if !includes.is_match(&file.rel) || excludes.is_match(&file.rel) {
            continue;
        }
        if let Some(target) = &file.outside {
            return Err(SelectError::Outside {
                function: f.name.clone(),
                rel: file.rel.clone(),
                target: target.clone(),
            });
        }
        if looks_like_credential(&file.rel) && !explicit.is_match(&file.rel) {
            return Err(SelectError::Credential {
                function: f.name.clone(),
                rel: file.rel.clone(),
            });
        }
        out.push(file);
    }
    Ok(out)
}

/// The handler's own file must be in the package.
pub fn check_handler(files: &[&FileEntry], f: &Function) -> Result<(), SelectError> {
    let handler_dir = handler_dir(f);
    let candidates: Vec<String> = match f.runtime.language() {
        Language::Node => ["js", "mjs", "cjs"]
            .iter()
            .map(|e| format!("{}.{e}", f.handler_file))
            .collect(),
        Language::Python => vec![format!("{}.py", f.handler_file)],
        Language::Binary => vec!["bootstrap".to_owned(), format!("{handler_dir}/bootstrap")],
    };
    if !files.iter().any(|e| candidates.contains(&e.rel)) {
        return Err(SelectError::HandlerMissing {
            function: f.name.clone(),
            looked: candidates
                .iter()
                .filter(|c| !c.starts_with('/'))
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(" or "),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitignore_style_patterns() {
        assert_eq!(expand("*.md"), vec!["**/*.md", "**/*.md/**"]);
        assert_eq!(expand("src/"), vec!["**/src/**"]);
        assert_eq!(expand("/src/"), vec!["src/**"]);
        assert_eq!(expand("/lib"), vec!["lib", "lib/**"]);
        assert_eq!(expand("src/**"), vec!["src/**", "src/**/**"]);
        let set = globset("f", "include", &["src".to_owned()]).unwrap();
        assert!(set.is_match("src/a/b.js"));
        assert!(!set.is_match("srcs/a.js"));
    }

    #[test]
    fn credentials_and_explicit_names() {
        assert!(looks_like_credential("certs/server.pem"));
        assert!(looks_like_credential("src/id_rsa"));
        assert!(looks_like_credential("home/.aws/credentials"));
        assert!(!looks_like_credential("src/keyboard.js"));
        assert!(names_files("certs/*.pem"));
        assert!(!names_files("src/**"));
        assert!(!names_files("src/"));
        let explicit = file_globset("f", &["src".to_owned(), "certs/*.pem".to_owned()]).unwrap();
        assert!(!explicit.is_match("src/a.key"));
        assert!(explicit.is_match("certs/a.pem"));
    }
}
