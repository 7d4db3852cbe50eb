//! `nubo init`: a working service from a template in `templates/init/`.
//!
//! Templates are compiled into the binary. Files ending in `.tera` are
//! rendered with the service name; `gitignore` becomes `.gitignore` (a dotfile
//! would be ignored by packaging tools on the way in). Nothing is overwritten.

use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates/init");

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("unknown template `{name}`")]
    UnknownTemplate { name: String, help: String },
    #[error("`{}` already exists", crate::diag::display_path(.0))]
    Exists(PathBuf),
    #[error("`{name}` is not a valid service name")]
    BadName { name: String },
    #[error("could not write `{}`", crate::diag::display_path(.path))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("template `{file}` failed to render: {message}")]
    Render { file: String, message: String },
}

/// The template names, sorted.
pub fn templates() -> Vec<&'static str> {
    let mut names: Vec<&str> = TEMPLATES
        .dirs()
        .filter_map(|d| d.path().file_name()?.to_str())
        .collect();
    names.sort_unstable();
    names
}

/// A service name derived from a directory name: `My Shop` → `my-shop`.
pub fn service_name_for(dir: &Path) -> Option<String> {
    let base = std::path::absolute(dir)
        .ok()?
        .file_name()?
        .to_str()?
        .to_lowercase();
    let mut name = String::new();
    for c in base.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            name.push(c);
        } else if !name.ends_with('-') && !name.is_empty() {
            name.push('-');
        }
    }
    let mut name = name.trim_end_matches('-').to_owned();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "svc-");
    }
    name.truncate(40);
    let name = name.trim_end_matches('-').to_owned();
    crate::validate::service::is_name(&name, 40).then_some(name)
}

/// Write template `template` into `dir` for service `service`; returns the files written.
pub fn create(dir: &Path, template: &str, service: &str) -> Result<Vec<PathBuf>, ScaffoldError> {
    let Some(root) = TEMPLATES.get_dir(template) else {
        let names = templates();
        let help = crate::suggest::help_or(template, &names, "the templates are");
        return Err(ScaffoldError::UnknownTemplate {
            name: template.to_owned(),
            help,
        });
    };
    if !crate::validate::service::is_name(service, 40) {
        return Err(ScaffoldError::BadName {
            name: service.to_owned(),
        });
    }
    let mut files = Vec::new();
    collect(root, &mut files);
    let mut context = tera::Context::new();
    context.insert("service", service);
    let mut planned = Vec::new();
    for file in files {
        let rel = file.path().strip_prefix(root.path()).unwrap_or(file.path());
        let mut out = dir.join(rel);
        let mut contents = file.contents().to_vec();
        if out.extension().is_some_and(|e| e == "tera") {
            out.set_extension("");
            let text = String::from_utf8_lossy(&contents).into_owned();
            contents = tera::Tera::one_off(&text, &context, false)
                .map_err(|e| ScaffoldError::Render {
                    file: rel.display().to_string(),
                    message: format!("{e:?}"),
                })?
                .into_bytes();
        }
        if out.file_name().is_some_and(|n| n == "gitignore") {
            out.set_file_name(".gitignore");
        }
        if out.exists() {
            return Err(ScaffoldError::Exists(out));
        }
        planned.push((out, contents));
    }
    let mut written = Vec::new();
    for (path, contents) in planned {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| ScaffoldError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, contents).map_err(|source| ScaffoldError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

fn collect<'a>(dir: &'a Dir<'a>, out: &mut Vec<&'a include_dir::File<'a>>) {
    out.extend(dir.files());
    for d in dir.dirs() {
        collect(d, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_directories() {
        assert_eq!(
            service_name_for(Path::new("/tmp/My Shop")).as_deref(),
            Some("my-shop")
        );
        assert_eq!(
            service_name_for(Path::new("/tmp/2024_app")).as_deref(),
            Some("svc-2024-app")
        );
        assert_eq!(service_name_for(Path::new("/tmp/___")), None);
    }

    #[test]
    fn the_three_templates_exist() {
        assert_eq!(templates(), vec!["chain", "http-node", "http-python"]);
    }
}
