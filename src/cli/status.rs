//! `nubo status`: what is serving (read back from the provider), what the
//! state recorded, any drift, an interrupted operation, the lock.

use serde_json::json;

use super::{CmdResult, Ctx, Failure};
use crate::ui::progress::route;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn exec(_args: Args, ctx: &Ctx) -> CmdResult {
    let t = ctx.open_target()?;
    let other = |e: crate::state::StateError| Failure::Other(e.into());
    let live = t
        .provider
        .live()
        .map_err(|e| Failure::Other(anyhow::Error::new(e)))?;
    let recorded = t.state.pointer().map_err(other)?.map(|p| p.route);
    let journal = t.state.journal().map_err(other)?;
    let holder = t.state.lock_holder().map_err(other)?;
    let releases = t.state.releases().map_err(other)?;
    let drift = live != recorded;
    let unrecorded = live
        .as_ref()
        .is_some_and(|l| !releases.iter().any(|r| r.id == l.primary));
    // The serving releases, checked function by function against their records.
    let mut mismatches = Vec::new();
    if let Some(l) = &live {
        let ids = std::iter::once(&l.primary).chain(l.canary.as_ref().map(|(id, _)| id));
        for id in ids {
            if let Some(r) = releases.iter().find(|r| &r.id == id) {
                mismatches.extend(
                    t.provider
                        .verify(&r.staged())
                        .map_err(|e| Failure::Other(anyhow::Error::new(e)))?,
                );
            }
        }
    }
    if ctx.printer.is_json() {
        ctx.printer.event(json!({
            "type": "result",
            "ok": true,
            "target": t.resolved.target,
            "live": live,
            "recorded": recorded,
            "drift": drift || !mismatches.is_empty(),
            "mismatches": mismatches,
            "unrecorded_release": unrecorded,
            "interrupted": journal,
            "lock": holder,
            "releases": releases.len(),
        }));
        return Ok(());
    }
    let mut out = format!(
        "target    {} ({})\n",
        t.resolved.target, t.resolved.provider
    );
    out.push_str(&format!(
        "serving   {}\n",
        live.as_ref().map_or("nothing".to_owned(), route)
    ));
    out.push_str(&format!(
        "recorded  {}\n",
        recorded.as_ref().map_or("nothing".to_owned(), route)
    ));
    out.push_str(&format!("releases  {}\n", releases.len()));
    if let Some(h) = &holder {
        out.push_str(&format!("lock      {}\n", h.describe()));
    }
    ctx.printer.data(&out);
    if drift {
        ctx.printer.error(
            "drift: the provider serves something other than what nubo recorded",
            Some("`nubo switch ID` sets it to a recorded release"),
        );
    }
    for m in &mismatches {
        ctx.printer.error(
            format!("drift: {m}"),
            Some("something outside nubo changed it; deploying a new release replaces it whole"),
        );
    }
    if unrecorded {
        ctx.printer
            .error("the serving release is not in the state records", None);
    }
    if let Some(j) = journal {
        ctx.printer.status("Note", format!("an interrupted `{}` (step {:?}) is recovered by the next deploy, switch or rollback", j.op, j.step));
    }
    Ok(())
}
