//! A spec-checked fake of the Azure services an Azure Functions backend for
//! nubo talks to: Azure Resource Manager (ARM), Entra ID's token endpoint,
//! Kudu (the SCM site) and, as far as it can be faked, the function apps'
//! own hosts. It is the Azure counterpart of `gcp_fake.rs`.
//!
//! Include it from a test file with
//! `#[path = "support/azure_fake.rs"] mod azure_fake;`; it brings its own
//! copies of the OpenAPI validator (`azure_fake::azure_openapi`) and of the
//! loopback HTTPS server (`azure_fake::azure_https`).
//!
//! One HTTPS server ([`Fake::url`], certificate signed by
//! [`azure_https::ca_pem`]) answers for everything, told apart by `Host` and
//! path, so a client pointed at it (or resolving Azure's host names to
//! [`Fake::addr`], which the certificate also covers) reaches all of them:
//!
//! | `Host`                                   | path                                  | service |
//! |------------------------------------------|---------------------------------------|---------|
//! | `{site}[-{slot}].scm.azurewebsites.net`  | `/api/zipdeploy`, `/api/publish`, `/api/deployments/…` | Kudu (`azure_kudu.rs`) |
//! | `{site}[-{slot}].azurewebsites.net`      | any                                   | the function app's host: canned answers ([`Fake::answer`]) |
//! | anything else                            | `/{tenant}/oauth2/v2.0/token`, `/{tenant}/v2.0/.well-known/openid-configuration` | Entra ID (`azure_entra.rs`) |
//! | anything else                            | `/subscriptions/…`, `/providers/…`    | ARM: Microsoft.Resources, Microsoft.Storage, Microsoft.Web |
//!
//! What makes it more than a mock:
//!
//! - **Every ARM request is checked** against Microsoft's OpenAPI documents
//!   (`../shared/specs/azure/specification`, loaded once per test binary)
//!   with [`azure_openapi::Api::validate_request`]: a wrong path,
//!   `api-version`, query parameter or JSON field is answered 400 as ARM
//!   would (`InvalidRequestContent`, `MissingApiVersionParameter`,
//!   `InvalidApiVersionParameter`; 404 `InvalidResourceType` for a path no
//!   operation has) and recorded in [`Fake::violations`]. So is every
//!   request to an operation the fake does not implement (501), so that a
//!   test cannot pass by accident.
//! - **Every ARM answer is checked** too ([`azure_openapi::Api::validate_response`]
//!   for the documented statuses, ARM's `CloudError` shape for the errors
//!   ARM itself may send on any operation, and the final result of a
//!   long-running operation against the responses of the operation that
//!   started it), and a mistake of the fake shows up in [`Fake::violations`]
//!   as well. Where the documents and the live service disagree, the fake
//!   follows the documents (storage keys' `permissions` is `Full`, as
//!   `storage.json` enumerates it, where the service writes `FULL`).
//! - **Auth is real enough**: ARM and Kudu take bearer tokens from the Entra
//!   ID token endpoint (client-credentials grant with a secret or a client
//!   assertion, for the service principal of [`Fake::service_principal`]);
//!   ARM checks the token's audience; [`Fake::expire_tokens`] makes them all
//!   expire. Kudu also takes the site's Basic publishing credentials.
//! - **State behaves like the services**: resource groups own what is in
//!   them, storage accounts are created asynchronously and have globally
//!   unique names, a plan's SKU decides how many deployment slots its apps
//!   may have, slot swaps exchange content and settings (not sticky ones)
//!   atomically when their operation completes, Kudu deployments are
//!   asynchronous and refuse to run while `WEBSITE_RUN_FROM_PACKAGE` is a
//!   URL. Every id and name compares case-insensitively, as in ARM.
//! - **Long-running operations follow ARM's async pattern**
//!   (<https://learn.microsoft.com/azure/azure-resource-manager/management/async-operations>):
//!   202 with `Azure-AsyncOperation` and/or `Location` and `Retry-After`
//!   (the seconds left, rounded up, or [`Fake::set_retry_after`]); the
//!   first answers `{"status": "InProgress" | "Succeeded" | "Failed",
//!   "error": …}`, the second 202 until done, then the final result (or the
//!   error with its status). Storage answers `Location` only, as it does
//!   (`…/asyncoperations/{id}?monitor=true`), resource-group deletion
//!   `/subscriptions/{id}/operationresults/{id}`, App Service both. They
//!   finish after [`Fake::set_operation_delay`] (100 ms by default); a
//!   client polling a URL the fake never handed out is a violation.
//! - **Faults on demand**: [`Fake::fail_next`] answers 429 (with ARM's
//!   throttling error and `Retry-After`), 503, … ; [`Fake::fail_next_swap`]
//!   makes a swap's operation fail and change nothing.
//!
//! Every ARM answer carries `x-ms-request-id` and
//! `x-ms-correlation-request-id` (the client's, when it sent one).
//!
//! Documented limits:
//!
//! - No Azure Functions host runs here. Requests to a function app's own
//!   host (`{site}.azurewebsites.net`) are answered from canned replies
//!   ([`Fake::answer`], default App Service's 404 page) and recorded with
//!   the content the side served at that moment ([`Fake::served`]): a test
//!   can check *what would have run*, not that it runs.
//! - ARM: only the operations listed in [`IMPLEMENTED`] are implemented;
//!   locations are not checked against a region list; connection strings,
//!   identities, role assignments, VNets, `cloningInfo` and
//!   `basicPublishingCredentialsPolicies` are not modelled (a slot starts
//!   with no app settings). `$expand` is accepted and ignored.
//! - Error texts are Microsoft's where the docs, the specs or public issue
//!   threads give them (named in the code); elsewhere they are the fake's
//!   own wording with ARM's usual error codes.
//! - The `Azure-AsyncOperation` status document and Kudu's JSON are not in
//!   the loaded documents: the fake builds them to the shapes Microsoft
//!   documents, and nothing checks them.
//! - Kudu: only zip packages (`zipdeploy`, OneDeploy `type=zip`) in the
//!   request body; a `packageUri` body and OneDeploy's other types answer
//!   501 and record a violation. The zip is only checked to be a zip. A
//!   request to the SCM host of an app that does not exist answers App
//!   Service's 404 page (it is not a violation: a deleted app is real).
//! - Entra ID: client assertions are checked for shape, claims and time,
//!   not for their signature (no certificate is registered).

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

#[path = "azure_https.rs"]
pub mod azure_https;
#[path = "azure_openapi.rs"]
pub mod azure_openapi;
#[path = "azure_entra.rs"]
mod entra;
#[path = "azure_kudu.rs"]
mod kudu;

#[allow(unused_imports)]
pub use kudu::Served;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State as Shared};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use azure_https::Https;
use azure_openapi::{Api, Direction};
use regex::Regex;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

/// The Entra ID tenant of [`Fake::service_principal`].
pub const TENANT_ID: &str = "7e57c0de-0000-4000-8000-00000000a001";
/// The application (client) id of the fake's service principal.
pub const CLIENT_ID: &str = "7e57c0de-0000-4000-8000-00000000a002";
/// The service principal's client secret. It protects nothing.
pub const CLIENT_SECRET: &str = "nubo-test~fake-secret.0123456789abcdefghij";
/// The service principal's object id (the `oid` of its tokens).
pub const OBJECT_ID: &str = "7e57c0de-0000-4000-8000-00000000a003";
/// The one subscription the fake has; any other is `SubscriptionNotFound`.
pub const SUBSCRIPTION_ID: &str = "7e57c0de-0000-4000-8000-00000000a004";

/// Operation ids [`Fake::calls`] and [`Fake::fail_next`] use for what the
/// OpenAPI documents do not describe.
pub const TOKEN_OPERATION: &str = "EntraId_Token";
pub const OPENID_OPERATION: &str = "EntraId_OpenIdConfiguration";
/// A GET of an `Azure-AsyncOperation` URL the fake handed out.
pub const OPERATION_STATUS: &str = "ARM_OperationStatus";
/// A GET of a `Location` URL the fake handed out.
pub const OPERATION_RESULT: &str = "ARM_OperationResult";
pub const KUDU_ZIPDEPLOY: &str = "Kudu_ZipDeploy";
pub const KUDU_ONEDEPLOY: &str = "Kudu_OneDeploy";
pub const KUDU_DEPLOYMENT: &str = "Kudu_GetDeployment";
pub const KUDU_DEPLOYMENTS: &str = "Kudu_ListDeployments";
/// A request to a function app's own host.
pub const SITE_HTTP: &str = "Site_Http";

/// The ARM operations the fake implements; every other documented one
/// answers 501 and records a violation.
pub const IMPLEMENTED: [&str; 35] = [
    "ResourceGroups_CreateOrUpdate",
    "ResourceGroups_Get",
    "ResourceGroups_CheckExistence",
    "ResourceGroups_Delete",
    "StorageAccounts_Create",
    "StorageAccounts_GetProperties",
    "StorageAccounts_ListKeys",
    "StorageAccounts_Delete",
    "BlobContainers_Create",
    "BlobContainers_Get",
    "AppServicePlans_CreateOrUpdate",
    "AppServicePlans_Get",
    "AppServicePlans_Delete",
    "WebApps_CreateOrUpdate",
    "WebApps_Get",
    "WebApps_Delete",
    "WebApps_CreateOrUpdateSlot",
    "WebApps_GetSlot",
    "WebApps_DeleteSlot",
    "WebApps_ListSlots",
    "WebApps_UpdateApplicationSettings",
    "WebApps_UpdateApplicationSettingsSlot",
    "WebApps_ListApplicationSettings",
    "WebApps_ListApplicationSettingsSlot",
    "WebApps_UpdateSlotConfigurationNames",
    "WebApps_ListSlotConfigurationNames",
    "WebApps_SyncFunctionTriggers",
    "WebApps_SyncFunctionTriggersSlot",
    "WebApps_SwapSlotWithProduction",
    "WebApps_SwapSlotSlot",
    "StorageAccounts_CheckNameAvailability",
    "WebApps_ListHostKeys",
    "WebApps_ListHostKeysSlot",
    "WebApps_GetConfiguration",
    "WebApps_UpdateConfiguration",
];

/// The largest request body the fake reads (a generous package size).
const MAX_BODY: usize = 512 << 20;
/// Audiences ARM accepts in a token (its error message lists them so).
const ARM_AUDIENCES: [&str; 4] = [
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
    "https://management.azure.com/",
    "https://management.azure.com",
];

/// The OpenAPI documents the fake serves, loaded once per test binary.
pub static APIS: LazyLock<Api> = LazyLock::new(|| {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/specs/azure/specification");
    let documents = [
        "web/resource-manager/Microsoft.Web/stable/2023-12-01/WebApps.json",
        "web/resource-manager/Microsoft.Web/stable/2023-12-01/AppServicePlans.json",
        "storage/resource-manager/Microsoft.Storage/stable/2023-05-01/storage.json",
        "storage/resource-manager/Microsoft.Storage/stable/2023-05-01/blob.json",
        "resources/resource-manager/Microsoft.Resources/stable/2024-07-01/resources.json",
    ];
    let paths: Vec<_> = documents
        .iter()
        .map(|d| {
            let path = dir.join(d);
            assert!(
                path.is_file(),
                "the fake Azure needs the OpenAPI document {}",
                path.display()
            );
            path
        })
        .collect();
    Api::load(paths)
});

/// What a side of a site (production or a slot) serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Nothing deployed and no `WEBSITE_RUN_FROM_PACKAGE` URL.
    Nothing,
    /// The zip package last deployed through Kudu.
    Package(Vec<u8>),
    /// `WEBSITE_RUN_FROM_PACKAGE` is this URL, which wins over any package.
    Url(String),
}

/// The running fake; dropping it stops the server.
pub struct Fake {
    https: Https,
    addr: SocketAddr,
    shared: Arc<Mutex<State>>,
}

impl Fake {
    /// Starts the server on `127.0.0.1` with a free port, on its own thread
    /// and runtime. Panics if the OpenAPI documents are missing.
    pub fn start() -> Fake {
        LazyLock::force(&APIS);
        let shared = Arc::new(Mutex::new(State::new()));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let https = Https::serve(app);
        let addr: SocketAddr = https
            .url
            .strip_prefix("https://")
            .and_then(|a| a.parse().ok())
            .expect("the HTTPS server's address");
        lock(&shared).url = https.url.clone();
        Fake {
            https,
            addr,
            shared,
        }
    }

    /// `https://127.0.0.1:PORT`: the root of ARM and of Entra ID, and where
    /// Kudu and the function hosts are reached with their `Host` header.
    pub fn url(&self) -> &str {
        &self.https.url
    }

    /// The server's address, for a client that resolves Azure's host names
    /// (`management.azure.com`, `{site}.scm.azurewebsites.net`, ...) to it
    /// (`reqwest::ClientBuilder::resolve`); the certificate covers them.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `(tenant, client id, client secret)` of the service principal the
    /// token endpoint knows.
    pub fn service_principal() -> (&'static str, &'static str, &'static str) {
        (TENANT_ID, CLIENT_ID, CLIENT_SECRET)
    }

    /// The token endpoint: `{url}/{tenant}/oauth2/v2.0/token`.
    pub fn token_endpoint(&self) -> String {
        format!("{}/{TENANT_ID}/oauth2/v2.0/token", self.url())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.shared)
    }

    /// Every request so far, in order: (operation id, `METHOD /path`). The
    /// id is the OpenAPI `operationId` (`WebApps_Get`), one of the constants
    /// of this module for the rest, or `?` for a path nothing serves. Kudu
    /// and function-host requests show their host: `POST
    /// app.scm.azurewebsites.net/api/publish`.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.lock().calls.clone()
    }

    /// Every violation so far, one message each, prefixed with the request
    /// (`PUT /subscriptions/...: ...`) or, for the fake's own answers, with
    /// `response of <operation id> to ...`.
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// Makes every access token issued so far expired.
    pub fn expire_tokens(&self) {
        for token in self.lock().tokens.values_mut() {
            token.expired = true;
        }
    }

    /// Issues a valid ARM access token directly, without the token request.
    pub fn issue_token(&self) -> String {
        self.lock()
            .issue_token(CLIENT_ID, "https://management.azure.com/")
    }

    /// Trusts client assertions issued by `issuer` for `subject` (workload
    /// identity federation, e.g. GitHub Actions' OIDC tokens, whose audience
    /// must then be `api://AzureADTokenExchange`).
    pub fn trust_federated_identity(&self, issuer: &str, subject: &str) {
        self.lock()
            .federated
            .push((issuer.to_owned(), subject.to_owned()));
    }

    /// Answers the next `times` calls of `operation_id` (an OpenAPI
    /// `operationId` such as `StorageAccounts_Create`, or one of this
    /// module's constants) with `status` and the service's error (429
    /// `TooManyRequests` with ARM's throttling message, 503
    /// `ServiceUnavailable`, ...), with `Retry-After: <secs>` when given.
    /// Calls are still validated and authenticated first.
    pub fn fail_next(
        &self,
        operation_id: &str,
        status: u16,
        times: usize,
        retry_after_secs: Option<u64>,
    ) {
        self.lock().faults.push(Fault {
            operation_id: operation_id.to_owned(),
            status,
            remaining: times,
            retry_after: retry_after_secs,
        });
    }

    /// Makes the next slot swap's operation end `Failed` with an ARM error,
    /// leaving both sides exactly as they were.
    pub fn fail_next_swap(&self) {
        self.lock().fail_swaps += 1;
    }

    /// Makes the next swap of `site` (any of its slots) fail as
    /// [`Fake::fail_next_swap`] does; other sites swap normally.
    pub fn fail_next_swap_of(&self, site: &str) {
        self.lock().fail_swaps_of.push(site.to_owned());
    }

    /// How long long-running operations and asynchronous Kudu deployments
    /// started from now take (100 ms by default).
    pub fn set_operation_delay(&self, delay: Duration) {
        self.lock().operation_delay = delay;
    }

    /// The `Retry-After` the fake sends with unfinished operations; by
    /// default the seconds left, rounded up.
    pub fn set_retry_after(&self, secs: Option<u64>) {
        self.lock().retry_after = secs;
    }

    /// Makes `WebApps_CreateOrUpdate`, `WebApps_CreateOrUpdateSlot` or
    /// `AppServicePlans_CreateOrUpdate` answer 202 and finish through an
    /// operation, as their documents allow; by default they answer 200
    /// synchronously, as App Service usually does.
    pub fn create_async(&self, operation_id: &str) {
        self.lock().async_creates.push(operation_id.to_owned());
    }

    /// The key `StorageAccounts_ListKeys` answers first (`key1`) for
    /// `account`, e.g. Azurite's well-known key; otherwise a random one.
    pub fn set_storage_key(&self, account: &str, key: &str) {
        self.lock()
            .storage_keys
            .insert(account.to_ascii_lowercase(), key.to_owned());
    }

    /// The blob endpoint `StorageAccounts_GetProperties` reports for
    /// `account` (`primaryEndpoints.blob`), e.g. Azurite's
    /// `http://127.0.0.1:PORT/{account}`; otherwise Azure's own.
    pub fn set_blob_endpoint(&self, account: &str, url: &str) {
        self.lock()
            .blob_endpoints
            .insert(account.to_ascii_lowercase(), url.to_owned());
    }

    /// Completed slot swaps.
    pub fn swaps(&self) -> usize {
        let mut st = self.lock();
        st.settle();
        st.swaps
    }

    /// A resource as its GET would answer, by ARM id (any case): a resource
    /// group, storage account, blob container, plan, site or slot.
    pub fn resource(&self, id: &str) -> Option<Value> {
        let mut st = self.lock();
        st.settle();
        st.resource_by_id(id)
    }

    /// The app settings of a site (`slot` `None`) or one of its slots.
    pub fn app_settings(&self, site: &str, slot: Option<&str>) -> Option<BTreeMap<String, String>> {
        let mut st = self.lock();
        st.settle();
        st.side_by_name(site, slot).map(|s| s.settings.clone())
    }

    /// The app setting names marked sticky to their slot.
    pub fn sticky_settings(&self, site: &str) -> Vec<String> {
        let st = self.lock();
        st.site_by_name(site)
            .map(|s| s.sticky_app.clone())
            .unwrap_or_default()
    }

    /// The zip package last deployed through Kudu to a site or slot (it
    /// moves with a swap, as the content does).
    pub fn package(&self, site: &str, slot: Option<&str>) -> Option<Vec<u8>> {
        let mut st = self.lock();
        st.settle();
        st.side_by_name(site, slot)
            .and_then(|s| s.content.package.clone())
    }

    /// What a site or slot serves: the `WEBSITE_RUN_FROM_PACKAGE` URL if
    /// that setting is one, else the deployed package.
    pub fn content(&self, site: &str, slot: Option<&str>) -> Content {
        let mut st = self.lock();
        st.settle();
        st.side_by_name(site, slot)
            .map_or(Content::Nothing, Side::serving)
    }

    /// The Basic publishing credentials of a site or slot (`$site` or
    /// `$site__slot`, and a password), which Kudu accepts.
    pub fn publishing_credentials(
        &self,
        site: &str,
        slot: Option<&str>,
    ) -> Option<(String, String)> {
        let st = self.lock();
        let s = st.site_by_name(site)?;
        let side = st.side_by_name(site, slot)?;
        let user = match slot {
            None => format!("${}", s.name),
            Some(_) => format!("${}__{}", s.name, side.slot.as_deref().unwrap_or_default()),
        };
        Some((user, side.password.clone()))
    }

    /// How many times `SyncFunctionTriggers` ran for a site or slot.
    /// The host master key of a side (what `WebApps_ListHostKeys[Slot]`
    /// answers), for checking requests to the function app's host.
    pub fn host_key(&self, site: &str, slot: Option<&str>) -> Option<String> {
        let st = self.lock();
        st.side_by_name(site, slot).map(master_key)
    }

    pub fn trigger_syncs(&self, site: &str, slot: Option<&str>) -> usize {
        let st = self.lock();
        st.side_by_name(site, slot).map_or(0, |s| s.trigger_syncs)
    }

    /// The Kudu deployments of a site or slot, newest first, as
    /// `GET /api/deployments` answers them.
    pub fn deployments(&self, site: &str, slot: Option<&str>) -> Vec<Value> {
        let mut st = self.lock();
        st.settle();
        let Some(side) = st.side_by_name(site, slot) else {
            return Vec::new();
        };
        let host = kudu::scm_host(site, slot);
        side.content
            .deployments
            .iter()
            .rev()
            .map(|d| d.json(&host, site))
            .collect()
    }

    /// Answers requests to function hosts whose `host/path` matches
    /// `host_pattern` (a host, optionally followed by a path prefix; `*`
    /// matches any run of characters, e.g. `*.azurewebsites.net/api/`)
    /// with `status` and `body`. The latest matching pattern wins; with
    /// none, App Service's 404 page.
    pub fn answer(&self, host_pattern: &str, status: u16, body: &str) {
        self.lock().answers.push(kudu::Canned {
            pattern: host_pattern.to_ascii_lowercase(),
            status,
            body: body.to_owned(),
        });
    }

    /// Every request to a function host so far, in order.
    pub fn served(&self) -> Vec<Served> {
        self.lock().served.clone()
    }
}

fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Fault {
    operation_id: String,
    status: u16,
    remaining: usize,
    retry_after: Option<u64>,
}

/// An access token the token endpoint issued.
struct Token {
    client_id: String,
    audience: String,
    expires: SystemTime,
    expired: bool,
}

struct Group {
    name: String,
    location: String,
    tags: Option<Value>,
    managed_by: Option<String>,
    deleting: bool,
}

struct Account {
    group: String,
    name: String,
    location: String,
    sku: String,
    kind: String,
    tags: Option<Value>,
    /// The writable properties given at creation.
    properties: Map<String, Value>,
    creating: bool,
    created: String,
    keys: [String; 2],
    containers: BTreeMap<String, Container>,
}

struct Container {
    name: String,
    properties: Map<String, Value>,
    etag: String,
    modified: String,
}

struct Plan {
    group: String,
    name: String,
    location: String,
    kind: Option<String>,
    tags: Option<Value>,
    sku: Map<String, Value>,
    properties: Map<String, Value>,
    provisioning: bool,
}

impl Plan {
    fn sku_name(&self) -> &str {
        self.sku.get("name").and_then(Value::as_str).unwrap_or("")
    }

    fn tier(&self) -> &str {
        self.sku.get("tier").and_then(Value::as_str).unwrap_or("")
    }

    fn is_flex(&self) -> bool {
        self.sku_name().eq_ignore_ascii_case("FC1")
            || self.tier().eq_ignore_ascii_case("FlexConsumption")
    }
}

struct Site {
    group: String,
    name: String,
    /// Key (lowercase id) of the plan.
    plan: String,
    production: Side,
    slots: BTreeMap<String, Side>,
    sticky_app: Vec<String>,
    sticky_connection: Vec<String>,
    sticky_storage: Vec<String>,
    /// The id of the swap operation under way, if any.
    swapping: Option<String>,
    /// `slotSwapStatus` of the last completed swap.
    last_swap: Option<Value>,
    /// `siteConfig.experiments.rampUpRules` of production: a share of the
    /// production host's requests served by a slot ("testing in
    /// production"). A property of the site's routing, so a swap keeps it.
    ramp_up_rules: Vec<Value>,
    /// Requests to the production host so far (the routing's counter).
    routed: u64,
}

impl Site {
    fn side(&self, slot: Option<&str>) -> Option<&Side> {
        match slot {
            None => Some(&self.production),
            Some(s) => self.slots.get(&s.to_ascii_lowercase()),
        }
    }

    fn side_mut(&mut self, slot: Option<&str>) -> Option<&mut Side> {
        match slot {
            None => Some(&mut self.production),
            Some(s) => self.slots.get_mut(&s.to_ascii_lowercase()),
        }
    }

    /// Whether an app setting stays with its slot in a swap: the sticky
    /// names, and those ending in `_EXTENSION_VERSION` ("Settings ending
    /// with the suffix _EXTENSION_VERSION" are not swapped:
    /// <https://learn.microsoft.com/azure/app-service/deploy-staging-slots#which-settings-are-swapped>).
    fn sticks(&self, name: &str) -> bool {
        self.sticky_app.iter().any(|n| n.eq_ignore_ascii_case(name))
            || name.to_ascii_uppercase().ends_with("_EXTENSION_VERSION")
    }
}

/// Production or one slot of a site.
struct Side {
    /// The slot's name as created; `None` for production.
    slot: Option<String>,
    location: String,
    kind: Option<String>,
    tags: Option<Value>,
    /// Writable `properties` given by the last PUT, less `siteConfig`.
    properties: Map<String, Value>,
    settings: BTreeMap<String, String>,
    content: SideContent,
    trigger_syncs: usize,
    password: String,
    modified: String,
}

/// A side's host master key (the Functions host keeps one per slot; a swap
/// does not move it).
fn master_key(side: &Side) -> String {
    let h = Sha256::digest(format!("master:{}", side.password).as_bytes());
    h.iter().take(20).map(|b| format!("{b:02x}")).collect()
}

/// What moves with a swap besides the non-sticky settings: the deployed
/// code and the swapped parts of the site configuration.
struct SideContent {
    package: Option<Vec<u8>>,
    deployments: Vec<kudu::Deployment>,
    site_config: Map<String, Value>,
}

impl Side {
    fn serving(&self) -> Content {
        let url = self
            .settings
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("WEBSITE_RUN_FROM_PACKAGE"))
            .map(|(_, v)| v.trim())
            .filter(|v| {
                let v = v.to_ascii_lowercase();
                v.starts_with("https://") || v.starts_with("http://")
            });
        match (url, &self.content.package) {
            (Some(url), _) => Content::Url(url.to_owned()),
            (None, Some(p)) => Content::Package(p.clone()),
            (None, None) => Content::Nothing,
        }
    }
}

/// Site configuration that stays with its slot in a swap ("When you swap
/// slots, these settings aren't swapped", same page as [`Site::sticks`]);
/// those of [`STAYS_UNLESS_OVERRIDDEN`] swap when every side sets
/// `WEBSITE_OVERRIDE_PRESERVE_DEFAULT_STICKY_SLOT_SETTINGS` to `0`/`false`.
const STAYS: [&str; 4] = [
    "vnetName",
    "vnetRouteAllEnabled",
    "scmType",
    "publishingUsername",
];
const STAYS_UNLESS_OVERRIDDEN: [&str; 14] = [
    "alwaysOn",
    "cors",
    "ipSecurityRestrictions",
    "ipSecurityRestrictionsDefaultAction",
    "scmIpSecurityRestrictions",
    "scmIpSecurityRestrictionsDefaultAction",
    "scmIpSecurityRestrictionsUseMain",
    "minTlsVersion",
    "scmMinTlsVersion",
    "minTlsCipherSuite",
    "http20Enabled",
    "httpLoggingEnabled",
    "detailedErrorLoggingEnabled",
    "requestTracingEnabled",
];

/// A long-running ARM operation.
struct Operation {
    id: String,
    /// The ARM operation that started it, whose documented responses its
    /// final result must match.
    operation_id: String,
    /// Paths (lowercase) of its `Azure-AsyncOperation` and `Location` URLs.
    status_path: Option<String>,
    result_path: String,
    api_version: String,
    started: String,
    ended: Option<String>,
    ready_at: Instant,
    job: Job,
    /// Set when done: the `Location` URL's final answer, or the error.
    outcome: Option<Result<(u16, Option<Value>), ArmError>>,
}

#[derive(Clone)]
enum Job {
    /// A storage account finishes provisioning; the result is the account.
    CreateAccount {
        account: String,
    },
    /// A plan or site created with [`Fake::create_async`] is ready.
    Ready {
        id: String,
    },
    DeleteGroup {
        group: String,
    },
    /// Production (`None`) or a slot swaps with another side.
    Swap {
        site: String,
        source: Option<String>,
        target: Option<String>,
        fail: bool,
    },
}

/// An ARM error answer.
#[derive(Debug, Clone)]
struct ArmError {
    status: u16,
    code: String,
    message: String,
    retry_after: Option<u64>,
}

impl ArmError {
    fn new(status: u16, code: &str, message: impl Into<String>) -> ArmError {
        ArmError {
            status,
            code: code.to_owned(),
            message: message.into(),
            retry_after: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> ArmError {
        ArmError::new(400, "BadRequest", message)
    }

    fn conflict(message: impl Into<String>) -> ArmError {
        ArmError::new(409, "Conflict", message)
    }

    fn body(&self) -> Value {
        json!({"error": {"code": self.code, "message": self.message}})
    }
}

/// What an ARM handler answers.
struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(String, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            headers: Vec::new(),
        }
    }
}

/// The parts of a request the handlers read.
struct Incoming {
    method: String,
    /// The raw (percent-encoded) path.
    path: String,
    /// Decoded query pairs, in order.
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
    /// The `Host` header as sent (with its port), for absolute URLs.
    authority: String,
    /// The host, lowercase, without port.
    host: String,
    /// Path parameters of the matched ARM operation.
    params: BTreeMap<String, String>,
}

impl Incoming {
    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn param(&self, name: &str) -> &str {
        self.params.get(name).map_or("", String::as_str)
    }

    fn header(&self, name: impl header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn header_pairs(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect()
    }

    /// The body as JSON (`{}` when empty or not JSON; the validator has
    /// already recorded a body that does not parse).
    fn json(&self) -> Value {
        if self.body.is_empty() {
            return json!({});
        }
        serde_json::from_slice(&self.body).unwrap_or_else(|_| json!({}))
    }

    /// `https://{Host}`: where the client reached the fake.
    fn base(&self) -> String {
        format!("https://{}", self.authority)
    }

    fn describe(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn describe_with_host(&self) -> String {
        format!("{} {}{}", self.method, self.host, self.path)
    }
}

async fn handle(Shared(shared): Shared<Arc<Mutex<State>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return text_response(413, &format!("request body too large or unreadable: {e}"));
        }
    };
    let authority = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let host = strip_port(&authority).to_ascii_lowercase();
    let mut req = Incoming {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parse_query(parts.uri.query().unwrap_or("")),
        headers: parts.headers,
        body,
        authority,
        host,
        params: BTreeMap::new(),
    };
    if let Some(prefix) = req.host.strip_suffix(".scm.azurewebsites.net") {
        let prefix = prefix.to_owned();
        return kudu::handle(&mut lock(&shared), &req, &prefix);
    }
    if let Some(prefix) = req.host.strip_suffix(".azurewebsites.net") {
        let prefix = prefix.to_owned();
        return kudu::serve_site(&mut lock(&shared), &req, &prefix);
    }
    if let Some(response) = entra::handle(&mut lock(&shared), &req) {
        return response;
    }
    let mut st = lock(&shared);
    st.settle();
    let response = st.arm(&mut req);
    with_request_ids(response, &req)
}

/// `host` of `host:port` (and of `[v6]:port`).
fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// Adds ARM's request ids: a new `x-ms-request-id`, the client's
/// `x-ms-correlation-request-id` or a new one, and the client's
/// `x-ms-client-request-id` back.
fn with_request_ids(mut response: Response, req: &Incoming) -> Response {
    let request_id = random_uuid();
    let correlation = req
        .header("x-ms-correlation-request-id")
        .map_or_else(random_uuid, str::to_owned);
    let headers = response.headers_mut();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    put("x-ms-request-id", &request_id);
    put("x-ms-correlation-request-id", &correlation);
    put(
        "x-ms-routing-request-id",
        &format!("WESTEUROPE:{}:{request_id}", compact_time()),
    );
    if let Some(client) = req.header("x-ms-client-request-id") {
        put("x-ms-client-request-id", client);
    }
    let kind = if req.method == "GET" || req.method == "HEAD" {
        "x-ms-ratelimit-remaining-subscription-reads"
    } else {
        "x-ms-ratelimit-remaining-subscription-writes"
    };
    put(kind, "11999");
    put("cache-control", "no-cache");
    response
}

impl State {
    fn new() -> State {
        State {
            url: String::new(),
            tokens: HashMap::new(),
            federated: Vec::new(),
            calls: Vec::new(),
            violations: Vec::new(),
            faults: Vec::new(),
            operation_delay: Duration::from_millis(100),
            retry_after: None,
            async_creates: Vec::new(),
            fail_swaps: 0,
            fail_swaps_of: Vec::new(),
            swaps: 0,
            groups: BTreeMap::new(),
            accounts: BTreeMap::new(),
            storage_keys: HashMap::new(),
            blob_endpoints: HashMap::new(),
            plans: BTreeMap::new(),
            sites: BTreeMap::new(),
            operations: BTreeMap::new(),
            answers: Vec::new(),
            served: Vec::new(),
        }
    }

    fn violation(&mut self, req: &Incoming, message: impl std::fmt::Display) {
        self.violations
            .push(format!("{}: {message}", req.describe()));
    }

    /// The seconds a client should wait before polling something that is
    /// ready at `ready_at`.
    fn retry_after(&self, ready_at: Instant) -> u64 {
        self.retry_after.unwrap_or_else(|| {
            let left = ready_at.saturating_duration_since(Instant::now());
            left.as_secs() + u64::from(left.subsec_nanos() > 0)
        })
    }

    /// The fault registered for `operation_id`, if one is left.
    fn take_fault(&mut self, operation_id: &str) -> Option<(u16, Option<u64>)> {
        let fault = self
            .faults
            .iter_mut()
            .find(|f| f.operation_id == operation_id && f.remaining > 0)?;
        fault.remaining -= 1;
        let taken = (fault.status, fault.retry_after);
        self.faults.retain(|f| f.remaining > 0);
        Some(taken)
    }

    /// The ARM error for an injected fault.
    fn fault_error(&self, req: &Incoming, status: u16, retry_after: Option<u64>) -> ArmError {
        let kind = if req.method == "GET" || req.method == "HEAD" {
            "read"
        } else {
            "write"
        };
        let wait = retry_after.unwrap_or(1);
        let mut e = match status {
            // ARM's throttling answer (https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling).
            429 => ArmError::new(
                429,
                "TooManyRequests",
                format!(
                    "Number of '{kind}' requests for subscription '{SUBSCRIPTION_ID}' actor \
                     '{OBJECT_ID}' exceeded. Please try again after '{wait}' seconds after \
                     additional '{wait}' requests. (injected by the fake)"
                ),
            ),
            503 => ArmError::new(
                503,
                "ServiceUnavailable",
                "The service is currently unavailable. Please try again later. (injected by the fake)",
            ),
            500 => ArmError::new(
                500,
                "InternalServerError",
                "Encountered an internal server error. (injected by the fake)",
            ),
            504 => ArmError::new(
                504,
                "GatewayTimeout",
                "The gateway did not receive a response within the specified time period. (injected by the fake)",
            ),
            409 => ArmError::conflict(
                "The request conflicts with another operation. (injected by the fake)",
            ),
            _ => ArmError::new(
                status,
                "InjectedFailure",
                format!("Injected failure {status}."),
            ),
        };
        e.retry_after = retry_after;
        e
    }

    // ----- ARM ---------------------------------------------------------------

    fn arm(&mut self, req: &mut Incoming) -> Response {
        if let Some(response) = self.poll_operation(req) {
            return response;
        }
        let headers = req.header_pairs();
        let body = (!req.body.is_empty()).then_some(&req.body[..]);
        let checked = APIS.validate_request(&req.method, &req.path, &req.query, &headers, body);
        let matched = APIS.match_request(&req.method, &req.path);
        let operation_id = match (&checked, &matched) {
            (Ok(id), _) => id.clone(),
            (Err(_), Some((op, _))) => op.id.clone(),
            (Err(_), None) => "?".to_owned(),
        };
        if let Some((_, params)) = matched {
            req.params = params;
        }
        self.calls.push((operation_id.clone(), req.describe()));
        if let Err(violations) = &checked {
            for v in violations {
                self.violation(req, v);
            }
        }
        if let Err(e) = self.authorize_arm(req) {
            return arm_error_response(&e, Some(www_authenticate(&e)));
        }
        if let Err(violations) = checked {
            let e = rejection(req, &operation_id, &violations);
            return self.finish_arm(req, &operation_id, Err(e));
        }
        if let Some(subscription) = req.params.get("subscriptionId")
            && !subscription.eq_ignore_ascii_case(SUBSCRIPTION_ID)
        {
            let e = ArmError::new(
                404,
                "SubscriptionNotFound",
                format!("The subscription '{subscription}' could not be found."),
            );
            return self.finish_arm(req, &operation_id, Err(e));
        }
        if let Some((status, retry_after)) = self.take_fault(&operation_id) {
            let e = self.fault_error(req, status, retry_after);
            return self.finish_arm(req, &operation_id, Err(e));
        }
        let outcome = self.dispatch(&operation_id, req);
        self.finish_arm(req, &operation_id, outcome)
    }

    /// Checks the bearer token as ARM does; the error says why not.
    fn authorize_arm(&self, req: &Incoming) -> Result<(), ArmError> {
        let Some(value) = req.header(header::AUTHORIZATION) else {
            return Err(ArmError::new(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            ));
        };
        let Some(token) = value.strip_prefix("Bearer ").map(str::trim) else {
            return Err(ArmError::new(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is provided in an invalid format.",
            ));
        };
        let Some(info) = self.tokens.get(token) else {
            return Err(ArmError::new(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
            ));
        };
        if info.expired || info.expires <= SystemTime::now() {
            return Err(ArmError::new(
                401,
                "ExpiredAuthenticationToken",
                format!(
                    "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                    arm_time(if info.expired {
                        SystemTime::now() - Duration::from_secs(1)
                    } else {
                        info.expires
                    }),
                    arm_time(SystemTime::now())
                ),
            ));
        }
        if !ARM_AUDIENCES.contains(&info.audience.as_str()) {
            return Err(ArmError::new(
                401,
                "InvalidAuthenticationTokenAudience",
                format!(
                    "The access token has been obtained for wrong audience or resource '{}'. It \
                     should exactly match with one of the allowed audiences {}.",
                    info.audience,
                    ARM_AUDIENCES
                        .iter()
                        .map(|a| format!("'{a}'"))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            ));
        }
        Ok(())
    }

    /// Turns a handler's outcome into the HTTP answer, checking it against
    /// the operation's documented responses first.
    fn finish_arm(
        &mut self,
        req: &Incoming,
        operation_id: &str,
        outcome: Result<Reply, ArmError>,
    ) -> Response {
        let (status, body, headers) = match outcome {
            Ok(reply) => (reply.status, reply.body, reply.headers),
            Err(e) => {
                let mut headers = Vec::new();
                if let Some(secs) = e.retry_after {
                    headers.push(("retry-after".to_owned(), secs.to_string()));
                }
                (e.status, Some(e.body()), headers)
            }
        };
        let mut problems = Vec::new();
        if operation_id != "?" {
            if status >= 400 {
                check_error_answer(operation_id, status, body.as_ref(), &mut problems);
            } else if let Err(p) =
                APIS.validate_response(operation_id, status, body.as_ref().unwrap_or(&Value::Null))
            {
                problems.extend(p);
            }
        }
        for p in problems {
            self.violations.push(format!(
                "response of {operation_id} to {}: {p}",
                req.describe()
            ));
        }
        let mut response = match &body {
            // HEAD answers carry no body, whatever the status.
            Some(body) if req.method != "HEAD" => json_response(status, body),
            _ => empty_response(status),
        };
        for (name, value) in headers {
            if let (Ok(n), Ok(v)) = (
                header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                response.headers_mut().insert(n, v);
            }
        }
        response
    }

    fn dispatch(&mut self, operation_id: &str, req: &Incoming) -> Result<Reply, ArmError> {
        match operation_id {
            "ResourceGroups_CreateOrUpdate" => self.groups_put(req),
            "ResourceGroups_Get" => self.groups_get(req),
            "ResourceGroups_CheckExistence" => Ok(Reply::empty(
                if self
                    .groups
                    .contains_key(&req.param("resourceGroupName").to_ascii_lowercase())
                {
                    204
                } else {
                    404
                },
            )),
            "ResourceGroups_Delete" => self.groups_delete(req),
            "StorageAccounts_CheckNameAvailability" => Ok(self.accounts_check_name(req)),
            "StorageAccounts_Create" => self.accounts_create(req),
            "StorageAccounts_GetProperties" => {
                let key = self.account_at(req)?;
                Ok(Reply::json(200, self.account_json(&key)))
            }
            "StorageAccounts_ListKeys" => self.accounts_list_keys(req),
            "StorageAccounts_Delete" => self.accounts_delete(req),
            "BlobContainers_Create" => self.containers_put(req),
            "BlobContainers_Get" => self.containers_get(req),
            "AppServicePlans_CreateOrUpdate" => self.plans_put(req, operation_id),
            "AppServicePlans_Get" => {
                let key = self.plan_at(req)?;
                Ok(Reply::json(200, self.plan_json(&key)))
            }
            "AppServicePlans_Delete" => self.plans_delete(req),
            "WebApps_CreateOrUpdate" => self.sites_put(req, operation_id, None),
            "WebApps_CreateOrUpdateSlot" => {
                self.sites_put(req, operation_id, Some(req.param("slot").to_owned()))
            }
            "WebApps_Get" | "WebApps_GetSlot" => {
                let (key, slot) = self.side_at(req)?;
                Ok(Reply::json(200, self.site_json(&key, slot.as_deref())))
            }
            "WebApps_ListSlots" => {
                let key = self.site_at(req)?;
                let site = &self.sites[&key];
                let value: Vec<Value> = site
                    .slots
                    .keys()
                    .map(|s| self.site_json(&key, Some(s)))
                    .collect();
                Ok(Reply::json(200, json!({ "value": value })))
            }
            "WebApps_Delete" => self.sites_delete(req),
            "WebApps_DeleteSlot" => self.slots_delete(req),
            "WebApps_UpdateApplicationSettings" | "WebApps_UpdateApplicationSettingsSlot" => {
                self.settings_put(req)
            }
            "WebApps_ListApplicationSettings" | "WebApps_ListApplicationSettingsSlot" => {
                let (key, slot) = self.side_at(req)?;
                Ok(Reply::json(200, self.settings_json(&key, slot.as_deref())))
            }
            "WebApps_UpdateSlotConfigurationNames" => self.sticky_put(req),
            "WebApps_ListSlotConfigurationNames" => {
                let key = self.site_at(req)?;
                Ok(Reply::json(200, self.sticky_json(&key)))
            }
            "WebApps_SyncFunctionTriggers" | "WebApps_SyncFunctionTriggersSlot" => {
                let (key, slot) = self.side_at(req)?;
                let side = self
                    .sites
                    .get_mut(&key)
                    .and_then(|s| s.side_mut(slot.as_deref()))
                    .expect("side_at found it");
                side.trigger_syncs += 1;
                Ok(Reply::empty(204))
            }
            "WebApps_SwapSlotWithProduction" | "WebApps_SwapSlotSlot" => {
                self.swap(req, operation_id)
            }
            "WebApps_GetConfiguration" => {
                let key = self.site_at(req)?;
                Ok(Reply::json(200, self.web_config_json(&key)))
            }
            "WebApps_UpdateConfiguration" => self.web_config_patch(req),
            "WebApps_ListHostKeys" | "WebApps_ListHostKeysSlot" => {
                let (key, slot) = self.side_at(req)?;
                let side = self.sites[&key]
                    .side(slot.as_deref())
                    .expect("side_at found it");
                Ok(Reply::json(
                    200,
                    json!({
                        "masterKey": master_key(side),
                        "functionKeys": {"default": format!("fn-{}", master_key(side))},
                        "systemKeys": {},
                    }),
                ))
            }
            other => {
                let message = format!(
                    "the fake does not implement {other} (it implements {})",
                    IMPLEMENTED.join(", ")
                );
                self.violation(req, &message);
                Err(ArmError::new(501, "NotImplemented", message))
            }
        }
    }

    // ----- long-running operations ---------------------------------------

    /// Starts an operation finishing after the operation delay; returns the
    /// headers of the 201/202 answer: `Location`, `Azure-AsyncOperation`
    /// (when `with_status`) and `Retry-After`.
    fn start_operation(
        &mut self,
        req: &Incoming,
        operation_id: &str,
        namespace: &str,
        location: &str,
        job: Job,
        with_status: bool,
    ) -> (String, Vec<(String, String)>) {
        let id = random_uuid();
        let api_version = req.query("api-version").unwrap_or_default().to_owned();
        let location = normalize_location(location);
        let (status_path, result_path) = match namespace {
            "Microsoft.Resources" => (
                None,
                format!("/subscriptions/{SUBSCRIPTION_ID}/operationresults/{id}"),
            ),
            "Microsoft.Storage" => (
                None,
                format!(
                    "/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Storage/locations/{location}/asyncoperations/{id}"
                ),
            ),
            _ => (
                Some(format!(
                    "/subscriptions/{SUBSCRIPTION_ID}/providers/{namespace}/locations/{location}/operationStatuses/{id}"
                )),
                format!(
                    "/subscriptions/{SUBSCRIPTION_ID}/providers/{namespace}/locations/{location}/operationResults/{id}"
                ),
            ),
        };
        let ready_at = Instant::now() + self.operation_delay;
        let monitor = if namespace == "Microsoft.Storage" {
            "monitor=true&"
        } else {
            ""
        };
        let mut headers = vec![(
            "location".to_owned(),
            format!(
                "{}{result_path}?{monitor}api-version={api_version}",
                req.base()
            ),
        )];
        if with_status && let Some(path) = &status_path {
            headers.push((
                "azure-asyncoperation".to_owned(),
                format!("{}{path}?api-version={api_version}", req.base()),
            ));
        }
        headers.push((
            "retry-after".to_owned(),
            self.retry_after(ready_at).to_string(),
        ));
        self.operations.insert(
            id.clone(),
            Operation {
                id: id.clone(),
                operation_id: operation_id.to_owned(),
                status_path: status_path.map(|p| p.to_ascii_lowercase()),
                result_path: result_path.to_ascii_lowercase(),
                api_version,
                started: now_rfc3339(),
                ended: None,
                ready_at,
                job,
                outcome: None,
            },
        );
        (id, headers)
    }

    /// Answers a GET of an operation URL the fake handed out, or `None` if
    /// the path is not one.
    fn poll_operation(&mut self, req: &Incoming) -> Option<Response> {
        static SHAPE: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(
                r"(?i)^/subscriptions/[^/]+/(?:providers/[^/]+/locations/[^/]+/(operationstatuses|operationresults|asyncoperations)|(operationresults))/[^/]+$",
            )
            .expect("a valid regex")
        });
        let caps = SHAPE.captures(&req.path)?;
        let is_status = caps
            .get(1)
            .is_some_and(|m| m.as_str().eq_ignore_ascii_case("operationstatuses"));
        let label = if is_status {
            OPERATION_STATUS
        } else {
            OPERATION_RESULT
        };
        self.calls.push((label.to_owned(), req.describe()));
        if let Err(e) = self.authorize_arm(req) {
            return Some(arm_error_response(&e, Some(www_authenticate(&e))));
        }
        let path = req.path.to_ascii_lowercase();
        let found = self
            .operations
            .values()
            .find(|op| {
                if is_status {
                    op.status_path.as_deref() == Some(path.as_str())
                } else {
                    op.result_path == path
                }
            })
            .map(|op| (op.id.clone(), op.api_version.clone()));
        let Some((op_id, api_version)) = found else {
            let message = format!("no operation of the fake has the URL {}", req.path);
            self.violation(req, &message);
            return Some(arm_error_response(
                &ArmError::new(404, "NotFound", message),
                None,
            ));
        };
        if req.method != "GET" {
            let message = format!("operation URLs take GET, not {}", req.method);
            self.violation(req, &message);
            return Some(arm_error_response(
                &ArmError::new(405, "MethodNotAllowed", message),
                None,
            ));
        }
        match req.query("api-version") {
            Some(v) if v == api_version => {}
            given => {
                let message = format!(
                    "the operation URL's api-version is {given:?}, but the fake handed it out with {api_version:?}"
                );
                self.violation(req, &message);
                let e = match given {
                    None => ArmError::new(
                        400,
                        "MissingApiVersionParameter",
                        "The api-version query parameter (?api-version=) is required for all requests.",
                    ),
                    Some(v) => ArmError::new(
                        400,
                        "InvalidApiVersionParameter",
                        format!(
                            "The api-version '{v}' is invalid. The supported versions are '{api_version}'."
                        ),
                    ),
                };
                return Some(arm_error_response(&e, None));
            }
        }
        if let Some((status, retry_after)) = self.take_fault(label) {
            let e = self.fault_error(req, status, retry_after);
            return Some(arm_error_response(&e, None));
        }
        let op = &self.operations[&op_id];
        let retry = self.retry_after(op.ready_at).to_string();
        let response = if is_status {
            let status = match &op.outcome {
                None => "InProgress",
                Some(Ok(_)) => "Succeeded",
                Some(Err(_)) => "Failed",
            };
            let mut body = json!({
                "id": op.status_path.as_deref().map(|_| req.path.clone()),
                "name": op.id,
                "status": status,
                "startTime": op.started,
            });
            if let Some(ended) = &op.ended {
                body["endTime"] = Value::from(ended.clone());
            }
            if let Some(Err(e)) = &op.outcome {
                body["error"] = e.body()["error"].clone();
            }
            let mut response = json_response(200, &body);
            if op.outcome.is_none() {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_str(&retry).expect("digits"),
                );
            }
            response
        } else {
            match &op.outcome {
                None => {
                    let mut response = empty_response(202);
                    let location = format!("{}{}", req.base(), uri_of(req));
                    let headers = response.headers_mut();
                    if let Ok(v) = HeaderValue::from_str(&location) {
                        headers.insert(header::LOCATION, v);
                    }
                    headers.insert(
                        header::RETRY_AFTER,
                        HeaderValue::from_str(&retry).expect("digits"),
                    );
                    response
                }
                Some(outcome) => {
                    // The final result is the operation's own answer: check
                    // it against the responses its document gives.
                    let mut problems = Vec::new();
                    let response = match outcome {
                        Ok((status, body)) => {
                            if let Err(p) = APIS.validate_response(
                                &op.operation_id,
                                *status,
                                body.as_ref().unwrap_or(&Value::Null),
                            ) {
                                problems = p;
                            }
                            match body {
                                Some(body) => json_response(*status, body),
                                None => empty_response(*status),
                            }
                        }
                        Err(e) => {
                            check_error_answer(
                                &op.operation_id,
                                e.status,
                                Some(&e.body()),
                                &mut problems,
                            );
                            arm_error_response(e, None)
                        }
                    };
                    let operation_id = op.operation_id.clone();
                    for p in problems {
                        self.violations.push(format!(
                            "response of {operation_id} to {}: {p}",
                            req.describe()
                        ));
                    }
                    response
                }
            }
        };
        Some(response)
    }

    /// Finishes every operation and Kudu deployment whose time has come,
    /// oldest first.
    fn settle(&mut self) {
        let now = Instant::now();
        let mut due: Vec<(Instant, String)> = self
            .operations
            .values()
            .filter(|op| op.outcome.is_none() && op.ready_at <= now)
            .map(|op| (op.ready_at, op.id.clone()))
            .collect();
        due.sort();
        for (_, id) in due {
            let job = self.operations[&id].job.clone();
            let outcome = self.finish(&id, job);
            if let Some(op) = self.operations.get_mut(&id) {
                op.outcome = Some(outcome);
                op.ended = Some(now_rfc3339());
            }
        }
        kudu::settle(self);
    }

    fn finish(&mut self, operation: &str, job: Job) -> Result<(u16, Option<Value>), ArmError> {
        match job {
            Job::CreateAccount { account } => match self.accounts.get_mut(&account) {
                Some(a) => {
                    a.creating = false;
                    Ok((200, Some(self.account_json(&account))))
                }
                None => Err(ArmError::conflict(
                    "The storage account was deleted while it was being created.",
                )),
            },
            Job::Ready { id } => {
                if let Some(plan) = self.plans.get_mut(&id) {
                    plan.provisioning = false;
                    return Ok((200, Some(self.plan_json(&id))));
                }
                let (site, slot) = match id.split_once("/slots/") {
                    Some((site, slot)) => (site.to_owned(), Some(slot.to_owned())),
                    None => (id.clone(), None),
                };
                if self
                    .sites
                    .get(&site)
                    .and_then(|s| s.side(slot.as_deref()))
                    .is_some()
                {
                    Ok((200, Some(self.site_json(&site, slot.as_deref()))))
                } else {
                    Err(ArmError::conflict(
                        "The site was deleted while it was being created.",
                    ))
                }
            }
            Job::DeleteGroup { group } => {
                self.groups.remove(&group);
                self.accounts.retain(|_, a| a.group != group);
                self.plans.retain(|_, p| p.group != group);
                self.sites.retain(|_, s| s.group != group);
                Ok((200, None))
            }
            Job::Swap {
                site,
                source,
                target,
                fail,
            } => self.finish_swap(operation, &site, source.as_deref(), target.as_deref(), fail),
        }
    }

    // ----- resource groups ----------------------------------------------

    fn group_id(name: &str) -> String {
        format!("/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{name}")
    }

    fn group_json(&self, key: &str) -> Value {
        let g = &self.groups[key];
        let mut out = json!({
            "id": State::group_id(&g.name),
            "name": g.name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": g.location,
            "properties": {"provisioningState": if g.deleting { "Deleting" } else { "Succeeded" }},
        });
        if let Some(tags) = &g.tags {
            out["tags"] = tags.clone();
        }
        if let Some(m) = &g.managed_by {
            out["managedBy"] = Value::from(m.clone());
        }
        out
    }

    /// The resource group of the request, which must exist (and, for a
    /// write, not be being deleted).
    fn group_at(&self, req: &Incoming, write: bool) -> Result<String, ArmError> {
        let name = req.param("resourceGroupName");
        let key = name.to_ascii_lowercase();
        match self.groups.get(&key) {
            None => Err(ArmError::new(
                404,
                "ResourceGroupNotFound",
                format!("Resource group '{name}' could not be found."),
            )),
            Some(g) if write && g.deleting => Err(ArmError::conflict(format!(
                "The resource group '{}' is in deprovisioning state and cannot perform this operation.",
                g.name
            ))
            .with_code("ResourceGroupBeingDeleted")),
            Some(_) => Ok(key),
        }
    }

    fn groups_put(&mut self, req: &Incoming) -> Result<Reply, ArmError> {
        let name = req.param("resourceGroupName").to_owned();
        let key = name.to_ascii_lowercase();
        let body = req.json();
        let location = normalize_location(body["location"].as_str().unwrap_or(""));
        if let Some(g) = self.groups.get_mut(&key) {
            if g.deleting {
                return Err(ArmError::conflict(format!(
                    "The resource group '{}' is in deprovisioning state and cannot perform this operation.",
                    g.name
                ))
                .with_code("ResourceGroupBeingDeleted"));
            }
            if g.location != location {
                return Err(ArmError::new(
                    400,
                    "InvalidResourceGroupLocation",
                    format!(
                        "Invalid resource group location '{location}'. The Resource group already \
                         exists in location '{}'.",
                        g.location
                    ),
                ));
            }
            g.tags = body.get("tags").cloned();
            g.managed_by = body["managedBy"].as_str().map(str::to_owned);
            return Ok(Reply::json(200, self.group_json(&key)));
        }
        self.groups.insert(
            key.clone(),
            Group {
                name,
                location,
                tags: body.get("tags").cloned(),
                managed_by: body["managedBy"].as_str().map(str::to_owned),
                deleting: false,
            },
        );
        Ok(Reply::json(201, self.group_json(&key)))
    }

    fn groups_get(&mut self, req: &Incoming) -> Result<Reply, ArmError> {
        let key = self.group_at(req, false)?;
        Ok(Reply::json(200, self.group_json(&key)))
    }

    fn groups_delete(&mut self, req: &Incoming) -> Result<Reply, ArmError> {
        let key = self.group_at(req, false)?;
        // A repeated delete is accepted and gets an operation of its own.
        let group = self.groups.get_mut(&key).expect("group_at found it");
        group.deleting = true;
        let location = group.location.clone();
        let (_, headers) = self.start_operation(
            req,
            "ResourceGroups_Delete",
            "Microsoft.Resources",
            &location,
            Job::DeleteGroup { group: key },
            false,
        );
        Ok(Reply {
            status: 202,
            body: None,
            headers,
        })
    }

    // ----- storage accounts -------------------------------------------------

    fn account_id(&self, key: &str) -> String {
        let a = &self.accounts[key];
        format!(
            "{}/providers/Microsoft.Storage/storageAccounts/{}",
            State::group_id(
                self.groups
                    .get(&a.group)
                    .map_or(a.group.as_str(), |g| g.name.as_str())
            ),
            a.name
        )
    }

    fn account_json(&self, key: &str) -> Value {
        let a = &self.accounts[key];
        let mut properties = a.properties.clone();
        let endpoint = |service: &str| format!("https://{}.{service}.core.windows.net/", a.name);
        properties.insert(
            "provisioningState".into(),
            Value::from(if a.creating { "Creating" } else { "Succeeded" }),
        );
        properties.insert(
            "primaryEndpoints".into(),
            json!({
                "blob": self
                    .blob_endpoints
                    .get(&a.name.to_ascii_lowercase())
                    .cloned()
                    .unwrap_or_else(|| endpoint("blob")),
                "queue": endpoint("queue"),
                "table": endpoint("table"),
                "file": endpoint("file"),
                "web": format!("https://{}.z6.web.core.windows.net/", a.name),
                "dfs": endpoint("dfs"),
            }),
        );
        properties.insert("primaryLocation".into(), Value::from(a.location.clone()));
        properties.insert("statusOfPrimary".into(), Value::from("available"));
        properties.insert("creationTime".into(), Value::from(a.created.clone()));
        properties.insert(
            "keyCreationTime".into(),
            json!({"key1": a.created, "key2": a.created}),
        );
        properties
            .entry("supportsHttpsTrafficOnly")
            .or_insert(Value::Bool(true));
        properties
            .entry("minimumTlsVersion")
            .or_insert(Value::from("TLS1_2"));
        properties
            .entry("allowBlobPublicAccess")
            .or_insert(Value::Bool(false));
        if a.kind.eq_ignore_ascii_case("StorageV2") || a.kind.eq_ignore_ascii_case("BlobStorage") {
            properties.entry("accessTier").or_insert(Value::from("Hot"));
        }
        let tier = if a.sku.starts_with("Premium") {
            "Premium"
        } else {
            "Standard"
        };
        let mut out = json!({
            "id": self.account_id(key),
            "name": a.name,
            "type": "Microsoft.Storage/storageAccounts",
            "location": a.location,
            "sku": {"name": a.sku, "tier": tier},
            "kind": a.kind,
            "properties": properties,
        });
        if let Some(tags) = &a.tags {
            out["tags"] = tags.clone();
        }
        out
    }

    /// The storage account of the request, in its resource group.
    fn account_at(&self, req: &Incoming) -> Result<String, ArmError> {
        let group = self.group_at(req, false)?;
        let name = req.param("accountName");
        let key = name.to_ascii_lowercase();
        match self.accounts.get(&key) {
            Some(a) if a.group == group => Ok(key),
            _ => Err(not_found(req, "Microsoft.Storage/storageAccounts", name)),
        }
    }

    fn accounts_check_name(&self, req: &Incoming) -> Reply {
        let body = req.json();
        let name = body["name"].as_str().unwrap_or("");
        let answer = if let Err(message) = check_account_name(name) {
            json!({"nameAvailable": false, "reason": "AccountNameInvalid", "message": message})
        } else if self.accounts.contains_key(&name.to_ascii_lowercase()) {
            json!({
                "nameAvailable": false,
                "reason": "AlreadyExists",
                "message": format!("The storage account named {name} is already taken."),
            })
        } else {
            json!({"nameAvailable": true})
        };
        Reply::json(200, answer)
    }

    fn accounts_create(&mut self, req: &Incoming) -> Result<Reply, ArmError> {
        let group = self.group_at(req, true)?;
        let name = req.param("accountName").to_owned();
        check_account_name(&name).map_err(|m| ArmError::new(400, "AccountNameInvalid", m))?;
        let key = name.to_ascii_lowercase();
        let body = req.json();
        let location = normalize_location(body["location"].as_str().unwrap_or(""));
        let properties = body["properties"].as_object().cloned().unwrap_or_default();
        if let Some(existing) = self.accounts.get_mut(&key) {
            if existing.group != group {
                return Err(ArmError::conflict(format!(
                    "The storage account named {name} is already taken."
                ))
                .with_code("StorageAccountAlreadyTaken"));
            }
            if existing.location != location {
                return Err(ArmError::conflict(format!(
                    "The storage account named {name} already exists under the subscription in \
                     location '{}'.",
                    existing.location
                ))
                .with_code("StorageAccountAlreadyExists"));
            }
            if existing.creating {
                return Err(ArmError::conflict(format!(
                    "The storage account {name} is being created; try again when it is done."
                ))
                .with_code("StorageAccountOperationInProgress"));
            }
            existing.sku = body["sku"]["name"]
                .as_str()
                .unwrap_or(&existing.sku)
                .to_owned();
            existing.tags = body.get("tags").cloned();
            for (k, v) in properties {
                existing.properties.insert(k, v);
            }
            return Ok(Reply::json(200, self.account_json(&key)));
        }
        let random_key =
            || base64::Engine::encode(&base64::engine::general_purpose::STANDARD, random_bytes(64));
        let key1 = self
            .storage_keys
            .get(&key)
            .cloned()
            .unwrap_or_else(random_key);
        self.accounts.insert(
            key.clone(),
            Account {
                group,
                name,
                location: location.clone(),
                sku: body["sku"]["name"]
                    .as_str()
                    .unwrap_or("Standard_LRS")
                    .to_owned(),
                kind: body["kind"].as_str().unwrap_or("StorageV2").to_owned(),
                tags: body.get("tags").cloned(),
                properties,
                creating: true,
                created: now_rfc3339(),
                keys: [key1, random_key()],
                containers: BTreeMap::new(),
            },
        );
        // Storage answers a new account 202 without a body and a Location
        // to poll (no Azure-AsyncOperation), which ends with the account.
        let (_, headers) = self.start_operation(
            req,
            "StorageAccounts_Create",
            "Microsoft.Storage",
            &location,
            Job::CreateAccount { account: key },
            false,
        );
        Ok(Reply {
            status: 202,
            body: None,
            headers,
        })
    }

    fn accounts_list_keys(&mut self, req: &Incoming) -> Result<Reply, ArmError> {
        let key = self.account_at(req)?;
        let a = &self.accounts[&key];
        if a.creating {
            return Err(ArmError::conflict(format!(
                "The storage account provisioning state must be 'Succeeded' before executing the \
                 operation. The account {} is in state 'Creating'.",
                a.name
            ))
            .with_code("StorageAccountIsNotProvisioned"));
        }
        // `set_storage_key` after creation still wins: tests point the
        // fake at Azurite's key whenever they like.
        let key1 = self
            .storage_keys
            .get(&key)
            .cloned()
            .unwrap_or_else(|| a.keys[0].clone());
        Ok(Reply::json(
            200,
            json!({"keys": [
                {"keyName": "key1", "value": key1, "permissions": "Full", "creationTime": a.created},
                {"keyName": "key2", "value": a.keys[1], "permissions": "Full", "creationTime": a.created},
            ]}),
        ))
    }

    fn accounts_delete(&mut self, req: &Incoming) -> Result<Reply, ArmError> {
        let group = self.group_at(req, true)?;
        let key = req.param("accountName").to_ascii_lowercase();
        match self.accounts.get(&key) {
            Some(a) if a.group == group => {
                self.accounts.remove(&key);
                Ok(Reply::empty(200))
            }
            // Deleting what is not there succeeds with 204, as in ARM.
            _ => Ok(Reply::empty(204)),
        }
    }

    fn container_json(&self, account: &str, container: &str) -> Value {
        let a = &self.accounts[account];
        let c = &a.containers[container];
        let mut properties = c.properties.clone();
        for (k, v) in [
            ("publicAccess", json!("None")),
            ("leaseStatus", json!("Unlocked")),
            ("leaseState", json!("Available")),
            ("hasImmutabilityPolicy", json!(false)),
            ("hasLegalHold", json!(false)),
            ("deleted", json!(false)),
            ("remainingRetentionDays", json!(0)),
            ("defaultEncryptionScope", json!("$account-encryption-key")),
            ("denyEncryptionScopeOverride", json!(false)),
        ] {
            properties.entry(k).or_insert(v);
        }
        properties.insert("lastModifiedTime".into(), Value::from(c.modified.clone()));
        json!({
            "id": format!("{}/blobServices/default/containers/{}", self.account_id(account), c.name),
            "name": c.name,
            "type": "Microsoft.Storage/storageAccounts/blobServices/containers",
            "etag": c.etag,
            "properties": properties,
        })
    }

    fn container_parent(&self, req: &Incoming) -> Result<String, ArmError> {
        self.group_at(req, false)?;
        self.account_at(req).map_err(|_| {
            parent_not_found(
                req,
                "Microsoft.Storage/storageAccounts/blobServices/containers",
                &format!(
                    "{}/providers/Microsoft.Storage/storageAccounts/{}",
                    State::group_id(req.param("resourceGroupName")),
                    req.param("accountName")
                ),
            )
        })
    }

    fn containers_put(&mut self, req: &Incoming) -> Result<Reply, ArmError> {
        self.group_at(req, true)?;
        let account = self.container_parent(req)?;
        if self.accounts[&account].creating {
            return Err(ArmError::conflict(
                "The storage account provisioning state must be 'Succeeded' before executing the operation.",
            )
            .with_code("StorageAccountIsNotProvisioned"));
        }
        let name = req.param("containerName").to_owned();
        check_container_name(&name).map_err(|m| ArmError::new(400, "ContainerNameInvalid", m))?;
        let key = name.to_ascii_lowercase();
        let properties = req.json()["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let a = self.accounts.get_mut(&account).expect("found above");
        let existed = a.containers.contains_key(&key);
        let now = now_rfc3339();
        let etag = format!("\"0x8DC{}\"", random_hex(6).to_ascii_uppercase());
        let c = a
            .containers
            .entry(key.clone())
            .or_insert_with(|| Container {
                name,
                properties: Map::new(),
                etag: etag.clone(),
                modified: now.clone(),
            });
        for (k, v) in properties {
            c.properties.insert(k, v);
        }
        c.etag = etag;
        c.modified = now;
        Ok(Reply::json(
            if existed { 200 } else { 201 },
            self.container_json(&account, &key),
        ))
    }

    fn containers_get(&mut self, req: &Incoming) -> Result<Reply, ArmError> {
        let account = self.container_parent(req)?;
        let name = req.param("containerName");
        let key = name.to_ascii_lowercase();
        if !self.accounts[&account].containers.contains_key(&key) {
            return Err(ArmError::new(
                404,
                "ContainerNotFound",
                "The specified container does not exist.",
            ));
        }
        Ok(Reply::json(200, self.container_json(&account, &key)))
    }

    // ----- App Service plans -----------------------------------------------

    fn plan_key(group: &str, name: &str) -> String {
        format!(
            "/subscriptions/{SUBSCRIPTION_ID}/resourcegroups/{group}/providers/microsoft.web/serverfarms/{name}"
        )
        .to_ascii_lowercase()
    }

    fn plan_id(&self, key: &str) -> String {
        let p = &self.plans[key];
        format!(
            "{}/providers/Microsoft.Web/serverfarms/{}",
            State::group_id(
                self.groups
                    .get(&p.group)
                    .map_or(p.group.as_str(), |g| g.name.as_str())
            ),
            p.name
        )
    }

    fn plan_json(&self, key: &str) -> Value {
        let p = &self.plans[key];
        let sites = self.sites.values().filter(|s| s.plan == key).count();
        let group = self
            .groups
            .get(&p.group)
            .map_or(p.group.clone(), |g| g.name.clone());
        let mut properties = p.properties.clone();
        let dynamic = matches!(p.tier(), "Dynamic" | "FlexConsumption" | "ElasticPremium");
        for (k, v) in [
            ("status", json!("Ready")),
            ("subscription", json!(SUBSCRIPTION_ID)),
            (
                "maximumNumberOfWorkers",
                json!(if dynamic { 200 } else { 30 }),
            ),
            ("numberOfWorkers", json!(1)),
            ("geoRegion", json!(p.location)),
            ("numberOfSites", json!(sites)),
            ("resourceGroup", json!(group)),
            (
                "provisioningState",
                json!(if p.provisioning {
                    "InProgress"
                } else {
                    "Succeeded"
                }),
            ),
        ] {
            properties.insert(k.to_owned(), v);
        }
        for (k, v) in [
            ("perSiteScaling", json!(false)),
            ("elasticScaleEnabled", json!(p.tier() == "ElasticPremium")),
            ("maximumElasticWorkerCount", json!(1)),
            ("isSpot", json!(false)),
            ("reserved", json!(false)),
            ("isXenon", json!(false)),
            ("hyperV", json!(false)),
            ("targetWorkerCount", json!(0)),
            ("targetWorkerSizeId", json!(0)),
            ("zoneRedundant", json!(false)),
        ] {
            properties.entry(k).or_insert(v);
        }
        let mut out = json!({
            "id": self.plan_id(key),
            "name": p.name,
            "type": "Microsoft.Web/serverfarms",
            "location": p.location,
            "sku": p.sku,
            "properties": properties,
        });
        if let Some(kind) = &p.kind {
            out["kind"] = Value::from(kind.clone());
        }
        if let Some(tags) = &p.tags {
            out["tags"] = tags.clone();
        }
        out
    }

    fn plan_at(&self, req: &Incoming) -> Result<String, ArmError> {
        let group = self.group_at(req, false)?;
        let key = State::plan_key(&group, req.param("name"));
        if self.plans.contains_key(&key) {
            Ok(key)
        } else {
            Err(not_found(
                req,
                "Microsoft.Web/serverFarms",
                req.param("name"),
            ))
        }
    }

    fn plans_put(&mut self, req: &Incoming, operation_id: &str) -> Result<Reply, ArmError> {
        let group = self.group_at(req, true)?;
        let name = req.param("name").to_owned();
        check_web_name(&name, "server farm")?;
        let key = State::plan_key(&group, &name);
        let body = req.json();
        let sku = complete_sku(body["sku"].as_object().cloned().unwrap_or_default())?;
        let location = normalize_location(body["location"].as_str().unwrap_or(""));
        if let Some(existing) = self.plans.get(&key) {
            if existing.location != location {
                return Err(ArmError::bad_request(format!(
                    "The plan {name} exists in location '{}'; a plan cannot move to '{location}'.",
                    existing.location
                )));
            }
            let (old, new) = (existing.is_flex(), sku["tier"] == "FlexConsumption");
            if old != new {
                return Err(ArmError::bad_request(format!(
                    "The plan {name} cannot change between Flex Consumption and another SKU."
                )));
            }
        }
        let asynchronous = self.async_creates.iter().any(|o| o == operation_id);
        self.plans.insert(
            key.clone(),
            Plan {
                group,
                name,
                location: location.clone(),
                kind: body["kind"].as_str().map(str::to_owned),
                tags: body.get("tags").cloned(),
                sku,
                properties: body["properties"].as_object().cloned().unwrap_or_default(),
                provisioning: asynchronous,
            },
        );
        if !asynchronous {
            return Ok(Reply::json(200, self.plan_json(&key)));
        }
        let (_, headers) = self.start_operation(
            req,
            operation_id,
            "Microsoft.Web",
            &location,
            Job::Ready { id: key.clone() },
            true,
        );
        Ok(Reply {
            status: 202,
            body: Some(self.plan_json(&key)),
            headers,
        })
    }

    fn plans_delete(&mut self, req: &Incoming) -> Result<Reply, ArmError> {
        let group = self.group_at(req, true)?;
        let key = State::plan_key(&group, req.param("name"));
        let Some(plan) = self.plans.get(&key) else {
            return Ok(Reply::empty(204));
        };
        let apps: Vec<&str> = self
            .sites
            .values()
            .filter(|s| s.plan == key)
            .map(|s| s.name.as_str())
            .collect();
        if !apps.is_empty() {
            return Err(ArmError::conflict(format!(
                "Server farm '{}' cannot be deleted because it has web app(s) {} assigned to it.",
                plan.name,
                apps.join(",")
            )));
        }
        self.plans.remove(&key);
        Ok(Reply::empty(200))
    }

    // ----- sites and slots ----------------------------------------------------

    fn site_key(group: &str, name: &str) -> String {
        format!(
            "/subscriptions/{SUBSCRIPTION_ID}/resourcegroups/{group}/providers/microsoft.web/sites/{name}"
        )
        .to_ascii_lowercase()
    }

    fn site_id(&self, key: &str, slot: Option<&str>) -> String {
        let s = &self.sites[key];
        let group = self
            .groups
            .get(&s.group)
            .map_or(s.group.as_str(), |g| g.name.as_str());
        let mut id = format!(
            "{}/providers/Microsoft.Web/sites/{}",
            State::group_id(group),
            s.name
        );
        if let Some(slot) = slot
            .and_then(|sl| s.side(Some(sl)))
            .and_then(|side| side.slot.as_deref())
        {
            id.push_str(&format!("/slots/{slot}"));
        }
        id
    }

    /// `{site}.azurewebsites.net` or `{site}-{slot}.azurewebsites.net`.
    fn default_host(site: &str, slot: Option<&str>) -> String {
        match slot {
            None => format!("{site}.azurewebsites.net").to_ascii_lowercase(),
            Some(slot) => format!("{site}-{slot}.azurewebsites.net").to_ascii_lowercase(),
        }
    }

    fn site_json(&self, key: &str, slot: Option<&str>) -> Value {
        let s = &self.sites[key];
        let side = s.side(slot).expect("a side that exists");
        let slot = side.slot.as_deref();
        let host = State::default_host(&s.name, slot);
        let scm = host.replace(".azurewebsites.net", ".scm.azurewebsites.net");
        let group = self
            .groups
            .get(&s.group)
            .map_or(s.group.clone(), |g| g.name.clone());
        let mut properties = side.properties.clone();
        let mut site_config = side.content.site_config.clone();
        site_config
            .entry("numberOfWorkers")
            .or_insert(Value::from(1));
        properties.insert("siteConfig".into(), Value::Object(site_config));
        let plan_id = if self.plans.contains_key(&s.plan) {
            self.plan_id(&s.plan)
        } else {
            s.plan.clone()
        };
        let reserved = self
            .plans
            .get(&s.plan)
            .and_then(|p| p.properties.get("reserved"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        for (k, v) in [
            ("state", json!("Running")),
            ("hostNames", json!([host])),
            ("repositorySiteName", json!(s.name)),
            ("usageState", json!("Normal")),
            ("enabledHostNames", json!([host, scm])),
            ("availabilityState", json!("Normal")),
            (
                "hostNameSslStates",
                json!([
                    {"name": host, "sslState": "Disabled", "hostType": "Standard"},
                    {"name": scm, "sslState": "Disabled", "hostType": "Repository"},
                ]),
            ),
            ("serverFarmId", json!(plan_id)),
            ("reserved", json!(reserved)),
            ("lastModifiedTimeUtc", json!(side.modified)),
            ("resourceGroup", json!(group)),
            ("defaultHostName", json!(host)),
            ("outboundIpAddresses", json!("20.0.0.1,20.0.0.2")),
            (
                "possibleOutboundIpAddresses",
                json!("20.0.0.1,20.0.0.2,20.0.0.3"),
            ),
            ("isDefaultContainer", json!(false)),
        ] {
            properties.insert(k.to_owned(), v);
        }
        for (k, v) in [
            ("enabled", json!(true)),
            ("httpsOnly", json!(false)),
            ("clientAffinityEnabled", json!(false)),
            ("clientCertEnabled", json!(false)),
            ("hostNamesDisabled", json!(false)),
            ("containerSize", json!(1536)),
            ("dailyMemoryTimeQuota", json!(0)),
            ("redundancyMode", json!("None")),
            ("publicNetworkAccess", json!("Enabled")),
            ("storageAccountRequired", json!(false)),
        ] {
            properties.entry(k).or_insert(v);
        }
        if let Some(status) = &s.last_swap {
            properties.insert("slotSwapStatus".into(), status.clone());
        }
        let name = match slot {
            None => s.name.clone(),
            Some(slot) => format!("{}/{slot}", s.name),
        };
        let mut out = json!({
            "id": self.site_id(key, slot),
            "name": name,
            "type": if slot.is_some() { "Microsoft.Web/sites/slots" } else { "Microsoft.Web/sites" },
            "location": side.location,
            "properties": properties,
        });
        if let Some(kind) = &side.kind {
            out["kind"] = Value::from(kind.clone());
        }
        if let Some(tags) = &side.tags {
            out["tags"] = tags.clone();
        }
        out
    }

    /// The site of the request (`name` in its resource group).
    fn site_at(&self, req: &Incoming) -> Result<String, ArmError> {
        let group = self.group_at(req, false)?;
        let key = State::site_key(&group, req.param("name"));
        if self.sites.contains_key(&key) {
            Ok(key)
        } else if req.params.contains_key("slot") || req.path.contains("/config/") {
            Err(parent_not_found(
                req,
                "Microsoft.Web/sites",
                &format!(
                    "{}/providers/Microsoft.Web/sites/{}",
                    State::group_id(req.param("resourceGroupName")),
                    req.param("name")
                ),
            ))
        } else {
            Err(not_found(req, "Microsoft.Web/sites", req.param("name")))
        }
    }

    /// The site and side (production, or the `slot` parameter) of the
    /// request.
    fn side_at(&self, req: &Incoming) -> Result<(String, Option<String>), ArmError> {
        let key = self.site_at(req)?;
        let slot = req.params.get("slot").map(|s| s.to_ascii_lowercase());
        if let Some(slot) = &slot
            && !self.sites[&key].slots.contains_key(slot)
        {
            return Err(not_found(
                req,
                "Microsoft.Web/sites/slots",
                &format!("{}/{}", req.param("name"), req.param("slot")),
            ));
        }
        Ok((key, slot))
    }

    /// Whether `host` (a default host name) belongs to any site or slot
    /// other than `except`.
    fn host_taken(&self, host: &str, except: &str) -> bool {
        self.sites.iter().any(|(key, s)| {
            key != except
                && (State::default_host(&s.name, None) == host
                    || s.slots
                        .values()
                        .any(|side| State::default_host(&s.name, side.slot.as_deref()) == host))
        })
    }

    fn sites_put(
        &mut self,
        req: &Incoming,
        operation_id: &str,
        slot: Option<String>,
    ) -> Result<Reply, ArmError> {
        let group = self.group_at(req, true)?;
        let name = req.param("name").to_owned();
        let key = State::site_key(&group, &name);
        let body = req.json();
        let location = normalize_location(body["location"].as_str().unwrap_or(""));
        let mut properties = body["properties"].as_object().cloned().unwrap_or_default();
        let site_config = properties
            .remove("siteConfig")
            .and_then(|c| c.as_object().cloned());
        let asynchronous = self.async_creates.iter().any(|o| o == operation_id);

        // A slot, or an update, may leave the plan out: the site's stays.
        let plan_key = properties
            .get("serverFarmId")
            .and_then(Value::as_str)
            .map(|id| id.trim_end_matches('/').to_ascii_lowercase())
            .or_else(|| self.sites.get(&key).map(|s| s.plan.clone()));
        let Some(plan_key) = plan_key else {
            return Err(ArmError::bad_request(
                "The parameter properties.serverFarmId has an invalid value: a new site needs the \
                 id of an App Service plan.",
            ));
        };
        let Some(plan) = self.plans.get(&plan_key) else {
            return Err(ArmError::new(
                404,
                "NotFound",
                format!(
                    "Cannot find ServerFarm with name {}.",
                    plan_key.rsplit('/').next().unwrap_or_default()
                ),
            ));
        };
        let flex = plan.is_flex();
        let tier = plan.tier().to_owned();
        let sku_name = plan.sku_name().to_owned();

        match &slot {
            None => {
                check_web_name(&name, "site")?;
                let host = State::default_host(&name, None);
                if self.host_taken(&host, &key) {
                    return Err(ArmError::conflict(format!(
                        "Website with given name {name} already exists."
                    )));
                }
                // The message of the service, from
                // https://github.com/Azure-Samples/azure-functions-flex-consumption-samples/issues/7
                if flex
                    && !properties.contains_key("functionAppConfig")
                    && !self.sites.contains_key(&key)
                {
                    return Err(ArmError::bad_request(
                        "Site.FunctionAppConfig is invalid.  The FunctionAppConfig section was not \
                         specified in the request, which is required for Flex Consumption sites. \
                         To proceed, please add the FunctionAppConfig section in your request.",
                    ));
                }
                if let Some(existing) = self.sites.get(&key)
                    && existing.plan != plan_key
                    && (flex || self.plans.get(&existing.plan).is_some_and(Plan::is_flex))
                {
                    return Err(ArmError::bad_request(
                        "A site cannot move between a Flex Consumption plan and another plan.",
                    ));
                }
            }
            Some(slot_name) => {
                let Some(site) = self.sites.get(&key) else {
                    return Err(parent_not_found(
                        req,
                        "Microsoft.Web/sites/slots",
                        &format!(
                            "{}/providers/Microsoft.Web/sites/{name}",
                            State::group_id(req.param("resourceGroupName"))
                        ),
                    ));
                };
                check_web_name(slot_name, "slot")?;
                if slot_name.eq_ignore_ascii_case("production") {
                    return Err(ArmError::bad_request(
                        "The slot name 'production' is reserved for the site itself.",
                    ));
                }
                if !location.is_empty() && location != site.production.location {
                    return Err(ArmError::bad_request(format!(
                        "A slot must be in its site's location ({}), not '{location}'.",
                        site.production.location
                    )));
                }
                if plan_key != site.plan {
                    return Err(ArmError::bad_request(format!(
                        "A slot must run in its site's App Service plan ({}).",
                        site.plan.rsplit('/').next().unwrap_or_default()
                    )));
                }
                let slot_key = slot_name.to_ascii_lowercase();
                if !site.slots.contains_key(&slot_key) {
                    check_slot_quota(flex, &tier, &sku_name, site.slots.len())?;
                    let host = State::default_host(&name, Some(slot_name));
                    if self.host_taken(&host, "") {
                        return Err(ArmError::conflict(format!(
                            "Website with given name {name}-{slot_name} already exists."
                        )));
                    }
                }
            }
        }

        let now = now_rfc3339();
        let settings_in: Option<BTreeMap<String, String>> = site_config
            .as_ref()
            .and_then(|c| c.get("appSettings"))
            .and_then(Value::as_array)
            .map(|pairs| {
                pairs
                    .iter()
                    .filter_map(|p| {
                        Some((
                            p["name"].as_str()?.to_owned(),
                            p["value"].as_str().unwrap_or("").to_owned(),
                        ))
                    })
                    .collect()
            });
        let mut site_config = site_config.unwrap_or_default();
        site_config.remove("appSettings");
        // The plan is kept as the site's; `site_json` writes its id back.
        properties.remove("serverFarmId");
        let new_side = |slot: Option<String>| Side {
            slot,
            location: location.clone(),
            kind: body["kind"].as_str().map(str::to_owned),
            tags: body.get("tags").cloned(),
            properties: properties.clone(),
            settings: settings_in.clone().unwrap_or_default(),
            content: SideContent {
                package: None,
                deployments: Vec::new(),
                site_config: site_config.clone(),
            },
            trigger_syncs: 0,
            password: random_letters(60),
            modified: now.clone(),
        };
        match &slot {
            None => {
                let created = !self.sites.contains_key(&key);
                let site = self.sites.entry(key.clone()).or_insert_with(|| Site {
                    group,
                    name,
                    plan: plan_key.clone(),
                    production: new_side(None),
                    slots: BTreeMap::new(),
                    sticky_app: Vec::new(),
                    sticky_connection: Vec::new(),
                    sticky_storage: Vec::new(),
                    swapping: None,
                    last_swap: None,
                    ramp_up_rules: Vec::new(),
                    routed: 0,
                });
                site.plan = plan_key;
                if !created {
                    update_side(
                        &mut site.production,
                        &body,
                        properties,
                        site_config,
                        settings_in,
                        now,
                    );
                }
            }
            Some(slot_name) => {
                let site = self.sites.get_mut(&key).expect("checked above");
                let slot_key = slot_name.to_ascii_lowercase();
                match site.slots.get_mut(&slot_key) {
                    Some(side) => {
                        update_side(side, &body, properties, site_config, settings_in, now)
                    }
                    None => {
                        site.slots
                            .insert(slot_key, new_side(Some(slot_name.clone())));
                    }
                }
            }
        }
        let slot_key = slot.as_deref().map(str::to_ascii_lowercase);
        let answer = self.site_json(&key, slot_key.as_deref());
        if !asynchronous {
            return Ok(Reply::json(200, answer));
        }
        let id = match &slot_key {
            None => key.clone(),
            Some(s) => format!("{key}/slots/{s}"),
        };
        let (_, headers) = self.start_operation(
            req,
            operation_id,
            "Microsoft.Web",
            &location,
            Job::Ready { id },
            true,
        );
        Ok(Reply {
            status: 202,
            body: Some(answer),
            headers,
        })
    }

    fn sites_delete(&mut self, req: &Incoming) -> Result<Reply, ArmError> {
        let group = self.group_at(req, true)?;
        let key = State::site_key(&group, req.param("name"));
        let Some(site) = self.sites.remove(&key) else {
            return Err(not_found(req, "Microsoft.Web/sites", req.param("name")));
        };
        let delete_plan = req
            .query("deleteEmptyServerFarm")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if delete_plan && !self.sites.values().any(|s| s.plan == site.plan) {
            self.plans.remove(&site.plan);
        }
        Ok(Reply::empty(200))
    }

    fn slots_delete(&mut self, req: &Incoming) -> Result<Reply, ArmError> {
        self.group_at(req, true)?;
        let (key, slot) = self.side_at(req)?;
        let site = self.sites.get_mut(&key).expect("side_at found it");
        if site.swapping.is_some() {
            return Err(ArmError::conflict(
                "Cannot delete a slot while a swap operation is in progress for its site.",
            ));
        }
        if let Some(slot) = slot {
            site.slots.remove(&slot);
        }
        Ok(Reply::empty(200))
    }

    fn settings_json(&self, key: &str, slot: Option<&str>) -> Value {
        let side = self.sites[key].side(slot).expect("a side that exists");
        let settings: Map<String, Value> = side
            .settings
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        json!({
            "id": format!("{}/config/appsettings", self.site_id(key, slot)),
            "name": "appsettings",
            "type": if slot.is_some() { "Microsoft.Web/sites/slots/config" } else { "Microsoft.Web/sites/config" },
            "properties": settings,
        })
    }

    fn settings_put(&mut self, req: &Incoming) -> Result<Reply, ArmError> {
        self.group_at(req, true)?;
        let (key, slot) = self.side_at(req)?;
        let body = req.json();
        let mut settings = BTreeMap::new();
        for (k, v) in body["properties"].as_object().into_iter().flatten() {
            if k.is_empty() {
                return Err(ArmError::bad_request("AppSetting names cannot be empty."));
            }
            if settings.keys().any(|n: &String| n.eq_ignore_ascii_case(k)) {
                return Err(ArmError::bad_request(format!(
                    "AppSetting with name '{k}' is given twice (names are case-insensitive)."
                )));
            }
            settings.insert(k.clone(), v.as_str().unwrap_or_default().to_owned());
        }
        let side = self
            .sites
            .get_mut(&key)
            .and_then(|s| s.side_mut(slot.as_deref()))
            .expect("side_at found it");
        side.settings = settings;
        side.modified = now_rfc3339();
        Ok(Reply::json(200, self.settings_json(&key, slot.as_deref())))
    }

    fn web_config_json(&self, key: &str) -> Value {
        let s = &self.sites[key];
        let mut config = s.production.content.site_config.clone();
        config.insert(
            "experiments".to_owned(),
            json!({ "rampUpRules": s.ramp_up_rules }),
        );
        json!({
            "id": format!("{}/config/web", self.site_id(key, None)),
            "name": "web",
            "type": "Microsoft.Web/sites/config",
            "properties": config,
        })
    }

    /// `PATCH …/config/web`: only `experiments.rampUpRules` is modelled;
    /// each rule must send its share to a slot of this site.
    fn web_config_patch(&mut self, req: &Incoming) -> Result<Reply, ArmError> {
        self.group_at(req, true)?;
        let key = self.site_at(req)?;
        let body = req.json();
        let props = body["properties"].as_object().cloned().unwrap_or_default();
        for k in props.keys() {
            if k != "experiments" {
                let message =
                    format!("the fake models only `experiments` of config/web, not `{k}`");
                self.violation(req, &message);
                return Err(ArmError::new(501, "NotImplemented", message));
            }
        }
        if let Some(rules) = props.get("experiments").map(|e| &e["rampUpRules"]) {
            let rules = rules.as_array().cloned().unwrap_or_default();
            let site = &self.sites[&key];
            let mut total = 0.0;
            for r in &rules {
                let host = r["actionHostName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let ok = site.slots.keys().any(|slot| {
                    host == format!("{}-{slot}.azurewebsites.net", site.name).to_ascii_lowercase()
                });
                if !ok {
                    return Err(ArmError::bad_request(format!(
                        "The routing rule '{}' must send traffic to a slot of site '{}' (actionHostName '{host}').",
                        r["name"].as_str().unwrap_or_default(),
                        site.name
                    )));
                }
                total += r["reroutePercentage"].as_f64().unwrap_or(0.0);
            }
            if !(0.0..=100.0).contains(&total) {
                return Err(ArmError::bad_request(
                    "The sum of the routing rules' percentages must be between 0 and 100.",
                ));
            }
            self.sites
                .get_mut(&key)
                .expect("site_at found it")
                .ramp_up_rules = rules;
        }
        Ok(Reply::json(200, self.web_config_json(&key)))
    }

    fn sticky_json(&self, key: &str) -> Value {
        let s = &self.sites[key];
        json!({
            "id": format!("{}/config/slotConfigNames", self.site_id(key, None)),
            "name": "slotConfigNames",
            "type": "Microsoft.Web/sites/config",
            "properties": {
                "appSettingNames": s.sticky_app,
                "connectionStringNames": s.sticky_connection,
                "azureStorageConfigNames": s.sticky_storage,
            },
        })
    }

    fn sticky_put(&mut self, req: &Incoming) -> Result<Reply, ArmError> {
        self.group_at(req, true)?;
        let key = self.site_at(req)?;
        let body = req.json();
        let names = |field: &str| -> Vec<String> {
            body["properties"][field]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        let site = self.sites.get_mut(&key).expect("site_at found it");
        site.sticky_app = names("appSettingNames");
        site.sticky_connection = names("connectionStringNames");
        site.sticky_storage = names("azureStorageConfigNames");
        Ok(Reply::json(200, self.sticky_json(&key)))
    }

    // ----- swaps -------------------------------------------------------------

    /// `slotsswap` (production with `targetSlot`) or
    /// `slots/{slot}/slotsswap` (`slot` with `targetSlot`, which may be
    /// `production`): 202 and an operation that exchanges the two sides'
    /// content and non-sticky settings when it completes.
    fn swap(&mut self, req: &Incoming, operation_id: &str) -> Result<Reply, ArmError> {
        self.group_at(req, true)?;
        let (key, source) = self.side_at(req)?;
        let body = req.json();
        let target_name = body["targetSlot"].as_str().unwrap_or("").to_owned();
        let target = if target_name.eq_ignore_ascii_case("production") {
            None
        } else {
            Some(target_name.to_ascii_lowercase())
        };
        let site = &self.sites[&key];
        if target_name.is_empty() {
            return Err(ArmError::bad_request("targetSlot must name a slot."));
        }
        if let Some(t) = &target
            && !site.slots.contains_key(t)
        {
            return Err(ArmError::new(
                404,
                "NotFound",
                format!(
                    "Cannot find the slot '{target_name}' of site '{}'.",
                    site.name
                ),
            ));
        }
        if source == target {
            return Err(ArmError::bad_request(format!(
                "Cannot swap the slot '{}' with itself.",
                source.as_deref().unwrap_or("production")
            )));
        }
        if site.swapping.is_some() {
            return Err(ArmError::conflict(format!(
                "There is a swap operation in progress for site '{}'. Wait for it to complete.",
                site.name
            )));
        }
        let location = site.production.location.clone();
        let named = self
            .fail_swaps_of
            .iter()
            .position(|n| n.eq_ignore_ascii_case(&site.name));
        let fail = self.fail_swaps > 0 || named.is_some();
        if let Some(i) = named {
            self.fail_swaps_of.remove(i);
        } else if fail {
            self.fail_swaps -= 1;
        }
        let (id, headers) = self.start_operation(
            req,
            operation_id,
            "Microsoft.Web",
            &location,
            Job::Swap {
                site: key.clone(),
                source,
                target,
                fail,
            },
            true,
        );
        self.sites.get_mut(&key).expect("found above").swapping = Some(id);
        Ok(Reply {
            status: 202,
            body: None,
            headers,
        })
    }

    fn finish_swap(
        &mut self,
        operation: &str,
        key: &str,
        source: Option<&str>,
        target: Option<&str>,
        fail: bool,
    ) -> Result<(u16, Option<Value>), ArmError> {
        let Some(site) = self.sites.get_mut(key) else {
            return Err(ArmError::conflict("The site was deleted during the swap."));
        };
        if site.swapping.as_deref() == Some(operation) {
            site.swapping = None;
        }
        let label = |s: Option<&str>| s.unwrap_or("production").to_owned();
        // App Service's view: the side that goes live (a slot, warmed up
        // first) is the source, production (when in the swap) the target.
        let (source, target) = if source.is_none() {
            (target, source)
        } else {
            (source, target)
        };
        if fail {
            return Err(ArmError::conflict(format!(
                "Cannot swap site slots for site '{}' because the '{}' slot did not respond to \
                 http ping during warm-up. (injected by the fake)",
                site.name,
                label(source)
            )));
        }
        if site.side(source).is_none() || site.side(target).is_none() {
            return Err(ArmError::conflict(
                "A slot of the swap was deleted during the swap.",
            ));
        }
        let override_sticky = [source, target].iter().all(|s| {
            site.side(*s).is_some_and(|side| {
                side.settings
                    .iter()
                    .find(|(k, _)| {
                        k.eq_ignore_ascii_case(
                            "WEBSITE_OVERRIDE_PRESERVE_DEFAULT_STICKY_SLOT_SETTINGS",
                        )
                    })
                    .is_some_and(|(_, v)| v == "0" || v.eq_ignore_ascii_case("false"))
            })
        });
        // Take both sides out, exchange, put back: all or nothing.
        let mut first = take_side(site, source);
        let mut second = take_side(site, target);
        let (first_settings, second_settings) = (first.settings.clone(), second.settings.clone());
        first.settings = exchanged_settings(site, &first_settings, &second_settings);
        second.settings = exchanged_settings(site, &second_settings, &first_settings);
        std::mem::swap(&mut first.content, &mut second.content);
        let stays = |k: &str| {
            STAYS.contains(&k) || (!override_sticky && STAYS_UNLESS_OVERRIDDEN.contains(&k))
        };
        for k in STAYS.iter().chain(STAYS_UNLESS_OVERRIDDEN.iter()) {
            if !stays(k) {
                continue;
            }
            // These went with the content; bring each side's own back.
            let (x, y) = (
                second.content.site_config.remove(*k),
                first.content.site_config.remove(*k),
            );
            if let Some(v) = x {
                first.content.site_config.insert((*k).to_owned(), v);
            }
            if let Some(v) = y {
                second.content.site_config.insert((*k).to_owned(), v);
            }
        }
        let now = now_rfc3339();
        first.modified = now.clone();
        second.modified = now.clone();
        put_side(site, source, first);
        put_side(site, target, second);
        site.last_swap = Some(json!({
            "timestampUtc": now,
            "sourceSlotName": label(source),
            "destinationSlotName": label(target),
        }));
        self.swaps += 1;
        Ok((200, None))
    }

    // ----- reading state -------------------------------------------------

    fn site_by_name(&self, name: &str) -> Option<&Site> {
        self.sites
            .values()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    fn side_by_name(&self, site: &str, slot: Option<&str>) -> Option<&Side> {
        self.site_by_name(site)?.side(slot)
    }

    fn resource_by_id(&self, id: &str) -> Option<Value> {
        let wanted = id.trim_end_matches('/').to_ascii_lowercase();
        for key in self.groups.keys() {
            if State::group_id(key).to_ascii_lowercase() == wanted {
                return Some(self.group_json(key));
            }
        }
        for (key, a) in &self.accounts {
            if self.account_id(key).to_ascii_lowercase() == wanted {
                return Some(self.account_json(key));
            }
            for c in a.containers.keys() {
                let json = self.container_json(key, c);
                if json["id"]
                    .as_str()
                    .is_some_and(|i| i.eq_ignore_ascii_case(&wanted))
                {
                    return Some(json);
                }
            }
        }
        for key in self.plans.keys() {
            if *key == wanted {
                return Some(self.plan_json(key));
            }
        }
        for (key, s) in &self.sites {
            if *key == wanted {
                return Some(self.site_json(key, None));
            }
            for slot in s.slots.keys() {
                if format!("{key}/slots/{slot}") == wanted {
                    return Some(self.site_json(key, Some(slot)));
                }
            }
        }
        None
    }
}

impl ArmError {
    fn with_code(mut self, code: &str) -> ArmError {
        self.code = code.to_owned();
        self
    }
}

/// The side to exchange, leaving an empty one in its place until
/// [`put_side`].
fn take_side(site: &mut Site, slot: Option<&str>) -> Side {
    let empty = Side {
        slot: None,
        location: String::new(),
        kind: None,
        tags: None,
        properties: Map::new(),
        settings: BTreeMap::new(),
        content: SideContent {
            package: None,
            deployments: Vec::new(),
            site_config: Map::new(),
        },
        trigger_syncs: 0,
        password: String::new(),
        modified: String::new(),
    };
    std::mem::replace(site.side_mut(slot).expect("checked by the caller"), empty)
}

fn put_side(site: &mut Site, slot: Option<&str>, side: Side) {
    *site.side_mut(slot).expect("checked by the caller") = side;
}

/// A side's settings after a swap: its own sticky ones, and the other
/// side's swappable ones.
fn exchanged_settings(
    site: &Site,
    own: &BTreeMap<String, String>,
    other: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    own.iter()
        .filter(|(k, _)| site.sticks(k))
        .chain(other.iter().filter(|(k, _)| !site.sticks(k)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Applies a PUT to an existing side: the body's properties replace the
/// writable ones; the site configuration and app settings change only when
/// given.
fn update_side(
    side: &mut Side,
    body: &Value,
    properties: Map<String, Value>,
    site_config: Map<String, Value>,
    settings: Option<BTreeMap<String, String>>,
    now: String,
) {
    side.kind = body["kind"]
        .as_str()
        .map(str::to_owned)
        .or(side.kind.take());
    if let Some(tags) = body.get("tags") {
        side.tags = Some(tags.clone());
    }
    for (k, v) in properties {
        side.properties.insert(k, v);
    }
    if body["properties"].get("siteConfig").is_some() {
        for (k, v) in site_config {
            side.content.site_config.insert(k, v);
        }
    }
    if let Some(settings) = settings {
        side.settings = settings;
    }
    side.modified = now;
}

/// The answer to a request the validator refused: ARM's code for an
/// `api-version` problem or a path no operation has, else
/// `InvalidRequestContent`.
fn rejection(req: &Incoming, operation_id: &str, violations: &[String]) -> ArmError {
    let joined = violations.join("; ");
    if operation_id == "?" {
        let segments: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
        let (namespace, kind) = segments
            .iter()
            .rposition(|s| s.eq_ignore_ascii_case("providers"))
            .and_then(|i| Some((segments.get(i + 1)?, segments.get(i + 2)?)))
            .map_or(
                (
                    "Microsoft.Resources",
                    segments.last().copied().unwrap_or(""),
                ),
                |(n, t)| (*n, *t),
            );
        return ArmError::new(
            404,
            "InvalidResourceType",
            format!(
                "The resource type '{kind}' could not be found in the namespace '{namespace}' for \
                 api version '{}'. ({joined})",
                req.query("api-version").unwrap_or("")
            ),
        );
    }
    if violations
        .iter()
        .any(|v| v.contains("missing required query parameter `api-version`"))
    {
        return ArmError::new(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    }
    if let Some(v) = violations.iter().find(|v| v.contains("api-version is ")) {
        let supported = APIS
            .operations
            .get(operation_id)
            .map_or("", |op| op.api_version.as_str());
        return ArmError::new(
            400,
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{}' is invalid. The supported versions are '{supported}'. ({v})",
                req.query("api-version").unwrap_or("")
            ),
        );
    }
    // Storage's own code for a name its document's pattern refuses.
    if operation_id.starts_with("StorageAccounts_")
        && violations.iter().all(|v| v.contains("`accountName`"))
    {
        let name = req.param("accountName");
        return ArmError::new(
            400,
            "AccountNameInvalid",
            check_account_name(name)
                .err()
                .unwrap_or_else(|| format!("{name} is not a valid storage account name.")),
        );
    }
    ArmError::new(
        400,
        "InvalidRequestContent",
        format!("The request content was invalid and could not be deserialized: {joined}"),
    )
}

/// Checks an error answer: against the operation's document where it gives
/// a schema for the status (or a `default`), and always against ARM's own
/// `CloudError` (`{"error": {"code", "message"}}`), which ARM may send for
/// any operation (401, 404, 429, 5xx), documented or not.
fn check_error_answer(
    operation_id: &str,
    status: u16,
    body: Option<&Value>,
    out: &mut Vec<String>,
) {
    let bodyless = APIS
        .operations
        .get(operation_id)
        .and_then(|op| op.responses.get(&status.to_string()))
        .is_some_and(Option::is_none);
    let Some(body) = body else {
        if !bodyless {
            out.push(format!(
                "response: status {status} without ARM's error body"
            ));
        }
        return;
    };
    if let Some(op) = APIS.operations.get(operation_id) {
        let documented = op
            .responses
            .get(&status.to_string())
            .or_else(|| op.responses.get("default"));
        if let Some(Some(_)) = documented
            && let Err(problems) = APIS.validate_response(operation_id, status, body)
        {
            out.extend(problems);
        }
    }
    static CLOUD_ERROR: LazyLock<Option<azure_openapi::SchemaId>> =
        LazyLock::new(|| APIS.definition("resources.json", "CloudError"));
    match *CLOUD_ERROR {
        Some(schema) => APIS.check_json(schema, body, "error response", Direction::Response, out),
        None => out.push("resources.json defines no CloudError to check errors with".to_owned()),
    }
    for field in ["code", "message"] {
        if body["error"][field].as_str().is_none_or(str::is_empty) {
            out.push(format!("error response: error.{field} is missing or empty"));
        }
    }
}

/// ARM's 404 for a resource that is not there.
fn not_found(req: &Incoming, kind: &str, name: &str) -> ArmError {
    ArmError::new(
        404,
        "ResourceNotFound",
        format!(
            "The Resource '{kind}/{name}' under resource group '{}' was not found. For more \
             details please go to https://aka.ms/ARMResourceNotFoundFix",
            req.param("resourceGroupName")
        ),
    )
}

/// ARM's 404 for a nested resource whose parent is not there.
fn parent_not_found(req: &Incoming, kind: &str, parent: &str) -> ArmError {
    let verb = if req.method == "GET" { "read" } else { "write" };
    ArmError::new(
        404,
        "ParentResourceNotFound",
        format!(
            "Failed to perform '{verb}' on resource(s) of type '{kind}', because the parent \
             resource '{parent}' could not be found."
        ),
    )
}

/// The `WWW-Authenticate` ARM sends with a 401.
fn www_authenticate(e: &ArmError) -> String {
    let description = match e.code.as_str() {
        "AuthenticationFailed" => {
            "The authentication failed because of missing 'Authorization' header."
        }
        "ExpiredAuthenticationToken" => "The access token has expired.",
        "InvalidAuthenticationTokenAudience" => "The access token has an invalid audience.",
        _ => "The access token is invalid.",
    };
    format!(
        "Bearer authorization_uri=\"https://login.microsoftonline.com/{TENANT_ID}\", \
         error=\"invalid_token\", error_description=\"{description}\""
    )
}

fn arm_error_response(e: &ArmError, www_authenticate: Option<String>) -> Response {
    let mut response = json_response(e.status, &e.body());
    if let Some(value) = www_authenticate.and_then(|v| HeaderValue::from_str(&v).ok()) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    if let Some(secs) = e.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The request's path and query as sent.
fn uri_of(req: &Incoming) -> String {
    if req.query.is_empty() {
        return req.path.clone();
    }
    let query: Vec<String> = req
        .query
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    format!("{}?{}", req.path, query.join("&"))
}

/// `West Europe` → `westeurope`, as ARM normalises locations.
fn normalize_location(location: &str) -> String {
    location
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Storage account names: 3 to 24 lowercase letters and digits
/// (<https://learn.microsoft.com/azure/storage/common/storage-account-overview#storage-account-name>).
fn check_account_name(name: &str) -> Result<(), String> {
    let ok = (3..=24).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name} is not a valid storage account name. Storage account name must be between 3 \
             and 24 characters in length and use numbers and lower-case letters only."
        ))
    }
}

/// Container names: 3 to 63 lowercase letters, digits and single hyphens,
/// starting with a letter or digit.
fn check_container_name(name: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "The specified container name '{name}' is invalid: 3 to 63 lowercase letters, digits \
             and single hyphens, starting and ending with a letter or digit."
        ))
    }
}

/// App Service names (sites, slots, plans): letters, digits and hyphens,
/// not starting or ending with a hyphen, at most 60 characters (40 for
/// plans' and slots' own rules are not modelled).
fn check_web_name(name: &str, what: &str) -> Result<(), ArmError> {
    let ok = !name.is_empty()
        && name.len() <= 60
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ArmError::bad_request(format!(
            "The {what} name '{name}' is invalid: use up to 60 letters, digits and hyphens, not \
             starting or ending with a hyphen."
        )))
    }
}

/// The plan's SKU with `tier`, `size` and `family` filled from its name as
/// App Service does (`Y1` → `Dynamic`, `EP1` → `ElasticPremium`, `FC1` →
/// `FlexConsumption`, ...).
fn complete_sku(mut sku: Map<String, Value>) -> Result<Map<String, Value>, ArmError> {
    let name = sku
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let upper = name.to_ascii_uppercase();
    let tier = match upper.as_str() {
        "Y1" => "Dynamic",
        "FC1" => "FlexConsumption",
        n if n.starts_with("EP") => "ElasticPremium",
        n if n.starts_with("WS") => "WorkflowStandard",
        "F1" => "Free",
        "D1" => "Shared",
        n if n.starts_with('B') => "Basic",
        n if n.starts_with('S') => "Standard",
        n if n.starts_with('P') && n.ends_with("MV3") => "PremiumMV3",
        n if n.starts_with('P') && n.ends_with("V3") => "PremiumV3",
        n if n.starts_with('P') && n.ends_with("V2") => "PremiumV2",
        n if n.starts_with('P') => "Premium",
        n if n.starts_with('I') => "Isolated",
        _ => {
            if let Some(tier) = sku.get("tier").and_then(Value::as_str) {
                let tier = tier.to_owned();
                sku.entry("size").or_insert(Value::from(name.clone()));
                sku.insert("tier".into(), Value::from(tier));
                return Ok(sku);
            }
            return Err(ArmError::bad_request(format!(
                "The pricing tier '{name}' is not allowed for the App Service plan."
            )));
        }
    };
    if let Some(given) = sku.get("tier").and_then(Value::as_str)
        && !given.eq_ignore_ascii_case(tier)
    {
        return Err(ArmError::bad_request(format!(
            "The SKU {name} is of tier {tier}, not {given}."
        )));
    }
    sku.insert("tier".into(), Value::from(tier));
    sku.entry("size").or_insert(Value::from(name.clone()));
    let family: String = name
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    sku.entry("family").or_insert(Value::from(family));
    sku.entry("capacity").or_insert(Value::from(
        if tier == "Dynamic" || tier == "FlexConsumption" {
            0
        } else {
            1
        },
    ));
    Ok(sku)
}

/// How many slots besides production a plan allows, from Microsoft's
/// limits: Flex Consumption none ("Slots are not supported for apps
/// running in the Flex Consumption or Container Apps plans",
/// <https://learn.microsoft.com/azure/azure-functions/functions-deployment-slots>),
/// Consumption one ("Function apps running in a Consumption plan have a
/// single extra slot for staging", same page), Elastic Premium two (three
/// per app with production, functions-scale's service limits), and App
/// Service's tiers: Free/Shared/Basic none, Standard four, Premium and
/// Isolated nineteen (five and twenty with production).
fn check_slot_quota(flex: bool, tier: &str, sku: &str, existing: usize) -> Result<(), ArmError> {
    if flex {
        // Microsoft documents that Flex Consumption has no slots; the error
        // text is the fake's own (no public source quotes the service's).
        return Err(ArmError::bad_request(format!(
            "Deployment slots are not supported for Flex Consumption sites (plan SKU {sku})."
        )));
    }
    let allowed = match tier {
        "Dynamic" => 1,
        "ElasticPremium" => 2,
        "Free" | "Shared" | "Basic" => 0,
        "Standard" | "WorkflowStandard" => 4,
        _ => 19,
    };
    if existing >= allowed {
        return Err(ArmError::bad_request(format!(
            "Cannot create more than {allowed} deployment slot(s) for an app on the {tier} tier \
             ({sku})."
        )));
    }
    Ok(())
}

// ----- HTTP, time, randomness ---------------------------------------------

fn json_response(status: u16, value: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from(serde_json::to_vec(value).expect("JSON")))
        .expect("a valid response")
}

fn text_response(status: u16, text: &str) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(text.to_owned()))
        .expect("a valid response")
}

fn empty_response(status: u16) -> Response {
    Response::builder()
        .status(status)
        .body(Body::empty())
        .expect("a valid response")
}

/// Decoded query (or form) pairs: `+` is a space, `%XX` a byte.
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Now as RFC 3339 in UTC with seven fractional digits, as ARM writes it.
fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (date, time) = civil(since.as_secs() as i64);
    format!("{date}T{time}.{:07}Z", since.subsec_nanos() / 100)
}

/// `M/D/YYYY h:mm:ss AM` as ARM's token-expiry message prints times.
fn arm_time(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_days(days);
    let (h, min, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let (h12, half) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!("{m}/{d}/{y} {h12}:{min:02}:{s:02} {half}")
}

/// `20240101T120000Z`, for `x-ms-routing-request-id`.
fn compact_time() -> String {
    let (date, time) = civil(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs() as i64,
    );
    format!("{}T{}Z", date.replace('-', ""), time.replace(':', ""))
}

/// (`YYYY-MM-DD`, `hh:mm:ss`) of seconds since the epoch.
fn civil(secs: i64) -> (String, String) {
    let (y, m, d) = civil_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

/// Howard Hinnant's civil_from_days.
fn civil_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).expect("the OS provides randomness");
    b
}

fn random_hex(n: usize) -> String {
    random_bytes(n).iter().map(|x| format!("{x:02x}")).collect()
}

fn random_letters(n: usize) -> String {
    random_bytes(n)
        .iter()
        .map(|x| {
            let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
            alphabet[usize::from(*x) % alphabet.len()] as char
        })
        .collect()
}

fn random_uuid() -> String {
    let h = random_hex(16);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..]
    )
}

/// The fake's state, behind one lock.
struct State {
    /// `https://127.0.0.1:PORT`, once the server runs.
    url: String,
    tokens: HashMap<String, Token>,
    /// Trusted (issuer, subject) pairs of federated client assertions.
    federated: Vec<(String, String)>,
    calls: Vec<(String, String)>,
    violations: Vec<String>,
    faults: Vec<Fault>,
    operation_delay: Duration,
    retry_after: Option<u64>,
    async_creates: Vec<String>,
    fail_swaps: usize,
    /// Sites whose next swap fails.
    fail_swaps_of: Vec<String>,
    swaps: usize,
    /// By lowercase name (one subscription).
    groups: BTreeMap<String, Group>,
    /// By lowercase name: storage account names are global.
    accounts: BTreeMap<String, Account>,
    storage_keys: HashMap<String, String>,
    /// `primaryEndpoints.blob` overrides (Azurite), by account.
    blob_endpoints: HashMap<String, String>,
    /// By lowercase id.
    plans: BTreeMap<String, Plan>,
    /// By lowercase id.
    sites: BTreeMap<String, Site>,
    operations: BTreeMap<String, Operation>,
    answers: Vec<kudu::Canned>,
    served: Vec<Served>,
}
