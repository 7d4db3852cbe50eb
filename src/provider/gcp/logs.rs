//! `nubo logs` on Google Cloud: Cloud Logging `entries.list` over each
//! function's Cloud Run service (`resource.type="cloud_run_revision"`), one
//! query per function, pages followed, oldest first.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Google;
use crate::provider::Result;
use crate::provider::aws::logs::Line;

/// How many entries one page asks for (the API's maximum is 1000).
const PAGE: u32 = 1000;

/// The lines of `functions` since `since_ms`; only the revisions in
/// `versions` when it names the function (`--release`).
pub async fn fetch(
    google: &Google,
    project: &str,
    service_id: impl Fn(&str) -> String,
    functions: &[String],
    versions: &BTreeMap<String, String>,
    since_ms: i64,
) -> Result<Vec<Line>> {
    let since = humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(since_ms.max(0) as u64),
    );
    let url = format!("{}/v2/entries:list", google.endpoints.logging);
    let mut out = Vec::new();
    for function in functions {
        let service = service_id(function);
        let mut filter = format!(
            "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"{service}\" \
             AND timestamp>=\"{since}\""
        );
        if let Some(revision) = versions.get(function) {
            filter.push_str(&format!(
                " AND resource.labels.revision_name=\"{revision}\""
            ));
        }
        let mut page: Option<String> = None;
        loop {
            let mut body = json!({
                "resourceNames": [format!("projects/{project}")],
                "filter": filter,
                "orderBy": "timestamp asc",
                "pageSize": PAGE,
            });
            if let Some(p) = &page {
                body["pageToken"] = json!(p);
            }
            let v = google
                .json(&format!("logging.entries.list {service}"), |c| {
                    c.post(&url).json(&body)
                })
                .await?;
            for e in v["entries"].as_array().into_iter().flatten() {
                out.push(line(function, e));
            }
            match v["nextPageToken"].as_str().filter(|t| !t.is_empty()) {
                Some(t) => page = Some(t.to_owned()),
                None => break,
            }
        }
    }
    out.sort_by_key(|l| l.time_ms);
    Ok(out)
}

/// One entry as a line: its text, or its JSON payload's `message` (else
/// the whole payload); the revision's version tag as its version.
fn line(function: &str, e: &Value) -> Line {
    let message = match (&e["textPayload"], &e["jsonPayload"]) {
        (Value::String(s), _) => s.clone(),
        (_, Value::Object(o)) => o
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| Value::Object(o.clone()).to_string()),
        _ => String::new(),
    };
    let revision = e["resource"]["labels"]["revision_name"]
        .as_str()
        .unwrap_or_default();
    // `shop-prod-ship-v1a2b3c4d` → `1a2b3c4d` (rendered `v1a2b3c4d`).
    let version = revision
        .rsplit_once("-v")
        .map_or(revision, |(_, v)| v)
        .to_owned();
    let time_ms = e["timestamp"]
        .as_str()
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64);
    Line {
        time_ms,
        function: function.to_owned(),
        version,
        message,
        id: e["insertId"].as_str().unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_become_lines() {
        let l = line(
            "ship",
            &json!({
                "insertId": "a1",
                "timestamp": "2026-11-29T04:10:00.123456Z",
                "resource": {"labels": {"revision_name": "shop-prod-ship-v1a2b3c4d"}},
                "jsonPayload": {"message": "shipped", "severity": "INFO"},
            }),
        );
        assert_eq!(l.version, "1a2b3c4d");
        assert_eq!(l.message, "shipped");
        assert_eq!(
            l.render(),
            "2026-11-29T04:10:00.123Z ship v1a2b3c4d shipped"
        );
    }
}
