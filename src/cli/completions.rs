//! `nubo completions SHELL`: a completion script for the shell.

use super::{CmdResult, Ctx};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn exec(args: Args, _ctx: &Ctx) -> CmdResult {
    let mut cmd = super::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "nubo", &mut out);
    let mut stdout = std::io::stdout().lock();
    std::io::Write::write_all(&mut stdout, &out).map_err(anyhow::Error::from)?;
    Ok(())
}
