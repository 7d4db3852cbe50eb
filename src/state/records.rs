//! The records nubo keeps per target, as JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::provider::{Route, StagedRelease};

/// A release: which version of every function, and where it came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReleaseRecord {
    /// `r1`, `r2`, … per target.
    pub id: String,
    pub seq: u64,
    /// RFC 3339, UTC.
    pub created: String,
    /// sha256 of the manifest text the release was made from.
    pub manifest_hash: String,
    pub origin: Origin,
    pub functions: BTreeMap<String, FunctionRecord>,
    /// Functions whose unit differs from the release before it.
    #[serde(default)]
    pub changed: Vec<String>,
    pub status: ReleaseStatus,
}

impl ReleaseRecord {
    pub fn staged(&self) -> StagedRelease {
        StagedRelease {
            id: self.id.clone(),
            versions: self
                .functions
                .iter()
                .map(|(f, r)| (f.clone(), r.version.clone()))
                .collect(),
            artifacts: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseStatus {
    /// Published and staged, its checks not (yet) passed: never given traffic.
    Unchecked,
    /// Published, staged and checked; may take traffic.
    Ready,
    /// Its checks failed: never given traffic.
    Failed,
}

/// One function of a release.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunctionRecord {
    /// The provider's immutable version.
    pub version: String,
    /// Hash of the deployable unit (artifact + configuration).
    pub unit: String,
    /// sha256 of the artifact.
    pub artifact: String,
    pub config: ConfigSummary,
}

/// What `plan` compares to say what changed. Environment values are kept
/// only as digests, so the state never holds them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConfigSummary {
    pub runtime: String,
    pub handler: String,
    pub memory: u32,
    pub timeout_ms: u64,
    /// Key → digest of the value (a secret's digest is of its reference).
    pub env: BTreeMap<String, String>,
    pub calls: Vec<String>,
    pub events: Vec<String>,
}

/// Who made a release, from where.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Origin {
    pub user: String,
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
}

/// The entry pointers as nubo last set them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PointerRecord {
    pub route: Route,
    pub updated: String,
}

/// The operation in progress, each step written before it is taken.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Journal {
    pub op: String,
    /// The release being made (deploy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Where traffic was before the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Route>,
    /// Where the operation is moving traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Route>,
    pub step: Step,
    pub started: String,
    pub pid: u32,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// Uploading, publishing and staging the new release.
    Staging,
    /// The release is recorded; checks may run.
    Staged,
    /// About to move (or moving) the entry pointers.
    Switching,
    /// Retiring releases beyond `keep`.
    Pruning,
}

/// Now, RFC 3339 in UTC to the second.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
