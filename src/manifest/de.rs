//! serde over the spanned YAML tree, reporting every problem in one run.
//!
//! The typed model (`model.rs`) is plain serde + schemars, so the JSON schema
//! stays exact. This deserializer adds what serde alone cannot give a person:
//! each error carries the path and span of the offending node; unknown keys
//! are reported with the nearest valid one and skipped rather than fatal; and
//! a failed value is recorded, removed from the tree and the document decoded
//! again, so one run lists all the errors instead of only the first.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

use super::yaml::{self, Node, Span, Style, Value};
use crate::suggest::{help_or, one_of};

/// One step of a path into the document.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path into the document, shown as `functions.checkout.events[0]`.
///
/// Keys are joined with `.` as they are, so later phases can build the same
/// string with `format!` to look up a span; a key that itself holds a dot is
/// shown unquoted, a small price for one spelling of every path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Path(pub Vec<Seg>);

impl Path {
    pub fn child(&self, seg: Seg) -> Path {
        let mut segs = self.0.clone();
        segs.push(seg);
        Path(segs)
    }

    pub fn key(&self, key: &str) -> Path {
        self.child(Seg::Key(key.to_owned()))
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Where each key and value of a decoded document is, by path.
#[derive(Debug, Default, Clone)]
pub struct SpanMap {
    keys: HashMap<String, Span>,
    values: HashMap<String, Span>,
}

impl SpanMap {
    /// The span of the key naming `path` (`memory` in `memory: 512`).
    pub fn key(&self, path: &str) -> Option<Span> {
        self.keys.get(path).copied()
    }

    /// The span of the value at `path`.
    pub fn value(&self, path: &str) -> Option<Span> {
        self.values.get(path).copied()
    }

    /// The value's span, else the key's: the best place to point at.
    pub fn best(&self, path: &str) -> Option<Span> {
        self.value(path).or_else(|| self.key(path))
    }
}

/// A problem found while decoding, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub message: String,
    pub path: Option<Path>,
    pub span: Option<Span>,
    pub label: Option<String>,
    pub help: Option<String>,
    missing: Option<&'static str>,
}

impl Error {
    fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            path: None,
            span: None,
            label: None,
            help: None,
            missing: None,
        }
    }

    fn at(mut self, node: &Node, path: &Path) -> Self {
        if self.span.is_none() {
            self.span = Some(node.span);
            self.path = Some(path.clone());
        }
        self
    }

    fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(msg.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        let mut e = Error::new(format!("missing required key `{field}`"));
        e.missing = Some(field);
        e
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let e = Error::new(format!(
            "unknown value `{variant}`, expected {}",
            one_of(expected)
        ));
        match crate::suggest::help(variant, expected) {
            Some(h) => e.help(h),
            None => e,
        }
    }

    fn invalid_type(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        Error::new(format!("expected {exp}, found {unexp}"))
    }
}

/// A hint for a key whose value has the wrong shape: what a right one looks like.
fn hint_for(key: &str) -> Option<&'static str> {
    Some(match key {
        "nubo" => "start the manifest with `nubo: 1`",
        "service" => "add `service: my-service` (lowercase letters, digits and hyphens)",
        "targets" => "add `targets:` with at least one, e.g. `dev: { provider: local }`",
        "functions" => "add `functions:` with at least one function and its `handler:`",
        "handler" => {
            "write `handler: src/app.handler` (file `src/app.js` or `.py`, export `handler`)"
        }
        "memory" => "memory is a whole number of MiB, e.g. `memory: 1024`",
        "timeout" | "interval" | "every" => {
            "write a duration with a unit, e.g. `10s`, `500ms`, `5m`"
        }
        "env" => "env is a mapping of names to values, e.g. `env: { LOG_LEVEL: info }`",
        "events" => {
            "events is a list: start each event with `- `, e.g. `- http: { method: GET, path: / }`"
        }
        "calls" => "calls is a list of function names, e.g. `calls: [charge]`",
        "include" | "exclude" => "a list of globs, e.g. `[\"src/**\"]`",
        "steps" => "steps is a list of rising percents, e.g. `steps: [10, 50]`",
        "http" => "write `- http: { method: GET, path: /orders }`",
        "queue" => "write `- queue: { name: orders }`",
        "schedule" => "write `- schedule: { cron: \"0 3 * * *\" }` or `- schedule: { every: 1h }`",
        "storage" => "write `- storage: { bucket: uploads, on: created }`",
        "batch" => {
            "batch is the most messages per invocation, a whole number from 1, e.g. `batch: 10`"
        }
        "keep" => "keep is how many releases to retain, e.g. `keep: 10`",
        _ => return None,
    })
}

/// Most errors one document reports before giving up.
const MAX_ERRORS: usize = 100;

/// The outcome of decoding a document.
pub struct Decoded<T> {
    /// The value and the spans of every key and value in it; present when
    /// every value decoded, though unknown keys may have been skipped.
    pub value: Option<(T, SpanMap)>,
    /// Every problem found: when `value` is present, only unknown keys.
    pub errors: Vec<Error>,
}

/// Decode `root` as `T`, strictly: any error, unknown keys included, fails.
pub fn from_node<T: DeserializeOwned>(root: &Node) -> Result<(T, SpanMap), Vec<Error>> {
    let decoded = decode(root);
    match decoded.value {
        Some(value) if decoded.errors.is_empty() => Ok(value),
        _ => Err(decoded.errors),
    }
}

/// Decode `root` as `T`, collecting every error.
pub fn decode<T: DeserializeOwned>(root: &Node) -> Decoded<T> {
    // Decode the document as it is; copy it only to cut out a bad value.
    let mut tree = std::borrow::Cow::Borrowed(root);
    let mut reported: Vec<Error> = Vec::new();
    let mut removed: Vec<Path> = Vec::new();
    loop {
        let ctx = Ctx::default();
        let result = T::deserialize(De {
            node: &tree,
            path: Path::default(),
            ctx: &ctx,
        });
        for e in ctx.errors.borrow_mut().drain(..) {
            if !reported.contains(&e) {
                reported.push(e);
            }
        }
        match result {
            Ok(value) => {
                return Decoded {
                    value: removed.is_empty().then(|| (value, ctx.spans.into_inner())),
                    errors: reported,
                };
            }
            Err(mut e) => {
                let path = e.path.clone().unwrap_or_default();
                if let Some(field) = e.missing {
                    // Point at the key that names the incomplete mapping.
                    if let Some(key) = ctx.spans.borrow().key(&path.to_string()) {
                        e.span = Some(key);
                    }
                    if !path.is_root() {
                        e.message = format!("`{path}` is missing required key `{field}`");
                    } else {
                        e.message = format!("missing required top-level key `{field}`");
                    }
                    if e.help.is_none() {
                        e.help = hint_for(field).map(str::to_owned);
                    }
                }
                // A required key we removed ourselves is already reported, and
                // so is any other complaint about a mapping we emptied.
                let echo = match e.missing {
                    Some(field) => removed.contains(&path.key(field)),
                    None => removed.iter().any(|r| r.0.starts_with(&path.0)),
                };
                if !echo && !reported.contains(&e) {
                    reported.push(e);
                }
                if path.is_root() || reported.len() >= MAX_ERRORS || !remove(tree.to_mut(), &path.0)
                {
                    return Decoded {
                        value: None,
                        errors: reported,
                    };
                }
                removed.push(path);
            }
        }
    }
}

/// Remove the node at `path` from the tree; false if there is none.
fn remove(node: &mut Node, path: &[Seg]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut cur = node;
    for seg in parents {
        let next = match (&mut cur.value, seg) {
            (Value::Map(entries), Seg::Key(k)) => entries
                .iter_mut()
                .find(|(key, _)| key.as_str() == Some(k))
                .map(|(_, v)| v),
            (Value::Seq(items), Seg::Index(i)) => items.get_mut(*i),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return false,
        }
    }
    match (&mut cur.value, last) {
        (Value::Map(entries), Seg::Key(k)) => {
            let before = entries.len();
            entries.retain(|(key, _)| key.as_str() != Some(k));
            entries.len() != before
        }
        (Value::Seq(items), Seg::Index(i)) if *i < items.len() => {
            items.remove(*i);
            true
        }
        _ => false,
    }
}

#[derive(Default)]
struct Ctx {
    errors: RefCell<Vec<Error>>,
    spans: RefCell<SpanMap>,
}

impl Ctx {
    fn record(&self, path: &Path, key: Option<Span>, value: Span) {
        let mut spans = self.spans.borrow_mut();
        let p = path.to_string();
        if let Some(k) = key {
            spans.keys.insert(p.clone(), k);
        }
        spans.values.insert(p, value);
    }
}

struct De<'a> {
    node: &'a Node,
    path: Path,
    ctx: &'a Ctx,
}

impl<'a> De<'a> {
    fn type_error(&self, expected: &str) -> Error {
        let place = match self.path.0.last() {
            Some(Seg::Key(_)) => format!(" for `{}`", self.path),
            _ => String::new(),
        };
        let mut e = Error::new(format!(
            "expected {expected}{place}, found {}",
            self.node.kind()
        ));
        // A mapping or list starts on the line after its key: point at the key.
        if matches!(self.node.value, Value::Map(_) | Value::Seq(_))
            && let Some(key) = self.ctx.spans.borrow().key(&self.path.to_string())
        {
            e.span = Some(key);
            e.path = Some(self.path.clone());
        }
        if let Some(Seg::Key(k)) = self.path.0.last() {
            e.help = hint_for(k).map(str::to_owned);
        }
        e.at(self.node, &self.path)
    }

    fn plain(&self) -> Option<&'a str> {
        match &self.node.value {
            Value::Scalar(s, Style::Plain) => Some(s),
            _ => None,
        }
    }

    #[expect(
        clippy::result_large_err,
        reason = "the error path is cold; serde's trait methods return this error by value anyway"
    )]
    fn int(&self, min: i128, max: i128) -> Result<i128, Error> {
        let expected = if min == 0 {
            "a whole number".to_owned()
        } else {
            "an integer".to_owned()
        };
        let place = match self.path.0.last() {
            Some(Seg::Key(_)) => format!(" for `{}`", self.path),
            _ => String::new(),
        };
        match self.plain().and_then(yaml::parse_int) {
            Some(n) if n >= min && n <= max => Ok(n),
            Some(n) => {
                let message = if n < 0 && min == 0 {
                    format!("expected a positive whole number{place}, found `{n}`")
                } else {
                    format!("`{n}` is too large{place}: at most {max}")
                };
                let mut e = Error::new(message);
                if let Some(Seg::Key(k)) = self.path.0.last() {
                    e.help = hint_for(k).map(str::to_owned);
                }
                Err(e.at(self.node, &self.path))
            }
            None => {
                let mut e = self.type_error(&expected);
                if let Value::Scalar(s, Style::Quoted) = &self.node.value
                    && yaml::parse_int(s).is_some()
                {
                    e = e.help(format!("remove the quotes: `{s}`"));
                }
                Err(e)
            }
        }
    }
}

macro_rules! de_int {
    ($($method:ident $ty:ty => $visit:ident $as:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let n = self.int(<$ty>::MIN as i128, <$ty>::MAX as i128)?;
            visitor.$visit(n as $as).map_err(|e: Error| e.at(self.node, &self.path))
        }
    )*};
}

impl<'de> de::Deserializer<'de> for De<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let (node, path) = (self.node, self.path.clone());
        let r = match &self.node.value {
            Value::Scalar(s, Style::Quoted) => visitor.visit_str(s),
            Value::Scalar(s, Style::Plain) => {
                if yaml::is_null(s) {
                    visitor.visit_unit()
                } else if let Some(b) = yaml::parse_bool(s) {
                    visitor.visit_bool(b)
                } else if let Some(n) = yaml::parse_int(s) {
                    if let Ok(u) = u64::try_from(n) {
                        visitor.visit_u64(u)
                    } else if let Ok(i) = i64::try_from(n) {
                        visitor.visit_i64(i)
                    } else {
                        visitor.visit_str(s)
                    }
                } else if let Some(f) = yaml::parse_float(s) {
                    visitor.visit_f64(f)
                } else {
                    visitor.visit_str(s)
                }
            }
            Value::Seq(_) => return self.deserialize_seq(visitor),
            Value::Map(_) => return self.deserialize_map(visitor),
        };
        r.map_err(|e: Error| e.at(node, &path))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.plain().and_then(yaml::parse_bool) {
            Some(b) => visitor
                .visit_bool(b)
                .map_err(|e: Error| e.at(self.node, &self.path)),
            None => Err(self.type_error("`true` or `false`")),
        }
    }

    de_int! {
        deserialize_i8 i8 => visit_i64 i64,
        deserialize_i16 i16 => visit_i64 i64,
        deserialize_i32 i32 => visit_i64 i64,
        deserialize_i64 i64 => visit_i64 i64,
        deserialize_u8 u8 => visit_u64 u64,
        deserialize_u16 u16 => visit_u64 u64,
        deserialize_u32 u32 => visit_u64 u64,
        deserialize_u64 u64 => visit_u64 u64,
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self
            .plain()
            .and_then(|s| yaml::parse_float(s).or_else(|| yaml::parse_int(s).map(|n| n as f64)))
        {
            Some(f) => visitor
                .visit_f64(f)
                .map_err(|e: Error| e.at(self.node, &self.path)),
            None => Err(self.type_error("a number")),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Scalar(s, Style::Plain) if yaml::is_null(s) => Err(self.type_error("a string")),
            Value::Scalar(s, _) => visitor
                .visit_str(s)
                .map_err(|e: Error| e.at(self.node, &self.path)),
            _ => Err(self.type_error("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            visitor.visit_unit()
        } else {
            Err(self.type_error("nothing"))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let (node, path) = (self.node, self.path.clone());
        visitor
            .visit_newtype_struct(self)
            .map_err(|e: Error| e.at(node, &path))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Seq(items) => visitor
                .visit_seq(SeqAccess {
                    items: items.iter().enumerate(),
                    path: &self.path,
                    ctx: self.ctx,
                })
                .map_err(|e: Error| e.at(self.node, &self.path)),
            _ => Err(self.type_error("a list")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Map(entries) => visitor
                .visit_map(MapAccess {
                    entries: entries.iter().map(|(k, v)| (k, v)),
                    value: None,
                    path: &self.path,
                    ctx: self.ctx,
                })
                .map_err(|e: Error| e.at(self.node, &self.path)),
            // An empty `env:` is an empty mapping.
            _ if self.node.is_null() => visitor
                .visit_map(MapAccess {
                    entries: std::iter::empty(),
                    value: None,
                    path: &self.path,
                    ctx: self.ctx,
                })
                .map_err(|e: Error| e.at(self.node, &self.path)),
            _ => Err(self.type_error("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let empty = Vec::new();
        let entries = match &self.node.value {
            Value::Map(entries) => entries,
            // `defaults:` with nothing under it is an empty mapping.
            _ if self.node.is_null() => &empty,
            _ => return Err(self.type_error("a mapping")),
        };
        let mut known = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let key = k.as_str().unwrap_or_default();
            if fields.contains(&key) {
                known.push((k, v));
                continue;
            }
            let place = if self.path.is_root() {
                "at the top level".to_owned()
            } else {
                format!("in `{}`", self.path)
            };
            let mut e = Error::new(format!("unknown key `{key}` {place}"));
            e.span = Some(k.span);
            e.path = Some(self.path.key(key));
            e.label = Some("unknown key".to_owned());
            e.help = Some(help_or(key, fields, "expected"));
            self.ctx.errors.borrow_mut().push(e);
        }
        visitor
            .visit_map(MapAccess {
                entries: known.into_iter(),
                value: None,
                path: &self.path,
                ctx: self.ctx,
            })
            .map_err(|e: Error| e.at(self.node, &self.path))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let (node, path) = (self.node, self.path.clone());
        match &self.node.value {
            Value::Scalar(..) if !self.node.is_null() => visitor
                .visit_enum(EnumAccess {
                    tag: self.node,
                    value: None,
                    path: &self.path,
                    ctx: self.ctx,
                })
                .map_err(|e: Error| e.at(node, &path)),
            Value::Map(entries) if entries.len() == 1 => {
                let (k, v) = &entries[0];
                self.ctx.record(
                    &self.path.key(k.as_str().unwrap_or_default()),
                    Some(k.span),
                    v.span,
                );
                visitor
                    .visit_enum(EnumAccess {
                        tag: k,
                        value: Some(v),
                        path: &self.path,
                        ctx: self.ctx,
                    })
                    .map_err(|e: Error| e.at(node, &path))
            }
            Value::Map(entries) if entries.len() > 1 => {
                let names: Vec<_> = entries
                    .iter()
                    .map(|(k, _)| format!("`{}`", k.as_str().unwrap_or_default()))
                    .collect();
                Err(Error::new(format!(
                    "expected exactly one of {}, found {}",
                    one_of(variants),
                    names.join(" and ")
                ))
                .at(node, &path)
                .help("write each one as its own list item, starting with `- `"))
            }
            _ => Err(self.type_error(&one_of(variants))),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

struct SeqAccess<'a, I> {
    items: I,
    path: &'a Path,
    ctx: &'a Ctx,
}

impl<'de, 'a, I: Iterator<Item = (usize, &'a Node)>> de::SeqAccess<'de> for SeqAccess<'a, I> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some((i, node)) = self.items.next() else {
            return Ok(None);
        };
        let path = self.path.child(Seg::Index(i));
        self.ctx.record(&path, None, node.span);
        seed.deserialize(De {
            node,
            path: path.clone(),
            ctx: self.ctx,
        })
        .map(Some)
        .map_err(|e| e.at(node, &path))
    }
}

struct MapAccess<'a, I> {
    entries: I,
    value: Option<(&'a Node, Path)>,
    path: &'a Path,
    ctx: &'a Ctx,
}

impl<'de, 'a, I: Iterator<Item = (&'a Node, &'a Node)>> de::MapAccess<'de> for MapAccess<'a, I> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((k, v)) = self.entries.next() else {
            return Ok(None);
        };
        let key = k.as_str().unwrap_or_default();
        let path = self.path.key(key);
        self.ctx.record(&path, Some(k.span), v.span);
        let value = seed
            .deserialize(key.into_deserializer())
            .map_err(|e: Error| e.at(k, &path))?;
        self.value = Some((v, path));
        Ok(Some(value))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, Error> {
        let (node, path) = self
            .value
            .take()
            .ok_or_else(|| Error::new("internal: value without key"))?;
        seed.deserialize(De {
            node,
            path: path.clone(),
            ctx: self.ctx,
        })
        .map_err(|e| e.at(node, &path))
    }
}

struct EnumAccess<'a> {
    tag: &'a Node,
    value: Option<&'a Node>,
    path: &'a Path,
    ctx: &'a Ctx,
}

impl<'de, 'a> de::EnumAccess<'de> for EnumAccess<'a> {
    type Error = Error;
    type Variant = VariantAccess<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Error> {
        let name = self.tag.as_str().unwrap_or_default();
        let tag = seed
            .deserialize(name.into_deserializer())
            .map_err(|e: Error| e.at(self.tag, self.path))?;
        let path = if self.value.is_some() {
            self.path.key(name)
        } else {
            self.path.clone()
        };
        Ok((
            tag,
            VariantAccess {
                tag: self.tag,
                value: self.value,
                path,
                ctx: self.ctx,
            },
        ))
    }
}

struct VariantAccess<'a> {
    tag: &'a Node,
    value: Option<&'a Node>,
    path: Path,
    ctx: &'a Ctx,
}

impl<'a> VariantAccess<'a> {
    #[expect(
        clippy::result_large_err,
        reason = "the error path is cold; serde's trait methods return this error by value anyway"
    )]
    fn de(self) -> Result<De<'a>, Error> {
        match self.value {
            Some(node) => Ok(De {
                node,
                path: self.path,
                ctx: self.ctx,
            }),
            None => {
                let tag = self.tag.as_str().unwrap_or_default();
                let mut e = Error::new(format!("`{tag}` needs settings"));
                e.help = hint_for(tag).map(str::to_owned);
                Err(e.at(self.tag, &self.path))
            }
        }
    }
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.value {
            None => Ok(()),
            Some(v) if v.is_null() => Ok(()),
            Some(v) => Err(Error::new(format!(
                "`{}` takes no settings",
                self.tag.as_str().unwrap_or_default()
            ))
            .at(v, &self.path)),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self.de()?)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self.de()?, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(self.de()?, "", fields, visitor)
    }
}
