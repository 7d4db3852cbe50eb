//! `nubo package [-t TARGET] [--out DIR]`: one deterministic, content-addressed
//! zip per distinct file set, and `artifacts.json` describing them.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;

use super::{CmdResult, Ctx, Failure};
use crate::diag::{Diagnostic, display_path};
use crate::manifest::Loaded;
use crate::package::select::SelectError;
use crate::package::{self, PackageError, human_size};
use crate::provider::spec;
use crate::resolve::Resolved;
use crate::ui::bold;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write the artifacts and `artifacts.json` to (default: `.nubo/build/TARGET`)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Package a validated service into its default output folder (for `deploy` and `plan`).
pub fn build(ctx: &Ctx, loaded: &Loaded, resolved: &Resolved) -> Result<package::Report, Failure> {
    let out = package::default_out(&loaded.dir, &resolved.target);
    package::package(
        resolved,
        &ctx.global.file,
        spec::get(resolved.provider),
        &out,
    )
    .map_err(|e| failure(ctx, loaded, e))
}

pub fn exec(args: Args, ctx: &Ctx) -> CmdResult {
    let (loaded, resolved) = ctx.validated()?;
    let spec = spec::get(resolved.provider);
    let out = args
        .out
        .unwrap_or_else(|| package::default_out(&loaded.dir, &resolved.target));
    let start = Instant::now();
    let report = package::package(&resolved, &ctx.global.file, spec, &out)
        .map_err(|e| failure(ctx, &loaded, e))?;
    let elapsed = start.elapsed();

    if ctx.printer.is_json() {
        for a in &report.artifacts {
            ctx.printer.event(json!({
                "type": "artifact",
                "sha256": a.sha256,
                "path": display_path(&a.path),
                "zipped": a.zipped,
                "unzipped": a.unzipped,
                "files": a.files,
                "reused": a.reused,
                "functions": a.functions,
            }));
        }
        ctx.printer.event(json!({
            "type": "result",
            "ok": true,
            "target": report.target,
            "out": display_path(&report.out),
            "functions": report.functions.iter().map(|(name, f)| (name.clone(), json!({
                "path": display_path(&f.path),
                "sha256": f.sha256,
                "zipped": f.zipped,
                "unzipped": f.unzipped,
                "files": f.files,
                "unit": f.unit,
            }))).collect::<serde_json::Map<_, _>>(),
            "elapsed_ms": elapsed.as_millis() as u64,
        }));
        return Ok(());
    }

    let mut rows = vec![[
        bold("function"),
        bold("artifact"),
        bold("zipped"),
        bold("unzipped"),
        bold("files"),
        String::new(),
    ]];
    for (name, f) in &report.functions {
        let a = report.artifacts.iter().find(|a| a.sha256 == f.sha256);
        let mut notes = Vec::new();
        if a.is_some_and(|a| a.functions.len() > 1) {
            notes.push("shared");
        }
        if a.is_some_and(|a| a.reused) {
            notes.push("unchanged");
        }
        rows.push([
            name.clone(),
            f.sha256[..12].to_owned(),
            human_size(f.zipped),
            human_size(f.unzipped),
            f.files.to_string(),
            notes.join(", "),
        ]);
    }
    let table = crate::ui::table(&rows);
    ctx.printer.data(&table);
    let reused = report.artifacts.iter().filter(|a| a.reused).count();
    ctx.printer.status(
        "Packaged",
        format!(
            "{} function{} into {} artifact{}{} in {:.2}s → {}",
            report.functions.len(),
            if report.functions.len() == 1 { "" } else { "s" },
            report.artifacts.len(),
            if report.artifacts.len() == 1 { "" } else { "s" },
            if reused > 0 {
                format!(" ({reused} unchanged)")
            } else {
                String::new()
            },
            elapsed.as_secs_f64(),
            display_path(&report.out),
        ),
    );
    Ok(())
}

/// Turn a packaging error into a diagnostic pointing at the manifest where it can.
fn failure(ctx: &Ctx, loaded: &Loaded, e: PackageError) -> Failure {
    let input = e.is_input_error();
    let message = e.to_string();
    let d = match &e {
        PackageError::Select(
            SelectError::Glob {
                function,
                field,
                pattern,
                ..
            }
            | SelectError::PatternOutside {
                function,
                field,
                pattern,
            },
        ) => {
            let f = &loaded.manifest.functions[function];
            let list = if *field == "include" { &f.include } else { &f.exclude };
            let i = list.iter().position(|p| p == pattern).unwrap_or(0);
            let d = loaded.error_at(&format!("functions.{function}.{field}[{i}]"), message);
            if matches!(e, PackageError::Select(SelectError::PatternOutside { .. })) {
                d.help("globs are relative to the service directory and cannot leave it; copy the files in")
            } else {
                d.help("globs use `*`, `**`, `?`, `[abc]` and `{a,b}`; escape a literal with `\\`")
            }
        }
        PackageError::Select(SelectError::Credential { function, rel }) => Diagnostic::error(message)
            .note("nubo refuses files that look like keys or credentials: *.pem, *.key, id_rsa*, .aws/credentials, .npmrc, …")
            .help(format!(
                "if `{function}` needs it, include it by name: `include: [..., \"{rel}\"]`; otherwise delete it or add it to `.nuboignore`"
            )),
        PackageError::Select(SelectError::NotUtf8 { .. }) => Diagnostic::error(message)
            .help("rename the file with UTF-8 characters, or leave it out with `exclude:` or `.nuboignore`"),
        PackageError::Select(SelectError::Outside { .. }) => Diagnostic::error(message)
            .help("a package only holds files inside the service directory: copy the file in, or remove the link"),
        PackageError::Select(SelectError::HandlerMissing { function, .. }) => {
            let f = &loaded.manifest.functions[function];
            let path = if f.include.is_empty() {
                format!("functions.{function}.handler")
            } else {
                format!("functions.{function}.include")
            };
            loaded
                .error_at_key(&path, message)
                .help("add the handler's file to `include`, or take it out of `exclude` and `.nuboignore`")
        }
        PackageError::TooLarge { biggest, .. } => {
            let list = biggest
                .iter()
                .map(|(dir, size)| format!("{dir} ({})", human_size(*size)))
                .collect::<Vec<_>>()
                .join(", ");
            Diagnostic::error(message)
                .note(format!("biggest directories: {list}"))
                .help("leave out what the function does not need with `exclude:` or `.nuboignore`, or keep large assets in storage")
        }
        PackageError::BadPackageJson { .. } => Diagnostic::error(message)
            .help("make it a JSON object, or leave it out of the package with `exclude:`"),
        PackageError::Reserved { file, .. } => Diagnostic::error(message).help(format!(
            "move `{file}` into a folder (and point `handler:` there), or leave it out with `exclude:`"
        )),
        _ => return Failure::Other(anyhow::Error::new(e).context("packaging failed")),
    };
    ctx.printer.diagnostic(&d);
    if input {
        Failure::Invalid(format!("could not package `{}`", loaded.manifest.service))
    } else {
        Failure::Other(anyhow::anyhow!(
            "could not package `{}`",
            loaded.manifest.service
        ))
    }
}
