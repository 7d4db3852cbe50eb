//! The release engine: provider-neutral, and the owner of the invariants.
//!
//! 1. Immutable: a version is published once per deployable unit; a
//!    release only references versions.
//! 2. The release id travels with each request: a release is staged as a
//!    unit (aliases/tags/slot) before it can be invoked.
//! 3. Atomic switch: traffic moves by [`Provider::route`], one write.
//! 4. Checked before live: `release.checks` run against the staged release.
//! 5. Crash-safe: every step is journaled before it is taken; [`Engine::recover`]
//!    finishes or undoes an interrupted operation.
//! 6. Rollback is a pointer flip: no upload, no publish.
//! 7. One writer: callers hold the target's lock (`State::lock`).
//! 8. No secret at rest: records hold digests of configuration, never values.
//!
//! [`Provider::route`]: crate::provider::Provider::route

pub mod engine;
pub mod plan;

pub use engine::*;

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::manifest::Loaded;
use crate::package::zip::hex;
use crate::state::Origin;

/// sha256 of the manifest text a release is made from.
pub fn manifest_hash(loaded: &Loaded) -> String {
    hex(&Sha256::digest(loaded.source.text.as_bytes()))
}

/// Who is releasing, from which host, and at which git commit when the
/// service is in a git work tree (read from `.git`, no `git` needed).
pub fn origin(dir: &Path) -> Origin {
    Origin {
        user: crate::state::lock::user(),
        host: crate::state::lock::hostname(),
        git_commit: git_commit(dir),
    }
}

fn git_commit(dir: &Path) -> Option<String> {
    let start = std::path::absolute(dir).ok()?;
    let git = start
        .ancestors()
        .map(|d| d.join(".git"))
        .find(|g| g.is_dir())?;
    let head = std::fs::read_to_string(git.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref: ") else {
        return Some(head.to_owned());
    };
    if let Ok(id) = std::fs::read_to_string(git.join(reference)) {
        return Some(id.trim().to_owned());
    }
    let packed = std::fs::read_to_string(git.join("packed-refs")).ok()?;
    packed
        .lines()
        .find_map(|l| l.strip_suffix(reference).map(|id| id.trim().to_owned()))
}
