//! `nubo unlock`: break a target's lock whose holder is gone.

use std::io::IsTerminal;

use serde_json::json;

use super::{CmdResult, Ctx, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Break the lock even if its holder looks alive
    #[arg(long)]
    pub force: bool,
}

pub fn exec(args: Args, ctx: &Ctx) -> CmdResult {
    let (loaded, resolved) = ctx.validated()?;
    let store = crate::provider::open_state(&resolved, &loaded.dir, &crate::resolve::ProcessEnv)
        .map_err(|e| Failure::Other(anyhow::anyhow!(e)))?;
    let state = crate::state::State::new(store);
    let other = |e: crate::state::StateError| Failure::Other(e.into());
    let Some(holder) = state.lock_holder().map_err(other)? else {
        if ctx.printer.is_json() {
            ctx.printer
                .event(json!({"type": "result", "ok": true, "unlocked": false}));
        } else {
            ctx.printer
                .status("Unlocked", format!("`{}` is not locked", resolved.target));
        }
        return Ok(());
    };
    let gone = holder.is_dead() || holder.is_expired();
    if !gone && !args.force {
        ctx.printer.error(
            format!(
                "`{}` is locked by {}, which looks alive",
                resolved.target,
                holder.describe()
            ),
            Some("if you are sure it is gone, `nubo unlock --force`"),
        );
        return Err(Failure::LockHeld(format!(
            "target `{}` is locked",
            resolved.target
        )));
    }
    if !ctx.global.yes {
        if !std::io::stdin().is_terminal() {
            ctx.printer.error(
                format!(
                    "breaking the lock of {} needs confirmation",
                    holder.describe()
                ),
                Some("pass `--yes` to break it without asking"),
            );
            return Err(Failure::Exit(1));
        }
        if !crate::ui::confirm(&format!("break the lock held by {}?", holder.describe())) {
            return Err(Failure::Exit(1));
        }
    }
    let broke = state.break_lock(&holder).map_err(other)?;
    if ctx.printer.is_json() {
        ctx.printer
            .event(json!({"type": "result", "ok": true, "unlocked": broke, "holder": holder}));
    } else if broke {
        ctx.printer.status(
            "Unlocked",
            format!(
                "`{}`: removed the lock of {}",
                resolved.target,
                holder.describe()
            ),
        );
    } else {
        ctx.printer.status(
            "Unlocked",
            "the lock changed hands meanwhile; nothing removed",
        );
    }
    Ok(())
}
