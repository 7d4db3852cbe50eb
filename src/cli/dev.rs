//! `nubo dev`: run the service on the local cloud in the foreground and redeploy on change.
//!
//! The arguments are final; the work arrives with the local cloud.

use super::{CmdResult, Ctx, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The service directory (default: the manifest's)
    pub dir: Option<std::path::PathBuf>,
}

pub fn exec(_args: Args, _ctx: &Ctx) -> CmdResult {
    Err(Failure::not_available("dev"))
}
