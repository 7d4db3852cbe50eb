//! `nubo deploy`: make a release of the whole service, check it, switch traffic to it.
//!
//! The arguments are final; the work arrives with the release engine.

use super::{CmdResult, Ctx, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Stage and check the release without moving traffic (then `nubo switch ID`)
    #[arg(long)]
    pub no_switch: bool,
    /// Wait this long for the target's lock instead of failing at once, e.g. `60s`
    #[arg(long, value_name = "DURATION")]
    pub lock_timeout: Option<crate::manifest::Duration>,
}

pub fn exec(_args: Args, _ctx: &Ctx) -> CmdResult {
    Err(Failure::not_available("deploy"))
}
