//! A provider test double that keeps its cloud in a directory.
//!
//! Built only with the `test-backend` feature, for the release engine's own
//! tests (issue 4 allows a double of the trait there, because the trait is
//! the unit under test), until the embedded local cloud is the first real
//! backend. It behaves like a cloud control plane: immutable numbered
//! versions, per-release stages, one atomic pointer write, and it survives
//! the process being killed at any instant, so crash tests can inspect it.
//!
//! `NUBO_TEST_BACKEND=DIR` selects it for targets with `provider: local`.
//! `DIR/behaviour.json` makes it slow or failing:
//! `{"delay_ms": {"publish": 50}, "invoke": {"checkout": {"status": 500}},
//!   "fail": {"stage": "quota exceeded"}}`.
//! Every mutating call is appended to `DIR/calls.log`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    ArtifactRef, Invocation, Provider, ProviderError, PublishSpec, Result, Route, StagedRelease,
    VersionRef,
};
use crate::resolve::Resolved;

#[derive(Debug, Default, Deserialize)]
struct Behaviour {
    #[serde(default)]
    delay_ms: BTreeMap<String, u64>,
    #[serde(default)]
    invoke: BTreeMap<String, Response>,
    #[serde(default)]
    fail: BTreeMap<String, String>,
    /// Function → invocations that succeed before it starts answering 500
    /// (a canary that breaks under traffic).
    #[serde(default)]
    invoke_fail_after: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, Deserialize)]
struct Response {
    status: u16,
    #[serde(default)]
    body: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Versions {
    /// function → published versions, numbered from 1.
    functions: BTreeMap<String, Vec<Published>>,
    /// function → the next version number: numbers are never reused.
    #[serde(default)]
    next: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Published {
    version: u64,
    unit: String,
    artifact: String,
}

pub struct FakeProvider {
    dir: PathBuf,
    behaviour: Behaviour,
    lock: Mutex<()>,
    invocations: Mutex<BTreeMap<String, u32>>,
}

impl FakeProvider {
    pub fn open(dir: &Path) -> Result<FakeProvider> {
        std::fs::create_dir_all(dir.join("artifacts"))
            .map_err(|e| ProviderError::new(format!("fake backend: {e}")))?;
        let behaviour = std::fs::read(dir.join("behaviour.json"))
            .ok()
            .map(|b| serde_json::from_slice(&b))
            .transpose()
            .map_err(|e| ProviderError::new(format!("fake backend: behaviour.json: {e}")))?
            .unwrap_or_default();
        Ok(FakeProvider {
            dir: dir.to_path_buf(),
            behaviour,
            lock: Mutex::new(()),
            invocations: Mutex::new(BTreeMap::new()),
        })
    }

    fn step(&self, op: &str, detail: &str) -> Result<()> {
        if let Some(ms) = self.behaviour.delay_ms.get(op) {
            std::thread::sleep(Duration::from_millis(*ms));
        }
        if let Some(message) = self.behaviour.fail.get(op) {
            return Err(ProviderError {
                message: format!("{op} failed: {message}"),
                request_id: Some(format!("fake-{op}-1")),
                retryable: false,
            });
        }
        if op != "invoke" {
            let mut log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join("calls.log"))
                .map_err(io)?;
            // One write per line: appends from parallel calls never interleave.
            log.write_all(format!("{op} {detail}\n").as_bytes())
                .map_err(io)?;
        }
        Ok(())
    }

    fn read<T: for<'de> Deserialize<'de> + Default>(&self, name: &str) -> Result<T> {
        match std::fs::read(self.dir.join(name)) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| ProviderError::new(format!("fake backend: {name}: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
            Err(e) => Err(io(e)),
        }
    }

    fn write<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        let bytes =
            serde_json::to_vec_pretty(value).map_err(|e| ProviderError::new(e.to_string()))?;
        crate::state::write_atomic(&self.dir.join(name), &bytes).map_err(io)
    }
}

fn io(e: std::io::Error) -> ProviderError {
    ProviderError::new(format!("fake backend: {e}"))
}

impl Provider for FakeProvider {
    fn ensure_base(&self, service: &Resolved) -> Result<()> {
        self.step("ensure_base", &service.service)
    }

    fn upload(&self, artifact: &ArtifactRef) -> Result<bool> {
        let marker = self.dir.join("artifacts").join(&artifact.sha256);
        if marker.exists() {
            return Ok(false);
        }
        self.step("upload", &artifact.sha256)?;
        std::fs::write(&marker, artifact.size.to_string()).map_err(io)?;
        Ok(true)
    }

    fn publish(&self, spec: &PublishSpec<'_>) -> Result<VersionRef> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut versions: Versions = self.read("versions.json")?;
        if let Some(p) = versions
            .functions
            .get(&spec.function.name)
            .and_then(|list| list.iter().find(|p| p.unit == spec.unit))
        {
            return Ok(p.version.to_string());
        }
        if !self
            .dir
            .join("artifacts")
            .join(&spec.artifact.sha256)
            .exists()
        {
            return Err(ProviderError::new(format!(
                "artifact {} was never uploaded",
                spec.artifact.sha256
            )));
        }
        self.step(
            "publish",
            &format!("{} {}", spec.function.name, spec.release),
        )?;
        let next = versions.next.entry(spec.function.name.clone()).or_insert(1);
        let version = *next;
        *next += 1;
        let list = versions
            .functions
            .entry(spec.function.name.clone())
            .or_default();
        list.push(Published {
            version,
            unit: spec.unit.to_owned(),
            artifact: spec.artifact.sha256.clone(),
        });
        self.write("versions.json", &versions)?;
        Ok(version.to_string())
    }

    fn stage(&self, release: &StagedRelease) -> Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.step("stage", &release.id)?;
        let mut staged: BTreeMap<String, BTreeMap<String, VersionRef>> =
            self.read("staged.json")?;
        staged.insert(release.id.clone(), release.versions.clone());
        self.write("staged.json", &staged)
    }

    fn invoke(
        &self,
        release: &str,
        function: &str,
        _event: &serde_json::Value,
    ) -> Result<Invocation> {
        self.step("invoke", &format!("{release} {function}"))?;
        let staged: BTreeMap<String, BTreeMap<String, VersionRef>> = self.read("staged.json")?;
        let Some(version) = staged.get(release).and_then(|r| r.get(function)) else {
            return Ok(Invocation {
                status: 404,
                body: format!("no function {function} in release {release}"),
            });
        };
        let count = {
            let mut n = self.invocations.lock().unwrap_or_else(|e| e.into_inner());
            let c = n.entry(function.to_owned()).or_default();
            *c += 1;
            *c
        };
        if self
            .behaviour
            .invoke_fail_after
            .get(function)
            .is_some_and(|after| count > *after)
        {
            return Ok(Invocation {
                status: 500,
                body: "failing under traffic".to_owned(),
            });
        }
        let scripted = self
            .behaviour
            .invoke
            .get(&format!("{release}/{function}"))
            .or_else(|| self.behaviour.invoke.get(function));
        Ok(match scripted {
            Some(r) => Invocation {
                status: r.status,
                body: r.body.clone().unwrap_or_default(),
            },
            None => Invocation {
                status: 200,
                body: serde_json::json!({ "release": release, "function": function, "version": version }).to_string(),
            },
        })
    }

    fn live(&self) -> Result<Option<Route>> {
        match std::fs::read(self.dir.join("live.json")) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| ProviderError::new(format!("fake backend: live.json: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    fn route(&self, route: &Route) -> Result<()> {
        let staged: BTreeMap<String, BTreeMap<String, VersionRef>> = self.read("staged.json")?;
        for r in std::iter::once(&route.primary).chain(route.canary.as_ref().map(|(r, _)| r)) {
            if !staged.contains_key(r) {
                return Err(ProviderError::new(format!("release {r} is not staged")));
            }
        }
        let detail = match &route.canary {
            Some((c, w)) => format!("{} {c}@{w}", route.primary),
            None => route.primary.clone(),
        };
        self.step("route", &detail)?;
        self.write("live.json", route)
    }

    fn retire(&self, release: &StagedRelease, keep: &[StagedRelease]) -> Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.step("retire", &release.id)?;
        let mut staged: BTreeMap<String, BTreeMap<String, VersionRef>> =
            self.read("staged.json")?;
        staged.remove(&release.id);
        self.write("staged.json", &staged)?;
        let mut versions: Versions = self.read("versions.json")?;
        for (function, version) in &release.versions {
            let used = keep
                .iter()
                .any(|k| k.versions.get(function) == Some(version));
            if !used && let Some(list) = versions.functions.get_mut(function) {
                list.retain(|p| p.version.to_string() != *version);
            }
        }
        self.write("versions.json", &versions)
    }

    fn remove(&self) -> Result<()> {
        self.step("remove", "")?;
        for name in ["staged.json", "versions.json", "live.json"] {
            let _ = std::fs::remove_file(self.dir.join(name));
        }
        let _ = std::fs::remove_dir_all(self.dir.join("artifacts"));
        Ok(())
    }
}
