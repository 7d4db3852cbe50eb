//! `nubo init [DIR] [--template NAME]`: scaffold a service that validates.

use std::path::PathBuf;

use super::{CmdResult, Ctx, Failure};
use crate::scaffold::{self, ScaffoldError};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to create the service (default: the current directory)
    pub dir: Option<PathBuf>,
    /// The template: `http-node`, `http-python` or `chain`
    #[arg(long, short = 'T', default_value = "http-node", value_name = "NAME")]
    pub template: String,
    /// The service name (default: from the directory name)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

pub fn exec(args: Args, ctx: &Ctx) -> CmdResult {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
    let name = match args.name.or_else(|| scaffold::service_name_for(&dir)) {
        Some(n) => n,
        None => {
            ctx.printer.error(
                format!("cannot make a service name from `{}`", dir.display()),
                Some("pass one with `--name my-service`"),
            );
            return Err(Failure::Invalid("no service name".to_owned()));
        }
    };
    let files = scaffold::create(&dir, &args.template, &name).map_err(|e| match e {
        ScaffoldError::UnknownTemplate { ref help, .. } => {
            ctx.printer.error(&e, Some(help));
            Failure::Invalid(format!("unknown template `{}`", args.template))
        }
        ScaffoldError::BadName { .. } => Failure::Invalid(format!(
            "{e}: use a lowercase letter, then lowercase letters, digits or single hyphens; at most 40 characters"
        )),
        ScaffoldError::Exists(_) => Failure::Other(anyhow::anyhow!("{e}; `nubo init` never overwrites files")),
        other => Failure::Other(other.into()),
    })?;
    let shown = crate::diag::display_path(&dir);
    if ctx.printer.is_json() {
        ctx.printer.event(serde_json::json!({
            "type": "result",
            "ok": true,
            "service": name,
            "template": args.template,
            "dir": shown,
            "files": files.iter().map(|f| crate::diag::display_path(f)).collect::<Vec<_>>(),
        }));
    } else {
        for f in &files {
            ctx.printer
                .verbose(format!("  {}", crate::diag::display_path(f)));
        }
        ctx.printer.status(
            "Created",
            format!(
                "service `{name}` from template `{}` in `{shown}` ({} files)",
                args.template,
                files.len()
            ),
        );
        let cd = if shown == "." {
            String::new()
        } else {
            format!("cd {shown} && ")
        };
        ctx.printer.status("Next", format!("{cd}nubo validate"));
    }
    Ok(())
}
