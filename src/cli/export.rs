//! `nubo export`: the service as CloudFormation or Terraform.
//!
//! The arguments are final; the work arrives with the export issue.

use super::{CmdResult, Ctx, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// `cloudformation` or `terraform`
    #[arg(long, value_name = "FORMAT", default_value = "terraform")]
    pub format: String,
    /// Directory to write to (default: stdout)
    #[arg(long, value_name = "DIR")]
    pub out: Option<std::path::PathBuf>,
}

pub fn exec(_args: Args, _ctx: &Ctx) -> CmdResult {
    Err(Failure::not_available("export"))
}
