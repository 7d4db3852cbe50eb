//! `nubo rollback [--to ID]`: move traffic back to a retained release —
//! no rebuild, no upload, one pointer write.

use super::{CmdResult, Ctx};
use crate::manifest::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The release to go back to (default: the one before the live release)
    #[arg(long, value_name = "ID")]
    pub to: Option<String>,
    /// Wait this long for the target's lock, e.g. `60s`
    #[arg(long, value_name = "DURATION")]
    pub lock_timeout: Option<Duration>,
}

pub fn exec(args: Args, ctx: &Ctx) -> CmdResult {
    let t = ctx.open_target()?;
    let _lock = ctx.lock(
        &t.state,
        &t.resolved.target,
        "nubo rollback",
        args.lock_timeout.map(|d| d.0),
    )?;
    super::switch::move_to(ctx, &t, args.to.as_deref(), "rollback")
}
