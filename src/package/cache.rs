//! Skip zipping file sets whose inputs have not changed since the last run.
//!
//! Each entry remembers a file set's files (path, size, mtime, content
//! digest) and the zip it produced. A run reuses the zip when it still
//! exists and every file has the same path and size, and either the same
//! mtime or, when only the mtime moved, the same content. A corrupt or
//! foreign cache file is ignored: the cache can only save work, never
//! change an artifact.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::select::FileEntry;
use super::zip::{self, Written};

const VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Cache {
    version: u32,
    entries: BTreeMap<String, CacheEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CacheEntry {
    sha256: String,
    zipped: u64,
    unzipped: u64,
    /// Where the zip was written, to drop entries whose zip is gone.
    zip: String,
    files: Vec<CachedFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedFile {
    rel: String,
    size: u64,
    mtime_ns: i64,
    content: String,
}

fn mtime(f: &FileEntry) -> i64 {
    f.mtime_ns.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

impl Cache {
    pub fn load(path: &Path) -> Cache {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Cache>(&b).ok())
            .filter(|c| c.version == VERSION)
            .unwrap_or_default()
    }

    /// The zip built earlier for this file set, when its inputs are unchanged.
    pub fn lookup(&mut self, key: &str, files: &[&FileEntry], out: &Path) -> Option<Written> {
        let entry = self.entries.get_mut(key)?;
        let zip = out.join(format!("{}.zip", entry.sha256));
        let on_disk = std::fs::metadata(&zip).ok()?;
        if on_disk.len() != entry.zipped || entry.files.len() != files.len() {
            return None;
        }
        for (cached, file) in entry.files.iter_mut().zip(files) {
            if cached.rel != file.rel || cached.size != file.size {
                return None;
            }
            if cached.mtime_ns != mtime(file) {
                // Touched but maybe not changed: compare contents.
                if zip::content_digest(&file.abs).ok()? != cached.content {
                    return None;
                }
                cached.mtime_ns = mtime(file);
            }
        }
        entry.zip = zip.to_string_lossy().into_owned();
        Some(Written {
            sha256: entry.sha256.clone(),
            zipped: entry.zipped,
            unzipped: entry.unzipped,
            files: files.len(),
            content: entry.files.iter().map(|f| f.content.clone()).collect(),
        })
    }

    /// Remember the zip built for `files`, with each file's content digest.
    pub fn store(
        &mut self,
        key: &str,
        files: &[&FileEntry],
        digests: &[String],
        written: &Written,
        zip: &Path,
    ) {
        self.entries.insert(
            key.to_owned(),
            CacheEntry {
                sha256: written.sha256.clone(),
                zipped: written.zipped,
                unzipped: written.unzipped,
                zip: zip.to_string_lossy().into_owned(),
                files: files
                    .iter()
                    .zip(digests)
                    .map(|(f, content)| CachedFile {
                        rel: f.rel.clone(),
                        size: f.size,
                        mtime_ns: mtime(f),
                        content: content.clone(),
                    })
                    .collect(),
            },
        );
    }

    /// Save, dropping entries whose zip no longer exists. Best effort: a
    /// cache that cannot be written only costs the next run time.
    pub fn save(mut self, path: &Path) {
        self.version = VERSION;
        self.entries.retain(|_, e| Path::new(&e.zip).is_file());
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Ok(bytes) = serde_json::to_vec(&self) {
            let _ = super::write_atomic(path, &bytes);
        }
    }
}
