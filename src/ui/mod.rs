//! The printer: the one owner of the terminal.
//!
//! Human text (status lines, diagnostics) goes to stderr; stdout carries only
//! data: a table, a schema, a URL, or with `--output json` JSON Lines of typed
//! events ending in one `result` object. Colour follows `--color`, `NO_COLOR`
//! and whether the stream is a terminal (anstream decides and strips).

use std::io::Write;

use anstyle::{AnsiColor, Effects, Style};
use serde_json::Value;

pub mod progress;

use crate::diag::Diagnostic;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Text for people.
    Human,
    /// JSON Lines: one event per line, the last a `result`.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

#[derive(Clone)]
pub struct Printer {
    pub format: OutputFormat,
    pub verbosity: Verbosity,
    color: anstream::ColorChoice,
}

impl Printer {
    pub fn new(format: OutputFormat, verbosity: Verbosity, color: ColorChoice) -> Self {
        let color = match color {
            ColorChoice::Auto => anstream::ColorChoice::Auto,
            ColorChoice::Always => anstream::ColorChoice::Always,
            ColorChoice::Never => anstream::ColorChoice::Never,
        };
        Printer {
            format,
            verbosity,
            color,
        }
    }

    pub fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    fn stderr(&self) -> anstream::AutoStream<std::io::Stderr> {
        anstream::AutoStream::new(std::io::stderr(), self.color)
    }

    fn stdout(&self) -> anstream::AutoStream<std::io::Stdout> {
        anstream::AutoStream::new(std::io::stdout(), self.color)
    }

    /// A cargo-style status line: a right-aligned green verb and a message.
    pub fn status(&self, verb: &str, message: impl std::fmt::Display) {
        if self.is_json() || self.verbosity == Verbosity::Quiet {
            return;
        }
        let _ = writeln!(self.stderr(), "{}", status_line(verb, message));
    }

    /// A status line as text, styled only when stderr shows colour (for
    /// writers that bypass the printer, like progress bars).
    pub fn render_status(&self, verb: &str, message: impl std::fmt::Display) -> String {
        let line = status_line(verb, message);
        if self.stderr().current_choice() == anstream::ColorChoice::Never {
            anstream::adapter::strip_str(&line).to_string()
        } else {
            line
        }
    }

    /// A line of detail shown with `-v`.
    pub fn verbose(&self, message: impl std::fmt::Display) {
        if !self.is_json() && self.verbosity == Verbosity::Verbose {
            let _ = writeln!(self.stderr(), "{message}");
        }
    }

    /// A diagnostic: rendered on stderr, or a JSON event on stdout.
    pub fn diagnostic(&self, d: &Diagnostic) {
        if self.is_json() {
            self.event(d.to_json());
        } else if d.is_error() || self.verbosity != Verbosity::Quiet {
            let _ = writeln!(self.stderr(), "{}", d.render());
        }
    }

    /// A plain error line (`error: ...`) with an optional hint, on stderr.
    pub fn error(&self, message: impl std::fmt::Display, hint: Option<&str>) {
        let red = Style::new()
            .fg_color(Some(AnsiColor::Red.into()))
            .effects(Effects::BOLD);
        let mut err = self.stderr();
        let _ = writeln!(err, "{red}error{red:#}: {message}");
        if let Some(hint) = hint {
            let _ = writeln!(
                err,
                "  {}hint{:#}: {hint}",
                Style::new().effects(Effects::BOLD),
                Style::new()
            );
        }
    }

    /// One JSON Lines event on stdout.
    pub fn event(&self, value: Value) {
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer(&mut out, &value);
        let _ = out.write_all(b"\n");
    }

    /// Data for stdout (tables, schemas, scripts), in human mode.
    pub fn data(&self, text: &str) {
        let mut out = self.stdout();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

fn status_line(verb: &str, message: impl std::fmt::Display) -> String {
    let green = Style::new()
        .fg_color(Some(AnsiColor::Green.into()))
        .effects(Effects::BOLD);
    format!("{green}{verb:>12}{green:#} {message}")
}

/// Bold text for tables and summaries.
pub fn bold(s: &str) -> String {
    let b = Style::new().effects(Effects::BOLD);
    format!("{b}{s}{b:#}")
}

/// Text in a colour.
pub fn paint(s: &str, color: AnsiColor) -> String {
    let c = Style::new().fg_color(Some(color.into()));
    format!("{c}{s}{c:#}")
}

/// Rows as aligned columns (two spaces apart, ANSI codes not counted),
/// one line each, trailing space trimmed.
pub fn table<R: AsRef<[String]>>(rows: &[R]) -> String {
    let width = |s: &str| anstream::adapter::strip_str(s).to_string().chars().count();
    let cols = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.as_ref().get(c))
                .map(|cell| width(cell))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .as_ref()
            .iter()
            .zip(&widths)
            .map(|(c, w)| pad(c, *w))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Ask `question` on the terminal; without one, or without a yes, false.
/// `--yes` callers skip this.
pub fn confirm(question: &str) -> bool {
    use std::io::{BufRead, IsTerminal};
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes")
}

/// Pad `s` to `width` visible characters (ANSI codes do not count).
pub fn pad(s: &str, width: usize) -> String {
    let visible = anstream::adapter::strip_str(s).to_string().chars().count();
    format!("{s}{}", " ".repeat(width.saturating_sub(visible)))
}
