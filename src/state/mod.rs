//! What nubo remembers about a target: releases, the live pointer as last
//! seen, a write-ahead journal of the operation in progress, and the lock.
//!
//! Storage is a [`StateStore`]: a small key-value interface whose only
//! atomic primitive beyond whole-value writes is create-if-absent, which
//! every remote store nubo targets offers (S3 `If-None-Match: *`, GCS
//! `ifGenerationMatch=0`, an Azure blob lease). [`LocalStore`] keeps it in
//! `.nubo/state/<target>/`, every write a temp file, fsync and rename.
//!
//! The typed layer ([`State`]) owns the record formats and the lock.

pub mod lock;
pub mod records;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use lock::{LockError, LockGuard, LockInfo};
pub use records::*;

/// A key-value store for one target's state. Keys are `/`-separated names.
pub trait StateStore: Send + Sync {
    fn get(&self, key: &str) -> std::io::Result<Option<Vec<u8>>>;
    /// Replace the value, atomically: readers see the old or the new bytes.
    fn put(&self, key: &str, value: &[u8]) -> std::io::Result<()>;
    /// Create the value only if the key is absent; false if it exists.
    fn create_new(&self, key: &str, value: &[u8]) -> std::io::Result<bool>;
    fn delete(&self, key: &str) -> std::io::Result<()>;
    /// Delete the value only if it is still `expected`; false otherwise.
    fn compare_and_delete(&self, key: &str, expected: &[u8]) -> std::io::Result<bool>;
    /// Replace the value only if it is still `expected`; false otherwise.
    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> std::io::Result<bool>;
    /// Keys under `prefix`, sorted.
    fn list(&self, prefix: &str) -> std::io::Result<Vec<String>>;
    /// Where the store is, for messages.
    fn describe(&self) -> String;
}

/// Write via a temporary file in the same directory, fsync, rename, and
/// fsync the directory: after a crash the file is the old or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        std::process::id()
    ));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(dir);
    Ok(())
}

fn sync_dir(dir: &Path) {
    // Makes the rename durable; not every platform can open a directory.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// State in a directory on this machine: the default, `.nubo/state/<target>/`.
pub struct LocalStore {
    dir: PathBuf,
}

impl LocalStore {
    pub fn new(dir: impl Into<PathBuf>) -> LocalStore {
        LocalStore { dir: dir.into() }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// An exclusive OS lock held across a compare-and-* (released on drop,
    /// and by the OS if the process dies).
    fn cas(&self) -> std::io::Result<std::fs::File> {
        std::fs::create_dir_all(&self.dir)?;
        let f = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(".cas"))?;
        f.lock()?;
        Ok(f)
    }
}

impl StateStore for LocalStore {
    fn get(&self, key: &str) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(key)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn put(&self, key: &str, value: &[u8]) -> std::io::Result<()> {
        write_atomic(&self.path(key), value)
    }

    fn create_new(&self, key: &str, value: &[u8]) -> std::io::Result<bool> {
        let path = self.path(key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Write the content aside, then hard-link it into place: the link
        // fails if the key exists, and a reader never sees a half-written value.
        let tmp = path.with_extension(format!("{}.new", std::process::id()));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(value)?;
            f.sync_all()?;
        }
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                sync_dir(path.parent().unwrap_or(Path::new(".")));
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn delete(&self, key: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(key)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn compare_and_delete(&self, key: &str, expected: &[u8]) -> std::io::Result<bool> {
        let _cas = self.cas()?;
        if self.get(key)?.as_deref() != Some(expected) {
            return Ok(false);
        }
        self.delete(key)?;
        Ok(true)
    }

    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> std::io::Result<bool> {
        let _cas = self.cas()?;
        if self.get(key)?.as_deref() != Some(expected) {
            return Ok(false);
        }
        self.put(key, new)?;
        Ok(true)
    }

    fn list(&self, prefix: &str) -> std::io::Result<Vec<String>> {
        let dir = self.path(prefix);
        let mut keys = Vec::new();
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                for e in entries {
                    let e = e?;
                    let name = e.file_name().to_string_lossy().into_owned();
                    if !name.starts_with('.') && name.ends_with(".json") {
                        keys.push(format!("{}/{name}", prefix.trim_end_matches('/')));
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        keys.sort();
        Ok(keys)
    }

    fn describe(&self) -> String {
        crate::diag::display_path(&self.dir)
    }
}

/// Where a target's state is when the manifest does not say.
pub fn default_dir(manifest_dir: &Path, target: &str) -> PathBuf {
    manifest_dir.join(".nubo").join("state").join(target)
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("could not access the state in {store}")]
    Io {
        store: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the state record `{key}` in {store} is corrupt: {message}")]
    Corrupt {
        store: String,
        key: String,
        message: String,
    },
}

/// Typed access to one target's state.
pub struct State {
    store: Box<dyn StateStore>,
}

impl State {
    pub fn new(store: Box<dyn StateStore>) -> State {
        State { store }
    }

    pub fn store(&self) -> &dyn StateStore {
        self.store.as_ref()
    }

    fn io(&self, source: std::io::Error) -> StateError {
        StateError::Io {
            store: self.store.describe(),
            source,
        }
    }

    fn read<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StateError> {
        let Some(bytes) = self.store.get(key).map_err(|e| self.io(e))? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                store: self.store.describe(),
                key: key.to_owned(),
                message: e.to_string(),
            })
    }

    fn write<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<(), StateError> {
        let mut bytes = serde_json::to_vec_pretty(value).expect("records serialize");
        bytes.push(b'\n');
        self.store.put(key, &bytes).map_err(|e| self.io(e))
    }

    /// Every recorded release, oldest first.
    pub fn releases(&self) -> Result<Vec<ReleaseRecord>, StateError> {
        let mut out = Vec::new();
        for key in self.store.list("releases").map_err(|e| self.io(e))? {
            if let Some(r) = self.read::<ReleaseRecord>(&key)? {
                out.push(r);
            }
        }
        out.sort_by_key(|r| r.seq);
        Ok(out)
    }

    pub fn release(&self, id: &str) -> Result<Option<ReleaseRecord>, StateError> {
        self.read(&format!("releases/{id}.json"))
    }

    pub fn save_release(&self, r: &ReleaseRecord) -> Result<(), StateError> {
        self.write(&format!("releases/{}.json", r.id), r)
    }

    pub fn delete_release(&self, id: &str) -> Result<(), StateError> {
        self.store
            .delete(&format!("releases/{id}.json"))
            .map_err(|e| self.io(e))
    }

    /// The live pointer as nubo last set it.
    pub fn pointer(&self) -> Result<Option<PointerRecord>, StateError> {
        self.read("pointer.json")
    }

    pub fn save_pointer(&self, p: &PointerRecord) -> Result<(), StateError> {
        self.write("pointer.json", p)
    }

    pub fn journal(&self) -> Result<Option<Journal>, StateError> {
        self.read("journal.json")
    }

    /// Record the next step of the operation in progress, before taking it.
    pub fn save_journal(&self, j: &Journal) -> Result<(), StateError> {
        self.write("journal.json", j)
    }

    pub fn clear_journal(&self) -> Result<(), StateError> {
        self.store.delete("journal.json").map_err(|e| self.io(e))
    }

    /// The next release number: never reused, even for a deploy that failed.
    pub fn next_seq(&self) -> Result<u64, StateError> {
        let meta: Meta = self.read("meta.json")?.unwrap_or_default();
        let highest = self.releases()?.iter().map(|r| r.seq).max().unwrap_or(0);
        let seq = meta.next_seq.max(highest + 1).max(1);
        self.write("meta.json", &Meta { next_seq: seq + 1 })?;
        Ok(seq)
    }

    /// Remove every record (after `nubo remove`).
    pub fn purge(&self) -> Result<(), StateError> {
        for key in self.store.list("releases").map_err(|e| self.io(e))? {
            self.store.delete(&key).map_err(|e| self.io(e))?;
        }
        // `meta.json` stays: release numbers are never reused, even after a remove.
        for key in ["pointer.json", "journal.json"] {
            self.store.delete(key).map_err(|e| self.io(e))?;
        }
        Ok(())
    }
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Meta {
    next_seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_new_is_exclusive_and_atomic_writes_replace() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        assert!(store.create_new("lock.json", b"a").unwrap());
        assert!(!store.create_new("lock.json", b"b").unwrap());
        assert_eq!(store.get("lock.json").unwrap().unwrap(), b"a");
        store.put("releases/r1.json", b"{}").unwrap();
        store.put("releases/r2.json", b"{}").unwrap();
        assert_eq!(
            store.list("releases").unwrap(),
            ["releases/r1.json", "releases/r2.json"]
        );
        store.delete("lock.json").unwrap();
        store.delete("lock.json").unwrap();
        assert!(store.get("lock.json").unwrap().is_none());
        // No temp files are left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("releases"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn sequence_numbers_are_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::new(Box::new(LocalStore::new(dir.path())));
        assert_eq!(state.next_seq().unwrap(), 1);
        assert_eq!(state.next_seq().unwrap(), 2);
        assert_eq!(state.next_seq().unwrap(), 3);
    }
}
