//! `nubo package`: build one deterministic, content-addressed artifact per function.
//!
//! The arguments are final; the work arrives with the packaging issue.

use super::{CmdResult, Ctx, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write the artifacts and `artifacts.json` to
    #[arg(long, value_name = "DIR")]
    pub out: Option<std::path::PathBuf>,
}

pub fn exec(_args: Args, _ctx: &Ctx) -> CmdResult {
    Err(Failure::not_available("package"))
}
