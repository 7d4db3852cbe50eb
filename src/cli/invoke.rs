//! `nubo invoke FUNCTION [--data JSON|@FILE] [--release ID]`: run a function
//! of a release (the live one by default) and print what it returned.

use std::path::Path;

use serde_json::{Value, json};

use super::{CmdResult, Ctx, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The function to invoke
    pub function: String,
    /// The event to send: JSON text, or `@file` to read it from a file
    #[arg(long, short = 'd', value_name = "JSON|@FILE")]
    pub data: Option<String>,
    /// The release to invoke (default: the live one)
    #[arg(long, value_name = "ID")]
    pub release: Option<String>,
}

fn event(data: Option<&str>) -> Result<Value, String> {
    let Some(data) = data else {
        return Ok(Value::Null);
    };
    let text = match data.strip_prefix('@') {
        Some(file) => std::fs::read_to_string(Path::new(file))
            .map_err(|e| format!("could not read `{file}`: {e}"))?,
        None => data.to_owned(),
    };
    serde_json::from_str(&text).map_err(|e| format!("`--data` is not JSON: {e}"))
}

pub fn exec(args: Args, ctx: &Ctx) -> CmdResult {
    let event = event(args.data.as_deref()).map_err(|e| {
        ctx.printer.error(
            &e,
            Some("pass JSON, e.g. `--data '{\"sku\": 1}'`, or `--data @event.json`"),
        );
        Failure::Exit(2)
    })?;
    let t = ctx.open_target()?;
    if !t.resolved.functions.contains_key(&args.function) {
        let names: Vec<&str> = t.resolved.functions.keys().map(String::as_str).collect();
        ctx.printer.error(
            format!(
                "no function `{}` in `{}`",
                args.function, t.resolved.service
            ),
            Some(&crate::suggest::help_or(
                &args.function,
                &names,
                "the functions are",
            )),
        );
        return Err(Failure::Exit(2));
    }
    let release = match args.release {
        Some(r) => r,
        None => match t
            .provider
            .live()
            .map_err(|e| Failure::Other(anyhow::Error::new(e)))?
        {
            Some(route) => route.primary,
            None => {
                ctx.printer.error(
                    "nothing is deployed on this target yet",
                    Some("`nubo deploy` first"),
                );
                return Err(Failure::Exit(1));
            }
        },
    };
    let start = std::time::Instant::now();
    let r = t
        .provider
        .invoke(&release, &args.function, &event)
        .map_err(|e| Failure::Other(anyhow::Error::new(e)))?;
    let ms = start.elapsed().as_millis() as u64;
    let ok = r.status < 400;
    if ctx.printer.is_json() {
        let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::String(r.body.clone()));
        ctx.printer.event(json!({"type": "result", "ok": ok, "release": release, "function": args.function, "status": r.status, "body": body, "ms": ms}));
    } else {
        ctx.printer.data(&format!("{}\n", r.body));
        ctx.printer.status(
            if ok { "Invoked" } else { "Failed" },
            format!(
                "`{}` on release `{release}`: status {} ({ms} ms)",
                args.function, r.status
            ),
        );
    }
    if ok { Ok(()) } else { Err(Failure::Exit(1)) }
}
