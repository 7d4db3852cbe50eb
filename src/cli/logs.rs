//! `nubo logs [FUNCTION] [--follow] [--release ID]`: function output, one
//! line per write: from the local cloud (time, release, function, version,
//! request id), from CloudWatch Logs on AWS or Cloud Logging on Google Cloud
//! (time, function, version).

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
    /// On AWS and Google Cloud: how far back to look, e.g. `30m`, `2h` (default: 1h)
    #[arg(long, value_name = "DURATION")]
    pub since: Option<humantime::Duration>,
}

pub fn exec(args: Args, ctx: &Ctx) -> CmdResult {
    let (loaded, resolved) = ctx.validated()?;
    if !matches!(
        resolved.provider,
        crate::manifest::ProviderKind::Local
            | crate::manifest::ProviderKind::Aws
            | crate::manifest::ProviderKind::Gcp
    ) {
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
    if resolved.provider != crate::manifest::ProviderKind::Local {
        return cloud(&args, ctx, &loaded, &resolved, &functions);
    }
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

/// Logs of a cloud target: CloudWatch Logs on AWS, Cloud Logging on Google
/// Cloud.
fn cloud(
    args: &Args,
    ctx: &Ctx,
    loaded: &crate::manifest::Loaded,
    resolved: &crate::resolve::Resolved,
    functions: &[String],
) -> CmdResult {
    use crate::provider::aws::{Clients, Connection, logs, names::Names, runtime};
    let env = crate::resolve::ProcessEnv;
    let other = |e: String| Failure::Other(anyhow::anyhow!(e));
    // `--release`: the versions that release runs, from its record.
    let mut versions = std::collections::BTreeMap::new();
    let mut since =
        std::time::SystemTime::now() - args.since.map_or(Duration::from_secs(3600), |d| *d);
    if let Some(id) = &args.release {
        let state = crate::state::State::new(
            crate::provider::open_state(resolved, &loaded.dir, &env).map_err(other)?,
        );
        let Some(record) = state.release(id).map_err(|e| Failure::Other(e.into()))? else {
            ctx.printer.error(
                format!("no release `{id}` on `{}`", resolved.target),
                Some("`nubo releases` lists them"),
            );
            return Err(Failure::Exit(2));
        };
        for (f, r) in &record.functions {
            versions.insert(f.clone(), r.version.clone());
        }
        if args.since.is_none()
            && let Ok(created) = humantime::parse_rfc3339(&record.created)
        {
            since = created;
        }
    }
    let since_ms = since
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let fetch: Box<dyn Fn(i64) -> Result<Vec<logs::Line>, Failure>> =
        if resolved.provider == crate::manifest::ProviderKind::Gcp {
            let run = crate::provider::gcp::run::CloudRun::new(resolved)
                .map_err(|e| Failure::Other(e.into()))?;
            let project = resolved.settings.project.clone().unwrap_or_default();
            let versions = versions.clone();
            Box::new(move |from: i64| {
                runtime()
                    .block_on(crate::provider::gcp::logs::fetch(
                        &run.google,
                        &project,
                        |f| run.service_id(f),
                        functions,
                        &versions,
                        from,
                    ))
                    .map_err(|e| Failure::Other(e.into()))
            })
        } else {
            let conn = Connection::of(resolved, &env);
            let names = Names::new(&resolved.service, &resolved.target);
            let clients = runtime().block_on(Clients::connect(&conn));
            let versions = versions.clone();
            Box::new(move |from: i64| {
                runtime()
                    .block_on(logs::fetch(&clients, &names, functions, &versions, from))
                    .map_err(|e| Failure::Other(e.into()))
            })
        };
    let lines = fetch(since_ms)?;
    let mut seen = logs::Seen::default();
    let mut text = String::new();
    let mut per_function: std::collections::BTreeMap<&str, usize> = Default::default();
    for l in &lines {
        *per_function.entry(l.function.as_str()).or_default() += 1;
    }
    let mut skipped: std::collections::BTreeMap<&str, usize> = per_function
        .iter()
        .map(|(f, n)| (*f, args.lines.map_or(0, |keep| n.saturating_sub(keep))))
        .collect();
    for l in &lines {
        seen.fresh(l);
        let skip = skipped.get_mut(l.function.as_str()).expect("counted");
        if *skip > 0 {
            *skip -= 1;
            continue;
        }
        text.push_str(&l.render());
        text.push('\n');
    }
    ctx.printer.data(&text);
    if !args.follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(Duration::from_secs(2));
        for l in fetch(seen.newest_ms.max(since_ms))? {
            if seen.fresh(&l) {
                ctx.printer.data(&format!("{}\n", l.render()));
            }
        }
    }
}
