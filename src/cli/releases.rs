//! `nubo releases`: list the target's retained releases.
//!
//! The arguments are final; the work arrives with the release engine.

use super::{CmdResult, Ctx, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show at most this many releases, newest first
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

pub fn exec(_args: Args, _ctx: &Ctx) -> CmdResult {
    Err(Failure::not_available("releases"))
}
