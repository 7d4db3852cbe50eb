//! `nubo remove`: remove everything nubo created for the target, and its records.

use std::io::IsTerminal;

use serde_json::json;

use super::{CmdResult, Ctx, Failure, engine_failure};
use crate::ui::progress::Progress;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn exec(_args: Args, ctx: &Ctx) -> CmdResult {
    let t = ctx.open_target()?;
    let inventory = t.provider.inventory().map_err(|e| {
        Failure::Other(anyhow::anyhow!(
            "could not list what `remove` would delete: {e}"
        ))
    })?;
    if !ctx.printer.is_json() {
        for item in &inventory {
            ctx.printer.status("Will remove", item);
        }
    }
    if !ctx.global.yes {
        if !std::io::stdin().is_terminal() {
            ctx.printer.error(
                format!(
                    "removing `{}` from `{}` needs confirmation",
                    t.resolved.service, t.resolved.target
                ),
                Some("pass `--yes` to remove without asking"),
            );
            return Err(Failure::Exit(1));
        }
        if !crate::ui::confirm(&format!(
            "remove every release of `{}` from `{}`?",
            t.resolved.service, t.resolved.target
        )) {
            return Err(Failure::Exit(1));
        }
    }
    let _lock = ctx.lock(&t.state, &t.resolved.target, "nubo remove", None)?;
    let progress = Progress::new(&ctx.printer);
    let engine = t.engine(&progress);
    engine.recover().map_err(|e| engine_failure(ctx, e))?;
    let removed = engine.remove().map_err(|e| engine_failure(ctx, e))?;
    if ctx.printer.is_json() {
        ctx.printer.event(
            json!({"type": "result", "ok": true, "removed": removed, "resources": inventory}),
        );
    } else {
        ctx.printer.status(
            "Removed",
            format!(
                "`{}` from `{}` ({} releases)",
                t.resolved.service,
                t.resolved.target,
                removed.len()
            ),
        );
    }
    Ok(())
}
