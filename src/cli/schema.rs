//! `nubo schema`: the JSON Schema of `nubo.yaml`, generated from the types.

use super::{CmdResult, Ctx};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn exec(_args: Args, ctx: &Ctx) -> CmdResult {
    ctx.printer.data(&crate::schema::generate());
    Ok(())
}
