//! `nubo logs`: show function logs.
//!
//! The arguments are final; the work arrives with the local cloud.

use super::{CmdResult, Ctx, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this function's logs
    pub function: Option<String>,
    /// Keep printing new lines as they arrive
    #[arg(long)]
    pub follow: bool,
    /// Only this release's logs
    #[arg(long, value_name = "ID")]
    pub release: Option<String>,
}

pub fn exec(_args: Args, _ctx: &Ctx) -> CmdResult {
    Err(Failure::not_available("logs"))
}
