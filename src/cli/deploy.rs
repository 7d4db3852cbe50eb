//! `nubo deploy`: make a release of the whole service, check it, switch
//! traffic to it (blue-green or canary), record it, prune old releases.

use std::time::Instant;

use serde_json::json;

use super::{CmdResult, Ctx, engine_failure};
use crate::manifest::Duration;
use crate::release::DeployInput;
use crate::ui::progress::Progress;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Stage and check the release without moving traffic (then `nubo switch ID`)
    #[arg(long)]
    pub no_switch: bool,
    /// Wait this long for the target's lock instead of failing at once, e.g. `60s`
    #[arg(long, value_name = "DURATION")]
    pub lock_timeout: Option<Duration>,
}

pub fn exec(args: Args, ctx: &Ctx) -> CmdResult {
    run(ctx, args.no_switch, args.lock_timeout, false)
}

/// One deploy; `blue_green` overrides a canary strategy (for `nubo dev`).
pub fn run(
    ctx: &Ctx,
    no_switch: bool,
    lock_timeout: Option<Duration>,
    blue_green: bool,
) -> CmdResult {
    let start = Instant::now();
    let mut t = ctx.open_target()?;
    if blue_green {
        t.resolved.release.strategy = crate::manifest::Strategy::BlueGreen;
    }
    let mut lock = ctx.lock(
        &t.state,
        &t.resolved.target,
        "nubo deploy",
        lock_timeout.map(|d| d.0),
    )?;
    let progress = Progress::new(&ctx.printer);
    let engine = t.engine(&progress);
    engine.recover().map_err(|e| engine_failure(ctx, e))?;
    let report = super::package::build(ctx, &t.loaded, &t.resolved)?;
    let input = DeployInput {
        resolved: &t.resolved,
        package: &report,
        manifest_hash: crate::release::manifest_hash(&t.loaded),
        origin: crate::release::origin(&t.loaded.dir),
        no_switch,
    };
    let outcome = engine.deploy(&input, &mut lock);
    progress.finish();
    let outcome = outcome.map_err(|e| engine_failure(ctx, e))?;
    let elapsed = start.elapsed();
    if ctx.printer.is_json() {
        ctx.printer.event(json!({
            "type": "result",
            "ok": true,
            "target": t.resolved.target,
            "release": outcome.release,
            "previous": outcome.previous,
            "switched": outcome.switched,
            "published": outcome.published,
            "uploaded": outcome.uploaded,
            "pruned": outcome.pruned,
            "endpoints": t.provider.endpoint().into_iter().collect::<Vec<_>>(),
            "timings_ms": outcome.timings_ms,
            "elapsed_ms": elapsed.as_millis() as u64,
        }));
        return Ok(());
    }
    match (&outcome.release, outcome.switched) {
        (None, _) => ctx.printer.status(
            "Unchanged",
            format!(
                "`{}` on `{}`: nothing to deploy, `{}` is live ({:.2}s)",
                t.resolved.service,
                t.resolved.target,
                outcome.previous.as_deref().unwrap_or("-"),
                elapsed.as_secs_f64()
            ),
        ),
        (Some(id), true) => ctx.printer.status(
            "Deployed",
            format!(
                "`{}` release `{id}` to `{}`: {} published, {} reused ({:.2}s)",
                t.resolved.service,
                t.resolved.target,
                outcome.published.len(),
                t.resolved.functions.len() - outcome.published.len(),
                elapsed.as_secs_f64()
            ),
        ),
        (Some(id), false) => {
            ctx.printer.status(
                "Staged",
                format!(
                    "release `{id}` of `{}` passed its checks; no traffic moved",
                    t.resolved.service
                ),
            );
            ctx.printer.status("Next", format!("nubo switch {id}"));
        }
    }
    if let Some(url) = t.provider.endpoint()
        && (outcome.switched || outcome.release.is_none())
    {
        ctx.printer.status("Serving", url);
    }
    if let Some(id) = &outcome.release {
        ctx.printer.data(&format!("{id}\n"));
    }
    Ok(())
}
