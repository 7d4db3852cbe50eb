//! The release mechanics on Azure: a Function App's `staging` slot and one
//! swap.
//!
//! - **Stage** puts a release into the staging slot: its app settings are
//!   the base settings plus the release's (`NUBO_RELEASE`, the functions'
//!   environment) and `WEBSITE_RUN_FROM_PACKAGE`, a read-only link to the
//!   release's app package in the storage account, in **one** settings write;
//!   then `syncfunctiontriggers` so the host reads the new functions. The
//!   package is immutable and content-addressed, so the slot serves exactly
//!   that release.
//! - **Switch** is **one `slotsswap`** (staging → production), polled to its
//!   end: App Service warms the staging instances with production's sticky
//!   settings, then swaps the routing, so production serves the whole new
//!   release at once and staging holds the previous one, ready for a
//!   rollback that is one more swap. A swap that fails moves nothing.
//! - **Live** is production's `NUBO_RELEASE`, read back from its settings.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::json;

use super::arm::Arm;
use super::base::{SLOT, WEB};
use crate::provider::{ProviderError, Result};

/// Settings that say which release a side serves.
pub const RELEASE_SETTING: &str = "NUBO_RELEASE";
pub const PACKAGE_SETTING: &str = "WEBSITE_RUN_FROM_PACKAGE";

fn q(path: &str) -> String {
    format!("{path}?api-version={WEB}")
}

/// The ARM path of a side: production (`None`) or a slot.
fn side(site: &str, slot: Option<&str>) -> String {
    match slot {
        None => site.to_owned(),
        Some(s) => format!("{site}/slots/{s}"),
    }
}

/// A side's app settings.
pub async fn settings(
    arm: &Arm,
    site: &str,
    slot: Option<&str>,
) -> Result<BTreeMap<String, String>> {
    let what = format!("list the settings of {}", side(site, slot));
    let a = arm
        .call(
            &what,
            Method::POST,
            &q(&format!("{}/config/appsettings/list", side(site, slot))),
            None,
        )
        .await?;
    Ok(a.body["properties"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default())
}

/// Put `release` into the staging slot: the slot's settings become `base`
/// (the host's settings, kept as the slot has them) plus `release_settings`,
/// `NUBO_RELEASE` and the package link, in one write; then the host syncs
/// its triggers.
pub async fn stage(
    arm: &Arm,
    site: &str,
    release: &str,
    package_url: &str,
    release_settings: &BTreeMap<String, String>,
    disabled: &[String],
) -> Result<()> {
    let slot = side(site, Some(SLOT));
    // Functions started by timers, queues and blobs run in production only:
    // in the staging slot a slot-sticky `AzureWebJobs.<name>.Disabled`
    // keeps them off (Microsoft's documented way), and a swap leaves each
    // side its own value.
    let keys: Vec<String> = disabled.iter().map(|n| disabled_key(n)).collect();
    ensure_sticky(arm, site, &keys).await?;
    let current = settings(arm, site, Some(SLOT)).await?;
    // The host's own settings stay; everything nubo wrote for the previous
    // release in this slot is replaced.
    let mut next: BTreeMap<String, String> = current
        .into_iter()
        .filter(|(k, _)| is_host_setting(k))
        .collect();
    next.extend(release_settings.clone());
    next.insert(RELEASE_SETTING.to_owned(), release.to_owned());
    next.insert(PACKAGE_SETTING.to_owned(), package_url.to_owned());
    for k in keys {
        next.insert(k, "true".to_owned());
    }
    arm.call(
        &format!("stage {release} in {slot}"),
        Method::PUT,
        &q(&format!("{slot}/config/appsettings")),
        Some(&json!({"properties": next})),
    )
    .await?;
    arm.call(
        &format!("sync the triggers of {slot}"),
        Method::POST,
        &q(&format!("{slot}/syncfunctiontriggers")),
        None,
    )
    .await?;
    Ok(())
}

/// The app setting that disables Azure function `name` in its side.
pub fn disabled_key(name: &str) -> String {
    format!("AzureWebJobs.{name}.Disabled")
}

/// Make `keys` slot-sticky app settings of `site` (one read; one write
/// only when some are missing).
async fn ensure_sticky(arm: &Arm, site: &str, keys: &[String]) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let path = q(&format!("{site}/config/slotConfigNames"));
    let now = arm
        .call(
            &format!("read the slot settings of {site}"),
            Method::GET,
            &path,
            None,
        )
        .await?;
    let mut props = now.body["properties"].clone();
    let mut names: Vec<String> = props["appSettingNames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !names.iter().any(|n| n.eq_ignore_ascii_case(k)))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    names.extend(missing.into_iter().cloned());
    if !props.is_object() {
        props = json!({});
    }
    props["appSettingNames"] = json!(names);
    arm.call(
        &format!("make the slot settings of {site} sticky"),
        Method::PUT,
        &path,
        Some(&json!({"properties": props})),
    )
    .await?;
    Ok(())
}

/// Settings the base owns (`base::ensure_base`); the rest belong to a
/// release.
fn is_host_setting(k: &str) -> bool {
    matches!(
        k,
        "FUNCTIONS_EXTENSION_VERSION"
            | "FUNCTIONS_WORKER_RUNTIME"
            | "AzureWebJobsStorage"
            | "NUBO_CALL_KEY"
    ) || k.starts_with("APPLICATIONINSIGHTS_")
}

/// Swap the staging slot into production: one `slotsswap`, polled to its
/// end.
pub async fn swap(arm: &Arm, site: &str) -> Result<()> {
    let what = format!("swap {SLOT} into production of {site}");
    let started = arm
        .call(
            &what,
            Method::POST,
            &q(&format!("{}/slotsswap", side(site, Some(SLOT)))),
            Some(&json!({"targetSlot": "production", "preserveVnet": true})),
        )
        .await?;
    arm.wait(&what, started).await?;
    Ok(())
}

/// The release each side serves: (production, staging).
pub async fn serving(arm: &Arm, site: &str) -> Result<(Option<String>, Option<String>)> {
    let (prod, staging) = tokio::join!(settings(arm, site, None), settings(arm, site, Some(SLOT)));
    let (prod, staging) = (prod?, staging?);
    Ok((
        prod.get(RELEASE_SETTING).cloned(),
        staging.get(RELEASE_SETTING).cloned(),
    ))
}

/// Roll production to `release`: one swap when staging holds it (the
/// release just replaced), else `None` — the caller stages it first.
pub async fn swap_back(arm: &Arm, site: &str, release: &str) -> Result<Option<()>> {
    let (_, staging) = serving(arm, site).await?;
    if staging.as_deref() != Some(release) {
        return Ok(None);
    }
    swap(arm, site).await.map(Some)
}

/// An error for a release that is not where it should be.
pub fn not_staged(site: &str, release: &str) -> ProviderError {
    ProviderError::new(format!(
        "{site}: the staging slot does not hold release `{release}`"
    ))
}

/// The settings of a release from a function app's functions' env: text
/// values as they are; `${secret:NAME}` as a Key Vault reference
/// (`@Microsoft.KeyVault(VaultName=…;SecretName=…)`), which App Service
/// resolves with the app's identity, so the value never passes through
/// nubo.
pub fn release_settings<'a>(
    env: impl IntoIterator<Item = (&'a String, &'a crate::resolve::EnvValue)>,
    release: &str,
    vault: &str,
) -> BTreeMap<String, String> {
    env.into_iter()
        .map(|(k, v)| {
            let value = match v {
                crate::resolve::EnvValue::Text(t) => t.clone(),
                crate::resolve::EnvValue::PerRelease(parts) => {
                    crate::resolve::vars::render(parts, release)
                }
                crate::resolve::EnvValue::Secret(name) => {
                    format!("@Microsoft.KeyVault(VaultName={vault};SecretName={name})")
                }
            };
            (k.clone(), value)
        })
        .collect()
}
