//! `nubo validate`: errors and warnings for one target, or a portability
//! table across every target the service declares.

use anstyle::AnsiColor;
use serde_json::json;

use super::{CmdResult, Ctx, Failure};
use crate::resolve::ProcessEnv;
use crate::ui::{bold, paint};
use crate::validate::{self, TargetReport};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Check every target the manifest declares and show the portability table
    #[arg(long, conflicts_with = "target")]
    pub all_targets: bool,
}

pub fn exec(args: Args, ctx: &Ctx) -> CmdResult {
    // Unknown keys do not stop the other checks: report everything in one run.
    let lenient = crate::manifest::load_lenient(&ctx.global.file);
    let Some(loaded) = lenient.loaded else {
        ctx.report(&lenient.diagnostics);
        return Err(Failure::Invalid(super::summary(
            &ctx.global.file,
            &lenient.diagnostics,
        )));
    };
    let m = &loaded.manifest;
    let targets: Vec<String> = match &ctx.global.target {
        Some(t) if !m.targets.contains_key(t) => {
            let d = crate::resolve::resolve(&loaded, t, &ProcessEnv)
                .err()
                .unwrap_or_default();
            ctx.report(&d);
            return Err(Failure::Invalid(format!(
                "`{}` has 1 error",
                crate::diag::display_path(&ctx.global.file)
            )));
        }
        Some(t) => vec![t.clone()],
        None => m.targets.keys().cloned().collect(),
    };
    let mut outcome = validate::validate(&loaded, &targets, &ProcessEnv);
    outcome.merge(lenient.diagnostics);
    ctx.report(&outcome.diagnostics);

    let table = args.all_targets || targets.len() > 1;
    if ctx.printer.is_json() {
        ctx.printer
            .event(json!({ "type": "portability", "targets": outcome.targets }));
    } else if table && !outcome.targets.is_empty() {
        ctx.printer.data(&render_table(&outcome.targets));
    }

    let file = crate::diag::display_path(&ctx.global.file);
    let (errors, warnings) = (outcome.errors(), outcome.warnings());
    if errors > 0 {
        return Err(Failure::Invalid(format!(
            "`{file}` has {errors} error{}{}",
            plural(errors),
            if warnings > 0 {
                format!(" and {warnings} warning{}", plural(warnings))
            } else {
                String::new()
            }
        )));
    }
    let names: Vec<String> = outcome
        .targets
        .iter()
        .map(|t| format!("{} ({})", t.target, t.provider))
        .collect();
    if ctx.printer.is_json() {
        ctx.printer.event(json!({
            "type": "result",
            "ok": true,
            "service": m.service,
            "functions": m.functions.len(),
            "targets": outcome.targets.iter().map(|t| &t.target).collect::<Vec<_>>(),
            "errors": 0,
            "warnings": warnings,
        }));
    } else {
        ctx.printer.status(
            "Validated",
            format!(
                "`{}`: {} function{} for {}{}",
                m.service,
                m.functions.len(),
                plural(m.functions.len()),
                names.join(", "),
                if warnings > 0 {
                    format!("; {warnings} warning{}", plural(warnings))
                } else {
                    String::new()
                }
            ),
        );
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Function × target: `ok`, `ok !` (with warnings) or `no`, each reason numbered below.
fn render_table(targets: &[TargetReport]) -> String {
    let functions: Vec<&String> = targets[0].functions.keys().collect();
    let mut notes: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec![bold("function")];
    let mut sub = vec![String::new()];
    for t in targets {
        header.push(bold(&t.target));
        sub.push(t.provider.to_string());
    }
    rows.push(header);
    rows.push(sub);
    for f in &functions {
        let mut row = vec![(*f).clone()];
        for t in targets {
            let cell = &t.functions[*f];
            let mut reasons: Vec<&String> = t.target_errors.iter().chain(&cell.errors).collect();
            let failed = !reasons.is_empty();
            reasons.extend(&cell.warnings);
            let mut text = if failed {
                paint("✗", AnsiColor::Red)
            } else if reasons.is_empty() {
                paint("✓", AnsiColor::Green)
            } else {
                paint("!", AnsiColor::Yellow)
            };
            for r in reasons {
                let note = format!("{}/{f}: {r}", t.target);
                let n = match notes.iter().position(|x| *x == note) {
                    Some(i) => i + 1,
                    None => {
                        notes.push(note);
                        notes.len()
                    }
                };
                text.push_str(&format!(" [{n}]"));
            }
            row.push(text);
        }
        rows.push(row);
    }
    let mut out = crate::ui::table(&rows);
    if !notes.is_empty() {
        out.push('\n');
        for (i, note) in notes.iter().enumerate() {
            out.push_str(&format!("[{}] {note}\n", i + 1));
        }
    }
    let ok = targets.iter().filter(|t| t.ok()).count();
    out.push_str(&format!(
        "\n{ok} of {} targets can run every function as written\n",
        targets.len()
    ));
    out
}
