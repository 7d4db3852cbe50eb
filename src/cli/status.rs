//! `nubo status`: what is serving, read back from the provider, and drift from state.
//!
//! The arguments are final; the work arrives with the release engine.

use super::{CmdResult, Ctx, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only read the recorded state, do not ask the provider
    #[arg(long)]
    pub offline: bool,
}

pub fn exec(_args: Args, _ctx: &Ctx) -> CmdResult {
    Err(Failure::not_available("status"))
}
