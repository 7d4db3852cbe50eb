//! Diagnostics: what is wrong, exactly where, and what to do about it.
//!
//! Every problem nubo finds in a user's input becomes a [`Diagnostic`] that
//! names `file:line:column`, shows the source line with a caret under the
//! offending text and, where there is a next step, a `help:` line. The same
//! diagnostic renders for people (`render`) and for CI (`to_json`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anstyle::{AnsiColor, Effects, Style};
use serde_json::json;

use crate::manifest::yaml::Span;

/// A source file diagnostics point into.
#[derive(Debug)]
pub struct Source {
    /// The path as the user gave it, for display.
    pub name: PathBuf,
    pub text: String,
}

impl Source {
    pub fn new(name: impl Into<PathBuf>, text: impl Into<String>) -> Arc<Source> {
        Arc::new(Source {
            name: name.into(),
            text: text.into(),
        })
    }

    fn line(&self, line: usize) -> Option<&str> {
        self.text.lines().nth(line.checked_sub(1)?)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A problem in the user's input, with its place in a source file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub at: Option<(Arc<Source>, Span)>,
    pub label: Option<String>,
    pub help: Option<String>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            at: None,
            label: None,
            help: None,
            notes: Vec::new(),
        }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message)
        }
    }

    pub fn at(mut self, source: &Arc<Source>, span: Option<Span>) -> Self {
        if let Some(span) = span {
            self.at = Some((Arc::clone(source), span));
        }
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:column`, 1-based, when the diagnostic has a place.
    pub fn location(&self) -> Option<String> {
        self.at.as_ref().map(|(src, span)| {
            format!(
                "{}:{}:{}",
                display_path(&src.name),
                span.start.line,
                span.start.col + 1
            )
        })
    }

    /// The diagnostic as text for a terminal, with ANSI styles (the printer
    /// strips them when colour is off).
    pub fn render(&self) -> String {
        let (head, head_style) = match self.severity {
            Severity::Error => ("error", style(AnsiColor::Red)),
            Severity::Warning => ("warning", style(AnsiColor::Yellow)),
        };
        let blue = style(AnsiColor::Blue);
        let bold = Style::new().effects(Effects::BOLD);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{head_style}{head}{head_style:#}{bold}: {}{bold:#}",
            self.message
        );
        let mut gutter = 1;
        if let (Some((src, span)), Some(loc)) = (&self.at, self.location()) {
            let line_no = span.start.line.to_string();
            gutter = line_no.len();
            let pad = " ".repeat(gutter);
            let _ = writeln!(out, "{pad}{blue}-->{blue:#} {loc}");
            if let Some(line) = src.line(span.start.line) {
                let line_chars = line.chars().count();
                let start = span.start.col.min(line_chars);
                let width = if span.end.line == span.start.line && span.end.col > span.start.col {
                    span.end.col.min(line_chars) - start
                } else {
                    line.trim_end().chars().count().saturating_sub(start)
                }
                .max(1);
                let _ = writeln!(out, "{pad} {blue}|{blue:#}");
                let _ = writeln!(out, "{blue}{line_no} |{blue:#} {line}");
                let _ = write!(
                    out,
                    "{pad} {blue}|{blue:#} {}{head_style}{}",
                    " ".repeat(start),
                    "^".repeat(width)
                );
                if let Some(label) = &self.label {
                    let _ = write!(out, " {label}");
                }
                let _ = writeln!(out, "{head_style:#}");
            }
        }
        let pad = " ".repeat(gutter);
        for note in &self.notes {
            let _ = writeln!(out, "{pad} {blue}={blue:#} {bold}note{bold:#}: {note}");
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "{pad} {blue}={blue:#} {bold}help{bold:#}: {help}");
        }
        out
    }

    /// The diagnostic as a JSON object for `--output json`.
    pub fn to_json(&self) -> serde_json::Value {
        let (file, line, column, end_line, end_column) = match &self.at {
            Some((src, span)) => (
                Some(display_path(&src.name)),
                Some(span.start.line),
                Some(span.start.col + 1),
                Some(span.end.line),
                Some(span.end.col + 1),
            ),
            None => (None, None, None, None, None),
        };
        json!({
            "type": "diagnostic",
            "severity": self.severity,
            "message": self.message,
            "file": file,
            "line": line,
            "column": column,
            "end_line": end_line,
            "end_column": end_column,
            "label": self.label,
            "help": self.help,
            "notes": self.notes,
        })
    }
}

fn style(color: AnsiColor) -> Style {
    Style::new()
        .fg_color(Some(color.into()))
        .effects(Effects::BOLD)
}

/// A path for messages: forward slashes, no leading `./`.
pub fn display_path(path: &Path) -> String {
    let s = path.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_owned).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::yaml::Pos;

    #[test]
    fn renders_caret_under_span() {
        let src = Source::new(
            "nubo.yaml",
            "service: shop\nfunctions:\n  a:\n    timout: 10s\n",
        );
        let span = Span {
            start: Pos { line: 4, col: 4 },
            end: Pos { line: 4, col: 10 },
        };
        let d = Diagnostic::error("unknown key `timout`")
            .at(&src, Some(span))
            .label("unknown key")
            .help("did you mean `timeout`?");
        let text = anstream::adapter::strip_str(&d.render()).to_string();
        assert_eq!(
            text,
            "error: unknown key `timout`\n --> nubo.yaml:4:5\n  |\n4 |     timout: 10s\n  |     ^^^^^^ unknown key\n  = help: did you mean `timeout`?\n"
        );
    }
}
