//! `nubo rollback`: move traffic back to a retained release: no rebuild, no upload.
//!
//! The arguments are final; the work arrives with the release engine.

use super::{CmdResult, Ctx, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The release to go back to (default: the one before the live release)
    #[arg(long, value_name = "ID")]
    pub to: Option<String>,
}

pub fn exec(_args: Args, _ctx: &Ctx) -> CmdResult {
    Err(Failure::not_available("rollback"))
}
