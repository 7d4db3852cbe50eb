//! Loading `nubo.yaml`: bytes → spanned YAML → typed [`Manifest`].
//!
//! This phase only reads and types the file. It reports every syntax, type
//! and unknown-key error of a file in one run, each with its place; checks
//! that need the whole service (calls, routes, files) belong to `validate`.

pub mod de;
pub mod model;
pub mod yaml;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use de::SpanMap;
pub use model::*;

use crate::diag::{Diagnostic, Source};

/// The manifest file name looked for when none is given.
pub const FILE_NAME: &str = "nubo.yaml";

/// A decoded manifest and what is needed to point back into it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub manifest: Manifest,
    pub spans: SpanMap,
    pub source: Arc<Source>,
    /// The directory holding the manifest; handler paths are relative to it.
    pub dir: PathBuf,
}

impl Loaded {
    /// A diagnostic pointing at the value at `path` (else its key).
    pub fn error_at(&self, path: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(message).at(&self.source, self.spans.best(path))
    }

    /// A diagnostic pointing at the key of `path`.
    pub fn error_at_key(&self, path: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(message).at(
            &self.source,
            self.spans.key(path).or(self.spans.value(path)),
        )
    }

    pub fn warning_at(&self, path: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::warning(message).at(&self.source, self.spans.best(path))
    }

    pub fn warning_at_key(&self, path: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::warning(message).at(
            &self.source,
            self.spans.key(path).or(self.spans.value(path)),
        )
    }
}

/// Read and decode the manifest at `path`; any problem fails.
pub fn load(path: &Path) -> Result<Loaded, Vec<Diagnostic>> {
    strict(load_lenient(path))
}

/// The manifest as far as it could be read, and every problem found.
///
/// `loaded` is present when the only problems are unknown keys: the typed
/// model is then exact, so `validate` can go on to report the service's
/// other mistakes in the same run. Every other caller wants [`load`].
pub struct Lenient {
    pub loaded: Option<Loaded>,
    pub diagnostics: Vec<Diagnostic>,
}

fn strict(l: Lenient) -> Result<Loaded, Vec<Diagnostic>> {
    match l.loaded {
        Some(loaded) if l.diagnostics.is_empty() => Ok(loaded),
        _ => Err(l.diagnostics),
    }
}

fn failed(diagnostics: Vec<Diagnostic>) -> Lenient {
    Lenient {
        loaded: None,
        diagnostics,
    }
}

/// Read and decode the manifest at `path`, keeping what could be read.
pub fn load_lenient(path: &Path) -> Lenient {
    let bytes = match read_capped(path) {
        Ok(b) => b,
        Err(e) => {
            let mut d = Diagnostic::error(format!(
                "could not read `{}`: {}",
                crate::diag::display_path(path),
                io_reason(&e)
            ));
            if e.kind() == std::io::ErrorKind::NotFound {
                d = d.help(
                    "run `nubo init` to create a service here, or point at one with `-f PATH`",
                );
            }
            return failed(vec![d]);
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let prefix = String::from_utf8_lossy(&bytes[..valid]);
            let line = prefix.matches('\n').count() + 1;
            let col = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count());
            let source = Source::new(path, prefix.into_owned());
            let at = yaml::Span::point(yaml::Pos { line, col });
            return failed(vec![
                Diagnostic::error("the file is not valid UTF-8")
                    .at(&source, Some(at))
                    .help("save the manifest as UTF-8"),
            ]);
        }
    };
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    decode_str(path, text, dir)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

/// Read at most one byte past the size limit, so a huge file costs nothing.
fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(std::io::Error::other("it is a directory"));
    }
    let mut buf = Vec::new();
    file.take(yaml::MAX_BYTES as u64 + 1)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

/// Decode manifest text; `name` is shown in diagnostics, `dir` anchors handler paths.
pub fn load_str(name: &Path, text: String, dir: PathBuf) -> Result<Loaded, Vec<Diagnostic>> {
    strict(decode_str(name, text, dir))
}

/// [`load_str`], keeping what could be read (see [`Lenient`]).
pub fn decode_str(name: &Path, text: String, dir: PathBuf) -> Lenient {
    let source = Source::new(name, text);
    let root = match yaml::parse(&source.text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            return failed(vec![
                Diagnostic::error("the manifest is empty")
                    .at(&source, Some(yaml::Span::point(yaml::Pos { line: 1, col: 0 })))
                    .help("a manifest starts with `nubo: 1`, `service:`, `targets:` and `functions:`; `nubo init` writes one"),
            ]);
        }
        Err(e) => {
            let d = Diagnostic::error(e.message)
                .at(&source, Some(e.span))
                .maybe_help(e.help);
            let d = match e.label {
                Some(l) => d.label(l),
                None => d,
            };
            return failed(vec![d]);
        }
    };
    let decoded = de::decode::<Manifest>(&root);
    let diagnostics = decoded
        .errors
        .into_iter()
        .map(|e| {
            let d = Diagnostic::error(e.message)
                .at(&source, e.span)
                .maybe_help(e.help);
            match e.label {
                Some(l) => d.label(l),
                None => d,
            }
        })
        .collect();
    Lenient {
        loaded: decoded.value.map(|(manifest, spans)| Loaded {
            manifest,
            spans,
            source,
            dir,
        }),
        diagnostics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Loaded, Vec<Diagnostic>> {
        load_str(Path::new("nubo.yaml"), text.to_owned(), PathBuf::from("."))
    }

    const OK: &str = "nubo: 1\nservice: shop\ntargets:\n  dev: { provider: local }\nfunctions:\n  a:\n    handler: src/a.handler\n    timeout: 10s\n";

    #[test]
    fn loads_a_minimal_manifest() {
        let l = load(OK).unwrap();
        assert_eq!(l.manifest.service, "shop");
        assert_eq!(
            l.manifest.functions["a"].timeout.unwrap().as_millis(),
            10_000
        );
        let span = l.spans.value("functions.a.timeout").unwrap();
        assert_eq!((span.start.line, span.start.col), (8, 13));
    }

    #[test]
    fn reports_every_error_in_one_run() {
        let text = "nubo: 1\nservice: shop\ntargets:\n  dev: { provider: lokal }\nfunctions:\n  a:\n    handler: src/a.handler\n    timout: 10s\n    memory: lots\n  b:\n    memory: 128\n";
        let errs = load(text).unwrap_err();
        let msgs: Vec<_> = errs
            .iter()
            .map(|d| format!("{} {}", d.location().unwrap(), d.message))
            .collect();
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("nubo.yaml:8:5 unknown key `timout`")),
            "{msgs:#?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("nubo.yaml:4:20 unknown value `lokal`")),
            "{msgs:#?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("nubo.yaml:9:13 expected a whole number")),
            "{msgs:#?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m
                    .starts_with("nubo.yaml:10:3 `functions.b` is missing required key `handler`")),
            "{msgs:#?}"
        );
        assert_eq!(errs.len(), 4, "{msgs:#?}");
    }
}
