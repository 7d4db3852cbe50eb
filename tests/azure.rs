//! The Azure backend through the real binary, against the spec-checked
//! fake of ARM, Entra ID and Kudu (`tests/support/azure_fake.rs`, over TLS with a test
//! CA) and the target's storage account in Azurite: every ARM request nubo
//! sends is validated against Microsoft's OpenAPI documents in
//! `../shared/specs/azure`. No Functions host runs here: requests to a
//! function app's host are answered by the fake's canned replies and
//! recorded with the package the side served at that moment, so the tests
//! check *which release answered*, and the packages themselves (read back
//! from Azurite) hold the shop's handlers and the generated host files.

#[path = "support/azure_fake.rs"]
mod azure_fake;
#[path = "support/azurite.rs"]
mod azurite;
#[path = "support/files.rs"]
mod files;
#[path = "support/race.rs"]
mod race;

use std::collections::{BTreeMap, HashMap};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command as Std;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use azure_fake::{CLIENT_ID, CLIENT_SECRET, Content, Fake, SUBSCRIPTION_ID, TENANT_ID};
use azurite::Azurite;

const NODE: &str = "shop-aprod-node";
const PYTHON: &str = "shop-aprod-python";
/// A storage key for the target's account in Azurite (protects nothing).
const KEY: &str = "bnViby10ZXN0LWFjY291bnQta2V5LXByb3RlY3RzLW5vdGhpbmc=";
/// What a passing check of the shop sees from the staging slot.
const SHIPPED: &str = r#"{"order":{"sku":1},"function":"ship","release":"?"}"#;

/// A service in a temporary directory, its target pointed at the fake and
/// its storage account living in Azurite.
struct Svc {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    fake: Fake,
    az: Azurite,
    account: String,
}

impl Svc {
    /// `examples/shop` as it is: its `aprod` target gets the fake's
    /// subscription and `endpoint:`, the canary interval 1 s instead of 20.
    fn shop(state: &str) -> Svc {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("shop");
        files::copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop"),
            &dir,
        );
        let _ = std::fs::remove_dir_all(dir.join(".nubo"));
        let fake = Fake::start();
        let manifest = std::fs::read_to_string(dir.join("nubo.yaml"))
            .unwrap()
            .replace(
                "subscription: \"00000000-0000-0000-0000-000000000000\", resource_group: shop, location: westeurope }",
                &format!(
                    "subscription: \"{SUBSCRIPTION_ID}\", resource_group: shop, location: westeurope, endpoint: \"{}\"{state} }}",
                    fake.url()
                ),
            )
            .replace("interval: 20s", "interval: 1s");
        assert!(manifest.contains(fake.url()), "the aprod target was found");
        std::fs::write(dir.join("nubo.yaml"), manifest).unwrap();
        Svc::with(tmp, dir, fake)
    }

    /// One Node.js function with an HTTP route and no checks: the fast
    /// service of the lock, kill and fault tests.
    fn small(state: &str) -> Svc {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("small");
        std::fs::create_dir_all(dir.join("src")).unwrap();
        let fake = Fake::start();
        std::fs::write(
            dir.join("nubo.yaml"),
            format!(
                "nubo: 1\nservice: shop\ntargets:\n  aprod: {{ provider: azure, subscription: \"{SUBSCRIPTION_ID}\", \
                 resource_group: shop, location: westeurope, endpoint: \"{}\"{state} }}\nfunctions:\n  api:\n    \
                 handler: src/api.handler\n    runtime: nodejs22\n    events:\n      - http: {{ method: GET, path: /api }}\n",
                fake.url()
            ),
        )
        .unwrap();
        let svc = Svc::with(tmp, dir, fake);
        svc.change("v0");
        svc
    }

    fn with(tmp: tempfile::TempDir, dir: PathBuf, fake: Fake) -> Svc {
        let loaded = nubo::manifest::load(&dir.join("nubo.yaml")).unwrap();
        let resolved = nubo::resolve::resolve(&loaded, "aprod", &HashMap::new()).unwrap();
        let account = nubo::provider::azure::base::storage_account_name(&resolved);
        let az = Azurite::with_accounts(&[(account.as_str(), KEY)]);
        fake.set_storage_key(&account, KEY);
        fake.set_blob_endpoint(&account, &format!("{}/{account}", az.base));
        Svc {
            _tmp: tmp,
            dir,
            fake,
            az,
            account,
        }
    }

    fn change(&self, tag: &str) {
        std::fs::write(
            self.dir.join("src/api.js"),
            format!("exports.handler = async () => ({{ status: 200, body: '{tag}' }});\n"),
        )
        .unwrap();
    }

    /// The binary signed in as the fake's service principal, with nothing
    /// from this machine's Azure set-up.
    fn std_cmd(&self) -> Std {
        let mut cmd = Std::new(assert_cmd::cargo::cargo_bin("nubo"));
        cmd.current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .env("HOME", self.dir.parent().unwrap())
            .env("AZURE_TENANT_ID", TENANT_ID)
            .env("AZURE_CLIENT_ID", CLIENT_ID)
            .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
            .env("AZURE_AUTHORITY_HOST", self.fake.url())
            .env("SSL_CERT_FILE", azure_fake::azure_https::ca_pem())
            .env(
                "AZURE_STORAGE_CONNECTION_STRING",
                format!(
                    "DefaultEndpointsProtocol=http;AccountName={};AccountKey={};BlobEndpoint={};",
                    azurite::ACCOUNT,
                    azurite::KEY,
                    self.az.endpoint
                ),
            )
            .env_remove("AZURE_FEDERATED_TOKEN_FILE")
            .env_remove("IDENTITY_ENDPOINT")
            .env_remove("MSI_ENDPOINT")
            .env_remove("NUBO_FILE")
            .env_remove("NUBO_TARGET");
        cmd
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = Command::from_std(self.std_cmd());
        cmd.timeout(Duration::from_secs(180));
        let out = cmd.args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "nubo {args:?} failed:\n{out}\n{err}");
        out
    }

    /// The release a side of an app serves (`NUBO_RELEASE`).
    fn serving(&self, app: &str, slot: Option<&str>) -> Option<String> {
        self.fake
            .app_settings(app, slot)
            .and_then(|s| s.get("NUBO_RELEASE").cloned())
    }

    /// The package a side serves, fetched from Azurite by its link.
    fn package(&self, app: &str, slot: Option<&str>) -> BTreeMap<String, Vec<u8>> {
        let Content::Url(url) = self.fake.content(app, slot) else {
            panic!("{app} {slot:?} runs from no package URL");
        };
        assert!(url.contains("sig="), "a signed read-only link: {url}");
        let bytes = reqwest::blocking::get(&url).unwrap();
        assert!(bytes.status().is_success(), "{url}: {}", bytes.status());
        let bytes = bytes.bytes().unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
        (0..zip.len())
            .map(|i| {
                let mut e = zip.by_index(i).unwrap();
                let mut b = Vec::new();
                e.read_to_end(&mut b).unwrap();
                (e.name().unwrap().into_owned(), b)
            })
            .collect()
    }

    /// ARM writes since call `from`: (operation id, request).
    fn writes(&self, from: usize) -> Vec<(String, String)> {
        self.fake.calls()[from..]
            .iter()
            .filter(|(_, r)| {
                ["PUT ", "POST ", "PATCH ", "DELETE "]
                    .iter()
                    .any(|m| r.starts_with(m))
            })
            .filter(|(id, _)| {
                !id.ends_with("_ListApplicationSettings")
                    && !id.ends_with("_ListApplicationSettingsSlot")
                    && !id.contains("ListKeys")
                    && !id.contains("ListHostKeys")
                    && id != azure_fake::TOKEN_OPERATION
                    && id != azure_fake::SITE_HTTP
            })
            .cloned()
            .collect()
    }

    fn no_violations(&self) {
        let v = self.fake.violations();
        assert!(
            v.is_empty(),
            "requests outside the OpenAPI documents: {v:#?}"
        );
    }
}

fn count(writes: &[(String, String)], id: &str) -> usize {
    writes.iter().filter(|(w, _)| w == id).count()
}

#[test]
fn the_shop_deploys_with_a_canary_changes_one_function_and_rolls_back_with_one_swap_per_app() {
    let svc = Svc::shop("");
    svc.fake
        .answer("*-staging.azurewebsites.net/checkout", 200, SHIPPED);

    // r1: made from nothing, checked on the staging slot, swapped in.
    let out = svc.ok(&["deploy", "-t", "aprod"]);
    assert!(out.contains("r1"), "{out}");
    for app in [NODE, PYTHON] {
        assert_eq!(svc.serving(app, None).as_deref(), Some("r1"), "{app}");
    }
    assert_eq!(svc.fake.swaps(), 2, "one swap per Function App");
    let node = svc.package(NODE, None);
    for file in [
        "host.json",
        "nubo.json",
        "nubo_azure.js",
        "checkout/function.json",
        "ship-call/function.json",
        "ship-queue-1/function.json",
        "report-timer-1/function.json",
        "report-blob-1/function.json",
        "src/checkout.js",
        "src/ship.js",
    ] {
        assert!(
            node.contains_key(file),
            "{file} in the Node.js app: {:?}",
            node.keys()
        );
    }
    let python = svc.package(PYTHON, None);
    assert!(python.contains_key("billing/charge.py"));
    assert!(python.contains_key("charge-call/__init__.py"));
    assert!(
        !python.contains_key("src/checkout.js"),
        "one runtime per app"
    );
    // The check ran against r1 in the staging slot, with that side's key.
    let checks: Vec<_> = svc
        .fake
        .served()
        .into_iter()
        .filter(|s| s.path.starts_with("/checkout"))
        .collect();
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(checks[0].slot.as_deref(), Some("staging"));
    let key = svc.fake.host_key(NODE, Some("staging")).unwrap();
    assert!(
        checks[0]
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("x-functions-key") && *v == key)
    );
    // The secret is a Key Vault reference; plain settings as they are.
    let settings = svc.fake.app_settings(NODE, None).unwrap();
    assert!(
        settings["API_KEY"].starts_with("@Microsoft.KeyVault(VaultName=nubokv")
            && settings["API_KEY"].ends_with(";SecretName=stripe-key)"),
        "{}",
        settings["API_KEY"]
    );
    assert_eq!(settings["STAGE"], "aprod");
    // Queue, timer and blob functions run in production only: the staging
    // slot keeps them off with slot-sticky settings, which a swap leaves.
    let staging = svc.fake.app_settings(NODE, Some("staging")).unwrap();
    let sticky = svc.fake.sticky_settings(NODE);
    for f in ["ship-queue-1", "report-timer-1", "report-blob-1"] {
        let key = format!("AzureWebJobs.{f}.Disabled");
        assert_eq!(staging.get(&key).map(String::as_str), Some("true"), "{key}");
        assert!(!settings.contains_key(&key), "{key} in production");
        assert!(sticky.contains(&key), "{key} is slot-sticky: {sticky:?}");
    }
    assert!(!staging.contains_key("AzureWebJobs.checkout.Disabled"));
    assert_eq!(settings["LOG_LEVEL"], "info");
    for p in files::walk(&svc.dir.join(".nubo")) {
        let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
        assert!(
            !text.contains(KEY),
            "the storage key leaked into {}",
            p.display()
        );
        assert!(
            !text.contains("AccountKey"),
            "a connection string in {}",
            p.display()
        );
    }

    // No change: nothing written.
    let before = svc.fake.calls().len();
    svc.ok(&["deploy", "-t", "aprod"]);
    assert_eq!(svc.writes(before), Vec::<(String, String)>::new());

    // One changed function: staged, checked at each canary step, swapped.
    std::fs::write(
        svc.dir.join("src/ship.js"),
        std::fs::read_to_string(svc.dir.join("src/ship.js")).unwrap() + "\n// r2\n",
    )
    .unwrap();
    let before = svc.fake.calls().len();
    let served_before = svc.fake.served().len();
    svc.ok(&["deploy", "-t", "aprod"]);
    let writes = svc.writes(before);
    assert_eq!(
        count(&writes, "WebApps_UpdateApplicationSettingsSlot"),
        2,
        "one settings write per app's staging slot: {writes:#?}"
    );
    assert_eq!(count(&writes, "WebApps_SwapSlotSlot"), 2, "{writes:#?}");
    assert_eq!(
        count(&writes, "WebApps_UpdateConfiguration"),
        6,
        "the canary's routing rule: 10 %, 50 %, cleared, for each app: {writes:#?}"
    );
    assert_eq!(
        count(&writes, "WebApps_CreateOrUpdate") + count(&writes, "WebApps_CreateOrUpdateSlot"),
        0,
        "the base is only read: {writes:#?}"
    );
    let checks = svc.fake.served()[served_before..]
        .iter()
        .filter(|s| s.path.starts_with("/checkout"))
        .count();
    assert_eq!(checks, 3, "checked before the canary and after each step");
    for app in [NODE, PYTHON] {
        assert_eq!(svc.serving(app, None).as_deref(), Some("r2"));
        assert_eq!(svc.serving(app, Some("staging")).as_deref(), Some("r1"));
    }
    assert!(
        String::from_utf8_lossy(&svc.package(NODE, None)["src/ship.js"]).contains("// r2"),
        "production runs r2's code"
    );
    assert_eq!(
        svc.package(PYTHON, None),
        python,
        "the Python app's package did not change"
    );

    // Rollback to r1: it is in the staging slots, so one swap per app and
    // nothing else written.
    let before = svc.fake.calls().len();
    svc.ok(&["rollback", "-t", "aprod", "--yes"]);
    let writes = svc.writes(before);
    assert_eq!(
        writes.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        ["WebApps_SwapSlotSlot", "WebApps_SwapSlotSlot"],
        "{writes:#?}"
    );
    for app in [NODE, PYTHON] {
        assert_eq!(svc.serving(app, None).as_deref(), Some("r1"));
    }
    assert!(!String::from_utf8_lossy(&svc.package(NODE, None)["src/ship.js"]).contains("// r2"));

    // Status finds production as recorded.
    let status = svc.ok(&["status", "-t", "aprod"]);
    assert!(status.contains("r1"), "{status}");
    assert!(!status.to_lowercase().contains("drift"), "{status}");
    svc.no_violations();
}

#[test]
fn an_older_release_is_staged_again_from_its_manifest_then_swapped() {
    let svc = Svc::small("");
    for tag in ["v1", "v2", "v3"] {
        svc.change(tag);
        svc.ok(&["deploy", "-t", "aprod"]);
    }
    assert_eq!(svc.serving("shop-aprod", None).as_deref(), Some("r3"));
    assert_eq!(
        svc.serving("shop-aprod", Some("staging")).as_deref(),
        Some("r2")
    );
    let before = svc.fake.calls().len();
    svc.ok(&["rollback", "-t", "aprod", "--to", "r1", "--yes"]);
    let writes = svc.writes(before);
    assert_eq!(
        writes.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        [
            "WebApps_UpdateApplicationSettingsSlot",
            "WebApps_SyncFunctionTriggersSlot",
            "WebApps_SwapSlotSlot"
        ],
        "{writes:#?}"
    );
    assert_eq!(svc.serving("shop-aprod", None).as_deref(), Some("r1"));
    let package = svc.package("shop-aprod", None);
    assert_eq!(
        package["src/api.js"],
        b"exports.handler = async () => ({ status: 200, body: 'v1' });\n"
    );
    svc.no_violations();
}

#[test]
fn a_failing_check_swaps_nothing_and_exits_4() {
    let svc = Svc::shop("");
    svc.fake
        .answer("*-staging.azurewebsites.net/checkout", 200, SHIPPED);
    svc.ok(&["deploy", "-t", "aprod"]);
    svc.fake.answer(
        "*-staging.azurewebsites.net/checkout",
        500,
        r#"{"errorType":"Error","errorMessage":"broken release"}"#,
    );
    std::fs::write(
        svc.dir.join("src/checkout.js"),
        "exports.handler = async () => { throw new Error('broken release'); };\n",
    )
    .unwrap();
    let swaps = svc.fake.swaps();
    let (code, out, err) = svc.run(&["deploy", "-t", "aprod"]);
    assert_eq!(code, 4, "{out}\n{err}");
    assert!(err.contains("check") && err.contains("500"), "{err}");
    assert_eq!(svc.fake.swaps(), swaps, "nothing swapped");
    for app in [NODE, PYTHON] {
        assert_eq!(svc.serving(app, None).as_deref(), Some("r1"));
    }
    svc.no_violations();
}

#[test]
fn throttling_slow_operations_expired_tokens_and_a_failed_swap_are_handled() {
    let svc = Svc::small("");
    svc.fake.set_operation_delay(Duration::from_millis(300));
    svc.fake
        .fail_next("StorageAccounts_Create", 429, 2, Some(1));
    svc.fake
        .fail_next("WebApps_CreateOrUpdate", 503, 1, Some(1));
    svc.fake
        .fail_next(azure_fake::TOKEN_OPERATION, 503, 1, Some(1));
    let t = Instant::now();
    let expired_at = std::thread::scope(|s| {
        let expirer = s.spawn(|| {
            std::thread::sleep(Duration::from_millis(900));
            svc.fake.expire_tokens();
            svc.fake.calls().len()
        });
        svc.ok(&["deploy", "-t", "aprod"]);
        expirer.join().unwrap()
    });
    assert!(
        t.elapsed() >= Duration::from_millis(600),
        "operations were waited for"
    );
    let calls = svc.fake.calls();
    let n = |id: &str, from: usize| calls[from..].iter().filter(|(c, _)| c == id).count();
    assert!(n("StorageAccounts_Create", 0) >= 3, "two 429s ridden out");
    assert!(n("WebApps_CreateOrUpdate", 0) >= 2, "a 503 ridden out");
    assert!(
        n(azure_fake::OPERATION_STATUS, 0) + n(azure_fake::OPERATION_RESULT, 0) >= 2,
        "long-running operations were polled"
    );
    assert!(
        n(azure_fake::TOKEN_OPERATION, expired_at) >= 1,
        "a new token after the old ones expired"
    );
    assert_eq!(svc.serving("shop-aprod", None).as_deref(), Some("r1"));

    // A swap that fails: production keeps r1, the error names the app.
    svc.change("v2");
    svc.fake.fail_next_swap();
    let (code, out, err) = svc.run(&["deploy", "-t", "aprod"]);
    assert_ne!(code, 0, "{out}\n{err}");
    assert!(err.contains("shop-aprod"), "{err}");
    assert_eq!(svc.serving("shop-aprod", None).as_deref(), Some("r1"));
    // The next deploy switches.
    svc.change("v3");
    svc.ok(&["deploy", "-t", "aprod"]);
    assert_eq!(svc.serving("shop-aprod", None).as_deref(), Some("r3"));
    svc.no_violations();
}

#[test]
fn concurrent_deploys_on_blob_state_one_holds_the_lease() {
    let svc = Svc::small(", state: \"azblob://devstoreaccount1/team-state/shop/aprod\"");
    nubo::provider::azure::blob::BlobAccount::new(azurite::ACCOUNT, azurite::KEY, &svc.az.endpoint)
        .unwrap()
        .make_container("team-state")
        .unwrap();
    svc.ok(&["deploy", "-t", "aprod"]);
    assert!(!svc.dir.join(".nubo/state").exists(), "state is remote");
    // Each operation takes 300 ms: the first deploy holds the lock long enough.
    svc.fake.set_operation_delay(Duration::from_millis(300));
    for trial in 0..20 {
        svc.change(&format!("trial-{trial}"));
        let err = race::exactly_one_holds_the_lock(
            || {
                let mut c = svc.std_cmd();
                c.args(["deploy", "-t", "aprod"]);
                c
            },
            trial,
        );
        assert!(err.contains("lock"), "trial {trial}: {err}");
    }
    assert_eq!(svc.serving("shop-aprod", None).as_deref(), Some("r21"));
    svc.no_violations();
}

#[test]
fn killed_at_any_instant_production_serves_a_whole_release() {
    let svc = Svc::small("");
    svc.fake.set_operation_delay(Duration::from_millis(30));
    svc.ok(&["deploy", "-t", "aprod"]);
    // How long a deploy takes.
    let mut span = Duration::MAX;
    for tag in ["calibrate-1", "calibrate-2"] {
        svc.change(tag);
        let t = Instant::now();
        svc.ok(&["deploy", "-t", "aprod"]);
        span = span.min(t.elapsed());
    }
    // Production serves a whole release: the package its settings name is
    // the one that release's code went into.
    let whole = |at: &str| {
        let release = svc
            .serving("shop-aprod", None)
            .unwrap_or_else(|| panic!("{at}: nothing served"));
        let package = svc.package("shop-aprod", None);
        let code = String::from_utf8_lossy(&package["src/api.js"]).into_owned();
        assert!(
            code.contains("status: 200"),
            "{at}: {release} serves {code}"
        );
        let nubo = String::from_utf8_lossy(&package["nubo.json"]).into_owned();
        assert!(nubo.contains("\"api\""), "{at}: {nubo}");
        (release, code)
    };
    let mut served = Vec::new();
    for i in 0..30 {
        let tag = format!("kill-{i}");
        svc.change(&tag);
        let at = span.mul_f64(f64::from(i) / 30.0);
        let mut child = svc
            .std_cmd()
            .args(["deploy", "-t", "aprod"])
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        let _ = child.kill();
        let _ = child.wait();
        served.push(whole(&format!("killed after {at:?}")));
    }
    assert!(
        served.iter().any(|(_, code)| code.contains("kill-")),
        "some deploys got as far as the swap: {served:?}"
    );
    // The next deploy converges; the one after changes nothing.
    svc.change("final");
    svc.ok(&["deploy", "-t", "aprod"]);
    assert!(whole("final").1.contains("final"));
    let before = svc.fake.calls().len();
    svc.ok(&["deploy", "-t", "aprod"]);
    assert_eq!(svc.writes(before), Vec::<(String, String)>::new());
    svc.no_violations();
}

#[test]
fn remove_deletes_what_nubo_made_and_the_group_it_created() {
    let svc = Svc::small("");
    svc.ok(&["deploy", "-t", "aprod"]);
    let (code, out, err) = svc.run(&["remove", "-t", "aprod", "--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("Function App shop-aprod"),
        "the summary names what goes: {err}"
    );
    for id in [
        "providers/Microsoft.Web/sites/shop-aprod".to_owned(),
        "providers/Microsoft.Web/serverfarms/shop-aprod-plan".to_owned(),
        format!(
            "providers/Microsoft.Storage/storageAccounts/{}",
            svc.account
        ),
    ] {
        let id = format!("/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/shop/{id}");
        assert!(svc.fake.resource(&id).is_none(), "{id} is gone");
    }
    let rg = format!("/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/shop");
    assert!(
        svc.fake.resource(&rg).is_none(),
        "nubo created the group, so it went"
    );
    svc.no_violations();
}

#[test]
fn a_flex_consumption_plan_is_refused_before_anything_is_staged() {
    let svc = Svc::small("");
    // Someone made the target's plan as Flex Consumption, which has no slots.
    let ca =
        reqwest::Certificate::from_pem(&std::fs::read(azure_fake::azure_https::ca_pem()).unwrap())
            .unwrap();
    let http = reqwest::blocking::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let token = svc.fake.issue_token();
    let rg = format!("/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/shop");
    for (path, version, body) in [
        (
            rg.clone(),
            "2024-07-01",
            serde_json::json!({"location": "westeurope"}),
        ),
        (
            format!("{rg}/providers/Microsoft.Web/serverfarms/shop-aprod-plan"),
            "2023-12-01",
            serde_json::json!({"location": "westeurope", "kind": "functionapp",
                               "sku": {"name": "FC1", "tier": "FlexConsumption"},
                               "properties": {"reserved": true}}),
        ),
    ] {
        let r = http
            .put(format!("{}{path}?api-version={version}", svc.fake.url()))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{path}: {:?}", r.text());
    }
    let (code, out, err) = svc.run(&["deploy", "-t", "aprod"]);
    assert_ne!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("Flex Consumption") && err.contains("no deployment slots"),
        "{err}"
    );
    assert!(
        svc.fake
            .resource(&format!("{rg}/providers/Microsoft.Web/sites/shop-aprod"))
            .is_none(),
        "no app was made on it"
    );
    svc.no_violations();
}

#[test]
fn a_swap_failing_in_the_second_app_swaps_the_first_back() {
    let svc = Svc::shop("");
    svc.fake
        .answer("*-staging.azurewebsites.net/checkout", 200, SHIPPED);
    svc.ok(&["deploy", "-t", "aprod"]);
    std::fs::write(
        svc.dir.join("src/ship.js"),
        std::fs::read_to_string(svc.dir.join("src/ship.js")).unwrap() + "\n// r2\n",
    )
    .unwrap();
    // The apps swap in name order: Node.js first, then Python, which fails.
    svc.fake.fail_next_swap_of(PYTHON);
    let swaps = svc.fake.swaps();
    let (code, out, err) = svc.run(&["deploy", "-t", "aprod"]);
    assert_ne!(code, 0, "{out}\n{err}");
    assert!(err.contains(PYTHON), "the error names the app: {err}");
    assert_eq!(
        svc.fake.swaps(),
        swaps + 2,
        "the Node.js app swapped, then swapped back"
    );
    for app in [NODE, PYTHON] {
        assert_eq!(
            svc.serving(app, None).as_deref(),
            Some("r1"),
            "{app}: production serves one release"
        );
    }
    // The next deploy switches both.
    svc.ok(&["deploy", "-t", "aprod"]);
    for app in [NODE, PYTHON] {
        assert_eq!(svc.serving(app, None).as_deref(), Some("r3"), "{app}");
    }
    svc.no_violations();
}
