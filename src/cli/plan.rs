//! `nubo plan`: what a deploy would change, per function, and the pointer move.
//!
//! The arguments are final; the work arrives with the release engine.

use super::{CmdResult, Ctx, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Exit 0 when nothing would change and 2 when something would (for CI)
    #[arg(long)]
    pub detailed_exitcode: bool,
}

pub fn exec(_args: Args, _ctx: &Ctx) -> CmdResult {
    Err(Failure::not_available("plan"))
}
