//! `nubo logs` on AWS: CloudWatch Logs `FilterLogEvents` on each function's
//! log group (`/aws/lambda/{name}`). Lambda names a log stream after the
//! version that wrote it (`2026/11/29/[7]…`), which is how lines are tied to
//! a version, and through the release records to a release.

use std::collections::{BTreeMap, HashSet};

use super::{Clients, fail, names::Names, not_found};
use crate::provider::Result;

/// One line a function wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Milliseconds since the epoch.
    pub time_ms: i64,
    pub function: String,
    /// The version that wrote it (`$LATEST` for unpublished code).
    pub version: String,
    pub message: String,
    pub id: String,
}

impl Line {
    /// `2026-11-29T04:10:00.123Z charge v7 message`
    pub fn render(&self) -> String {
        let t =
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.time_ms.max(0) as u64);
        format!(
            "{} {} v{} {}",
            humantime::format_rfc3339_millis(t),
            self.function,
            self.version,
            self.message.trim_end()
        )
    }
}

/// The version in a Lambda log stream's name, `…/[7]…`.
pub fn stream_version(stream: &str) -> Option<&str> {
    let start = stream.find('[')? + 1;
    let end = start + stream[start..].find(']')?;
    Some(&stream[start..end])
}

/// Lines of `functions` since `since_ms`, oldest first; `versions` keeps
/// only lines of those versions of a function (all when absent).
pub async fn fetch(
    clients: &Clients,
    names: &Names,
    functions: &[String],
    versions: &BTreeMap<String, String>,
    since_ms: i64,
) -> Result<Vec<Line>> {
    let mut out = Vec::new();
    for f in functions {
        let group = format!("/aws/lambda/{}", names.function(f));
        let mut token: Option<String> = None;
        loop {
            let page = match clients
                .logs
                .filter_log_events()
                .log_group_name(&group)
                .start_time(since_ms)
                .set_next_token(token.clone())
                .send()
                .await
            {
                Ok(p) => p,
                // The function never ran: no group yet.
                Err(e) if not_found(&e) => break,
                Err(e) => return Err(fail(format!("logs:FilterLogEvents {group}"), &e)),
            };
            for e in page.events() {
                let stream = e.log_stream_name().unwrap_or_default();
                let version = stream_version(stream).unwrap_or("?").to_owned();
                if versions.get(f).is_some_and(|v| *v != version) {
                    continue;
                }
                out.push(Line {
                    time_ms: e.timestamp().unwrap_or_default(),
                    function: f.clone(),
                    version,
                    message: e.message().unwrap_or_default().to_owned(),
                    id: e.event_id().unwrap_or_default().to_owned(),
                });
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    out.sort_by(|a, b| a.time_ms.cmp(&b.time_ms).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

/// What `--follow` has printed: lines at or after the newest time seen,
/// by id, so a poll that starts at that time prints nothing twice.
#[derive(Debug, Default)]
pub struct Seen {
    pub newest_ms: i64,
    ids: HashSet<String>,
}

impl Seen {
    /// Whether `line` is new; remembers it.
    pub fn fresh(&mut self, line: &Line) -> bool {
        if line.time_ms < self.newest_ms || !self.ids.insert(line.id.clone()) {
            return false;
        }
        if line.time_ms > self.newest_ms {
            self.newest_ms = line.time_ms;
            self.ids.retain(|_| false);
            self.ids.insert(line.id.clone());
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_come_from_stream_names() {
        assert_eq!(stream_version("2026/11/29/[7]0123abcd"), Some("7"));
        assert_eq!(stream_version("2026/11/29/[$LATEST]ff"), Some("$LATEST"));
        assert_eq!(stream_version("plain"), None);
    }

    #[test]
    fn follow_prints_each_line_once() {
        let line = |t: i64, id: &str| Line {
            time_ms: t,
            function: "f".into(),
            version: "1".into(),
            message: "m".into(),
            id: id.into(),
        };
        let mut seen = Seen::default();
        assert!(seen.fresh(&line(10, "a")));
        assert!(seen.fresh(&line(10, "b")));
        assert!(!seen.fresh(&line(10, "a")));
        assert!(seen.fresh(&line(11, "c")));
        assert!(!seen.fresh(&line(10, "d")), "older than what was printed");
        assert!(!seen.fresh(&line(11, "c")));
    }
}
