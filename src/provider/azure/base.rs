//! What an Azure target needs once (`Provider::ensure_base`), made by ARM
//! calls and each only when missing, so a second run only reads:
//!
//! - the resource group (tagged `nubo-created` when nubo made it, so that
//!   `nubo remove` deletes only a group nubo created);
//! - a storage account `nubo` + 20 hex digits of the subscription, group,
//!   service and target (names are global, 3–24 lowercase letters and
//!   digits) and its key; the container `nubo-releases` for app packages is
//!   made through the blob service ([`Base::ensure_container`]);
//! - a Consumption plan `{service}-{target}-plan` (Linux, `Y1`);
//! - one Function App per runtime (`app::app_names`) with its `staging`
//!   slot, both with the host's settings: `FUNCTIONS_EXTENSION_VERSION`,
//!   `FUNCTIONS_WORKER_RUNTIME`, `AzureWebJobsStorage` (the account's
//!   connection string: it goes to ARM only, never to state or output) and
//!   `NUBO_CALL_KEY` (derived from the account key, the same in every app of
//!   the service, so `nubo.call` works across apps).

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::app::app_names;
use super::arm::Arm;
use super::blob::BlobAccount;
use crate::manifest::Language;
use crate::provider::{ProviderError, Result};
use crate::resolve::Resolved;

pub const WEB: &str = "2023-12-01";
pub const STORAGE: &str = "2023-05-01";
pub const RESOURCES: &str = "2024-07-01";
/// The container of app packages.
pub const CONTAINER: &str = "nubo-releases";
pub const SLOT: &str = "staging";

/// One Function App of the service.
#[derive(Debug, Clone)]
pub struct AppBase {
    pub app: String,
    /// `/subscriptions/…/providers/Microsoft.Web/sites/{app}`.
    pub id: String,
    pub language: Language,
    pub host: String,
    pub staging_host: String,
}

/// What `ensure_base` made or found.
pub struct Base {
    pub storage_account: String,
    /// The account key (a secret: never logged or recorded).
    key: String,
    pub blob_endpoint: String,
    pub apps: Vec<AppBase>,
}

impl Base {
    /// The account's blob service (a blocking client: call it outside async
    /// code).
    pub fn blobs(&self) -> std::io::Result<BlobAccount> {
        BlobAccount::new(&self.storage_account, &self.key, &self.blob_endpoint)
    }

    /// Make the releases container through the blob service itself (one
    /// idempotent call with the key; the same in the cloud and in Azurite).
    pub fn ensure_container(&self) -> std::io::Result<BlobAccount> {
        let blobs = self.blobs()?;
        blobs.make_container(CONTAINER)?;
        Ok(blobs)
    }
}

/// The target's storage account name.
pub fn storage_account_name(resolved: &Resolved) -> String {
    let seed = format!(
        "{}/{}/{}/{}",
        resolved
            .settings
            .subscription
            .as_deref()
            .unwrap_or_default(),
        resolved
            .settings
            .resource_group
            .as_deref()
            .unwrap_or_default(),
        resolved.service,
        resolved.target
    );
    let h = Sha256::digest(seed.as_bytes());
    let hex: String = h.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("nubo{hex}")
}

fn q(path: &str, version: &str) -> String {
    format!("{path}?api-version={version}")
}

/// A resource's JSON, or `None` when ARM says 404.
pub(super) async fn read(arm: &Arm, what: &str, path: &str) -> Result<Option<Value>> {
    let a = arm.send(what, Method::GET, &arm.url(path), None).await?;
    match a.status {
        404 => Ok(None),
        s if (200..300).contains(&s) => Ok(Some(a.body)),
        _ => Err(super::arm::error(what, &a)),
    }
}

/// PUT `body` at `path` unless something is there; wait for the operation.
/// When `create` is false a missing resource is an error instead.
async fn create_if_missing(
    arm: &Arm,
    what: &str,
    path: &str,
    body: &Value,
    create: bool,
) -> Result<Value> {
    if let Some(v) = read(arm, what, path).await? {
        return Ok(v);
    }
    if !create {
        return Err(missing(what));
    }
    let started = arm.call(what, Method::PUT, path, Some(body)).await?;
    arm.wait(what, started).await
}

fn missing(what: &str) -> ProviderError {
    ProviderError::new(format!(
        "{what} does not exist: nothing was deployed to this target (run `nubo deploy`)"
    ))
}

/// A plan nubo cannot switch releases on: Flex Consumption has no
/// deployment slots, and a release is a swap of the staging slot.
fn refuse_flex(plan_name: &str, plan: &Value) -> Result<()> {
    let sku = &plan["sku"];
    let flex = sku["name"]
        .as_str()
        .is_some_and(|n| n.eq_ignore_ascii_case("FC1"))
        || sku["tier"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("FlexConsumption"));
    if flex {
        return Err(ProviderError::new(format!(
            "plan {plan_name} is a Flex Consumption plan, which has no deployment slots; nubo \
             switches Azure releases by swapping a staging slot, so it needs a Consumption (Y1) \
             plan: delete {plan_name} or deploy to another target"
        )));
    }
    Ok(())
}

/// Make what is missing of the target's base; the base.
pub async fn ensure_base(arm: &Arm, resolved: &Resolved) -> Result<Base> {
    base(arm, resolved, true).await
}

/// The target's base as it is, made by an earlier deploy; an error when
/// part of it is missing (nothing is created).
pub async fn load_base(arm: &Arm, resolved: &Resolved) -> Result<Base> {
    base(arm, resolved, false).await
}

async fn base(arm: &Arm, resolved: &Resolved, create: bool) -> Result<Base> {
    let s = &resolved.settings;
    let subscription = s.subscription.as_deref().unwrap_or_default();
    let group = s.resource_group.as_deref().unwrap_or_default();
    let location = s.location.as_deref().unwrap_or_default();
    let tags = json!({"nubo-service": resolved.service, "nubo-target": resolved.target});
    let rg = format!("/subscriptions/{subscription}/resourcegroups/{group}");

    // The resource group: checked, made (and marked as nubo's) when absent.
    let what = format!("resource group {group}");
    let exists = arm
        .send(&what, Method::HEAD, &arm.url(&q(&rg, RESOURCES)), None)
        .await?;
    match exists.status {
        204 => {}
        404 if !create => return Err(missing(&what)),
        404 => {
            arm.call(
                &format!("create {what}"),
                Method::PUT,
                &q(&rg, RESOURCES),
                Some(&json!({"location": location, "tags": {"nubo-created": "true"}})),
            )
            .await?;
        }
        _ => return Err(super::arm::error(&what, &exists)),
    }
    let provider = |kind: &str, name: &str| {
        format!("/subscriptions/{subscription}/resourceGroups/{group}/providers/{kind}/{name}")
    };

    // Storage: the account, its key, the releases container.
    let account = storage_account_name(resolved);
    let account_path = provider("Microsoft.Storage/storageAccounts", &account);
    let made = create_if_missing(
        arm,
        &format!("storage account {account}"),
        &q(&account_path, STORAGE),
        &json!({
            "location": location,
            "sku": {"name": "Standard_LRS"},
            "kind": "StorageV2",
            "tags": tags,
            "properties": {"minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": false},
        }),
        create,
    )
    .await?;
    // The blob endpoint as ARM states it (sovereign clouds, emulators).
    let props = match made["properties"]["primaryEndpoints"]["blob"].as_str() {
        Some(_) => made,
        None => read(
            arm,
            &format!("storage account {account}"),
            &q(&account_path, STORAGE),
        )
        .await?
        .unwrap_or_default(),
    };
    let blob_endpoint = props["properties"]["primaryEndpoints"]["blob"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("https://{account}.blob.core.windows.net/"));
    let keys = arm
        .call(
            &format!("list the keys of storage account {account}"),
            Method::POST,
            &q(&format!("{account_path}/listKeys"), STORAGE),
            None,
        )
        .await?;
    let key = keys.body["keys"]
        .as_array()
        .and_then(|k| {
            k.iter()
                .find(|k| {
                    k["permissions"]
                        .as_str()
                        .is_some_and(|p| p.eq_ignore_ascii_case("full"))
                })
                .or(k.first())
        })
        .and_then(|k| k["value"].as_str())
        .ok_or_else(|| ProviderError::new(format!("storage account {account} listed no key")))?
        .to_owned();
    // The plan, then one app per runtime with its staging slot.
    let plan_name = format!("{}-{}-plan", resolved.service, resolved.target);
    let plan = provider("Microsoft.Web/serverfarms", &plan_name);
    let found = create_if_missing(
        arm,
        &format!("plan {plan_name}"),
        &q(&plan, WEB),
        &json!({
            "location": location,
            "kind": "functionapp",
            "sku": {"name": "Y1", "tier": "Dynamic"},
            "properties": {"reserved": true},
            "tags": tags,
        }),
        create,
    )
    .await?;
    refuse_flex(&plan_name, &found)?;
    let connection = format!(
        "DefaultEndpointsProtocol=https;AccountName={account};AccountKey={key};EndpointSuffix=core.windows.net"
    );
    let call_key: String = {
        let h = Sha256::digest(format!("nubo.call:{key}").as_bytes());
        h.iter().map(|b| format!("{b:02x}")).collect()
    };
    let spec = crate::provider::spec::get(crate::manifest::ProviderKind::Azure);
    let mut languages: BTreeMap<String, (Language, String)> = BTreeMap::new();
    for f in resolved.functions.values() {
        let app = app_names(resolved)[&f.name].clone();
        let fx = spec
            .runtimes
            .get(&f.runtime)
            .cloned()
            .unwrap_or_else(|| f.runtime.as_str().to_owned());
        languages.entry(app).or_insert((f.runtime.language(), fx));
    }
    let mut apps = Vec::new();
    for (app, (language, fx)) in languages {
        let worker = match language {
            Language::Node => "node",
            Language::Python => "python",
            Language::Binary => "custom",
        };
        let settings = json!([
            {"name": "FUNCTIONS_EXTENSION_VERSION", "value": "~4"},
            {"name": "FUNCTIONS_WORKER_RUNTIME", "value": worker},
            {"name": "AzureWebJobsStorage", "value": connection},
            {"name": "NUBO_CALL_KEY", "value": call_key},
        ]);
        let site = provider("Microsoft.Web/sites", &app);
        let body = |slot: bool| {
            let mut b = json!({
                "location": location,
                "kind": "functionapp,linux",
                "tags": tags,
                "properties": {
                    "serverFarmId": plan,
                    "httpsOnly": true,
                    "siteConfig": {"linuxFxVersion": fx, "appSettings": settings, "http20Enabled": true},
                },
            });
            if slot {
                b["properties"]
                    .as_object_mut()
                    .expect("an object")
                    .remove("httpsOnly");
            }
            b
        };
        let made = create_if_missing(
            arm,
            &format!("Function App {app}"),
            &q(&site, WEB),
            &body(false),
            create,
        )
        .await?;
        let slot = create_if_missing(
            arm,
            &format!("slot {SLOT} of {app}"),
            &q(&format!("{site}/slots/{SLOT}"), WEB),
            &body(true),
            create,
        )
        .await?;
        let host = |v: &Value, fallback: String| {
            v["properties"]["defaultHostName"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or(fallback)
        };
        apps.push(AppBase {
            host: host(&made, format!("{app}.azurewebsites.net")),
            staging_host: host(&slot, format!("{app}-{SLOT}.azurewebsites.net")),
            app,
            id: site,
            language,
        });
    }
    Ok(Base {
        storage_account: account,
        key,
        blob_endpoint,
        apps,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn flex_consumption_plans_are_refused() {
        let flex = serde_json::json!({"sku": {"name": "FC1", "tier": "FlexConsumption"}});
        let err = super::refuse_flex("shop-aprod-plan", &flex).unwrap_err();
        assert!(err.message.contains("no deployment slots"), "{err}");
        let y1 = serde_json::json!({"sku": {"name": "Y1", "tier": "Dynamic"}});
        assert!(super::refuse_flex("shop-aprod-plan", &y1).is_ok());
    }

    #[test]
    fn storage_account_names_fit_azures_rule() {
        let name = format!("nubo{}", "0a".repeat(10));
        assert_eq!(name.len(), 24);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }
}
