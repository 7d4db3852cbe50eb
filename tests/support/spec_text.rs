//! Text helpers the two API-description validators share
//! (`gcp_discovery.rs`, `azure_openapi.rs`): percent-decoding of URL
//! parts and the JSON paths and value descriptions their messages use.

#![allow(dead_code)]

use serde_json::Value;

/// Decodes `%XX` escapes; with `keep_slash`, `%2F` stays encoded (Google's
/// rule for multi-segment variables). Malformed escapes are kept as they are.
pub fn percent_decode(raw: &str, keep_slash: bool) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], hex_pair(bytes, i + 1)) {
            (b'%', Some(b'/')) if keep_slash => {
                out.extend_from_slice(&bytes[i..i + 3]);
                i += 3;
            }
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The byte two hex digits at `bytes[at..at + 2]` spell, if they do.
pub fn hex_pair(bytes: &[u8], at: usize) -> Option<u8> {
    let pair = bytes.get(at..at + 2)?;
    let digit = |b: u8| (b as char).to_digit(16);
    Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
}

/// The first `%` in `path` not followed by two hex digits, with what follows.
pub fn malformed_escape(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    (0..bytes.len())
        .find(|&i| bytes[i] == b'%' && hex_pair(bytes, i + 1).is_none())
        .map(|i| path[i..].chars().take(3).collect())
}

/// `at.key`, or `at["key"]` when the key is not a plain identifier.
pub fn field_path(at: &str, key: &str) -> String {
    let plain = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        format!("{at}.{key}")
    } else {
        entry_path(at, key)
    }
}

/// `at["key"]`: a map entry (`labels["env"]`, `tags["env"]`).
pub fn entry_path(at: &str, key: &str) -> String {
    format!("{at}[{}]", Value::from(key))
}

/// A short description of a JSON value for "expected X, got Y" messages.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() > 40 => {
            format!("string {:?}...", s.chars().take(40).collect::<String>())
        }
        Value::String(s) => format!("string {s:?}"),
        Value::Array(a) => format!("an array of {} items", a.len()),
        Value::Object(_) => "an object".to_owned(),
    }
}
