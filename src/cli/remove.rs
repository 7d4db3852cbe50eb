//! `nubo remove`: remove everything nubo created for the target.
//!
//! The arguments are final; the work arrives with the release engine.

use super::{CmdResult, Ctx, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also delete the recorded state and release history
    #[arg(long)]
    pub purge_state: bool,
}

pub fn exec(_args: Args, _ctx: &Ctx) -> CmdResult {
    Err(Failure::not_available("remove"))
}
