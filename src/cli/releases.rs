//! `nubo releases`: the target's retained releases, newest first.

use serde_json::json;

use super::{CmdResult, Ctx, Failure};
use crate::state::ReleaseStatus;
use crate::ui::bold;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show at most this many releases
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

pub fn exec(args: Args, ctx: &Ctx) -> CmdResult {
    let t = ctx.open_target()?;
    let other = |e: crate::state::StateError| Failure::Other(e.into());
    let mut releases = t.state.releases().map_err(other)?;
    releases.reverse();
    if let Some(n) = args.limit {
        releases.truncate(n);
    }
    let live = t
        .provider
        .live()
        .map_err(|e| Failure::Other(anyhow::Error::new(e)))?;
    let marker = |id: &str| match &live {
        Some(l) if l.primary == id && l.canary.is_none() => "live".to_owned(),
        Some(l) if l.primary == id => format!(
            "live {}%",
            100 - l.canary.as_ref().map_or(0, |c| c.1 as u16)
        ),
        Some(l) => match &l.canary {
            Some((c, w)) if c == id => format!("canary {w}%"),
            _ => String::new(),
        },
        None => String::new(),
    };
    if ctx.printer.is_json() {
        for r in &releases {
            ctx.printer.event(json!({
                "type": "release",
                "id": r.id,
                "created": r.created,
                "status": r.status,
                "serving": marker(&r.id),
                "changed": r.changed,
                "functions": r.functions.iter().map(|(n, f)| (n.clone(), json!({"version": f.version, "unit": f.unit}))).collect::<serde_json::Map<_, _>>(),
                "origin": r.origin,
            }));
        }
        ctx.printer
            .event(json!({"type": "result", "ok": true, "releases": releases.len()}));
        return Ok(());
    }
    if releases.is_empty() {
        ctx.printer.status(
            "Releases",
            format!(
                "none yet on `{}`; `nubo deploy` makes the first",
                t.resolved.target
            ),
        );
        return Ok(());
    }
    let mut rows = vec![[
        bold("release"),
        bold("created"),
        bold("status"),
        bold("changed"),
        bold("by"),
        String::new(),
    ]];
    for r in &releases {
        let status = match r.status {
            ReleaseStatus::Ready => "ready",
            ReleaseStatus::Unchecked => "unchecked",
            ReleaseStatus::Failed => "failed checks",
        };
        let by = format!(
            "{}@{}{}",
            r.origin.user,
            r.origin.host,
            r.origin
                .git_commit
                .as_ref()
                .map(|c| format!(" {}", &c[..c.len().min(8)]))
                .unwrap_or_default()
        );
        let changed = if r.changed.is_empty() {
            "-".to_owned()
        } else {
            r.changed.join(", ")
        };
        rows.push([
            r.id.clone(),
            r.created.clone(),
            status.to_owned(),
            changed,
            by,
            marker(&r.id),
        ]);
    }
    let out = crate::ui::table(&rows);
    ctx.printer.data(&out);
    Ok(())
}
