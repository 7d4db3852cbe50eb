//! `nubo logs [FUNCTION] [--follow] [--release ID]`: function output from the
//! local cloud, one line per write, with time, release, function, version
//! and request id.

use std::path::PathBuf;
use std::time::Duration;

use super::{CmdResult, Ctx, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this function's logs
    pub function: Option<String>,
    /// Keep printing new lines as they arrive (Ctrl-C to stop)
    #[arg(long, short = 'F')]
    pub follow: bool,
    /// Only this release's logs
    #[arg(long, value_name = "ID")]
    pub release: Option<String>,
    /// Show at most this many lines per function, newest last (default: all)
    #[arg(long, short = 'n', value_name = "N")]
    pub lines: Option<usize>,
}

pub fn exec(args: Args, ctx: &Ctx) -> CmdResult {
    let (loaded, resolved) = ctx.validated()?;
    if resolved.provider != crate::manifest::ProviderKind::Local {
        return Err(Failure::Other(anyhow::anyhow!(
            "logs of {} targets are not available yet in nubo {}",
            resolved.provider,
            env!("CARGO_PKG_VERSION")
        )));
    }
    let functions: Vec<String> = match &args.function {
        Some(f) if !resolved.functions.contains_key(f) => {
            let names: Vec<&str> = resolved.functions.keys().map(String::as_str).collect();
            ctx.printer.error(
                format!("no function `{f}`"),
                Some(&crate::suggest::help_or(f, &names, "the functions are")),
            );
            return Err(Failure::Exit(2));
        }
        Some(f) => vec![f.clone()],
        None => resolved.functions.keys().cloned().collect(),
    };
    let dir = crate::provider::local::local_dir(&loaded.dir).join("logs");
    let keep = |line: &str| match &args.release {
        Some(r) => line.split(' ').nth(1) == Some(r.as_str()),
        None => true,
    };
    let mut files: Vec<(PathBuf, u64)> = Vec::new();
    let mut out = String::new();
    for f in &functions {
        let path = dir.join(format!("{f}.log"));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| keep(l)).collect();
        let skip = args.lines.map_or(0, |n| lines.len().saturating_sub(n));
        for l in &lines[skip..] {
            out.push_str(l);
            out.push('\n');
        }
        files.push((path, text.len() as u64));
    }
    // Lines of several functions, in time order (they start with a timestamp).
    let mut all: Vec<&str> = out.lines().collect();
    all.sort_by_key(|l| l.split(' ').next().unwrap_or(""));
    let mut text = all.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    ctx.printer.data(&text);
    if !args.follow {
        return Ok(());
    }
    let mut tail = crate::provider::local::logs::Tail::from_end(files.into_iter().map(|(p, _)| p));
    loop {
        std::thread::sleep(Duration::from_millis(200));
        for line in tail.poll() {
            if keep(&line) {
                ctx.printer.data(&line);
            }
        }
    }
}
