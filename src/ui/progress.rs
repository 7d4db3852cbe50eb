//! Progress of release operations: bars on a terminal, timestamped lines in
//! CI logs, JSON Lines events with `--output json`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::{Printer, Verbosity};
use crate::provider::Route;
use crate::release::{Event, Observer};

pub struct Progress<'a> {
    printer: &'a Printer,
    start: Instant,
    bars: Option<(MultiProgress, Mutex<HashMap<String, ProgressBar>>)>,
}

impl<'a> Progress<'a> {
    pub fn new(printer: &'a Printer) -> Progress<'a> {
        let tty = !printer.is_json()
            && printer.verbosity != Verbosity::Quiet
            && std::io::stderr().is_terminal();
        Progress {
            printer,
            start: Instant::now(),
            bars: tty.then(|| (MultiProgress::new(), Mutex::new(HashMap::new()))),
        }
    }

    fn line(&self, verb: &str, message: String) {
        if let Some((multi, _)) = &self.bars {
            // Above the bars, so lines and bars never overwrite each other.
            let _ = multi.println(self.printer.render_status(verb, message));
        } else {
            let t = self.start.elapsed().as_secs_f64();
            self.printer.status(verb, format!("{message}  [{t:.1}s]"));
        }
    }

    /// Clear the bars: what happened is in the lines above them.
    pub fn finish(&self) {
        if let Some((multi, bars)) = &self.bars {
            for bar in bars.lock().unwrap_or_else(|e| e.into_inner()).values() {
                bar.finish_and_clear();
            }
            let _ = multi.clear();
        }
    }
}

pub fn route(r: &Route) -> String {
    match &r.canary {
        Some((c, w)) => format!("`{}` {}% · `{c}` {w}%", r.primary, 100 - *w as u16),
        None => format!("`{}`", r.primary),
    }
}

impl Observer for Progress<'_> {
    fn event(&self, event: &Event) {
        if self.printer.is_json() {
            if let Ok(serde_json::Value::Object(mut map)) = serde_json::to_value(event) {
                // `{"type": "plan", "plan": {...}}` reads better as one flat object.
                if let Some(serde_json::Value::Object(plan)) = map.remove("plan") {
                    map.extend(plan);
                }
                self.printer.event(serde_json::Value::Object(map));
            }
            return;
        }
        match event {
            Event::Recover { message } => self.line("Recovered", message.clone()),
            Event::Plan { plan } => {
                let n = |a: fn(&crate::release::plan::Action) -> bool| plan.count(a);
                use crate::release::plan::Action::*;
                self.line(
                    "Planned",
                    format!(
                        "{} to create, {} to update, {} unchanged, {} to remove",
                        n(|a| matches!(a, Create)),
                        n(|a| matches!(a, Update { .. })),
                        n(|a| matches!(a, Unchanged)),
                        n(|a| matches!(a, Remove)),
                    ),
                );
            }
            Event::Function { function, phase } => match &self.bars {
                Some((multi, bars)) => {
                    let mut bars = bars.lock().unwrap_or_else(|e| e.into_inner());
                    let bar = bars.entry(function.clone()).or_insert_with(|| {
                        let b = multi.add(ProgressBar::new_spinner());
                        b.set_style(
                            ProgressStyle::with_template(
                                "{spinner:.green} {prefix:>20.bold} {msg}",
                            )
                            .expect("valid template"),
                        );
                        b.set_prefix(function.clone());
                        b.enable_steady_tick(std::time::Duration::from_millis(100));
                        b
                    });
                    bar.set_message(phase.clone());
                    bar.tick();
                }
                None => {
                    if self.printer.verbosity == Verbosity::Verbose {
                        self.line("Function", format!("{function}: {phase}"));
                    }
                }
            },
            Event::Check {
                index,
                function,
                ok,
                status,
                ms,
                reason,
            } => {
                let verb = if *ok { "Checked" } else { "Failed" };
                let detail = reason.clone().unwrap_or_else(|| format!("status {status}"));
                self.line(
                    verb,
                    format!("check {index} `{function}`: {detail} ({ms} ms)"),
                );
            }
            Event::Switch { from, to } => {
                let from = from.as_ref().map_or("nothing".to_owned(), route);
                self.line("Switched", format!("{from} → {}", route(to)));
            }
            Event::Rollback { to, reason } => {
                self.line("Rolled back", format!("to {} ({reason})", route(to)))
            }
            Event::Prune { release } => self.line("Pruned", format!("release `{release}`")),
        }
    }
}
