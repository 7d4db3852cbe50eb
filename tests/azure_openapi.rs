//! The OpenAPI-driven Azure Resource Manager request validator
//! (`tests/support/azure_openapi.rs`) checked against the real ARM documents
//! in `../shared/specs/azure/specification`: it must accept the requests an
//! Azure backend for nubo will make, and reject each kind of mistake with a
//! message that says what is wrong, where, and in which operation.
//!
//! Rejections start from a request that is known to pass and change one
//! thing, and expect exactly one violation, so each test shows that the
//! change alone is caught.

#[path = "support/azure_openapi.rs"]
mod azure_openapi;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use azure_openapi::{Api, Location, ParamType};
use regex::Regex;
use serde_json::{Value, json};

/// The directory holding the documents; a missing directory fails every test
/// that needs it rather than skipping them.
fn spec_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/specs/azure/specification");
    assert!(
        dir.is_dir(),
        "the Azure OpenAPI documents are missing: expected {} with web/, storage/, resources/ and common-types/",
        dir.display()
    );
    dir
}

/// Every document of the specification directory but the examples: those
/// with operations, and those they refer to.
const DOCUMENTS: [&str; 14] = [
    "web/resource-manager/Microsoft.Web/stable/2023-12-01/WebApps.json",
    "web/resource-manager/Microsoft.Web/stable/2023-12-01/AppServicePlans.json",
    "web/resource-manager/Microsoft.Web/stable/2023-12-01/CommonDefinitions.json",
    "storage/resource-manager/Microsoft.Storage/stable/2023-05-01/storage.json",
    "storage/resource-manager/Microsoft.Storage/stable/2023-05-01/blob.json",
    "storage/resource-manager/Microsoft.Storage/stable/2023-05-01/common.json",
    "storage/resource-manager/Microsoft.Storage/stable/2023-05-01/privatelinks.json",
    "resources/resource-manager/Microsoft.Resources/stable/2024-07-01/resources.json",
    "common-types/resource-management/v1/types.json",
    "common-types/resource-management/v1/privatelinks.json",
    "common-types/resource-management/v2/types.json",
    "common-types/resource-management/v5/types.json",
    "common-types/resource-management/v6/types.json",
    "common-types/resource-management/v6/managedidentity.json",
];

fn load_all() -> Api {
    let dir = spec_dir();
    Api::load(DOCUMENTS.iter().map(|d| dir.join(d)))
}

static ARM: LazyLock<Api> = LazyLock::new(load_all);

const SUB: &str = "/subscriptions/00000000-0000-0000-0000-000000000001";
const RG: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/shop-rg";
const SITE: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/shop-rg/providers/Microsoft.Web/sites/shop-api";
const PLAN: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/shop-rg/providers/Microsoft.Web/serverfarms/shop-plan";
const ACCOUNT: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/shop-rg/providers/Microsoft.Storage/storageAccounts/shopdeploy01";

const WEB: &str = "api-version=2023-12-01";
const STORAGE: &str = "api-version=2023-05-01";
const RESOURCES: &str = "api-version=2024-07-01";

/// Splits `path?a=1&b=2` into the path and its query pairs (the tests write
/// query values that need no decoding).
fn split_url(url: &str) -> (&str, Vec<(String, String)>) {
    let Some((path, query)) = url.split_once('?') else {
        return (url, Vec::new());
    };
    let pairs = query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    (path, pairs)
}

fn validate(method: &str, url: &str, body: Option<&Value>) -> Result<String, Vec<String>> {
    let (path, query) = split_url(url);
    let body = body.map(bytes);
    ARM.validate_request(method, path, &query, &[], body.as_deref())
}

/// Asserts that the request passes and returns its operation id.
#[track_caller]
fn accepted(method: &str, url: &str, body: Option<&Value>) -> String {
    validate(method, url, body)
        .unwrap_or_else(|v| panic!("{method} {url} was rejected:\n  {}", v.join("\n  ")))
}

/// Asserts that the request is rejected with exactly one violation, which
/// contains `needle`, and returns it.
#[track_caller]
fn rejected_once(method: &str, url: &str, body: Option<&Value>, needle: &str) -> String {
    match validate(method, url, body) {
        Ok(id) => panic!(
            "{method} {url} was accepted as {id}, expected a violation containing {needle:?}"
        ),
        Err(violations) => one_violation(violations, needle),
    }
}

#[track_caller]
fn one_violation(violations: Vec<String>, needle: &str) -> String {
    assert!(
        violations.len() == 1 && violations[0].contains(needle),
        "expected exactly one violation containing {needle:?}, got:\n  {}",
        violations.join("\n  ")
    );
    violations.into_iter().next().unwrap()
}

fn bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

/// A Linux Function App as nubo would create it on a consumption plan.
fn function_app() -> Value {
    json!({
        "kind": "functionapp,linux",
        "location": "westeurope",
        "tags": { "managed-by": "nubo", "nubo-release": "r7" },
        "identity": { "type": "SystemAssigned" },
        "properties": {
            "serverFarmId": PLAN,
            "reserved": true,
            "httpsOnly": true,
            "siteConfig": {
                "linuxFxVersion": "Node|20",
                "ftpsState": "Disabled",
                "minTlsVersion": "1.2",
                "functionAppScaleLimit": 10,
                "appSettings": [
                    { "name": "FUNCTIONS_EXTENSION_VERSION", "value": "~4" },
                    { "name": "FUNCTIONS_WORKER_RUNTIME", "value": "node" },
                    {
                        "name": "AzureWebJobsStorage",
                        "value": "DefaultEndpointsProtocol=https;AccountName=shopdeploy01;AccountKey=a2V5;EndpointSuffix=core.windows.net"
                    },
                    { "name": "WEBSITE_RUN_FROM_PACKAGE", "value": "1" }
                ]
            }
        }
    })
}

fn site_url() -> String {
    format!("{SITE}?{WEB}")
}

/// Creates the site with `body`, which must draw exactly one violation
/// containing `needle`.
#[track_caller]
fn create_rejected(body: &Value, needle: &str) -> String {
    rejected_once("PUT", &site_url(), Some(body), needle)
}

/// An example file of `document` (a path under the specification directory).
fn example(document: &str, file: &str) -> Value {
    let path = spec_dir()
        .join(document)
        .parent()
        .unwrap()
        .join("examples")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read example {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------
// (a) The documents load and their operations are found.

#[test]
fn all_documents_load_with_their_operations() {
    // The list above is the whole directory: nothing is left out.
    let mut on_disk = Vec::new();
    collect_documents(&spec_dir(), &spec_dir(), &mut on_disk);
    on_disk.sort();
    let mut listed: Vec<String> = DOCUMENTS.iter().map(|d| d.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "documents in {}", spec_dir().display());

    let started = Instant::now();
    let api = load_all();
    let elapsed = started.elapsed();
    println!(
        "loaded {} documents, {} operations in {elapsed:?}",
        api.documents.len(),
        api.operations.len()
    );
    assert!(
        elapsed < Duration::from_secs(1),
        "loading took {elapsed:?}, expected well under a second"
    );

    // Every document given, and nothing else: all their $refs stay inside.
    assert_eq!(api.documents.len(), DOCUMENTS.len());
    let versions: BTreeMap<&str, &str> = api
        .documents
        .iter()
        .filter(|d| d.operation_count > 0)
        .map(|d| (d.name.as_str(), d.version.as_str()))
        .collect();
    assert_eq!(
        versions,
        BTreeMap::from([
            ("AppServicePlans.json", "2023-12-01"),
            ("WebApps.json", "2023-12-01"),
            ("blob.json", "2023-05-01"),
            ("resources.json", "2024-07-01"),
            ("storage.json", "2023-05-01"),
        ])
    );
    assert!(api.documents.iter().all(|d| d.loaded_for_operations));

    let create = &api.operations["WebApps_CreateOrUpdate"];
    assert_eq!(create.http_method, "PUT");
    assert_eq!(
        create.path,
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Web/sites/{name}"
    );
    assert_eq!(create.document, "WebApps.json");
    assert_eq!(create.api_version, "2023-12-01");
    assert!(create.long_running);
    let body = create.body.as_ref().expect("a site is created from a body");
    assert_eq!(body.name, "siteEnvelope");
    assert!(body.required);
    assert_eq!(api.schema(body.schema).name, None, "a $ref to Site");
    let site = api
        .definition("CommonDefinitions.json", "Site")
        .expect("Site is defined");
    assert_eq!(
        api.schema(body.schema).reference,
        Some(site),
        "`./CommonDefinitions.json#/definitions/Site` resolves across files"
    );
    // Site inherits location and tags from Resource through allOf.
    let view = api.schema(site).object.as_ref().expect("Site is an object");
    for inherited in ["id", "name", "kind", "location", "type", "tags"] {
        assert!(view.properties.contains_key(inherited), "Site.{inherited}");
    }
    assert!(view.required.contains("location"));
    let mut codes: Vec<&str> = create.responses.keys().map(String::as_str).collect();
    codes.sort();
    assert_eq!(codes, ["200", "202", "default"]);

    let names: Vec<(&str, Location)> = create
        .parameters
        .iter()
        .map(|p| (p.name.as_str(), p.location))
        .collect();
    for expected in [
        ("subscriptionId", Location::Path),
        ("resourceGroupName", Location::Path),
        ("name", Location::Path),
        ("api-version", Location::Query),
    ] {
        assert!(names.contains(&expected), "{expected:?} in {names:?}");
    }

    // A parameter from common-types, through `../../../../../`.
    let keys = &api.operations["StorageAccounts_ListKeys"];
    let api_version = keys
        .parameters
        .iter()
        .find(|p| p.name == "api-version")
        .unwrap();
    assert!(api_version.required && !api_version.any_api_version);
    let expand = keys
        .parameters
        .iter()
        .find(|p| p.name == "$expand")
        .unwrap();
    assert_eq!(expand.param_type, ParamType::String);
    assert_eq!(
        expand.enum_values.as_deref(),
        Some(&["kerb".to_owned()][..])
    );
    assert!(!expand.open_enum);

    // The generic resource operations take the target's api-version.
    assert!(api.operations["Resources_GetById"].any_api_version);
    assert!(!api.operations["ResourceGroups_Get"].any_api_version);

    // Two documents share an operationId: both stay, qualified.
    assert!(api.operations.contains_key("storage.json#Operations_List"));
    assert!(
        api.operations
            .contains_key("resources.json#Operations_List")
    );
    assert!(!api.operations.contains_key("Operations_List"));
}

fn collect_documents(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "examples") {
                collect_documents(root, &path, out);
            }
        } else if path.extension().is_some_and(|e| e == "json") {
            let relative = path.strip_prefix(root).unwrap();
            out.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// Every operation of every document, counted from the raw JSON, is found
/// again from its own path template filled with sample values, in the
/// template's case and in lower case (ARM paths are case-insensitive), and
/// its path parameters come out under their declared names.
#[test]
fn every_operation_is_found_from_its_own_path() {
    let variable = Regex::new(r"\{([^}]+)\}").unwrap();
    let methods = ["get", "put", "post", "delete", "patch", "head", "options"];
    let mut counted = 0;
    let mut wrong = Vec::new();
    for document in DOCUMENTS {
        let path = spec_dir().join(document);
        let raw: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for section in ["paths", "x-ms-paths"] {
            for (template, item) in raw[section].as_object().into_iter().flatten() {
                for (method, op) in item.as_object().unwrap() {
                    if !methods.contains(&method.as_str()) {
                        continue;
                    }
                    counted += 1;
                    let operation_id = op["operationId"].as_str().unwrap();
                    let mut n = 0;
                    let template_path = template.split('?').next().unwrap();
                    let url = variable.replace_all(template_path, |_: &regex::Captures| {
                        n += 1;
                        format!("v{n}")
                    });
                    let http = method.to_uppercase();
                    for url in [url.to_string(), url.to_lowercase()] {
                        let Some((found, params)) = ARM.match_request(&http, &url) else {
                            wrong.push(format!("{http} {url}: no match ({file} {operation_id})"));
                            continue;
                        };
                        if found.operation_id != operation_id || found.document != file {
                            wrong.push(format!(
                                "{http} {url}: {} of {} instead of {operation_id} of {file}",
                                found.operation_id, found.document
                            ));
                        }
                        for name in variable.captures_iter(template_path) {
                            if !params.contains_key(&name[1]) {
                                wrong.push(format!("{operation_id}: no value for `{}`", &name[1]));
                            }
                        }
                    }
                }
            }
        }
    }
    println!(
        "{counted} operations in the documents, {} loaded",
        ARM.operations.len()
    );
    assert_eq!(ARM.operations.len(), counted);
    let per_document: usize = ARM.documents.iter().map(|d| d.operation_count).sum();
    assert_eq!(per_document, counted);
    assert!(
        wrong.is_empty(),
        "{} of {counted} operations:\n  {}",
        wrong.len(),
        wrong.join("\n  ")
    );
}

// ---------------------------------------------------------------------------
// (b) The requests of a Function App deployment pass.

#[test]
fn function_app_create_is_accepted() {
    assert_eq!(
        accepted("PUT", &site_url(), Some(&function_app())),
        "WebApps_CreateOrUpdate"
    );
    let (op, params) = ARM.match_request("PUT", SITE).unwrap();
    assert_eq!(op.id, "WebApps_CreateOrUpdate");
    assert_eq!(
        params,
        BTreeMap::from([
            (
                "subscriptionId".to_owned(),
                "00000000-0000-0000-0000-000000000001".to_owned()
            ),
            ("resourceGroupName".to_owned(), "shop-rg".to_owned()),
            ("name".to_owned(), "shop-api".to_owned()),
        ])
    );

    // Read-only properties a client echoes back from a GET are ignored by
    // ARM, and accepted.
    let mut body = function_app();
    body["id"] = json!(SITE);
    body["type"] = json!("Microsoft.Web/sites");
    body["properties"]["defaultHostName"] = json!("shop-api.azurewebsites.net");
    body["properties"]["state"] = json!("Running");
    accepted("PUT", &site_url(), Some(&body));

    // An enum with `modelAsString: true` takes values it does not list.
    let mut body = function_app();
    body["properties"]["siteConfig"]["ftpsState"] = json!("SomeFutureState");
    accepted("PUT", &site_url(), Some(&body));

    // Literal segments are case-insensitive, as in ARM.
    let lower = format!("{}?{WEB}", SITE.to_lowercase());
    assert_eq!(
        accepted("PUT", &lower, Some(&function_app())),
        "WebApps_CreateOrUpdate"
    );
}

#[test]
fn slot_create_and_app_settings_are_accepted() {
    let slot = format!("{SITE}/slots/staging?{WEB}");
    assert_eq!(
        accepted("PUT", &slot, Some(&function_app())),
        "WebApps_CreateOrUpdateSlot"
    );

    let settings = json!({
        "kind": "functionapp",
        "properties": {
            "FUNCTIONS_EXTENSION_VERSION": "~4",
            "FUNCTIONS_WORKER_RUNTIME": "node",
            "WEBSITE_RUN_FROM_PACKAGE": "https://shopdeploy01.blob.core.windows.net/releases/r7.zip"
        }
    });
    assert_eq!(
        accepted(
            "PUT",
            &format!("{SITE}/config/appsettings?{WEB}"),
            Some(&settings)
        ),
        "WebApps_UpdateApplicationSettings"
    );
    assert_eq!(
        accepted(
            "PUT",
            &format!("{SITE}/slots/staging/config/appsettings?{WEB}"),
            Some(&settings)
        ),
        "WebApps_UpdateApplicationSettingsSlot"
    );
    assert_eq!(
        accepted(
            "POST",
            &format!("{SITE}/config/appsettings/list?{WEB}"),
            None
        ),
        "WebApps_ListApplicationSettings"
    );
}

#[test]
fn slot_swaps_are_accepted() {
    let to_production = json!({ "targetSlot": "staging", "preserveVnet": true });
    assert_eq!(
        accepted(
            "POST",
            &format!("{SITE}/slotsswap?{WEB}"),
            Some(&to_production)
        ),
        "WebApps_SwapSlotWithProduction"
    );
    // Swapping a slot with another slot: the document calls it
    // WebApps_SwapSlotSlot (there is no WebApps_SwapSlot).
    let to_slot = json!({ "targetSlot": "production", "preserveVnet": false });
    assert_eq!(
        accepted(
            "POST",
            &format!("{SITE}/slots/staging/slotsswap?{WEB}"),
            Some(&to_slot)
        ),
        "WebApps_SwapSlotSlot"
    );
    assert!(!ARM.operations.contains_key("WebApps_SwapSlot"));
}

#[test]
fn function_triggers_deploy_and_get_are_accepted() {
    assert_eq!(
        accepted("POST", &format!("{SITE}/syncfunctiontriggers?{WEB}"), None),
        "WebApps_SyncFunctionTriggers"
    );
    assert_eq!(accepted("GET", &site_url(), None), "WebApps_Get");
    assert_eq!(
        accepted("PUT", &format!("{SITE}/extensions/onedeploy?{WEB}"), None),
        "WebApps_CreateOneDeployOperation"
    );
    // The document declares no body for OneDeploy, although the service
    // takes `{"properties": {"packageUri": ..., "type": "zip"}}`: a fake
    // that serves it must know that the document is silent here.
    let onedeploy = json!({ "properties": { "packageUri": "https://shopdeploy01.blob.core.windows.net/releases/r7.zip", "type": "zip" } });
    let message = rejected_once(
        "PUT",
        &format!("{SITE}/extensions/onedeploy?{WEB}"),
        Some(&onedeploy),
        "WebApps_CreateOneDeployOperation: PUT /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Web/sites/{name}/extensions/onedeploy takes no request body",
    );
    assert!(message.ends_with("bytes"), "{message}");
}

#[test]
fn plan_storage_and_resource_group_requests_are_accepted() {
    let plan = json!({
        "kind": "functionapp",
        "location": "westeurope",
        "sku": { "name": "Y1", "tier": "Dynamic" },
        "properties": { "reserved": true }
    });
    assert_eq!(
        accepted("PUT", &format!("{PLAN}?{WEB}"), Some(&plan)),
        "AppServicePlans_CreateOrUpdate"
    );

    let account = json!({
        "sku": { "name": "Standard_LRS" },
        "kind": "StorageV2",
        "location": "westeurope",
        "tags": { "managed-by": "nubo" },
        "properties": {
            "minimumTlsVersion": "TLS1_2",
            "allowBlobPublicAccess": false,
            "supportsHttpsTrafficOnly": true,
            "accessTier": "Hot"
        }
    });
    assert_eq!(
        accepted("PUT", &format!("{ACCOUNT}?{STORAGE}"), Some(&account)),
        "StorageAccounts_Create"
    );
    assert_eq!(
        accepted("POST", &format!("{ACCOUNT}/listKeys?{STORAGE}"), None),
        "StorageAccounts_ListKeys"
    );
    assert_eq!(
        accepted(
            "POST",
            &format!("{ACCOUNT}/listKeys?{STORAGE}&$expand=kerb"),
            None
        ),
        "StorageAccounts_ListKeys"
    );
    let container =
        json!({ "properties": { "publicAccess": "None", "metadata": { "managed-by": "nubo" } } });
    assert_eq!(
        accepted(
            "PUT",
            &format!("{ACCOUNT}/blobServices/default/containers/releases?{STORAGE}"),
            Some(&container)
        ),
        "BlobContainers_Create"
    );

    let group = json!({ "location": "westeurope", "tags": { "managed-by": "nubo" } });
    assert_eq!(
        accepted("PUT", &format!("{RG}?{RESOURCES}"), Some(&group)),
        "ResourceGroups_CreateOrUpdate"
    );
    assert_eq!(
        accepted("HEAD", &format!("{RG}?{RESOURCES}"), None),
        "ResourceGroups_CheckExistence"
    );
    // resources.json spells the segment `resourcegroups`.
    assert_eq!(
        ARM.operations["ResourceGroups_CheckExistence"].path,
        "/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}"
    );
}

#[test]
fn generic_operations_take_undocumented_providers_only() {
    // Application Insights is not among the documents: the generic GET by
    // id takes it, with the api-version of the target type.
    let id =
        format!("{RG}/providers/Microsoft.Insights/components/shop-api?api-version=2020-02-02");
    assert_eq!(accepted("GET", &id, None), "Resources_GetById");
    // A resource of a documented provider is served by that provider's own
    // operation, however it is reached.
    assert_eq!(accepted("GET", &site_url(), None), "WebApps_Get");
    // ...and a typo in its type is no operation at all, rather than a
    // generic one.
    let typo = format!("{RG}/providers/Microsoft.Web/site/shop-api?{WEB}");
    let message = rejected_once("GET", &typo, None, "no operation for GET");
    assert!(
        message.contains("Microsoft.Web is described by the loaded documents, and none of its operations has this path; the generic Resources_GetById does not stand in for it"),
        "{message}"
    );
    // Tags at any scope are Microsoft.Resources' own extension operation.
    let tags = format!("{SITE}/providers/Microsoft.Resources/tags/default?{RESOURCES}");
    assert_eq!(
        accepted(
            "PUT",
            &tags,
            Some(&json!({ "properties": { "tags": { "env": "prod" } } }))
        ),
        "Tags_CreateOrUpdateAtScope"
    );
    let (_, params) = ARM
        .match_request(
            "PUT",
            &format!("{SITE}/providers/Microsoft.Resources/tags/default"),
        )
        .unwrap();
    assert_eq!(
        params["scope"],
        SITE.trim_start_matches('/'),
        "`{{scope}}` (x-ms-skip-url-encoding) spans segments"
    );
}

// ---------------------------------------------------------------------------
// (c) Mistakes are rejected, each with a message that names it.

#[test]
fn unknown_path_is_rejected() {
    let message = rejected_once(
        "POST",
        &format!("{SITE}/slotswap?{WEB}"),
        Some(&json!({ "targetSlot": "staging", "preserveVnet": true })),
        "no operation for POST",
    );
    assert_eq!(message, format!("no operation for POST {SITE}/slotswap"));
    // The right path with the wrong HTTP method says which methods it has.
    let message = rejected_once(
        "POST",
        &site_url(),
        Some(&function_app()),
        "no operation for POST",
    );
    assert!(
        message.contains("GET WebApps_Get")
            && message.contains("PUT WebApps_CreateOrUpdate")
            && message.contains("DELETE WebApps_Delete"),
        "{message}"
    );
    // A path that does not start with /.
    rejected_once(
        "GET",
        "subscriptions",
        None,
        "no operation for GET subscriptions",
    );
}

#[test]
fn wrong_api_version_is_rejected() {
    let message = rejected_once(
        "GET",
        &format!("{SITE}?api-version=2022-03-01"),
        None,
        r#"WebApps_Get: api-version is "2022-03-01", but WebApps.json describes 2023-12-01"#,
    );
    assert!(message.contains("ARM rejects"), "{message}");
    // Each document has its own version: the storage one is not Microsoft.Web's.
    rejected_once(
        "GET",
        &format!("{SITE}?{STORAGE}"),
        None,
        "but WebApps.json describes 2023-12-01",
    );
}

#[test]
fn missing_api_version_is_rejected() {
    rejected_once(
        "GET",
        SITE,
        None,
        "WebApps_Get: missing required query parameter `api-version` (WebApps.json describes 2023-12-01)",
    );
}

#[test]
fn unknown_query_parameter_is_rejected() {
    let message = rejected_once(
        "GET",
        &format!("{SITE}?{WEB}&$expand=all"),
        None,
        "WebApps_Get: unknown query parameter `$expand` (it takes api-version)",
    );
    assert_eq!(
        message,
        "WebApps_Get: unknown query parameter `$expand` (it takes api-version)"
    );
    // A path parameter given in the query says so.
    rejected_once(
        "GET",
        &format!("{SITE}?{WEB}&name=shop-api"),
        None,
        "unknown query parameter `name` (it takes api-version); `name` is a path parameter",
    );
}

#[test]
fn bad_query_values_are_rejected() {
    rejected_once(
        "POST",
        &format!("{ACCOUNT}/listKeys?{STORAGE}&$expand=kerberos"),
        None,
        r#"StorageAccounts_ListKeys: query parameter `$expand`: "kerberos" is not one of kerb"#,
    );
    rejected_once(
        "GET",
        &format!("{SITE}?{WEB}&{WEB}"),
        None,
        "WebApps_Get: query parameter `api-version` is given 2 times",
    );
    // `$top` of the resource group listing is an int32.
    assert_eq!(
        accepted(
            "GET",
            &format!("{SUB}/resourcegroups?{RESOURCES}&$top=10"),
            None
        ),
        "ResourceGroups_List"
    );
    rejected_once(
        "GET",
        &format!("{SUB}/resourcegroups?{RESOURCES}&$top=ten"),
        None,
        r#"ResourceGroups_List: query parameter `$top`: "ten" is not a valid int32"#,
    );
}

#[test]
fn missing_required_body_property_is_rejected() {
    let mut body = function_app();
    body.as_object_mut().unwrap().remove("location");
    create_rejected(
        &body,
        "WebApps_CreateOrUpdate: request.location: missing, but Site requires it",
    );
    // Both properties of a swap are required.
    rejected_once(
        "POST",
        &format!("{SITE}/slotsswap?{WEB}"),
        Some(&json!({ "targetSlot": "staging" })),
        "WebApps_SwapSlotWithProduction: request.preserveVnet: missing, but CsmSlotEntity requires it",
    );
}

#[test]
fn wrong_json_type_is_rejected() {
    let mut body = function_app();
    body["properties"]["httpsOnly"] = json!("true");
    create_rejected(
        &body,
        r#"WebApps_CreateOrUpdate: request.properties.httpsOnly: expected a boolean, got string "true""#,
    );

    let mut body = function_app();
    body["properties"]["siteConfig"]["appSettings"] = json!({ "FUNCTIONS_WORKER_RUNTIME": "node" });
    create_rejected(
        &body,
        "request.properties.siteConfig.appSettings: expected an array, got an object",
    );

    let mut body = function_app();
    body["tags"]["nubo-release"] = json!(7);
    create_rejected(
        &body,
        r#"request.tags["nubo-release"]: expected a string, got number 7"#,
    );

    let mut body = function_app();
    body["properties"]["siteConfig"]["functionAppScaleLimit"] = json!(3_000_000_000_u64);
    create_rejected(
        &body,
        "request.properties.siteConfig.functionAppScaleLimit: expected an integer (int32), got number 3000000000",
    );

    let mut body = function_app();
    body["properties"]["siteConfig"]["functionAppScaleLimit"] = json!(-1);
    create_rejected(
        &body,
        "request.properties.siteConfig.functionAppScaleLimit: -1 is below the minimum 0",
    );
}

#[test]
fn misspelled_property_is_rejected() {
    let mut body = function_app();
    let setting = body["properties"]["siteConfig"]["appSettings"][0]
        .as_object_mut()
        .unwrap();
    let name = setting.remove("name").unwrap();
    setting.insert("nam".to_owned(), name);
    create_rejected(
        &body,
        "WebApps_CreateOrUpdate: request.properties.siteConfig.appSettings[0].nam: unknown field (not a property of NameValuePair)",
    );

    let mut body = function_app();
    body["properties"]["serverFarmID"] = body["properties"]["serverFarmId"].take();
    body["properties"]
        .as_object_mut()
        .unwrap()
        .remove("serverFarmId");
    create_rejected(
        &body,
        "request.properties.serverFarmID: unknown field (not a property of Site.properties)",
    );

    // Top level too: `tag` for `tags`.
    let mut body = function_app();
    body["tag"] = body["tags"].take();
    body.as_object_mut().unwrap().remove("tags");
    create_rejected(&body, "request.tag: unknown field (not a property of Site)");
}

#[test]
fn value_outside_a_closed_enum_is_rejected() {
    // ManagedServiceIdentity.type is `modelAsString: false`.
    let mut body = function_app();
    body["identity"]["type"] = json!("SystemAssignedIdentity");
    let message = create_rejected(
        &body,
        r#"WebApps_CreateOrUpdate: request.identity.type: "SystemAssignedIdentity" is not one of"#,
    );
    assert!(
        message.ends_with(r#"is not one of "SystemAssigned", "UserAssigned", "SystemAssigned, UserAssigned", "None""#),
        "{message}"
    );

    let container = json!({ "properties": { "publicAccess": "Private" } });
    rejected_once(
        "PUT",
        &format!("{ACCOUNT}/blobServices/default/containers/releases?{STORAGE}"),
        Some(&container),
        r#"BlobContainers_Create: request.properties.publicAccess: "Private" is not one of "Container", "Blob", "None""#,
    );
}

#[test]
fn path_parameter_violating_its_pattern_is_rejected() {
    // Read the patterns from the documents first.
    let pattern_of = |operation: &str, name: &str| -> String {
        ARM.operations[operation]
            .parameters
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.pattern.as_ref())
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| panic!("{operation}: `{name}` has no pattern"))
    };
    assert_eq!(
        pattern_of("WebApps_Get", "resourceGroupName"),
        r"^[-\w\._\(\)]+[^\.]$"
    );
    assert_eq!(
        pattern_of("ResourceGroups_CreateOrUpdate", "resourceGroupName"),
        r"^[-\w\._\(\)]+$"
    );
    assert_eq!(
        pattern_of("StorageAccounts_Create", "accountName"),
        "^[a-z0-9]+$"
    );

    // `!` is not allowed in a resource group name ...
    let bad_group =
        format!("{SUB}/resourceGroups/shop!rg/providers/Microsoft.Web/sites/shop-api?{WEB}");
    rejected_once(
        "GET",
        &bad_group,
        None,
        r#"WebApps_Get: path parameter `resourceGroupName`: "shop!rg" does not match ^[-\w\._\(\)]+[^\.]$"#,
    );
    rejected_once(
        "PUT",
        &format!("{SUB}/resourcegroups/shop!rg?{RESOURCES}"),
        Some(&json!({ "location": "westeurope" })),
        r#"ResourceGroups_CreateOrUpdate: path parameter `resourceGroupName`: "shop!rg" does not match ^[-\w\._\(\)]+$"#,
    );
    // Microsoft.Web's pattern checks only that the name does not end in a
    // period: it lets `shop-rg!` through, and refuses the one-character
    // names ARM allows (`a`). The documents are applied as written.
    let web_pattern = Regex::new(&pattern_of("WebApps_Get", "resourceGroupName")).unwrap();
    assert!(web_pattern.is_match("shop-rg!") && !web_pattern.is_match("a"));
    // ... and, for Microsoft.Web, no trailing period.
    rejected_once(
        "GET",
        &format!("{SUB}/resourceGroups/shop-rg./providers/Microsoft.Web/sites/shop-api?{WEB}"),
        None,
        r#""shop-rg." does not match"#,
    );
    // Percent-escapes are decoded before the pattern applies.
    rejected_once(
        "GET",
        &format!("{SUB}/resourceGroups/shop%20rg/providers/Microsoft.Web/sites/shop-api?{WEB}"),
        None,
        r#""shop rg" does not match"#,
    );

    // Storage account names: lower-case letters and digits, 3 to 24.
    let create =
        json!({ "sku": { "name": "Standard_LRS" }, "kind": "StorageV2", "location": "westeurope" });
    rejected_once(
        "PUT",
        &format!("{RG}/providers/Microsoft.Storage/storageAccounts/Shop_Deploy?{STORAGE}"),
        Some(&create),
        r#"StorageAccounts_Create: path parameter `accountName`: "Shop_Deploy" does not match ^[a-z0-9]+$"#,
    );
    rejected_once(
        "PUT",
        &format!("{RG}/providers/Microsoft.Storage/storageAccounts/ab?{STORAGE}"),
        Some(&create),
        r#"path parameter `accountName`: "ab" is 2 characters long, shorter than the minimum 3"#,
    );
}

#[test]
fn body_that_is_not_json_is_rejected() {
    let violations = ARM
        .validate_request(
            "PUT",
            SITE,
            &[("api-version".to_owned(), "2023-12-01".to_owned())],
            &[],
            Some(br#"{"location": "westeurope", "#),
        )
        .unwrap_err();
    one_violation(
        violations,
        "WebApps_CreateOrUpdate: request body is not valid JSON: EOF while parsing",
    );
}

#[test]
fn body_presence_is_checked() {
    rejected_once(
        "GET",
        &site_url(),
        Some(&json!({})),
        "WebApps_Get: GET /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Web/sites/{name} takes no request body, but got 2 bytes",
    );
    rejected_once(
        "PUT",
        &site_url(),
        None,
        "WebApps_CreateOrUpdate: PUT /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Web/sites/{name} needs a request body (`siteEnvelope`, Site)",
    );
}

#[test]
fn required_header_is_checked() {
    let url = format!(
        "{ACCOUNT}/blobServices/default/containers/releases/immutabilityPolicies/default?{STORAGE}"
    );
    let (path, query) = split_url(&url);
    let headers = [("if-match".to_owned(), "\"8d59f81a7fa7be0\"".to_owned())];
    assert_eq!(
        ARM.validate_request("DELETE", path, &query, &headers, None),
        Ok("BlobContainers_DeleteImmutabilityPolicy".to_owned())
    );
    let violations = ARM
        .validate_request("DELETE", path, &query, &[], None)
        .unwrap_err();
    one_violation(
        violations,
        "BlobContainers_DeleteImmutabilityPolicy: missing required header `If-Match`",
    );
}

#[test]
fn every_violation_is_reported_at_once() {
    let mut body = function_app();
    body["properties"]["httpsOnly"] = json!(1);
    body["identity"]["type"] = json!("Both");
    let (_, query) = split_url("?api-version=2020-01-01&x=1");
    let mut violations = ARM
        .validate_request(
            "PUT",
            &format!("{SUB}/resourceGroups/a!b/providers/Microsoft.Web/sites/shop-api"),
            &query,
            &[],
            Some(&bytes(&body)),
        )
        .unwrap_err();
    violations.sort();
    assert_eq!(violations.len(), 5, "{violations:#?}");
    assert!(
        violations
            .iter()
            .all(|v| v.starts_with("WebApps_CreateOrUpdate: ")),
        "{violations:#?}"
    );
}

// ---------------------------------------------------------------------------
// (d) Responses.

const WEB_DOC: &str = "web/resource-manager/Microsoft.Web/stable/2023-12-01/WebApps.json";
const PLANS_DOC: &str = "web/resource-manager/Microsoft.Web/stable/2023-12-01/AppServicePlans.json";

#[track_caller]
fn response_accepted(operation: &str, status: u16, body: &Value) {
    ARM.validate_response(operation, status, body)
        .unwrap_or_else(|v| panic!("{operation} {status} was rejected:\n  {}", v.join("\n  ")));
}

#[test]
fn documented_examples_validate_as_responses() {
    let get = example(WEB_DOC, "GetWebApp.json");
    response_accepted("WebApps_Get", 200, &get["responses"]["200"]["body"]);

    let slot = example(WEB_DOC, "CreateOrUpdateWebAppSlot.json");
    for status in ["200", "202"] {
        let body = &slot["responses"][status]["body"];
        assert!(body.is_object(), "{status} has a body");
        response_accepted("WebApps_CreateOrUpdateSlot", status.parse().unwrap(), body);
    }

    let plan = example(PLANS_DOC, "GetAppServicePlan.json");
    response_accepted(
        "AppServicePlans_Get",
        200,
        &plan["responses"]["200"]["body"],
    );

    let settings = example(WEB_DOC, "ListAppSettings.json");
    response_accepted(
        "WebApps_ListApplicationSettings",
        200,
        &settings["responses"]["200"]["body"],
    );
}

#[test]
fn response_with_misspelled_field_is_rejected() {
    let mut site = example(WEB_DOC, "GetWebApp.json")["responses"]["200"]["body"].take();
    let properties = site["properties"].as_object_mut().unwrap();
    let host = properties.remove("defaultHostName").unwrap();
    properties.insert("defaultHostname".to_owned(), host);
    let violations = ARM
        .validate_response("WebApps_Get", 200, &site)
        .unwrap_err();
    one_violation(
        violations,
        "WebApps_Get: response.properties.defaultHostname: unknown field (not a property of Site.properties)",
    );
}

#[test]
fn responses_are_checked_for_their_status() {
    let site = example(WEB_DOC, "GetWebApp.json")["responses"]["200"]["body"].take();

    // Responses must carry what the schema requires, read-only or not.
    let mut missing = site.clone();
    missing.as_object_mut().unwrap().remove("location");
    let violations = ARM
        .validate_response("WebApps_Get", 200, &missing)
        .unwrap_err();
    one_violation(
        violations,
        "WebApps_Get: response.location: missing, but Site requires it",
    );

    // Statuses without a body.
    assert!(
        ARM.validate_response("WebApps_Get", 404, &Value::Null)
            .is_ok()
    );
    let violations = ARM
        .validate_response("WebApps_Get", 404, &site)
        .unwrap_err();
    one_violation(
        violations,
        "WebApps_Get: response: status 404 has no body, but the response is an object",
    );
    assert!(
        ARM.validate_response("ResourceGroups_CheckExistence", 204, &Value::Null)
            .is_ok()
    );
    let violations = ARM
        .validate_response("WebApps_Get", 200, &Value::Null)
        .unwrap_err();
    one_violation(
        violations,
        "WebApps_Get: response: status 200 has a body (Site), but the response has none",
    );

    // Other statuses take the `default` error schema.
    let error = json!({ "error": { "code": "Conflict", "message": "The site is being swapped." } });
    assert!(ARM.validate_response("WebApps_Get", 409, &error).is_ok());
    let violations = ARM
        .validate_response(
            "WebApps_Get",
            409,
            &json!({ "error": { "code": "Conflict", "mesage": "x" } }),
        )
        .unwrap_err();
    one_violation(
        violations,
        "WebApps_Get: response.error.mesage: unknown field (not a property of DefaultErrorResponse.error)",
    );
    // StorageAccounts_Create documents 200 and 202 only.
    let violations = ARM
        .validate_response("StorageAccounts_Create", 400, &error)
        .unwrap_err();
    one_violation(
        violations,
        "StorageAccounts_Create: status 400 is not documented (it documents 200, 202)",
    );

    let violations = ARM
        .validate_response("WebApps_Frobnicate", 200, &site)
        .unwrap_err();
    one_violation(
        violations,
        "no operation WebApps_Frobnicate in the loaded documents",
    );
    let violations = ARM
        .validate_response("Operations_List", 200, &json!({}))
        .unwrap_err();
    one_violation(
        violations,
        "operation Operations_List is in several documents; name one of resources.json#Operations_List, storage.json#Operations_List",
    );
}

/// Every `x-ms-examples` example of every operation, its request rebuilt from
/// its parameters and its responses as given, run through the validator.
/// The examples are the documents' own test data, so a violation is either a
/// validator bug or an example that contradicts its schema; the ones left
/// were investigated and are the examples' (see the comments).
#[test]
fn every_example_validates_but_the_known_contradictions() {
    let mut checked = 0;
    let mut violations = BTreeSet::new();
    let mut overlaps = BTreeSet::new();
    for document in DOCUMENTS {
        let path = spec_dir().join(document);
        let raw: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for (template, item) in raw["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().unwrap() {
                let operation_id = op["operationId"].as_str().unwrap();
                let operation = ARM
                    .operations
                    .values()
                    .find(|o| o.operation_id == operation_id && o.document == file)
                    .unwrap();
                for (_, reference) in op["x-ms-examples"].as_object().into_iter().flatten() {
                    let example_path = path
                        .parent()
                        .unwrap()
                        .join(reference["$ref"].as_str().unwrap());
                    let example_name = example_path
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    let example: Value =
                        serde_json::from_str(&std::fs::read_to_string(&example_path).unwrap())
                            .unwrap();
                    let given = &example["parameters"];
                    let mut url = template.clone();
                    let mut query = Vec::new();
                    let mut headers = Vec::new();
                    for param in &operation.parameters {
                        let Some(value) = given.get(&param.name) else {
                            continue;
                        };
                        let text = value
                            .as_str()
                            .map_or_else(|| value.to_string(), str::to_owned);
                        match param.location {
                            Location::Path => {
                                url = url.replace(
                                    &format!("{{{}}}", param.name),
                                    &percent_encode(&text, param.multi_segment),
                                )
                            }
                            Location::Query => query.push((param.name.clone(), text)),
                            Location::Header => headers.push((param.name.clone(), text)),
                        }
                    }
                    let body = operation
                        .body
                        .as_ref()
                        .and_then(|b| given.get(&b.name))
                        .map(bytes);
                    checked += 1;
                    let request = ARM.validate_request(
                        &method.to_uppercase(),
                        &url,
                        &query,
                        &headers,
                        body.as_deref(),
                    );
                    match request {
                        Ok(id) if id != operation.id => {
                            overlaps.insert(format!("{example_name}: {} -> {id}", operation.id));
                        }
                        Ok(_) => {}
                        Err(v) => violations.extend(
                            v.into_iter()
                                .map(|v| format!("{example_name} request: {v}")),
                        ),
                    }
                    for (status, response) in example["responses"].as_object().into_iter().flatten()
                    {
                        let body = response.get("body").cloned().unwrap_or(Value::Null);
                        if let Err(v) =
                            ARM.validate_response(&operation.id, status.parse().unwrap(), &body)
                        {
                            violations.extend(
                                v.into_iter()
                                    .map(|v| format!("{example_name} {status}: {v}")),
                            );
                        }
                    }
                }
            }
        }
    }
    println!("{checked} examples checked");
    // A scope that is a management group or a resource group is also the
    // path of the operation for that scope, which is more specific and wins.
    let expected_overlaps = BTreeSet::from([
        "PostDeploymentValidateOnScope.json: Deployments_ValidateAtScope -> Deployments_Validate"
            .to_owned(),
        "PutDeploymentAtScope.json: Deployments_CreateOrUpdateAtScope -> Deployments_CreateOrUpdateAtManagementGroupScope"
            .to_owned(),
    ]);
    assert_eq!(overlaps, expected_overlaps);
    assert!(checked > 250, "only {checked} examples");

    let mut expected = BTreeSet::new();
    // The Flex Consumption examples give `lastModifiedTimeUtc` without a UTC
    // offset, which RFC 3339 (OpenAPI's `date-time`) requires; the 20 other
    // `lastModifiedTimeUtc` values of the Microsoft.Web examples end in `Z`.
    for file in [
        "CreateOrUpdateFunctionAppFlexConsumption.json",
        "CreateOrUpdateFunctionAppFlexConsumptionWithDetails.json",
    ] {
        for status in ["200", "202"] {
            expected.insert(format!(
                r#"{file} {status}: WebApps_CreateOrUpdate: response.properties.lastModifiedTimeUtc: "2024-01-09T00:24:54.8" is not a valid date-time"#
            ));
        }
    }
    // WhatIfPropertyChange.after is `type: object`, but a what-if of a tag
    // change reports the tag's string value there: the schema is too narrow
    // for what the service returns.
    for (file, operation) in [
        (
            "PostDeploymentWhatIfOnSubscription.json",
            "Deployments_WhatIfAtSubscriptionScope",
        ),
        (
            "PostDeploymentWhatIfOnResourceGroup.json",
            "Deployments_WhatIf",
        ),
    ] {
        expected.insert(format!(
            r#"{file} 200: {operation}: response.properties.changes[0].delta[0].after: expected an object, got string "my tag value""#
        ));
    }
    let unexpected: Vec<&String> = violations.difference(&expected).collect();
    let vanished: Vec<&String> = expected.difference(&violations).collect();
    assert!(
        unexpected.is_empty() && vanished.is_empty(),
        "new violations:\n  {}\nno longer found:\n  {}",
        unexpected
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
        vanished
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

/// Percent-encodes an example's path value; multi-segment values keep `/`.
fn percent_encode(value: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The engine on small hand-written documents: cross-file references,
// discriminators, recursive and cyclic schemas, x-ms-paths.

fn tiny_common() -> Value {
    json!({
        "swagger": "2.0",
        "info": { "title": "Common", "version": "1.0" },
        "paths": {},
        "parameters": {
            "SubscriptionIdParameter": { "name": "subscriptionId", "in": "path", "required": true, "type": "string", "format": "uuid" },
            "ApiVersionParameter": { "name": "api-version", "in": "query", "required": true, "type": "string" }
        },
        "definitions": {
            "Resource": {
                "type": "object",
                "properties": {
                    "id": { "type": "string", "readOnly": true },
                    "name": { "type": "string", "readOnly": true }
                },
                "required": ["id"]
            },
            "ErrorResponse": {
                "type": "object",
                "properties": { "code": { "type": "string" }, "message": { "type": "string" } }
            }
        }
    })
}

fn tiny_pets() -> Value {
    let common = "../common/types.json";
    let pet_params = json!([
        { "$ref": format!("{common}#/parameters/SubscriptionIdParameter") },
        { "$ref": "#/parameters/PetName" },
        { "$ref": format!("{common}#/parameters/ApiVersionParameter") }
    ]);
    let pet_path = "/subscriptions/{subscriptionId}/providers/Tiny.Pets/pets/{petName}";
    let post = |id: &str| {
        json!({
            "operationId": id,
            "parameters": pet_params,
            "responses": { "204": { "description": "done" } }
        })
    };
    json!({
        "swagger": "2.0",
        "info": { "title": "Pets", "version": "2025-01-01" },
        "paths": {
            pet_path: {
                "put": {
                    "operationId": "Pets_Put",
                    "parameters": [
                        pet_params[0], pet_params[1], pet_params[2],
                        { "name": "pet", "in": "body", "required": true, "schema": { "$ref": "#/definitions/Pet" } }
                    ],
                    "responses": {
                        "200": { "description": "ok", "schema": { "$ref": "#/definitions/Pet" } },
                        "default": { "$ref": "#/responses/Error" }
                    }
                }
            },
            "/subscriptions/{subscriptionId}/providers/Tiny.Pets/people/{petName}": {
                "get": {
                    "operationId": "People_Get",
                    "parameters": pet_params,
                    "responses": { "200": { "description": "ok", "schema": { "$ref": "#/definitions/Person" } } }
                }
            },
            "/subscriptions/{subscriptionId}/providers/Tiny.Pets/loop": {
                "get": {
                    "operationId": "Loop_Get",
                    "parameters": [pet_params[0], pet_params[2]],
                    "responses": { "200": { "description": "ok", "schema": { "$ref": "#/definitions/Loop1" } } }
                }
            }
        },
        "x-ms-paths": {
            format!("{pet_path}?op=feed"): { "post": post("Pets_Feed") },
            format!("{pet_path}?op=walk"): { "post": post("Pets_Walk") }
        },
        "parameters": {
            "PetName": { "name": "petName", "in": "path", "required": true, "type": "string", "pattern": "^[a-z]+$", "x-ms-parameter-location": "method" }
        },
        "responses": {
            "Error": { "description": "error", "schema": { "$ref": format!("{common}#/definitions/ErrorResponse") } }
        },
        "definitions": {
            "Pet": {
                "type": "object",
                "discriminator": "kind",
                "required": ["kind"],
                "allOf": [{ "$ref": format!("{common}#/definitions/Resource") }],
                "properties": {
                    "kind": { "type": "string" },
                    "nickname": { "type": "string", "minLength": 2 },
                    "tags": { "type": "object", "additionalProperties": { "type": "string" } },
                    "owner": { "$ref": "#/definitions/Person" },
                    "extra": { "type": "object" }
                }
            },
            "Dog": {
                "type": "object",
                "x-ms-discriminator-value": "dog",
                "allOf": [{ "$ref": "#/definitions/Pet" }],
                "properties": { "barks": { "type": "boolean" } }
            },
            "Cat": {
                "type": "object",
                "allOf": [{ "$ref": "#/definitions/Pet" }],
                "properties": { "lives": { "type": "integer", "format": "int32", "minimum": 0, "maximum": 9 } },
                "required": ["lives"]
            },
            "Person": {
                "type": "object",
                "properties": {
                    "name": { "type": "string" },
                    "born": { "type": "string", "format": "date-time" },
                    "friends": { "type": "array", "items": { "$ref": "#/definitions/Person" } }
                }
            },
            "Loop1": { "$ref": "#/definitions/Loop2" },
            "Loop2": { "$ref": "#/definitions/Loop1" }
        }
    })
}

const TINY_SUB: &str = "/subscriptions/00000000-0000-0000-0000-00000000000a/providers/Tiny.Pets";

fn tiny_api() -> Api {
    Api::from_documents(vec![
        (PathBuf::from("/virtual/pets/pets.json"), tiny_pets()),
        (PathBuf::from("/virtual/common/types.json"), tiny_common()),
    ])
}

fn tiny_put(api: &Api, body: &Value) -> Result<String, Vec<String>> {
    api.validate_request(
        "PUT",
        &format!("{TINY_SUB}/pets/rex"),
        &[("api-version".to_owned(), "2025-01-01".to_owned())],
        &[],
        Some(&bytes(body)),
    )
}

#[test]
fn references_resolve_across_documents() {
    let api = tiny_api();
    assert_eq!(api.operations.len(), 5);
    // The api-version is the operation's document's, not the one of the
    // document its parameter comes from.
    let put = &api.operations["Pets_Put"];
    assert_eq!(put.api_version, "2025-01-01");
    assert_eq!(
        tiny_put(&api, &json!({ "kind": "dog", "barks": true })),
        Ok("Pets_Put".to_owned())
    );
    // The subscription id's `uuid` format comes from the common document.
    let violations = api
        .validate_request(
            "PUT",
            "/subscriptions/not-a-uuid/providers/Tiny.Pets/pets/rex",
            &[("api-version".to_owned(), "2025-01-01".to_owned())],
            &[],
            Some(&bytes(&json!({ "kind": "dog" }))),
        )
        .unwrap_err();
    one_violation(
        violations,
        r#"Pets_Put: path parameter `subscriptionId`: "not-a-uuid" is not a valid uuid"#,
    );
    // A response through `#/responses/Error`, to the common ErrorResponse.
    assert!(
        api.validate_response("Pets_Put", 500, &json!({ "code": "Boom", "message": "x" }))
            .is_ok()
    );
    let violations = api
        .validate_response("Pets_Put", 500, &json!({ "code": "Boom", "detail": "x" }))
        .unwrap_err();
    one_violation(
        violations,
        "Pets_Put: response.detail: unknown field (not a property of ErrorResponse)",
    );
}

#[test]
fn discriminators_select_the_subtype() {
    let api = tiny_api();
    // Each subtype has its own properties, and those of Pet and Resource.
    let dog =
        json!({ "kind": "dog", "nickname": "Rex", "barks": true, "tags": { "a": "b" }, "id": "x" });
    assert_eq!(tiny_put(&api, &dog), Ok("Pets_Put".to_owned()));
    let cat = json!({ "kind": "Cat", "lives": 9, "owner": { "name": "Ann" } });
    assert_eq!(tiny_put(&api, &cat), Ok("Pets_Put".to_owned()));

    let wrong = json!({ "kind": "Cat", "lives": 9, "barks": true });
    one_violation(
        tiny_put(&api, &wrong).unwrap_err(),
        "Pets_Put: request.barks: unknown field (not a property of Cat)",
    );
    let wrong = json!({ "kind": "Cat", "lives": 10 });
    one_violation(
        tiny_put(&api, &wrong).unwrap_err(),
        "Pets_Put: request.lives: 10 is above the maximum 9",
    );
    let wrong = json!({ "kind": "Cat" });
    one_violation(
        tiny_put(&api, &wrong).unwrap_err(),
        "Pets_Put: request.lives: missing, but Cat requires it",
    );
    // A kind no definition declares is checked as the base type.
    let unknown = json!({ "kind": "fish", "fins": 2 });
    one_violation(
        tiny_put(&api, &unknown).unwrap_err(),
        "Pets_Put: request.fins: unknown field (not a property of Pet)",
    );
    // Required by Pet: not read-only, so required in requests too.
    one_violation(
        tiny_put(&api, &json!({ "nickname": "Rex" })).unwrap_err(),
        "Pets_Put: request.kind: missing, but Pet requires it",
    );
    // Resource.id is required but read-only: not from clients, but from the
    // service.
    let violations = api
        .validate_response("Pets_Put", 200, &json!({ "kind": "dog" }))
        .unwrap_err();
    one_violation(
        violations,
        "Pets_Put: response.id: missing, but Dog requires it",
    );
    assert!(
        api.validate_response(
            "Pets_Put",
            200,
            &json!({ "kind": "dog", "id": "/x", "extra": { "any": [1] } })
        )
        .is_ok(),
        "`{{\"type\": \"object\"}}` alone is free-form"
    );
    // Formats and lengths inside nested schemas.
    one_violation(
        tiny_put(&api, &json!({ "kind": "dog", "nickname": "R" })).unwrap_err(),
        r#"request.nickname: "R" is 1 characters long, shorter than the minimum 2"#,
    );
    one_violation(
        tiny_put(
            &api,
            &json!({ "kind": "dog", "owner": { "born": "1990-01-01 10:00" } }),
        )
        .unwrap_err(),
        r#"request.owner.born: "1990-01-01 10:00" is not a valid date-time"#,
    );
}

#[test]
fn recursive_and_cyclic_schemas_are_walked_along_the_value() {
    let api = tiny_api();
    const DEPTH: usize = 100;
    let mut person = json!({ "name": "leaf", "nickname": "x" });
    for depth in 0..DEPTH {
        person = json!({ "name": format!("p{depth}"), "friends": [{ "name": "y" }, person] });
    }
    let violations = api
        .validate_response("People_Get", 200, &person)
        .unwrap_err();
    let expected = format!(
        "People_Get: response{}.nickname: unknown field (not a property of Person)",
        ".friends[1]".repeat(DEPTH)
    );
    assert_eq!(violations, [expected]);

    let violations = api
        .validate_response("Loop_Get", 200, &json!({}))
        .unwrap_err();
    one_violation(
        violations,
        "Loop_Get: response: $ref cycle through pets.json#/definitions/Loop",
    );
}

#[test]
fn x_ms_paths_are_told_apart_by_their_query() {
    let api = tiny_api();
    let url = format!("{TINY_SUB}/pets/rex");
    let query = |op: &str| {
        vec![
            ("api-version".to_owned(), "2025-01-01".to_owned()),
            ("op".to_owned(), op.to_owned()),
        ]
    };
    assert_eq!(
        api.validate_request("POST", &url, &query("feed"), &[], None),
        Ok("Pets_Feed".to_owned())
    );
    assert_eq!(
        api.validate_request("POST", &url, &query("walk"), &[], None),
        Ok("Pets_Walk".to_owned())
    );
    let violations = api
        .validate_request("POST", &url, &query("sleep"), &[], None)
        .unwrap_err();
    one_violation(violations, "no operation for POST");
    // The path parameter's pattern applies to x-ms-paths too.
    let violations = api
        .validate_request(
            "POST",
            &format!("{TINY_SUB}/pets/Rex"),
            &query("feed"),
            &[],
            None,
        )
        .unwrap_err();
    one_violation(
        violations,
        r#"Pets_Feed: path parameter `petName`: "Rex" does not match ^[a-z]+$"#,
    );
}

#[test]
#[should_panic(
    expected = "$ref to nothing: pets.json#/definitions/Pet/properties/owner -> #/definitions/Missing, pets.json#/paths/~1a/get/parameters/0 -> ./gone.json#/parameters/X (cannot read OpenAPI document /virtual/pets/gone.json"
)]
fn dangling_refs_fail_at_load() {
    Api::from_documents(vec![(
        PathBuf::from("/virtual/pets/pets.json"),
        json!({
            "swagger": "2.0",
            "info": { "title": "Pets", "version": "1" },
            "paths": {
                "/a": { "get": {
                    "operationId": "A_Get",
                    "parameters": [{ "$ref": "./gone.json#/parameters/X" }],
                    "responses": { "200": { "description": "ok", "schema": { "$ref": "#/definitions/Pet" } } }
                } }
            },
            "definitions": {
                "Pet": { "type": "object", "properties": { "owner": { "$ref": "#/definitions/Missing" } } }
            }
        }),
    )]);
}
