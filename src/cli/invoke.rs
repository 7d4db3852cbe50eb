//! `nubo invoke`: invoke a function of a release.
//!
//! The arguments are final; the work arrives with the local cloud.

use super::{CmdResult, Ctx, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The function to invoke
    pub function: String,
    /// The event to send: JSON text, or `@file` to read it from a file
    #[arg(long, value_name = "JSON|@FILE")]
    pub data: Option<String>,
    /// The release to invoke (default: the live one)
    #[arg(long, value_name = "ID")]
    pub release: Option<String>,
    /// Run the function on the embedded local cloud whatever the target
    #[arg(long)]
    pub local: bool,
}

pub fn exec(_args: Args, _ctx: &Ctx) -> CmdResult {
    Err(Failure::not_available("invoke"))
}
