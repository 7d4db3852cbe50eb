//! `nubo switch ID`: move all traffic to a retained release, one pointer write.

use serde_json::json;

use super::{CmdResult, Ctx, engine_failure};
use crate::manifest::Duration;
use crate::release::EngineError;
use crate::ui::progress::{Progress, route};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The release to serve, e.g. `r7`
    pub id: String,
    /// Wait this long for the target's lock, e.g. `60s`
    #[arg(long, value_name = "DURATION")]
    pub lock_timeout: Option<Duration>,
}

pub fn exec(args: Args, ctx: &Ctx) -> CmdResult {
    let t = ctx.open_target()?;
    let _lock = ctx.lock(
        &t.state,
        &t.resolved.target,
        "nubo switch",
        args.lock_timeout.map(|d| d.0),
    )?;
    move_to(ctx, &t, Some(&args.id), "switch")
}

/// Shared by `switch` and `rollback`: recover, then one pointer write.
pub fn move_to(ctx: &Ctx, t: &super::Opened, id: Option<&str>, op: &str) -> CmdResult {
    let progress = Progress::new(&ctx.printer);
    let engine = t.engine(&progress);
    engine.recover().map_err(|e| engine_failure(ctx, e))?;
    let id = match id {
        Some(id) if op == "switch" => id.to_owned(),
        other => engine
            .rollback_target(other)
            .map_err(|e| engine_failure(ctx, e))?,
    };
    let (from, to) = match engine.switch(&id, op) {
        Ok(moved) => moved,
        Err(EngineError::AlreadyLive(id)) => {
            if ctx.printer.is_json() {
                ctx.printer
                    .event(json!({"type": "result", "ok": true, "release": id, "switched": false}));
            } else {
                ctx.printer.status(
                    "Unchanged",
                    format!("`{id}` is already serving `{}`", t.resolved.target),
                );
            }
            return Ok(());
        }
        Err(e) => return Err(engine_failure(ctx, e)),
    };
    if ctx.printer.is_json() {
        ctx.printer.event(json!({
            "type": "result",
            "ok": true,
            "release": id,
            "from": from,
            "to": to,
            "switched": true,
        }));
    } else {
        let verb = if op == "rollback" {
            "Rolled back"
        } else {
            "Switched"
        };
        ctx.printer.status(
            verb,
            format!(
                "`{}` on `{}`: {} → {}",
                t.resolved.service,
                t.resolved.target,
                from.as_ref().map_or("nothing".to_owned(), route),
                route(&to)
            ),
        );
    }
    Ok(())
}
