//! Schedules, durable queues and bucket folders: the local cloud's
//! non-HTTP triggers. Each event goes to the live release (a canary split
//! by weight, like HTTP), and an invocation, once started, finishes on the
//! release that took it.
//!
//! Queues live on disk in `.nubo/local/queues/<name>/`, one file per
//! message: delivery is at least once (a message is deleted only after its
//! batch succeeded), failed batches are retried with exponential backoff,
//! and a message that failed [`MAX_ATTEMPTS`] times moves to `dead/`.
//! Buckets are folders in `.nubo/local/buckets/<bucket>/`: a file that
//! appears (and has stopped growing) fires `created`, one that goes away
//! fires `deleted`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Cloud, pick};
use crate::manifest::{Event, StorageOn};
use crate::provider::local::worker::{self, Pool};

/// Deliveries of one message before it goes to the dead-letter folder.
pub const MAX_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub body: Value,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub attempts: u32,
    /// Epoch milliseconds before which the message is not delivered again.
    #[serde(default)]
    pub visible_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Cloud {
    /// The release an event goes to now, and its function pools.
    fn target(&self) -> Option<(String, HashMap<String, Arc<Pool>>)> {
        let snap = self.snapshot();
        let live = snap.live.as_ref()?;
        let release = match &live.canary {
            Some((c, w)) if pick(*w) => c.clone(),
            _ => live.primary.clone(),
        };
        let view = snap.releases.get(&release)?;
        Some((release, view.functions.clone()))
    }

    pub(super) fn queue_dir(&self, name: &str) -> PathBuf {
        self.dir.join("queues").join(name)
    }

    /// Put a message on a queue (durable before this returns).
    pub fn send(
        &self,
        queue: &str,
        body: Value,
        attributes: BTreeMap<String, String>,
    ) -> std::io::Result<String> {
        let id = worker::request_id();
        let msg = Message {
            id: id.clone(),
            body,
            attributes,
            attempts: 0,
            visible_at: 0,
            last_error: None,
        };
        // Names sort in arrival order.
        let name = format!("{:016x}-{id}.json", now_ms());
        crate::state::write_atomic(
            &self.queue_dir(queue).join(name),
            &serde_json::to_vec(&msg).expect("serializes"),
        )?;
        Ok(id)
    }
}

/// Run every trigger until the daemon stops.
pub async fn run(cloud: Arc<Cloud>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut fired: HashMap<(String, usize), u64> = HashMap::new();
    let mut last_minute = minute_now();
    let mut buckets: HashMap<String, BTreeMap<String, (u64, u64)>> = HashMap::new();
    let mut busy: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut round = 0u64;
    loop {
        tick.tick().await;
        round += 1;
        let Some((release, functions)) = cloud.target() else {
            continue;
        };
        // Schedules: `every` against the last fire, cron once per minute.
        let minute = minute_now();
        for (name, pool) in &functions {
            for (i, e) in pool.config.events.iter().enumerate() {
                let Event::Schedule(s) = e else { continue };
                let key = (name.clone(), i);
                let due = match (&s.cron, s.every) {
                    (Some(cron), _) => minute != last_minute && cron_matches(cron, minute),
                    (None, Some(every)) => {
                        let last = *fired.entry(key.clone()).or_insert_with(now_ms);
                        now_ms() >= last + every.as_millis() as u64
                    }
                    _ => false,
                };
                if due {
                    fired.insert(key, now_ms());
                    let event = json!({
                        "time": crate::state::now(),
                        "schedule": s.cron.clone().map(|c| format!("cron {c}")).or(s.every.map(|e| format!("every {e}"))),
                        "release": release,
                    });
                    let (pool, release) = (pool.clone(), release.clone());
                    tokio::spawn(async move {
                        let _ = pool.invoke(&release, &event, worker::request_id()).await;
                    });
                }
            }
        }
        last_minute = minute;

        // Queues: one batch in flight per queue.
        for pool in functions.values() {
            for e in &pool.config.events {
                let Event::Queue(q) = e else { continue };
                if busy.get(&q.name).is_some_and(|h| !h.is_finished()) {
                    continue;
                }
                let (cloud, pool, release, queue, batch) = (
                    cloud.clone(),
                    pool.clone(),
                    release.clone(),
                    q.name.clone(),
                    q.batch,
                );
                busy.insert(
                    q.name.clone(),
                    tokio::spawn(deliver(cloud, pool, release, queue, batch as usize)),
                );
            }
        }

        // Buckets, every 200 ms.
        if round.is_multiple_of(2) {
            for pool in functions.values() {
                for e in &pool.config.events {
                    let Event::Storage(s) = e else { continue };
                    let dir = cloud.dir.join("buckets").join(&s.bucket);
                    let now = scan(&dir);
                    let Some(before) = buckets.insert(s.bucket.clone(), now.clone()) else {
                        // First look: what is there already fires nothing.
                        let mut seen = cloud.seen.lock().unwrap_or_else(|e| e.into_inner());
                        seen.extend(now.keys().map(|k| format!("{}/{k}", s.bucket)));
                        continue;
                    };
                    fire_storage(&cloud, &functions, &release, &s.bucket, &before, &now);
                }
            }
        }
    }
}

/// Deliver one batch of `queue` to `pool` on `release`.
async fn deliver(cloud: Arc<Cloud>, pool: Arc<Pool>, release: String, queue: String, batch: usize) {
    let dir = cloud.queue_dir(&queue);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut names: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    let now = now_ms();
    let mut taken: Vec<(PathBuf, Message)> = Vec::new();
    for path in names {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(msg) = serde_json::from_slice::<Message>(&bytes) else {
            continue;
        };
        if msg.visible_at <= now {
            taken.push((path, msg));
            if taken.len() >= batch.max(1) {
                break;
            }
        }
    }
    if taken.is_empty() {
        return;
    }
    let event = json!({
        "queue": queue,
        "messages": taken.iter().map(|(_, m)| json!({"id": m.id, "body": m.body, "attributes": m.attributes, "attempt": m.attempts + 1})).collect::<Vec<_>>(),
        "release": release,
    });
    match pool.invoke(&release, &event, worker::request_id()).await {
        Ok(_) => {
            for (path, _) in taken {
                let _ = std::fs::remove_file(path);
            }
        }
        Err(f) => {
            for (path, mut msg) in taken {
                msg.attempts += 1;
                msg.last_error = Some(f.describe());
                if msg.attempts >= MAX_ATTEMPTS {
                    let dead = dir.join("dead").join(path.file_name().unwrap_or_default());
                    let _ = crate::state::write_atomic(
                        &dead,
                        &serde_json::to_vec(&msg).expect("serializes"),
                    );
                    let _ = std::fs::remove_file(&path);
                } else {
                    // 0.4 s, 0.8 s, 1.6 s, … at most 30 s.
                    msg.visible_at = now_ms() + (200u64 << msg.attempts.min(8)).min(30_000);
                    let _ = crate::state::write_atomic(
                        &path,
                        &serde_json::to_vec(&msg).expect("serializes"),
                    );
                }
            }
        }
    }
}

/// Files of a bucket folder: key → (size, mtime ms).
fn scan(dir: &Path) -> BTreeMap<String, (u64, u64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let key = format!("{prefix}{name}");
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push((e.path(), format!("{key}/"))),
                Ok(m) => {
                    let mtime = m
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_millis() as u64);
                    out.insert(key, (m.len(), mtime));
                }
                Err(_) => {}
            }
        }
    }
    out
}

fn fire_storage(
    cloud: &Arc<Cloud>,
    functions: &HashMap<String, Arc<Pool>>,
    release: &str,
    bucket: &str,
    before: &BTreeMap<String, (u64, u64)>,
    now: &BTreeMap<String, (u64, u64)>,
) {
    let mut changes: Vec<(&str, StorageOn, u64)> = Vec::new();
    // Created once it exists and has not changed since the last look.
    for (key, meta) in now {
        if let Some(prev) = before.get(key)
            && prev == meta
            && !cloud_seen(cloud, bucket, key)
        {
            changes.push((key, StorageOn::Created, meta.0));
        }
    }
    for key in before.keys().filter(|k| !now.contains_key(*k)) {
        if forget(cloud, bucket, key) {
            changes.push((key, StorageOn::Deleted, 0));
        }
    }
    for (key, on, size) in changes {
        for pool in functions.values() {
            for e in &pool.config.events {
                let Event::Storage(s) = e else { continue };
                let wanted = s.bucket == bucket
                    && s.on == on
                    && s.prefix.as_deref().is_none_or(|p| key.starts_with(p))
                    && s.suffix.as_deref().is_none_or(|x| key.ends_with(x));
                if !wanted {
                    continue;
                }
                let event = json!({"bucket": bucket, "key": key, "event": on.as_str(), "size": size, "release": release});
                let (pool, release) = (pool.clone(), release.to_owned());
                tokio::spawn(async move {
                    let _ = pool.invoke(&release, &event, worker::request_id()).await;
                });
            }
        }
    }
}

/// Whether a created event for this object already fired; marks it fired.
fn cloud_seen(cloud: &Cloud, bucket: &str, key: &str) -> bool {
    let mut seen = cloud.seen.lock().unwrap_or_else(|e| e.into_inner());
    !seen.insert(format!("{bucket}/{key}"))
}

/// Forget an object that went away; true if its creation had been seen.
fn forget(cloud: &Cloud, bucket: &str, key: &str) -> bool {
    cloud
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&format!("{bucket}/{key}"))
}

/// The current UTC minute as (epoch minute, minute, hour, day, month, weekday).
fn minute_now() -> (u64, u32, u32, u32, u32, u32) {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let (_, month, day) = civil(days);
    let rem = secs % 86_400;
    // 1970-01-01 was a Thursday (4).
    let weekday = ((days % 7 + 7 + 4) % 7) as u32;
    (
        secs / 60,
        (rem / 60 % 60) as u32,
        (rem / 3600) as u32,
        day,
        month,
        weekday,
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Whether a five-field cron expression (validated earlier) matches.
fn cron_matches(
    expr: &str,
    (_, minute, hour, day, month, weekday): (u64, u32, u32, u32, u32, u32),
) -> bool {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if fields.len() != 5 {
        return false;
    }
    let field = |f: &str, v: u32, lo: u32, hi: u32| {
        f.split(',').any(|item| {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => (r, s.parse::<u32>().unwrap_or(1).max(1)),
                None => (item, 1),
            };
            let (a, b) = if range == "*" {
                (lo, hi)
            } else if let Some((a, b)) = range.split_once('-') {
                (a.parse().unwrap_or(u32::MAX), b.parse().unwrap_or(0))
            } else {
                let a = range.parse().unwrap_or(u32::MAX);
                (a, if item.contains('/') { hi } else { a })
            };
            (a..=b).contains(&v) && (v - a).is_multiple_of(step)
        })
    };
    field(fields[0], minute, 0, 59)
        && field(fields[1], hour, 0, 23)
        && field(fields[2], day, 1, 31)
        && field(fields[3], month, 1, 12)
        && (field(fields[4], weekday, 0, 7) || (weekday == 0 && field(fields[4], 7, 0, 7)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(20_000), (2024, 10, 4));
        assert_eq!(civil(19_782), (2024, 2, 29));
    }

    #[test]
    fn cron() {
        // 2026-11-29 is a Sunday.
        let t = (0, 0, 3, 29, 11, 0);
        assert!(cron_matches("0 3 * * *", t));
        assert!(cron_matches("*/15 3 * * 0", t));
        assert!(cron_matches("0 3 * * 7", t));
        assert!(cron_matches("0 1-5 29 11 *", t));
        assert!(!cron_matches("5 3 * * *", t));
        assert!(!cron_matches("0 3 * * 1-5", t));
    }
}
