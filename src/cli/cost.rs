//! `nubo cost`: estimate what the service costs on each target.
//!
//! The arguments are final; the work arrives with the cost issue.

use super::{CmdResult, Ctx, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Requests per month to estimate for
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub requests: u64,
}

pub fn exec(_args: Args, _ctx: &Ctx) -> CmdResult {
    Err(Failure::not_available("cost"))
}
