//! `nubo dev [DIR]`: the local cloud in the foreground. Deploys, prints the
//! endpoints, streams function logs, and on every saved change packages and
//! deploys a new release (blue-green: a save that fails its checks leaves
//! the last good release serving). Ctrl-C stops the local cloud.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use super::{CmdResult, Ctx, Failure};
use crate::manifest::{Event, ProviderKind};
use crate::provider::local::logs::Tail;
use crate::provider::local::{self, LocalProvider};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The service directory (default: the manifest's)
    pub dir: Option<PathBuf>,
}

/// Directories never watched: nubo's own, version control, installed dependencies.
const SKIP: [&str; 5] = [".nubo", ".git", "node_modules", ".venv", "__pycache__"];

fn snapshot(root: &Path) -> BTreeMap<PathBuf, (u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            if SKIP.iter().any(|s| name == *s) {
                continue;
            }
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => {
                    out.insert(
                        e.path(),
                        (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)),
                    );
                }
                Err(_) => {}
            }
        }
    }
    out
}

pub fn exec(args: Args, ctx: &Ctx) -> CmdResult {
    let mut global = ctx.global.clone();
    if let Some(dir) = &args.dir {
        global.file = dir.join(crate::manifest::FILE_NAME);
    }
    let ctx = Ctx {
        global,
        printer: ctx.printer.clone(),
    };
    let (loaded, resolved) = ctx.validated()?;
    if resolved.provider != ProviderKind::Local {
        ctx.printer.error(
            format!(
                "`nubo dev` runs the local cloud, and target `{}` is {}",
                resolved.target, resolved.provider
            ),
            Some("pick a local target with `-t`"),
        );
        return Err(Failure::Exit(2));
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(tokio::signal::ctrl_c());
                stop.store(true, Ordering::SeqCst);
            }
        });
    }
    let root = loaded.dir.clone();
    let dir = local::local_dir(&root);

    // Look at the tree before the first deploy, so a save made while it runs
    // is seen as a change.
    let mut files = snapshot(&root);
    // The first release; a failure is reported and the watch goes on.
    deploy(&ctx);
    if let Ok(p) = LocalProvider::connect(&dir, resolved.settings.port) {
        let base = format!("http://{}", p.info().gateway);
        for f in resolved.functions.values() {
            for e in &f.events {
                if let Event::Http(h) = e {
                    ctx.printer.status(
                        "Route",
                        format!("{} {base}{}  → {}", h.method.as_str(), h.path, f.name),
                    );
                }
            }
        }
    }
    ctx.printer.status(
        "Watching",
        format!(
            "{} for changes (Ctrl-C to stop)",
            crate::diag::display_path(&root)
        ),
    );

    let mut tail = Tail::dir_from_end(&dir.join("logs"));
    let mut changed_at: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(250));
        stream_logs(&ctx, &dir.join("logs"), &mut tail);
        let now = snapshot(&root);
        if now != files {
            files = now;
            changed_at = Some(Instant::now());
            continue;
        }
        // Deploy once the tree has been still for a moment (editors save in steps).
        if changed_at.is_some_and(|t| t.elapsed() > Duration::from_millis(300)) {
            changed_at = None;
            ctx.printer.status("Changed", "deploying a new release");
            deploy(&ctx);
        }
    }
    ctx.printer.status("Stopping", "the local cloud");
    if let Some((_, _)) = local::running(&dir)
        && let Ok(p) = LocalProvider::connect(&dir, None)
    {
        let _ = p.stop();
    }
    Ok(())
}

/// Deploy blue-green; report a failure and keep watching.
fn deploy(ctx: &Ctx) {
    match super::deploy::run(ctx, false, None, true) {
        Ok(()) => {}
        Err(Failure::Exit(_)) => {}
        Err(Failure::Other(e)) => ctx.printer.error(
            format!("{e:#}"),
            Some("fix it and save again; the last good release keeps serving"),
        ),
        Err(other) => ctx.printer.error(
            other,
            Some("fix it and save again; the last good release keeps serving"),
        ),
    }
}

/// Print new lines of every function's log as `function release | text`.
fn stream_logs(ctx: &Ctx, dir: &Path, tail: &mut Tail) {
    tail.discover(dir);
    for line in tail.poll() {
        // "time release function version request text"
        let parts: Vec<&str> = line.splitn(6, ' ').collect();
        if parts.len() == 6 {
            ctx.printer
                .data(&format!("{} {} | {}", parts[2], parts[1], parts[5]));
        } else {
            ctx.printer.data(&line);
        }
    }
}
