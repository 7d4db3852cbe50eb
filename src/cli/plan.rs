//! `nubo plan`: what a deploy would change, per function, and the switch.

use serde_json::json;

use super::{CmdResult, Ctx, Failure, engine_failure};
use crate::release::desired;
use crate::release::plan::Action;
use crate::ui::progress::Progress;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Exit 0 when nothing would change and 2 when something would (for CI)
    #[arg(long)]
    pub detailed_exitcode: bool,
}

pub fn exec(args: Args, ctx: &Ctx) -> CmdResult {
    let t = ctx.open_target()?;
    let report = super::package::build(ctx, &t.loaded, &t.resolved)?;
    let progress = Progress::new(&ctx.printer);
    let engine = t.engine(&progress);
    let plan = engine
        .plan(&desired(&t.resolved, &report))
        .map_err(|e| engine_failure(ctx, e))?;
    let journal = t.state.journal().map_err(|e| Failure::Other(e.into()))?;
    if ctx.printer.is_json() {
        let mut v = serde_json::to_value(&plan).expect("plan serializes");
        v["type"] = json!("plan");
        ctx.printer.event(v);
        ctx.printer.event(json!({
            "type": "result",
            "ok": true,
            "target": t.resolved.target,
            "changes": plan.changes,
            "interrupted": journal.map(|j| j.op),
        }));
    } else {
        let mut out = String::new();
        for f in &plan.functions {
            let line = match &f.action {
                Action::Create => format!("  + {}  (create)\n", f.function),
                Action::Update { changes } => {
                    format!("  ~ {}  ({})\n", f.function, changes.join(", "))
                }
                Action::Unchanged => format!("  = {}\n", f.function),
                Action::Remove => format!("  - {}  (remove)\n", f.function),
            };
            out.push_str(&line);
        }
        if plan.changes {
            out.push_str(&format!(
                "\na new release of `{}` would take all traffic on `{}`{}\n",
                t.resolved.service,
                t.resolved.target,
                plan.live
                    .as_ref()
                    .map(|l| format!(" from `{l}`"))
                    .unwrap_or_default()
            ));
        } else {
            out.push_str(&format!(
                "\nno changes: `{}` is live on `{}`\n",
                plan.live.as_deref().unwrap_or("-"),
                t.resolved.target
            ));
        }
        ctx.printer.data(&out);
        if let Some(d) = &plan.drift {
            ctx.printer.error(
                format!("drift: {d}"),
                Some("`nubo status` shows what is serving"),
            );
        }
        if let Some(j) = journal {
            ctx.printer.status(
                "Note",
                format!(
                    "an interrupted `{}` will be recovered by the next deploy",
                    j.op
                ),
            );
        }
    }
    if args.detailed_exitcode && plan.changes {
        return Err(Failure::Exit(2));
    }
    Ok(())
}
