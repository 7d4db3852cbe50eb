//! `nubo local status|stop`: the embedded local cloud's daemon.

use std::path::PathBuf;

use serde_json::json;

use super::{CmdResult, Ctx, Failure};
use crate::provider::local::{self, LocalProvider};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Show whether the local cloud runs, where, and what it serves
    Status,
    /// Stop the local cloud: workers ended, state saved
    Stop,
    /// Put a message on one of the service's queues
    Send {
        /// The queue, as named in a `queue:` event
        queue: String,
        /// The message body: JSON text, or `@file`
        #[arg(long, short = 'd', value_name = "JSON|@FILE")]
        data: String,
    },
    /// Run the daemon in the foreground (started for you by `nubo deploy`)
    #[command(hide = true)]
    Daemon {
        /// The `.nubo/local` directory to serve
        #[arg(long)]
        dir: PathBuf,
        /// Port of the HTTP gateway (default: any free port)
        #[arg(long)]
        port: Option<u16>,
    },
}

pub fn exec(args: Args, ctx: &Ctx) -> CmdResult {
    if let Sub::Daemon { dir, port } = &args.command {
        return local::daemon::run(dir, *port)
            .map_err(|e| Failure::Other(e.context("the local cloud stopped")));
    }
    let manifest_dir = ctx
        .global
        .file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let dir = local::local_dir(&manifest_dir);
    let Some((info, _)) = local::running(&dir) else {
        if ctx.printer.is_json() {
            ctx.printer
                .event(json!({"type": "result", "ok": true, "running": false}));
        } else {
            ctx.printer
                .status("Stopped", "the local cloud is not running");
        }
        return Ok(());
    };
    let client =
        LocalProvider::connect(&dir, None).map_err(|e| Failure::Other(anyhow::Error::new(e)))?;
    match args.command {
        Sub::Status => {
            let status = client
                .status()
                .map_err(|e| Failure::Other(anyhow::Error::new(e)))?;
            if ctx.printer.is_json() {
                ctx.printer.event(json!({"type": "result", "ok": true, "running": true, "gateway": format!("http://{}", info.gateway), "pid": info.pid, "status": status}));
            } else {
                ctx.printer.data(&format!(
                    "running   pid {} since {}\ngateway   http://{}\nlive      {}\nworkers   {}\n",
                    info.pid,
                    info.started,
                    info.gateway,
                    status["live"]["primary"].as_str().unwrap_or("nothing"),
                    status["workers"]
                ));
            }
        }
        Sub::Stop => {
            client
                .stop()
                .map_err(|e| Failure::Other(anyhow::Error::new(e)))?;
            // Stopped means gone: its record removed and its process ended
            // (it ends its workers and flushes queues first).
            let t = std::time::Instant::now();
            while (dir.join("daemon.json").exists() || alive(info.pid))
                && t.elapsed() < std::time::Duration::from_secs(10)
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            if ctx.printer.is_json() {
                ctx.printer
                    .event(json!({"type": "result", "ok": true, "stopped": true}));
            } else {
                ctx.printer
                    .status("Stopped", format!("the local cloud (pid {})", info.pid));
            }
        }
        Sub::Send { queue, data } => {
            let text = match data.strip_prefix('@') {
                Some(f) => std::fs::read_to_string(f)
                    .map_err(|e| Failure::Other(anyhow::anyhow!("could not read `{f}`: {e}")))?,
                None => data,
            };
            let body: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                ctx.printer
                    .error(format!("`--data` is not JSON: {e}"), None);
                Failure::Exit(2)
            })?;
            let id = client
                .send(&queue, &body)
                .map_err(|e| Failure::Other(anyhow::Error::new(e)))?;
            if ctx.printer.is_json() {
                ctx.printer
                    .event(json!({"type": "result", "ok": true, "queue": queue, "id": id}));
            } else {
                ctx.printer.data(&format!("{id}\n"));
                ctx.printer
                    .status("Sent", format!("a message to queue `{queue}`"));
            }
        }
        Sub::Daemon { .. } => unreachable!("handled above"),
    }
    Ok(())
}

/// Whether process `pid` still runs (a zombie does not count). Where there
/// is no `/proc`, nubo cannot tell and says no.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}
