//! The Azure backend: [`Provider`] over ARM (`base.rs`, `slots.rs`) and the
//! target's storage account (app packages and release manifests).
//!
//! - A function's **version** is its deployable unit: nothing is published
//!   per function (a Function App holds all the functions of a runtime), so
//!   `upload` and `publish` send nothing.
//! - **Stage** builds each Function App's package from the functions'
//!   artifacts (`app::build_from`), uploads it content-addressed
//!   (`packages/{sha256}.zip`, skipped when present), writes the release's
//!   manifest (`releases/{id}.json`: each app's package and settings; no
//!   secret values, only Key Vault references), then puts the release into
//!   every app's `staging` slot (`slots::stage`: one settings write with a
//!   read-only link to the package, and a trigger sync).
//! - **Invoke** (checks, `nubo invoke`) calls the side that holds the
//!   release — the staging slot before the switch — with the side's host key.
//! - **Route** swaps every app whose production does not serve the release:
//!   one `slotsswap` each, when the staging slot holds it (the deploy's
//!   switch, the rollback to the release just replaced); an older retained
//!   release is staged again from its manifest first.
//! - **Live** is production's `NUBO_RELEASE`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::app::{self, app_names};
use super::arm::Arm;
use super::base::{self, Base, CONTAINER, SLOT, WEB};
use super::blob::AzBlobStore;
use super::slots;
use crate::manifest::Event;
use crate::provider::{
    ArtifactRef, Invocation, Provider, ProviderError, PublishSpec, Result, Route, StagedRelease,
    VersionRef,
};
use crate::resolve::Resolved;
use crate::state::StateStore;

/// How long a package link stays valid. App Service reads the package at
/// every cold start, so the link must outlive the release's time in a slot;
/// each staging signs a new one.
const PACKAGE_LINK_DAYS: u64 = 365;

/// What a release is on Azure, kept beside its packages so that any
/// retained release can be staged again (a rollback past the slot).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReleaseManifest {
    pub release: String,
    /// Function App → its package blob and release settings.
    pub apps: BTreeMap<String, AppRelease>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AppRelease {
    /// `packages/{sha256}.zip` in the releases container.
    pub package: String,
    /// The release's app settings (environment; secrets as Key Vault
    /// references, never values).
    pub settings: BTreeMap<String, String>,
    /// The Azure functions started by timers, queues and blobs, kept off
    /// in the staging slot.
    #[serde(default)]
    pub disabled: Vec<String>,
}

pub struct AzureProvider {
    arm: Arm,
    service: Resolved,
    /// Where app packages are built (`.nubo/azure/{target}` beside the
    /// manifest).
    work: PathBuf,
    base: Mutex<Option<Arc<Base>>>,
    /// Host keys by host name.
    keys: Mutex<BTreeMap<String, String>>,
}

impl AzureProvider {
    pub fn open(
        resolved: &Resolved,
        manifest_dir: &Path,
        env: &dyn crate::resolve::Environment,
    ) -> Result<AzureProvider> {
        Ok(AzureProvider {
            arm: Arm::new(resolved.settings.endpoint.as_deref(), env)?,
            service: resolved.clone(),
            work: manifest_dir
                .join(".nubo")
                .join("azure")
                .join(&resolved.target),
            base: Mutex::new(None),
            keys: Mutex::new(BTreeMap::new()),
        })
    }

    fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        crate::provider::aws::runtime().block_on(f)
    }

    /// The target's base: made where missing (`create`), else read.
    fn base(&self, create: bool) -> Result<Arc<Base>> {
        if !create && let Some(b) = self.base.lock().unwrap().clone() {
            return Ok(b);
        }
        let b = if create {
            self.block(base::ensure_base(&self.arm, &self.service))?
        } else {
            self.block(base::load_base(&self.arm, &self.service))?
        };
        let b = Arc::new(b);
        *self.base.lock().unwrap() = Some(b.clone());
        Ok(b)
    }

    /// The releases container as a key-value store.
    fn store(&self, base: &Base) -> Result<AzBlobStore> {
        let blobs = base.blobs().map_err(storage_err(&base.storage_account))?;
        Ok(AzBlobStore::on(blobs, CONTAINER, ""))
    }

    /// The target's Function Apps, by name order: (app, ARM id).
    fn sites(&self) -> Vec<(String, String)> {
        let mut apps: Vec<String> = app_names(&self.service).into_values().collect();
        apps.sort();
        apps.dedup();
        apps.into_iter()
            .map(|app| {
                let id = format!("{}/providers/Microsoft.Web/sites/{app}", self.group_path());
                (app, id)
            })
            .collect()
    }

    fn site_id(&self, base: &Base, app: &str) -> Result<String> {
        base.apps
            .iter()
            .find(|a| a.app == app)
            .map(|a| a.id.clone())
            .ok_or_else(|| ProviderError::new(format!("no Function App {app} in this target")))
    }

    fn manifest(&self, store: &AzBlobStore, release: &str) -> Result<Option<ReleaseManifest>> {
        let key = manifest_key(release);
        let Some(bytes) = store.get(&key).map_err(storage_err(&store.describe()))? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ProviderError::new(format!("{key} in the releases container: {e}")))
    }

    /// The settings of `release` for each app, from the manifest's env.
    fn release_settings(
        &self,
        release: &str,
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
        let apps = app_names(&self.service);
        let vault = vault_name(&self.service);
        let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut from: BTreeMap<(String, String), String> = BTreeMap::new();
        for f in self.service.functions.values() {
            let app = &apps[&f.name];
            let settings = out.entry(app.clone()).or_default();
            for (k, v) in slots::release_settings(&f.env, release, &vault) {
                match settings.get(&k) {
                    Some(have) if *have != v => {
                        return Err(ProviderError::new(format!(
                            "`{}` and `{}` set `{k}` differently, but they run in one Function App \
                             ({app}), whose functions share their environment",
                            from[&(app.clone(), k.clone())],
                            f.name
                        )));
                    }
                    Some(_) => {}
                    None => {
                        from.insert((app.clone(), k.clone()), f.name.clone());
                        settings.insert(k, v);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Put `manifest`'s release into the staging slot of each app in `apps`.
    fn stage_manifest(
        &self,
        base: &Base,
        manifest: &ReleaseManifest,
        apps: &[String],
    ) -> Result<()> {
        let blobs = base.blobs().map_err(storage_err(&base.storage_account))?;
        let expiry = SystemTime::now() + Duration::from_secs(PACKAGE_LINK_DAYS * 86_400);
        let mut jobs = Vec::new();
        for app in apps {
            let a = manifest.apps.get(app).ok_or_else(|| {
                ProviderError::new(format!(
                    "release `{}` has no package for the Function App {app}",
                    manifest.release
                ))
            })?;
            let site = self.site_id(base, app)?;
            let url = blobs.sas_url(CONTAINER, &a.package, expiry);
            jobs.push((site, url, &a.settings, &a.disabled));
        }
        self.block(async {
            let staged = jobs.iter().map(|(site, url, settings, disabled)| {
                slots::stage(&self.arm, site, &manifest.release, url, settings, disabled)
            });
            for r in futures_util::future::join_all(staged).await {
                r?;
            }
            Ok(())
        })
    }

    /// Production's routing rule: `share` percent of its requests to the
    /// staging slot, or none. Written only when it differs.
    async fn routing_rule(
        &self,
        site: &str,
        staging_host: Option<&str>,
        share: Option<u8>,
    ) -> Result<()> {
        let path = format!("{site}/config/web?api-version={WEB}");
        let what = format!("read the routing rules of {site}");
        let now = self.arm.call(&what, Method::GET, &path, None).await?;
        let staging_host = staging_host.unwrap_or_default();
        let want: Vec<Value> = share
            .map(|p| {
                vec![serde_json::json!({
                    "name": SLOT,
                    "actionHostName": staging_host,
                    "reroutePercentage": p,
                })]
            })
            .unwrap_or_default();
        let have: Vec<(String, f64)> = now.body["properties"]["experiments"]["rampUpRules"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                (
                    r["actionHostName"]
                        .as_str()
                        .unwrap_or_default()
                        .to_ascii_lowercase(),
                    r["reroutePercentage"].as_f64().unwrap_or(0.0),
                )
            })
            .filter(|(_, p)| *p > 0.0)
            .collect();
        let wanted: Vec<(String, f64)> = share
            .filter(|p| *p > 0)
            .map(|p| vec![(staging_host.to_ascii_lowercase(), f64::from(p))])
            .unwrap_or_default();
        if have == wanted {
            return Ok(());
        }
        self.arm
            .call(
                &format!("set the routing rules of {site}"),
                Method::PATCH,
                &path,
                Some(&serde_json::json!({"properties": {"experiments": {"rampUpRules": want}}})),
            )
            .await?;
        Ok(())
    }

    /// The host key of a side, for requests to its functions.
    async fn host_key(&self, site: &str, slot: Option<&str>, host: &str) -> Result<String> {
        if let Some(k) = self.keys.lock().unwrap().get(host) {
            return Ok(k.clone());
        }
        let side = match slot {
            None => site.to_owned(),
            Some(s) => format!("{site}/slots/{s}"),
        };
        let a = self
            .arm
            .call(
                &format!("list the host keys of {side}"),
                Method::POST,
                &format!("{side}/host/default/listkeys?api-version={WEB}"),
                None,
            )
            .await?;
        let key = a.body["masterKey"]
            .as_str()
            .ok_or_else(|| ProviderError::new(format!("{side} listed no master key")))?
            .to_owned();
        self.keys
            .lock()
            .unwrap()
            .insert(host.to_owned(), key.clone());
        Ok(key)
    }

    /// Send a request to a function app's host: there, or to the
    /// configured endpoint with the host in `Host` (fakes).
    async fn call_host(
        &self,
        host: &str,
        key: &str,
        method: &str,
        path_and_query: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<Invocation> {
        let mut headers = headers.to_vec();
        headers.push(("x-functions-key".to_owned(), key.to_owned()));
        // 230 s: the most an HTTP-triggered function may take on Azure.
        crate::provider::call_host(
            self.service.settings.endpoint.as_deref(),
            host,
            method,
            path_and_query,
            &headers,
            body,
            Duration::from_secs(230 + 30),
        )
        .await
    }
}

fn manifest_key(release: &str) -> String {
    format!("releases/{release}.json")
}

/// The Key Vault that `${secret:NAME}` references name: `nubokv` and 18
/// hex digits of the target (vault names are global, 3–24 characters).
pub fn vault_name(resolved: &Resolved) -> String {
    let account = base::storage_account_name(resolved);
    format!("nubokv{}", &account[4..22])
}

fn storage_err(what: &str) -> impl Fn(std::io::Error) -> ProviderError + '_ {
    move |e| ProviderError::new(format!("storage account {what}: {e}"))
}

impl Provider for AzureProvider {
    fn ensure_base(&self, _service: &Resolved) -> Result<()> {
        let b = self.base(true)?;
        b.ensure_container()
            .map_err(storage_err(&b.storage_account))?;
        Ok(())
    }

    /// Function artifacts are not sent on their own: each Function App's
    /// package (all its functions) is uploaded when a release is staged.
    fn upload(&self, _artifact: &ArtifactRef) -> Result<bool> {
        Ok(false)
    }

    /// A function's version is its unit; the app package that holds it is
    /// built and uploaded by `stage`.
    fn publish(&self, spec: &PublishSpec<'_>) -> Result<VersionRef> {
        Ok(spec.unit.to_owned())
    }

    fn stage(&self, release: &StagedRelease) -> Result<()> {
        let base = self.base(false)?;
        let store = self.store(&base)?;
        let manifest = match self.manifest(&store, &release.id)? {
            // Staged before (a repeated run): the same packages.
            Some(m) => m,
            None => {
                if release.artifacts.len() < self.service.functions.len() {
                    return Err(ProviderError::new(format!(
                        "release `{}` can only be staged by the deploy that packaged it",
                        release.id
                    )));
                }
                let out = self.work.join(&release.id);
                let built = app::build_from(&self.service, &release.artifacts, &out)
                    .map_err(ProviderError::new)?;
                let mut settings = self.release_settings(&release.id)?;
                let blobs = base.blobs().map_err(storage_err(&base.storage_account))?;
                let mut apps = BTreeMap::new();
                for p in built {
                    let bytes = std::fs::read(&p.path).map_err(|e| {
                        ProviderError::new(format!("could not read {}: {e}", p.path.display()))
                    })?;
                    let package = format!("packages/{}.zip", p.sha256);
                    blobs
                        .put_if_absent(CONTAINER, &package, &bytes)
                        .map_err(storage_err(&base.storage_account))?;
                    apps.insert(
                        p.app.clone(),
                        AppRelease {
                            package,
                            settings: settings.remove(&p.app).unwrap_or_default(),
                            disabled: p.triggered.clone(),
                        },
                    );
                }
                let _ = std::fs::remove_dir_all(&out);
                let m = ReleaseManifest {
                    release: release.id.clone(),
                    apps,
                };
                let bytes = serde_json::to_vec_pretty(&m).expect("JSON");
                store
                    .put(&manifest_key(&release.id), &bytes)
                    .map_err(storage_err(&base.storage_account))?;
                m
            }
        };
        let apps: Vec<String> = manifest.apps.keys().cloned().collect();
        self.stage_manifest(&base, &manifest, &apps)
    }

    fn invoke(&self, release: &str, function: &str, event: &Value) -> Result<Invocation> {
        let f = self.service.functions.get(function).ok_or_else(|| {
            ProviderError::new(format!("no function `{function}` in this service"))
        })?;
        let base = self.base(false)?;
        let app = &app_names(&self.service)[function];
        let a =
            base.apps.iter().find(|a| &a.app == app).ok_or_else(|| {
                ProviderError::new(format!("no Function App {app} in this target"))
            })?;
        self.block(async {
            // Both sides' settings, read once: which side holds the
            // release, and that side's call key.
            let (prod, staging) = tokio::join!(
                slots::settings(&self.arm, &a.id, None),
                slots::settings(&self.arm, &a.id, Some(SLOT))
            );
            let (prod, staging) = (prod?, staging?);
            let holds = |s: &BTreeMap<String, String>| {
                s.get(slots::RELEASE_SETTING).map(String::as_str) == Some(release)
            };
            let (host, slot, settings) = if holds(&staging) {
                (a.staging_host.as_str(), Some(SLOT), &staging)
            } else if holds(&prod) {
                (a.host.as_str(), None, &prod)
            } else {
                let serves = |s: &BTreeMap<String, String>| {
                    s.get(slots::RELEASE_SETTING)
                        .cloned()
                        .unwrap_or_else(|| "nothing".to_owned())
                };
                return Err(ProviderError::new(format!(
                    "release `{release}` is in neither slot of the Function App {app} \
                     (production serves {}, staging {})",
                    serves(&prod),
                    serves(&staging)
                )));
            };
            let key = self.host_key(&a.id, slot, host).await?;
            let http = f.events.iter().find_map(|e| match e {
                Event::Http(h) => Some(h),
                _ => None,
            });
            match http {
                Some(h) => {
                    let (method, path, headers, body) = crate::provider::http_request(event, h);
                    self.call_host(host, &key, &method, &path, &headers, body)
                        .await
                }
                None => {
                    let headers = vec![
                        ("content-type".to_owned(), "application/json".to_owned()),
                        (
                            "x-nubo-call-key".to_owned(),
                            settings.get("NUBO_CALL_KEY").cloned().unwrap_or_default(),
                        ),
                        ("x-nubo-caller".to_owned(), "nubo".to_owned()),
                    ];
                    self.call_host(
                        host,
                        &key,
                        "POST",
                        &format!("/_nubo/call/{function}"),
                        &headers,
                        event.to_string().into_bytes(),
                    )
                    .await
                }
            }
        })
    }

    fn live(&self) -> Result<Option<Route>> {
        // Read from the apps' own settings and routing rules: three reads
        // per app, no lookup of the rest of the base.
        let sides = self.block(async {
            let reads = self.sites().into_iter().map(|(app, id)| async move {
                let (list_what, list_url) = (
                    format!("list the settings of {id}"),
                    self.arm
                        .url(&format!("{id}/config/appsettings/list?api-version={WEB}")),
                );
                let (web_what, web_url) = (
                    format!("read the routing rules of {id}"),
                    self.arm.url(&format!("{id}/config/web?api-version={WEB}")),
                );
                let prod = self.arm.send(&list_what, Method::POST, &list_url, None);
                let staging = slots::settings(&self.arm, &id, Some(SLOT));
                let config = self.arm.send(&web_what, Method::GET, &web_url, None);
                let (prod, staging, config) = tokio::join!(prod, staging, config);
                let prod = prod?;
                if prod.status == 404 {
                    // Never deployed (or removed).
                    return Ok(None);
                }
                if !(200..300).contains(&prod.status) {
                    return Err(super::arm::error(
                        &format!("list the settings of {app}"),
                        &prod,
                    ));
                }
                let config = config?;
                if !(200..300).contains(&config.status) {
                    return Err(super::arm::error(
                        &format!("read the routing rules of {app}"),
                        &config,
                    ));
                }
                let share = config.body["properties"]["experiments"]["rampUpRules"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|r| r["name"].as_str() == Some(SLOT))
                    .map(|r| r["reroutePercentage"].as_f64().unwrap_or(0.0))
                    .sum::<f64>();
                let release = prod.body["properties"][slots::RELEASE_SETTING]
                    .as_str()
                    .map(str::to_owned);
                let staging = staging?.get(slots::RELEASE_SETTING).cloned();
                Ok::<_, ProviderError>(Some((release, staging, share)))
            });
            futures_util::future::join_all(reads).await
        });
        // Apps are switched in name order. After a stop half-way they
        // disagree: the last app still serves the release being replaced,
        // which is what is reported, so the next deploy or rollback moves
        // every app again (`route` moves each app that differs).
        let Some(last) = sides.into_iter().last() else {
            return Ok(None);
        };
        let Some((prod, staging, share)) = last? else {
            return Ok(None);
        };
        Ok(prod.map(|p| Route {
            primary: p,
            canary: staging
                .filter(|_| share > 0.0)
                .map(|s| (s, share.round().clamp(0.0, 100.0) as u8)),
        }))
    }

    fn route(&self, route: &Route) -> Result<()> {
        // During a canary production keeps the primary release and its
        // routing rule sends the canary's share to the staging slot, which
        // holds the canary; the switch clears the rule, then swaps.
        let (prod_wants, staging_wants, share) = match &route.canary {
            Some((canary, percent)) => (&route.primary, Some(canary), Some(*percent)),
            None => (&route.primary, None, None),
        };
        let sites = self.sites();
        let serving = self.block(async {
            let reads = sites.iter().map(|(_, id)| slots::serving(&self.arm, id));
            futures_util::future::join_all(reads).await
        });
        let mut to_swap = Vec::new();
        let mut to_stage: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for ((app, id), s) in sites.iter().zip(serving) {
            let (prod, staging) = s?;
            match staging_wants {
                Some(canary) => {
                    if prod.as_deref() != Some(prod_wants.as_str()) {
                        return Err(ProviderError::new(format!(
                            "a canary of `{canary}` starts from the release production serves, \
                             but the Function App {app} serves {}, not `{prod_wants}`",
                            prod.as_deref().unwrap_or("nothing")
                        )));
                    }
                    if staging.as_deref() != Some(canary.as_str()) {
                        to_stage
                            .entry(canary.clone())
                            .or_default()
                            .push(app.clone());
                    }
                }
                None => {
                    if prod.as_deref() == Some(prod_wants.as_str()) {
                        continue;
                    }
                    if staging.as_deref() != Some(prod_wants.as_str()) {
                        to_stage
                            .entry(prod_wants.clone())
                            .or_default()
                            .push(app.clone());
                    }
                    to_swap.push(id.clone());
                }
            }
        }
        // The rest of the base (host names, the storage key) only when a
        // release must be staged again or a canary rule names the slot.
        let base = if !to_stage.is_empty() || share.is_some() {
            Some(self.base(false)?)
        } else {
            None
        };
        if let Some(base) = base.as_ref().filter(|_| !to_stage.is_empty()) {
            // An older retained release: staged again from its manifest.
            let store = self.store(base)?;
            for (release, apps) in &to_stage {
                let manifest = self.manifest(&store, release)?.ok_or_else(|| {
                    ProviderError::new(format!(
                        "release `{release}` has no manifest in the releases container of \
                         storage account {}; it cannot be staged again",
                        base.storage_account
                    ))
                })?;
                self.stage_manifest(base, &manifest, apps)?;
            }
        }
        self.block(async {
            let rules = sites.iter().map(|(app, id)| {
                let host = base.as_ref().and_then(|b| {
                    b.apps
                        .iter()
                        .find(|a| &a.app == app)
                        .map(|a| a.staging_host.as_str())
                });
                self.routing_rule(id, host, share)
            });
            for r in futures_util::future::join_all(rules).await {
                r?;
            }
            // One swap per app. A swap that fails changes nothing in its
            // app; the apps already swapped are swapped back, so production
            // is left serving one release, not two.
            for (i, site) in to_swap.iter().enumerate() {
                if let Err(e) = slots::swap(&self.arm, site).await {
                    for done in to_swap[..i].iter().rev() {
                        if let Err(back) = slots::swap(&self.arm, done).await {
                            return Err(ProviderError::new(format!(
                                "{e}; then swapping {done} back failed too: {back} \
                                 (run `nubo deploy` or `nubo rollback` again to converge)"
                            )));
                        }
                    }
                    return Err(e);
                }
            }
            Ok(())
        })
    }

    fn retire(&self, release: &StagedRelease, keep: &[StagedRelease]) -> Result<()> {
        let base = self.base(false)?;
        let store = self.store(&base)?;
        let Some(gone) = self.manifest(&store, &release.id)? else {
            return Ok(());
        };
        let mut used = std::collections::BTreeSet::new();
        for k in keep {
            if let Some(m) = self.manifest(&store, &k.id)? {
                used.extend(m.apps.into_values().map(|a| a.package));
            }
        }
        let err = storage_err(&base.storage_account);
        for a in gone.apps.values() {
            if !used.contains(&a.package) {
                store.delete(&a.package).map_err(&err)?;
            }
        }
        store.delete(&manifest_key(&release.id)).map_err(&err)
    }

    fn remove(&self) -> Result<()> {
        self.block(self.remove_all())
    }

    fn verify(&self, release: &StagedRelease) -> Result<Vec<String>> {
        let base = self.base(false)?;
        let store = self.store(&base)?;
        let mut out = Vec::new();
        let Some(m) = self.manifest(&store, &release.id)? else {
            out.push(format!(
                "release `{}`: its manifest is gone from storage account {}",
                release.id, base.storage_account
            ));
            return Ok(out);
        };
        let packages = store
            .list("packages/")
            .map_err(storage_err(&base.storage_account))?;
        for (app, a) in &m.apps {
            if !packages.contains(&a.package) {
                out.push(format!("{app}: package {} is gone", a.package));
            }
        }
        Ok(out)
    }

    fn inventory(&self) -> Result<Vec<String>> {
        self.block(self.inventory_all())
    }

    fn endpoint(&self) -> Option<String> {
        let apps = app_names(&self.service);
        let f = self
            .service
            .functions
            .values()
            .find(|f| f.events.iter().any(|e| matches!(e, Event::Http(_))))?;
        Some(format!("https://{}.azurewebsites.net", apps[&f.name]))
    }
}

impl AzureProvider {
    fn group_path(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}",
            self.service
                .settings
                .subscription
                .as_deref()
                .unwrap_or_default(),
            self.service
                .settings
                .resource_group
                .as_deref()
                .unwrap_or_default()
        )
    }

    /// The target's resources that exist: (description, ARM path, api-version).
    async fn resources(&self) -> Result<Vec<(String, String, &'static str)>> {
        let rg = self.group_path();
        let mut candidates: Vec<(String, String, &'static str)> = Vec::new();
        let mut apps: Vec<String> = app_names(&self.service).into_values().collect();
        apps.sort();
        apps.dedup();
        for app in apps {
            candidates.push((
                format!("Function App {app} (with its {SLOT} slot)"),
                format!("{rg}/providers/Microsoft.Web/sites/{app}"),
                WEB,
            ));
        }
        let plan = format!("{}-{}-plan", self.service.service, self.service.target);
        candidates.push((
            format!("App Service plan {plan}"),
            format!("{rg}/providers/Microsoft.Web/serverfarms/{plan}"),
            WEB,
        ));
        let account = base::storage_account_name(&self.service);
        candidates.push((
            format!("storage account {account} (app packages, release manifests)"),
            format!("{rg}/providers/Microsoft.Storage/storageAccounts/{account}"),
            base::STORAGE,
        ));
        let mut out = Vec::new();
        for (what, path, version) in candidates {
            let url = format!("{path}?api-version={version}");
            if base::read(&self.arm, &what, &url).await?.is_some() {
                out.push((what, path, version));
            }
        }
        Ok(out)
    }

    fn group_name(&self) -> &str {
        self.service
            .settings
            .resource_group
            .as_deref()
            .unwrap_or_default()
    }

    /// Whether the resource group exists and nubo made it.
    async fn group(&self) -> Result<Option<bool>> {
        let what = format!("resource group {}", self.group_name());
        let url = format!("{}?api-version={}", self.group_path(), base::RESOURCES);
        Ok(base::read(&self.arm, &what, &url)
            .await?
            .map(|g| g["tags"]["nubo-created"].as_str() == Some("true")))
    }

    /// Delete a resource and wait for it to go; gone already is fine.
    async fn delete(&self, what: &str, url: &str) -> Result<()> {
        let what = format!("delete {what}");
        let a = self
            .arm
            .send(&what, Method::DELETE, &self.arm.url(url), None)
            .await?;
        match a.status {
            404 => Ok(()),
            s if (200..300).contains(&s) => self.arm.wait(&what, a).await.map(|_| ()),
            _ => Err(super::arm::error(&what, &a)),
        }
    }

    async fn inventory_all(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> = self
            .resources()
            .await?
            .into_iter()
            .map(|(what, _, _)| what)
            .collect();
        if self.group().await? == Some(true) && !out.is_empty() {
            out.push(format!(
                "resource group {} (nubo created it: everything in it goes)",
                self.group_name()
            ));
        }
        Ok(out)
    }

    /// Delete the apps, the plan and the storage account; then the resource
    /// group when nubo created it (with whatever else was put in it: the
    /// summary `nubo remove` asks about says so).
    async fn remove_all(&self) -> Result<()> {
        for (what, path, version) in self.resources().await? {
            self.delete(&what, &format!("{path}?api-version={version}"))
                .await?;
        }
        if self.group().await? == Some(true) {
            let what = format!("resource group {}", self.group_name());
            let url = format!("{}?api-version={}", self.group_path(), base::RESOURCES);
            self.delete(&what, &url).await?;
        }
        *self.base.lock().unwrap() = None;
        Ok(())
    }
}
