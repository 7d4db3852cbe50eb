//! What an Azure target needs once (`src/provider/azure/base.rs`), against
//! the spec-checked Azure fake over TLS with the storage account's blobs in
//! Azurite: resource group, storage account and key, releases container,
//! plan, one Function App per runtime with its staging slot and the host's
//! settings; a second run only reads. One test function: `azure_identity`
//! reads the process environment, which is set once here.

#[path = "support/azure_fake.rs"]
mod azure_fake;
#[path = "support/azurite.rs"]
mod azurite;

use std::collections::HashMap;

use azure_fake::{CLIENT_ID, CLIENT_SECRET, Fake, SUBSCRIPTION_ID, TENANT_ID};
use nubo::provider::azure::arm::Arm;
use nubo::provider::azure::base::{self, CONTAINER};
use nubo::provider::azure::slots;

const MANIFEST: &str = "nubo: 1
service: shop
targets:
  aprod: { provider: azure, subscription: \"SUB\", resource_group: shop-rg, location: westeurope, endpoint: \"ENDPOINT\" }
functions:
  api:
    handler: api/index.handler
    runtime: nodejs22
    events:
      - http: { method: GET, path: /orders }
  charge:
    handler: billing/main.handler
    runtime: python3.12
";

#[test]
fn the_base_is_made_once_then_only_read() {
    let fake = Fake::start();
    // SAFETY: the only test in this binary; set before any thread reads them.
    unsafe {
        std::env::set_var("AZURE_AUTHORITY_HOST", fake.url());
        std::env::set_var("SSL_CERT_FILE", azure_fake::azure_https::ca_pem());
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("api")).unwrap();
    std::fs::create_dir_all(tmp.path().join("billing")).unwrap();
    std::fs::write(
        tmp.path().join("api/index.js"),
        "exports.handler = async () => 1;\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("billing/main.py"),
        "def handler(e, c):\n    return 1\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("nubo.yaml"),
        MANIFEST
            .replace("SUB", SUBSCRIPTION_ID)
            .replace("ENDPOINT", fake.url()),
    )
    .unwrap();
    let loaded = nubo::manifest::load(&tmp.path().join("nubo.yaml")).unwrap();
    let resolved = nubo::resolve::resolve(&loaded, "aprod", &HashMap::new()).unwrap();

    // The account nubo will make lives in Azurite, with a key of its own.
    let account = base::storage_account_name(&resolved);
    assert_eq!(account.len(), 24);
    let key = "bnViby10ZXN0LWFjY291bnQta2V5LXByb3RlY3RzLW5vdGhpbmc=";
    let az = azurite::Azurite::with_accounts(&[(account.as_str(), key)]);
    fake.set_storage_key(&account, key);
    fake.set_blob_endpoint(&account, &format!("{}/{account}", az.base));

    let env: HashMap<String, String> = HashMap::from([
        ("AZURE_TENANT_ID".to_owned(), TENANT_ID.to_owned()),
        ("AZURE_CLIENT_ID".to_owned(), CLIENT_ID.to_owned()),
        ("AZURE_CLIENT_SECRET".to_owned(), CLIENT_SECRET.to_owned()),
    ]);
    let arm = Arm::new(Some(fake.url()), &env).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let made = rt.block_on(base::ensure_base(&arm, &resolved)).unwrap();
    assert_eq!(made.storage_account, account);
    let rg = fake
        .resource(&format!(
            "/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/shop-rg"
        ))
        .expect("the resource group");
    assert_eq!(rg["tags"]["nubo-created"], "true", "marked as nubo's");
    let mut apps: Vec<&str> = made.apps.iter().map(|a| a.app.as_str()).collect();
    apps.sort();
    assert_eq!(
        apps,
        ["shop-aprod-node", "shop-aprod-python"],
        "one app per runtime"
    );
    for a in &made.apps {
        assert_eq!(
            a.staging_host,
            format!("{}-staging.azurewebsites.net", a.app)
        );
        for slot in [None, Some("staging")] {
            let settings = fake
                .app_settings(&a.app, slot)
                .unwrap_or_else(|| panic!("{} {slot:?} has settings", a.app));
            assert_eq!(settings["FUNCTIONS_EXTENSION_VERSION"], "~4");
            assert_eq!(
                settings["FUNCTIONS_WORKER_RUNTIME"],
                if a.app.ends_with("node") {
                    "node"
                } else {
                    "python"
                }
            );
            assert!(settings["AzureWebJobsStorage"].contains(&format!("AccountName={account}")));
            assert_eq!(settings["NUBO_CALL_KEY"].len(), 64);
        }
    }
    assert_eq!(
        fake.app_settings("shop-aprod-node", None).unwrap()["NUBO_CALL_KEY"],
        fake.app_settings("shop-aprod-python", None).unwrap()["NUBO_CALL_KEY"],
        "one call key for the whole service"
    );
    let site = fake
        .resource(&format!(
            "/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/shop-rg/providers/Microsoft.Web/sites/shop-aprod-python"
        ))
        .unwrap();
    assert_eq!(
        site["properties"]["siteConfig"]["linuxFxVersion"],
        "Python|3.12"
    );
    // The account's blobs are reachable with the key ARM listed.
    assert!(
        made.ensure_container()
            .unwrap()
            .put_if_absent(CONTAINER, "probe.zip", b"PK")
            .unwrap_or_else(|e| panic!("{e}")),
        "the releases container exists in the account's blob service"
    );
    made.ensure_container().unwrap();

    // A second run reads only.
    let before = fake.calls().len();
    rt.block_on(base::ensure_base(&arm, &resolved)).unwrap();
    let writes: Vec<(String, String)> = fake.calls()[before..]
        .iter()
        .filter(|(id, what)| {
            !what.starts_with("GET ")
                && !what.starts_with("HEAD ")
                && id != azure_fake::TOKEN_OPERATION
                && id != "StorageAccounts_ListKeys"
        })
        .cloned()
        .collect();
    assert!(writes.is_empty(), "a second run wrote: {writes:#?}");

    // Releases through the staging slot: stage, one swap; the previous
    // release waits in staging for a one-swap rollback.
    let blobs = made.ensure_container().unwrap();
    let site = format!(
        "/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/shop-rg/providers/Microsoft.Web/sites/shop-aprod-node"
    );
    let link = |release: &str| {
        let name = format!("shop-aprod-node/{release}.zip");
        blobs
            .put_if_absent(CONTAINER, &name, format!("PK {release}").as_bytes())
            .unwrap();
        blobs.sas_url(
            CONTAINER,
            &name,
            std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
        )
    };
    let (url1, url2) = (link("r1"), link("r2"));
    let env = |v: &str| std::collections::BTreeMap::from([("STAGE".to_owned(), v.to_owned())]);
    let content = |slot: Option<&str>| match fake.content("shop-aprod-node", slot) {
        azure_fake::Content::Url(u) => u,
        other => panic!("{other:?}"),
    };
    rt.block_on(async {
        slots::stage(&arm, &site, "r1", &url1, &env("one"), &[])
            .await
            .unwrap();
        assert_eq!(fake.trigger_syncs("shop-aprod-node", Some("staging")), 1);
        let before = fake.calls().len();
        slots::swap(&arm, &site).await.unwrap();
        let writes: Vec<String> = fake.calls()[before..]
            .iter()
            .filter(|(_, what)| what.starts_with("POST ") || what.starts_with("PUT "))
            .map(|(id, _)| id.clone())
            .collect();
        assert_eq!(
            writes,
            ["WebApps_SwapSlotSlot"],
            "the switch is one swap: {writes:?}"
        );
        assert_eq!(
            slots::serving(&arm, &site).await.unwrap().0.as_deref(),
            Some("r1")
        );
        assert_eq!(content(None), url1, "production runs r1's package");

        slots::stage(&arm, &site, "r2", &url2, &env("two"), &[])
            .await
            .unwrap();
        slots::swap(&arm, &site).await.unwrap();
        assert_eq!(
            slots::serving(&arm, &site).await.unwrap(),
            (Some("r2".to_owned()), Some("r1".to_owned()))
        );
        assert_eq!(content(None), url2);
        let prod = slots::settings(&arm, &site, None).await.unwrap();
        assert_eq!(prod["STAGE"], "two", "the release's settings moved with it");
        assert_eq!(
            prod["FUNCTIONS_WORKER_RUNTIME"], "node",
            "the host's settings stay"
        );

        // A swap that fails moves nothing.
        fake.fail_next_swap();
        assert!(slots::swap(&arm, &site).await.is_err());
        assert_eq!(content(None), url2);

        // Rollback to r1: staging holds it, so one swap.
        assert_eq!(slots::swap_back(&arm, &site, "r1").await.unwrap(), Some(()));
        assert_eq!(content(None), url1);
        assert_eq!(
            slots::swap_back(&arm, &site, "r7").await.unwrap(),
            None,
            "an older release must be staged first"
        );
    });
    // The package links work as App Service would fetch them.
    let r = reqwest::blocking::Client::new().get(&url1).send().unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), b"PK r1");

    let violations = fake.violations();
    assert!(
        violations.is_empty(),
        "requests outside the OpenAPI documents: {violations:#?}"
    );
}
