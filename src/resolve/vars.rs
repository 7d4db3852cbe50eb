//! `${...}` variables in manifest strings.
//!
//! The forms are `${env:NAME}`, `${env:NAME, default}`, `${target}`,
//! `${service}`, `${release}` and `${secret:NAME}`; `$${` writes a literal
//! `${`. Parsing is separate from resolving so `validate` can report every
//! malformed variable with its column, and so secrets stay references that
//! only the deploy step turns into the provider's secret-store binding.

use std::fmt;

/// A piece of a string: text, or a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Var { var: Var, offset: usize, len: usize },
}

/// A variable, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    Env {
        name: String,
        default: Option<String>,
    },
    Target,
    Service,
    Release,
    Secret {
        name: String,
    },
}

impl fmt::Display for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Var::Env {
                name,
                default: None,
            } => write!(f, "${{env:{name}}}"),
            Var::Env {
                name,
                default: Some(d),
            } => write!(f, "${{env:{name}, {d}}}"),
            Var::Target => f.write_str("${target}"),
            Var::Service => f.write_str("${service}"),
            Var::Release => f.write_str("${release}"),
            Var::Secret { name } => write!(f, "${{secret:{name}}}"),
        }
    }
}

/// A malformed variable: what is wrong, and where in the string (in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarError {
    pub message: String,
    pub offset: usize,
    pub len: usize,
    pub help: Option<String>,
}

const KINDS: [&str; 6] = ["env", "target", "service", "release", "secret", "env:NAME"];

/// Split `s` into text and variables.
pub fn parse(s: &str) -> Result<Vec<Part>, VarError> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' && chars.get(i + 1) == Some(&'$') && chars.get(i + 2) == Some(&'{') {
            text.push_str("${");
            i += 3;
            continue;
        }
        if chars[i] == '$' && chars.get(i + 1) == Some(&'{') {
            let Some(close) = chars[i + 2..].iter().position(|c| *c == '}') else {
                return Err(VarError {
                    message: "unterminated variable: `${` without a closing `}`".to_owned(),
                    offset: i,
                    len: chars.len() - i,
                    help: Some(
                        "close it with `}`, e.g. `${target}`; for a literal `${` write `$${`"
                            .to_owned(),
                    ),
                });
            };
            let body: String = chars[i + 2..i + 2 + close].iter().collect();
            let len = close + 3;
            let var = parse_var(body.trim()).map_err(|(message, help)| VarError {
                message,
                offset: i,
                len,
                help,
            })?;
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(Part::Var {
                var,
                offset: i,
                len,
            });
            i += len;
            continue;
        }
        text.push(chars[i]);
        i += 1;
    }
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(parts)
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn parse_var(body: &str) -> Result<Var, (String, Option<String>)> {
    let (kind, rest) = match body.split_once(':') {
        Some((k, r)) => (k.trim(), Some(r.trim())),
        None => (body, None),
    };
    match (kind, rest) {
        ("target", None) => Ok(Var::Target),
        ("service", None) => Ok(Var::Service),
        ("release", None) => Ok(Var::Release),
        ("env", Some(rest)) => {
            let (name, default) = match rest.split_once(',') {
                Some((n, d)) => (n.trim(), Some(d.trim().to_owned())),
                None => (rest, None),
            };
            if !is_name(name) {
                return Err((
                    format!("`{name}` is not an environment variable name"),
                    Some("write `${env:NAME}` or `${env:NAME, default}`".to_owned()),
                ));
            }
            Ok(Var::Env {
                name: name.to_owned(),
                default,
            })
        }
        ("secret", Some(name)) => {
            if !is_name(name) {
                return Err((
                    format!("`{name}` is not a secret name"),
                    Some("secret names are letters, digits, `-`, `_` and `.`: `${secret:stripe-key}`".to_owned()),
                ));
            }
            Ok(Var::Secret {
                name: name.to_owned(),
            })
        }
        ("env" | "secret", None) => Err((
            format!("`${{{kind}}}` needs a name: `${{{kind}:NAME}}`"),
            None,
        )),
        ("target" | "service" | "release", Some(_)) => {
            Err((format!("`${{{kind}}}` takes no argument"), None))
        }
        _ => {
            let help = crate::suggest::did_you_mean(kind, KINDS.iter().copied()).map_or_else(
                || "the variables are `${env:NAME}`, `${env:NAME, default}`, `${target}`, `${service}`, `${release}` and `${secret:NAME}`".to_owned(),
                |s| format!("did you mean `${{{s}{}}}`?", rest.map(|r| format!(":{r}")).unwrap_or_default()),
            );
            Err((format!("unknown variable `${{{body}}}`"), Some(help)))
        }
    }
}

/// The text of a per-release value for `release`: only `${release}` is left
/// as a variable after resolution.
pub fn render(parts: &[Part], release: &str) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Text(t) => t.as_str(),
            Part::Var { .. } => release,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let parts = parse("a-${env:HOME, /tmp}-${target}$${x}").unwrap();
        assert_eq!(
            parts,
            vec![
                Part::Text("a-".into()),
                Part::Var {
                    var: Var::Env {
                        name: "HOME".into(),
                        default: Some("/tmp".into())
                    },
                    offset: 2,
                    len: 17
                },
                Part::Text("-".into()),
                Part::Var {
                    var: Var::Target,
                    offset: 20,
                    len: 9
                },
                Part::Text("${x}".into()),
            ]
        );
        assert_eq!(
            parse("${secret:stripe-key}").unwrap(),
            vec![Part::Var {
                var: Var::Secret {
                    name: "stripe-key".into()
                },
                offset: 0,
                len: 20
            }]
        );
    }

    #[test]
    fn reports_malformed_variables() {
        assert!(
            parse("${env:X")
                .unwrap_err()
                .message
                .contains("unterminated")
        );
        let e = parse("x ${tagret}").unwrap_err();
        assert_eq!(e.offset, 2);
        assert_eq!(e.help.as_deref(), Some("did you mean `${target}`?"));
        assert!(
            parse("${env}")
                .unwrap_err()
                .message
                .contains("needs a name")
        );
    }
}
