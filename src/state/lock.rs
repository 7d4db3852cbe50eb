//! One writer per target: the lock.
//!
//! Taking the lock is creating `lock.json` if it is absent — atomic on every
//! store. The holder (user, host, pid, command, started, expires) is in the
//! file, for the message a second writer prints. A lock whose holder died on
//! this host (its pid is gone, or reused by another process) is taken over
//! at once, so a killed deploy never blocks the next one; a lock from
//! another host is only broken by `nubo unlock`, or when it has expired.

use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::{State, StateError};

const KEY: &str = "lock.json";

/// How long a lock is valid without being refreshed.
pub const TTL: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockInfo {
    pub user: String,
    pub host: String,
    pub pid: u32,
    /// The process's start time (clock ticks since boot), to spot pid reuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
    pub command: String,
    pub started: String,
    pub expires: String,
    /// `expires` as seconds since the epoch, for comparisons.
    pub expires_unix: u64,
}

impl LockInfo {
    /// A holder record for this process.
    pub fn mine(command: &str) -> LockInfo {
        let pid = std::process::id();
        let expires = SystemTime::now() + TTL;
        LockInfo {
            user: whoami(),
            host: hostname(),
            pid,
            pid_start: process_start(pid),
            command: command.to_owned(),
            started: super::now(),
            expires: humantime::format_rfc3339_seconds(expires).to_string(),
            expires_unix: unix(expires),
        }
    }

    /// Whether the holder is certainly gone: same host, and its process is not running.
    pub fn is_dead(&self) -> bool {
        self.host == hostname()
            && match process_start(self.pid) {
                None => true,
                Some(start) => self.pid_start.is_some_and(|s| s != start),
            }
    }

    pub fn is_expired(&self) -> bool {
        self.expires_unix < unix(SystemTime::now())
    }

    /// "held by ann@build-7 (pid 4242, `nubo deploy`) since …, expires …"
    pub fn describe(&self) -> String {
        format!(
            "{}@{} (pid {}, `{}`) since {}, expires {}",
            self.user, self.host, self.pid, self.command, self.started, self.expires
        )
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the target is locked by {}", .holder.describe())]
    Held {
        holder: Box<LockInfo>,
        waited: Option<Duration>,
    },
    #[error(transparent)]
    State(#[from] StateError),
}

/// The lock, released when dropped (only if it is still ours).
pub struct LockGuard<'a> {
    state: &'a State,
    bytes: Vec<u8>,
    /// The dead holder whose lock this one replaced, to say so.
    pub took_over: Option<LockInfo>,
}

impl LockGuard<'_> {
    /// Push the expiry forward, for long operations (canary steps).
    pub fn refresh(&mut self, command: &str) -> Result<(), StateError> {
        let mine = serde_json::to_vec_pretty(&LockInfo::mine(command)).expect("serializes");
        if self
            .state
            .store
            .compare_and_swap(KEY, &self.bytes, &mine)
            .map_err(|e| self.state.io(e))?
        {
            self.bytes = mine;
        }
        Ok(())
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.state.store.compare_and_delete(KEY, &self.bytes);
    }
}

impl State {
    /// Take the target's lock, waiting up to `wait` for another writer.
    pub fn lock(&self, command: &str, wait: Option<Duration>) -> Result<LockGuard<'_>, LockError> {
        let start = Instant::now();
        let mut took_over = None;
        loop {
            let info = LockInfo::mine(command);
            let bytes = serde_json::to_vec_pretty(&info).expect("serializes");
            if self.store.create_new(KEY, &bytes).map_err(|e| self.io(e))? {
                return Ok(LockGuard {
                    state: self,
                    bytes,
                    took_over,
                });
            }
            let Some(raw) = self.store.get(KEY).map_err(|e| self.io(e))? else {
                continue; // released between the two calls
            };
            let holder: LockInfo = match serde_json::from_slice(&raw) {
                Ok(h) => h,
                Err(e) => {
                    return Err(StateError::Corrupt {
                        store: self.store.describe(),
                        key: KEY.to_owned(),
                        message: format!("{e}; `nubo unlock` removes it"),
                    }
                    .into());
                }
            };
            if holder.is_dead() {
                // Replace the dead holder's lock only if it is still that lock.
                if self
                    .store
                    .compare_and_delete(KEY, &raw)
                    .map_err(|e| self.io(e))?
                {
                    took_over = Some(holder);
                }
                continue;
            }
            match wait {
                Some(w) if start.elapsed() < w => std::thread::sleep(Duration::from_millis(100)),
                _ => {
                    return Err(LockError::Held {
                        holder: Box::new(holder),
                        waited: wait,
                    });
                }
            }
        }
    }

    /// The current holder, if any.
    pub fn lock_holder(&self) -> Result<Option<LockInfo>, StateError> {
        self.read(KEY)
    }

    /// Remove the lock whatever holds it (`nubo unlock`); returns the holder.
    pub fn break_lock(&self, expected: &LockInfo) -> Result<bool, StateError> {
        let Some(raw) = self.store.get(KEY).map_err(|e| self.io(e))? else {
            return Ok(false);
        };
        let current: Option<LockInfo> = serde_json::from_slice(&raw).ok();
        if current.as_ref() != Some(expected) {
            return Ok(false);
        }
        self.store
            .compare_and_delete(KEY, &raw)
            .map_err(|e| self.io(e))
    }
}

fn whoami() -> String {
    #[allow(
        clippy::disallowed_methods,
        reason = "the user name for lock and release records"
    )]
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// This machine's name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The user for release records.
pub fn user() -> String {
    whoami()
}

/// A process's start time, `None` when it is not running. On Linux this is
/// field 22 of `/proc/PID/stat`; elsewhere only whether it runs is known.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it are plain.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state); starttime is field 22.
    let start = fields.get(19)?.parse().ok()?;
    if fields.first() == Some(&"Z") {
        return None; // a zombie is gone for our purposes
    }
    Some(start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::LocalStore;

    #[test]
    fn one_holder_at_a_time_and_dead_holders_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::new(Box::new(LocalStore::new(dir.path())));
        let guard = state.lock("nubo deploy", None).unwrap();
        assert!(guard.took_over.is_none());
        match state.lock("nubo deploy", None) {
            Err(LockError::Held { holder, .. }) => assert_eq!(holder.pid, std::process::id()),
            other => panic!("{:?}", other.map(|_| ())),
        }
        drop(guard);
        assert!(state.lock_holder().unwrap().is_none());

        // A holder on this host whose pid is not running.
        let mut dead = LockInfo::mine("nubo deploy");
        dead.pid = u32::MAX - 7;
        dead.pid_start = Some(1);
        state.write(KEY, &dead).unwrap();
        let guard = state.lock("nubo deploy", None).unwrap();
        assert_eq!(guard.took_over.as_ref().map(|h| h.pid), Some(u32::MAX - 7));
    }

    #[test]
    fn this_process_is_alive() {
        assert!(process_start(std::process::id()).is_some());
        assert!(!LockInfo::mine("x").is_dead());
    }
}
