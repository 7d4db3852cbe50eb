//! Reading the local cloud's function logs as they grow.

use std::collections::BTreeMap;
use std::io::{BufRead, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// New whole lines of a set of log files since the last look.
#[derive(Default)]
pub struct Tail {
    offsets: BTreeMap<PathBuf, u64>,
}

impl Tail {
    /// Start at the current end of `files`: only later lines are new.
    pub fn from_end(files: impl IntoIterator<Item = PathBuf>) -> Tail {
        Tail {
            offsets: files
                .into_iter()
                .map(|p| {
                    let len = std::fs::metadata(&p).map_or(0, |m| m.len());
                    (p, len)
                })
                .collect(),
        }
    }

    /// The `.log` files of `dir`, each from its current end.
    pub fn dir_from_end(dir: &Path) -> Tail {
        let files = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"));
        Tail::from_end(files)
    }

    /// Also follow the `.log` files that appeared in `dir` (from their start).
    pub fn discover(&mut self, dir: &Path) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "log") {
                self.offsets.entry(p).or_insert(0);
            }
        }
    }

    /// Every whole line written since the last call (a partial last line
    /// waits for its end).
    pub fn poll(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for (path, offset) in &mut self.offsets {
            let Ok(mut file) = std::fs::File::open(path) else {
                continue;
            };
            let len = file.metadata().map_or(0, |m| m.len());
            if len < *offset {
                *offset = 0; // truncated or recreated
            }
            if len == *offset || file.seek(SeekFrom::Start(*offset)).is_err() {
                continue;
            }
            let mut reader = std::io::BufReader::new(file);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if !line.ends_with('\n') {
                    break;
                }
                *offset += line.len() as u64;
                out.push(std::mem::take(&mut line));
            }
        }
        out
    }
}
