//! `nubo switch`: move traffic to a retained release.
//!
//! The arguments are final; the work arrives with the release engine.

use super::{CmdResult, Ctx, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The release to serve, e.g. `r7`
    pub id: String,
}

pub fn exec(_args: Args, _ctx: &Ctx) -> CmdResult {
    Err(Failure::not_available("switch"))
}
