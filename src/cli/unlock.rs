//! `nubo unlock`: break a target's lock whose holder is gone.
//!
//! The arguments are final; the work arrives with the release engine.

use super::{CmdResult, Ctx, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Break the lock even if its holder looks alive
    #[arg(long)]
    pub force: bool,
}

pub fn exec(_args: Args, _ctx: &Ctx) -> CmdResult {
    Err(Failure::not_available("unlock"))
}
