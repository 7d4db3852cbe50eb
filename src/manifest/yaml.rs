//! A YAML document as a tree of nodes that remember where they came from.
//!
//! Every later diagnostic points at `file:line:column`, so the loader keeps a
//! span on every node instead of handing serde a bare value. It also guards
//! the parser against hostile input: a size cap, a nesting cap and a budget
//! on alias expansion ("billion laughs") are checked while events stream in,
//! so a bad file is refused before it costs time or memory.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError};

/// Largest manifest accepted, in bytes. A 1,000-function service is ~200 KB.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;
/// Deepest nesting of mappings and sequences accepted.
pub const MAX_DEPTH: usize = 64;
/// Most nodes a document may expand to, aliases included.
pub const MAX_NODES: usize = 500_000;

/// A position in a source file: 1-based line, 0-based column in characters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// A range in a source file. `end` is exclusive; an empty span is a point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub start: Pos,
    pub end: Pos,
}

impl Span {
    pub fn point(pos: Pos) -> Span {
        Span {
            start: pos,
            end: pos,
        }
    }

    fn from_parser(span: saphyr_parser::Span) -> Span {
        Span {
            start: pos(span.start),
            end: pos(span.end),
        }
    }
}

fn pos(m: saphyr_parser::Marker) -> Pos {
    Pos {
        line: m.line(),
        col: m.col(),
    }
}

/// How a scalar was written; a quoted `"10"` is a string, a plain `10` a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar(String, Style),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub span: Span,
    pub value: Value,
}

impl Node {
    /// The node's scalar text when it is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// True for `~`, `null`, an empty plain value.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar(s, Style::Plain) if is_null(s))
    }

    /// A word for the node's kind, used in "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
            Value::Scalar(_, Style::Quoted) => "a string",
            Value::Scalar(s, Style::Plain) => {
                if is_null(s) {
                    "nothing"
                } else if parse_bool(s).is_some() {
                    "a boolean"
                } else if parse_int(s).is_some() {
                    "an integer"
                } else if parse_float(s).is_some() {
                    "a number"
                } else {
                    "a string"
                }
            }
        }
    }

    fn count(&self) -> usize {
        match &self.value {
            Value::Scalar(..) => 1,
            Value::Seq(items) => 1 + items.iter().map(Node::count).sum::<usize>(),
            Value::Map(entries) => {
                1 + entries
                    .iter()
                    .map(|(k, v)| k.count() + v.count())
                    .sum::<usize>()
            }
        }
    }
}

pub fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

/// YAML 1.2 core schema booleans.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// YAML 1.2 core schema integers: decimal, `0o` octal, `0x` hex.
pub fn parse_int(s: &str) -> Option<i128> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i128::from_str_radix(oct, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -magnitude } else { magnitude })
}

/// YAML 1.2 core schema floats.
pub fn parse_float(s: &str) -> Option<f64> {
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let looks_numeric = s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
        && s.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric { s.parse().ok() } else { None }
}

/// Why a document could not be read as YAML.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub message: String,
    pub span: Span,
    pub label: Option<String>,
    pub help: Option<String>,
}

impl YamlError {
    fn new(message: impl Into<String>, span: Span) -> Self {
        YamlError {
            message: message.into(),
            span,
            label: None,
            help: None,
        }
    }

    fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl From<ScanError> for YamlError {
    fn from(e: ScanError) -> Self {
        let at = Span::point(pos(*e.marker()));
        if e.info().contains("recursion limit") {
            return YamlError::new(
                format!("the document nests deeper than {MAX_DEPTH} levels"),
                at,
            )
            .label("too deep");
        }
        let info = e.info();
        let (message, help) = if info.contains("did not find expected key") {
            (
                "invalid YAML: this line does not line up with the keys around it",
                Some("the keys of one mapping start at the same column; indent with spaces"),
            )
        } else if info.contains("flow mapping") {
            (
                "invalid YAML: a `{` mapping is not closed before this point",
                Some("separate entries with `,` and close the mapping with `}`"),
            )
        } else if info.contains("flow sequence") {
            (
                "invalid YAML: a `[` list is not closed before this point",
                Some("separate items with `,` and close the list with `]`"),
            )
        } else if info.contains("tab") {
            (
                "invalid YAML: a tab is used for indentation",
                Some("YAML indents with spaces: replace the tab with spaces"),
            )
        } else if info.contains("quoted scalar") {
            (
                "invalid YAML: a quoted string is not closed",
                Some("add the closing quote"),
            )
        } else {
            return YamlError::new(format!("invalid YAML: {info}"), at);
        };
        let mut e = YamlError::new(message, at);
        e.help = help.map(str::to_owned);
        e
    }
}

enum Frame {
    Seq {
        span: Span,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        span: Span,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

/// Parse one YAML document into a node tree. An empty document is `None`.
pub fn parse(src: &str) -> Result<Option<Node>, YamlError> {
    if src.len() > MAX_BYTES {
        return Err(YamlError::new(
            format!(
                "the file is larger than {} MiB, the most a manifest may be",
                MAX_BYTES / (1024 * 1024)
            ),
            Span::point(Pos { line: 1, col: 0 }),
        ));
    }
    let mut parser = Parser::new_from_str(src);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    let mut nodes = 0usize;

    while let Some(event) = parser.next_event() {
        let (event, span) = event?;
        let span = Span::from_parser(span);
        let finished: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => None,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(YamlError::new("a manifest is a single YAML document", span)
                        .label("a second document starts here")
                        .help("remove the `---` separator and everything after it"));
                }
                None
            }
            Event::Alias(id) => {
                let Some(target) = anchors.get(&id) else {
                    return Err(YamlError::new("alias to an unknown anchor", span));
                };
                nodes += target.count();
                if nodes > MAX_NODES {
                    return Err(alias_bomb(span));
                }
                let mut node = target.clone();
                node.span = span;
                Some((node, 0))
            }
            Event::Scalar(text, style, anchor, tag) => {
                check_tag(tag.as_deref(), span)?;
                nodes += 1;
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    _ => Style::Quoted,
                };
                Some((
                    Node {
                        span,
                        value: Value::Scalar(Cow::into_owned(text), style),
                    },
                    anchor,
                ))
            }
            Event::SequenceStart(anchor, tag) => {
                check_tag(tag.as_deref(), span)?;
                push(&mut stack, span)?;
                stack.push(Frame::Seq {
                    span,
                    anchor,
                    items: Vec::new(),
                });
                None
            }
            Event::MappingStart(anchor, tag) => {
                check_tag(tag.as_deref(), span)?;
                push(&mut stack, span)?;
                stack.push(Frame::Map {
                    span,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    span: start,
                    anchor,
                    items,
                }) => {
                    nodes += 1;
                    Some((
                        Node {
                            span: Span {
                                start: start.start,
                                end: span.end,
                            },
                            value: Value::Seq(items),
                        },
                        anchor,
                    ))
                }
                _ => return Err(YamlError::new("invalid YAML: unbalanced sequence", span)),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    span: start,
                    anchor,
                    entries,
                    ..
                }) => {
                    nodes += 1;
                    let entries = merge_keys(entries)?;
                    Some((
                        Node {
                            span: Span {
                                start: start.start,
                                end: span.end,
                            },
                            value: Value::Map(entries),
                        },
                        anchor,
                    ))
                }
                _ => return Err(YamlError::new("invalid YAML: unbalanced mapping", span)),
            },
        };
        if nodes > MAX_NODES {
            return Err(alias_bomb(span));
        }
        let Some((node, anchor)) = finished else {
            continue;
        };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => {
                    if !matches!(node.value, Value::Scalar(..)) {
                        return Err(YamlError::new(
                            "a mapping key must be a plain word, not a list or mapping",
                            node.span,
                        ));
                    }
                    if let Some((first, _)) = entries
                        .iter()
                        .find(|(k, _)| k.as_str() == node.as_str() && k.as_str() != Some("<<"))
                    {
                        return Err(YamlError::new(
                            format!("duplicate key `{}`", node.as_str().unwrap_or_default()),
                            node.span,
                        )
                        .label("this key is already set")
                        .help(format!(
                            "the first `{}` is on line {}; remove one of them",
                            node.as_str().unwrap_or_default(),
                            first.span.start.line
                        )));
                    }
                    *key = Some(node);
                }
                Some(k) => entries.push((k, node)),
            },
        }
    }
    Ok(root)
}

fn push(stack: &mut [Frame], span: Span) -> Result<(), YamlError> {
    if stack.len() >= MAX_DEPTH {
        return Err(YamlError::new(
            format!("the document nests deeper than {MAX_DEPTH} levels"),
            span,
        )
        .label("too deep"));
    }
    Ok(())
}

fn alias_bomb(span: Span) -> YamlError {
    YamlError::new(
        format!("the document expands to more than {MAX_NODES} values"),
        span,
    )
    .label("expanding aliases stops here")
    .help("aliases (`*name`) that copy large anchors multiply; write the values out or use fewer levels")
}

fn check_tag(tag: Option<&saphyr_parser::Tag>, span: Span) -> Result<(), YamlError> {
    match tag {
        Some(tag) if !tag.is_yaml_core_schema() => Err(YamlError::new(
            format!("YAML tag `{}{}` is not supported", tag.handle, tag.suffix),
            span,
        )
        .help("nubo manifests use plain values; for provider-specific settings use the `aws:`, `gcp:` or `azure:` keys of a function")),
        _ => Ok(()),
    }
}

/// Apply YAML merge keys (`<<: *base`): entries of the merged mappings that
/// the mapping does not set itself are added to it.
fn merge_keys(entries: Vec<(Node, Node)>) -> Result<Vec<(Node, Node)>, YamlError> {
    if !entries.iter().any(|(k, _)| k.as_str() == Some("<<")) {
        return Ok(entries);
    }
    let mut own = Vec::new();
    let mut merged = Vec::new();
    for (k, v) in entries {
        if k.as_str() != Some("<<") {
            own.push((k, v));
            continue;
        }
        let sources = match v.value {
            Value::Map(_) => vec![v],
            Value::Seq(items) => items,
            _ => {
                return Err(YamlError::new(
                    "a merge key `<<` takes a mapping or a list of mappings",
                    v.span,
                ));
            }
        };
        for source in sources {
            let Value::Map(source_entries) = source.value else {
                return Err(YamlError::new(
                    "a merge key `<<` takes a mapping or a list of mappings",
                    source.span,
                ));
            };
            merged.extend(source_entries);
        }
    }
    for (k, v) in merged {
        let taken = own.iter().any(|(o, _)| o.as_str() == k.as_str());
        if !taken {
            own.push((k, v));
        }
    }
    Ok(own)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_point_at_values() {
        let doc = parse("a: 1\nb:\n  c: hello\n").unwrap().unwrap();
        let Value::Map(entries) = &doc.value else {
            panic!("not a map")
        };
        let (_, b) = &entries[1];
        let Value::Map(inner) = &b.value else {
            panic!("not a map")
        };
        assert_eq!(inner[0].1.span.start, Pos { line: 3, col: 5 });
        assert_eq!(inner[0].0.span.start, Pos { line: 3, col: 2 });
    }

    #[test]
    fn refuses_billion_laughs() {
        let mut src = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for name in 'b'..='j' {
            src.push_str(&format!(
                "{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
            prev = name;
        }
        let err = parse(&src).unwrap_err();
        assert!(err.message.contains("expands to more than"), "{err:?}");
    }

    #[test]
    fn refuses_deep_nesting() {
        let src = "[".repeat(10_000);
        let err = parse(&src).unwrap_err();
        assert!(err.message.contains("nests deeper"), "{err:?}");
    }

    #[test]
    fn merge_keys_fill_missing_entries() {
        let doc = parse("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n")
            .unwrap()
            .unwrap();
        let Value::Map(entries) = &doc.value else {
            panic!()
        };
        let Value::Map(c) = &entries[1].1.value else {
            panic!()
        };
        let pairs: Vec<_> = c
            .iter()
            .map(|(k, v)| (k.as_str().unwrap(), v.as_str().unwrap()))
            .collect();
        assert_eq!(pairs, vec![("y", "3"), ("x", "1")]);
    }

    #[test]
    fn core_schema_scalars() {
        assert_eq!(parse_int("0x1f"), Some(31));
        assert_eq!(parse_int("-12"), Some(-12));
        assert_eq!(parse_int("12a"), None);
        assert_eq!(parse_bool("yes"), None);
        assert!(parse_float("1.5").is_some());
        assert!(parse_float("abc").is_none());
    }
}
