//! The embedded local cloud: `provider: local`.
//!
//! A daemon (started on demand, surviving the CLI) runs every published
//! function version as warm worker processes speaking the AWS Lambda Runtime
//! API, serves the live release's HTTP routes on one loopback port, and keeps
//! versions, staged releases and the live pointer in `.nubo/local/`. The CLI
//! drives it through [`LocalProvider`], a [`Provider`] over its control API:
//! loopback only, and every request must carry the daemon's random token.
//!
//! [`Provider`]: crate::provider::Provider

pub mod daemon;
pub mod gateway;
pub mod logs;
mod worker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{
    ArtifactRef, Invocation, Provider, ProviderError, PublishSpec, Result, Route, StagedRelease,
    VersionRef,
};
use crate::manifest::{Event, HandlerStyle, Runtime};
use crate::resolve::{EnvValue, Environment, Resolved};

/// Where the daemon says how to reach it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub pid: u32,
    pub control: String,
    pub gateway: String,
    pub token: String,
    pub started: String,
}

/// A function version's configuration, as the daemon runs it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VersionConfig {
    pub runtime: Runtime,
    /// `path/file.export`.
    pub handler: String,
    pub handler_style: HandlerStyle,
    pub memory: u32,
    pub timeout_ms: u64,
    /// Resolved environment, secrets included: the local cloud is the
    /// provider's secret store here (kept in a 0600 file under `.nubo/local/`).
    pub env: BTreeMap<String, String>,
    pub calls: Vec<String>,
    pub events: Vec<Event>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PublishRequest {
    pub function: String,
    pub unit: String,
    pub artifact: String,
    pub config: VersionConfig,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct InvokeRequest {
    pub release: String,
    pub function: String,
    pub event: serde_json::Value,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct InvokeResponse {
    pub status: u16,
    pub body: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RetireRequest {
    pub release: StagedRelease,
    pub keep: Vec<StagedRelease>,
}

/// The `.nubo/local` directory of the service at `manifest_dir`.
pub fn local_dir(manifest_dir: &Path) -> PathBuf {
    manifest_dir.join(".nubo").join("local")
}

/// A client of the daemon's control API.
pub struct LocalProvider {
    dir: PathBuf,
    info: DaemonInfo,
    http: reqwest::blocking::Client,
}

fn err(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(format!("local cloud: {e}"))
}

/// The daemon's address and token, if it is running and answers.
pub fn running(dir: &Path) -> Option<(DaemonInfo, reqwest::blocking::Client)> {
    let info: DaemonInfo =
        serde_json::from_slice(&std::fs::read(dir.join("daemon.json")).ok()?).ok()?;
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .ok()?;
    let ok = http
        .get(format!("http://{}/v1/status", info.control))
        .bearer_auth(&info.token)
        .send()
        .ok()?
        .status()
        .is_success();
    ok.then_some((info, http))
}

impl LocalProvider {
    /// Connect to the service's daemon, starting it when it is not running.
    pub fn connect(dir: &Path, port: Option<u16>) -> Result<LocalProvider> {
        let info = match running(dir) {
            Some((info, _)) => info,
            None => start(dir, port)?,
        };
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(15 * 60 + 30))
            .build()
            .map_err(err)?;
        Ok(LocalProvider {
            dir: dir.to_path_buf(),
            info,
            http,
        })
    }

    pub fn info(&self) -> &DaemonInfo {
        &self.info
    }

    fn call<T: Serialize, R: for<'de> Deserialize<'de>>(
        &self,
        method: &str,
        path: &str,
        body: Option<&T>,
    ) -> Result<R> {
        let url = format!("http://{}{path}", self.info.control);
        let req = match method {
            "GET" => self.http.get(&url),
            _ => self.http.post(&url),
        }
        .bearer_auth(&self.info.token);
        let req = match body {
            Some(b) => req.json(b),
            None => req,
        };
        let resp = req
            .send()
            .map_err(|e| err(format!("the daemon did not answer {path}: {e}")))?;
        let status = resp.status();
        let text = resp.text().map_err(err)?;
        if !status.is_success() {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or(text);
            return Err(err(message));
        }
        serde_json::from_str(&text).map_err(|e| err(format!("bad answer to {path}: {e}")))
    }

    /// Stop the daemon: workers ended, state saved.
    pub fn stop(&self) -> Result<()> {
        let _: serde_json::Value = self.call::<(), _>("POST", "/v1/stop", None)?;
        Ok(())
    }

    /// Put a message on a local queue.
    pub fn send(&self, queue: &str, body: &serde_json::Value) -> Result<String> {
        let v: serde_json::Value = self.call(
            "POST",
            &format!("/v1/queues/{queue}"),
            Some(&serde_json::json!({ "body": body })),
        )?;
        v["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| err("no message id in the answer"))
    }

    /// What the daemon reports about itself.
    pub fn status(&self) -> Result<serde_json::Value> {
        self.call::<(), _>("GET", "/v1/status", None)
    }
}

/// Start the daemon in the background and wait for it to answer.
fn start(dir: &Path, port: Option<u16>) -> Result<DaemonInfo> {
    std::fs::create_dir_all(dir).map_err(err)?;
    let exe = std::env::current_exe().map_err(err)?;
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(dir.join("daemon.log"))
        .map_err(err)?;
    let _ = std::fs::remove_file(dir.join("daemon.json"));
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["local", "daemon", "--dir"])
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().map_err(err)?)
        .stderr(log);
    if let Some(p) = port {
        cmd.args(["--port", &p.to_string()]);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its own process group: Ctrl-C in the terminal does not reach it.
        cmd.process_group(0);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| err(format!("could not start the daemon: {e}")))?;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(15) {
        if let Some((info, _)) = running(dir) {
            return Ok(info);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let tail = std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
            let last: Vec<&str> = tail.lines().rev().take(5).collect();
            return Err(err(format!(
                "the daemon exited ({status}) at start: {}",
                last.into_iter().rev().collect::<Vec<_>>().join(" | ")
            )));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(err(
        "the daemon did not start within 15 s (see .nubo/local/daemon.log)",
    ))
}

/// The value of a secret for the local cloud: `NUBO_SECRET_<NAME>` in the
/// environment, else the file `.nubo/local/secrets/<name>`.
fn secret(dir: &Path, name: &str, env: &dyn Environment) -> Result<String> {
    let var = format!(
        "NUBO_SECRET_{}",
        name.chars()
            .map(|c| if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            })
            .collect::<String>()
    );
    if let Some(v) = env.var(&var) {
        return Ok(v);
    }
    let file = dir.join("secrets").join(name);
    std::fs::read_to_string(&file)
        .map(|s| s.trim_end_matches('\n').to_owned())
        .map_err(|_| {
            err(format!(
                "secret `{name}` has no value on the local cloud: set `{var}` or write it to `{}`",
                crate::diag::display_path(&file)
            ))
        })
}

impl Provider for LocalProvider {
    fn ensure_base(&self, _service: &Resolved) -> Result<()> {
        std::fs::create_dir_all(self.dir.join("artifacts")).map_err(err)
    }

    fn upload(&self, artifact: &ArtifactRef) -> Result<bool> {
        let dest = self
            .dir
            .join("artifacts")
            .join(format!("{}.zip", artifact.sha256));
        if dest.is_file() {
            return Ok(false);
        }
        let tmp = dest.with_extension(format!("{}.tmp", std::process::id()));
        std::fs::copy(&artifact.path, &tmp).map_err(err)?;
        std::fs::rename(&tmp, &dest).map_err(err)?;
        Ok(true)
    }

    fn publish(&self, spec: &PublishSpec<'_>) -> Result<VersionRef> {
        let f = spec.function;
        let mut env = BTreeMap::new();
        for (k, v) in &f.env {
            let value = match v {
                EnvValue::Text(t) => t.clone(),
                EnvValue::Secret(name) => secret(&self.dir, name, &crate::resolve::ProcessEnv)?,
                EnvValue::PerRelease(parts) => crate::resolve::vars::render(parts, spec.release),
            };
            env.insert(k.clone(), value);
        }
        let req = PublishRequest {
            function: f.name.clone(),
            unit: spec.unit.to_owned(),
            artifact: spec.artifact.sha256.clone(),
            config: VersionConfig {
                runtime: f.runtime,
                handler: format!("{}.{}", f.handler_file, f.handler_export),
                handler_style: f.handler_style,
                memory: f.memory,
                timeout_ms: f.timeout.as_millis() as u64,
                env,
                calls: f.calls.clone(),
                events: f.events.clone(),
            },
        };
        let v: serde_json::Value = self.call("POST", "/v1/publish", Some(&req))?;
        v["version"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| err("no version in the answer"))
    }

    fn stage(&self, release: &StagedRelease) -> Result<()> {
        let _: serde_json::Value = self.call("POST", "/v1/stage", Some(release))?;
        Ok(())
    }

    fn invoke(
        &self,
        release: &str,
        function: &str,
        event: &serde_json::Value,
    ) -> Result<Invocation> {
        let r: InvokeResponse = self.call(
            "POST",
            "/v1/invoke",
            Some(&InvokeRequest {
                release: release.to_owned(),
                function: function.to_owned(),
                event: event.clone(),
            }),
        )?;
        Ok(Invocation {
            status: r.status,
            body: r.body,
        })
    }

    fn live(&self) -> Result<Option<Route>> {
        self.call::<(), _>("GET", "/v1/live", None)
    }

    fn route(&self, route: &Route) -> Result<()> {
        let _: serde_json::Value = self.call("POST", "/v1/route", Some(route))?;
        Ok(())
    }

    fn retire(&self, release: &StagedRelease, keep: &[StagedRelease]) -> Result<()> {
        let _: serde_json::Value = self.call(
            "POST",
            "/v1/retire",
            Some(&RetireRequest {
                release: release.clone(),
                keep: keep.to_vec(),
            }),
        )?;
        Ok(())
    }

    fn endpoint(&self) -> Option<String> {
        Some(format!("http://{}", self.info.gateway))
    }

    fn remove(&self) -> Result<()> {
        let _: serde_json::Value = self.call::<(), _>("POST", "/v1/remove", None)?;
        let _ = std::fs::remove_dir_all(self.dir.join("artifacts"));
        Ok(())
    }
}
