//! nubo's ARM client (`src/provider/azure/arm.rs`) against the spec-checked
//! Azure fake over TLS: a real `azure_identity` service-principal sign-in
//! at the fake's Entra ID endpoint (`AZURE_AUTHORITY_HOST`), requests that
//! validate against the OpenAPI documents, `Location` and
//! `Azure-AsyncOperation` polling, a swap that fails, throttling and a
//! token revoked mid-run. One test function: `azure_identity` reads the
//! process environment, which is set once here.

#[path = "support/azure_fake.rs"]
mod azure_fake;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use azure_fake::{CLIENT_ID, CLIENT_SECRET, Fake, SUBSCRIPTION_ID, TENANT_ID};
use nubo::provider::azure::arm::Arm;
use reqwest::Method;
use serde_json::json;

const WEB: &str = "2023-12-01";
const STORAGE: &str = "2023-05-01";
const RESOURCES: &str = "2024-07-01";

fn rg(name: &str) -> String {
    format!("/subscriptions/{SUBSCRIPTION_ID}/resourcegroups/{name}")
}

fn provider(rg_name: &str, kind: &str, name: &str) -> String {
    format!("/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{rg_name}/providers/{kind}/{name}")
}

fn env(secret: &str) -> HashMap<String, String> {
    HashMap::from([
        ("AZURE_TENANT_ID".to_owned(), TENANT_ID.to_owned()),
        ("AZURE_CLIENT_ID".to_owned(), CLIENT_ID.to_owned()),
        ("AZURE_CLIENT_SECRET".to_owned(), secret.to_owned()),
    ])
}

#[test]
fn the_arm_client_signs_in_polls_swaps_and_rides_out_faults() {
    let fake = Fake::start();
    // SAFETY: the only test in this binary; set before any thread reads them.
    unsafe {
        std::env::set_var("AZURE_AUTHORITY_HOST", fake.url());
        // reqwest's and azure_identity's TLS read the roots from here.
        std::env::set_var("SSL_CERT_FILE", azure_fake::azure_https::ca_pem());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let arm = Arm::new(Some(fake.url()), &env(CLIENT_SECRET)).unwrap();
    let q = |path: &str, version: &str| format!("{path}?api-version={version}");

    rt.block_on(async {
        // A resource group, then a storage account (202 and a Location poll).
        arm.call(
            "create resource group",
            Method::PUT,
            &q(&rg("shop-rg"), RESOURCES),
            Some(&json!({"location": "westeurope"})),
        )
        .await
        .unwrap();
        let account = provider("shop-rg", "Microsoft.Storage/storageAccounts", "shopaprod");
        let started = arm
            .call(
                "create storage account",
                Method::PUT,
                &q(&account, STORAGE),
                Some(&json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"})),
            )
            .await
            .unwrap();
        assert_eq!(started.status, 202, "storage accounts are made asynchronously");
        let made = arm.wait("create storage account", started).await.unwrap();
        assert_eq!(made["properties"]["provisioningState"], "Succeeded", "{made}");
        let keys = arm
            .call(
                "list keys",
                Method::POST,
                &q(&format!("{account}/listKeys"), STORAGE),
                None,
            )
            .await
            .unwrap();
        assert_eq!(keys.body["keys"].as_array().map(Vec::len), Some(2));

        // A plan, a Function App, its staging slot, settings on both sides.
        let plan = provider("shop-rg", "Microsoft.Web/serverfarms", "shop-aprod-plan");
        arm.call(
            "create plan",
            Method::PUT,
            &q(&plan, WEB),
            Some(&json!({"location": "westeurope", "sku": {"name": "EP1"}, "properties": {"reserved": true}})),
        )
        .await
        .unwrap();
        let site = provider("shop-rg", "Microsoft.Web/sites", "shop-aprod");
        arm.call(
            "create site",
            Method::PUT,
            &q(&site, WEB),
            Some(&json!({
                "location": "westeurope",
                "kind": "functionapp,linux",
                "properties": {"serverFarmId": plan, "siteConfig": {"linuxFxVersion": "Node|22"}},
            })),
        )
        .await
        .unwrap();
        arm.call(
            "create slot",
            Method::PUT,
            &q(&format!("{site}/slots/staging"), WEB),
            Some(&json!({"location": "westeurope", "kind": "functionapp,linux",
                         "properties": {"serverFarmId": plan, "siteConfig": {"linuxFxVersion": "Node|22"}}})),
        )
        .await
        .unwrap();
        for (side, release) in [("", "r1"), ("/slots/staging", "r2")] {
            arm.call(
                "app settings",
                Method::PUT,
                &q(&format!("{site}{side}/config/appsettings"), WEB),
                Some(&json!({"properties": {"NUBO_RELEASE": release}})),
            )
            .await
            .unwrap();
        }

        // The swap: 202, polled through Azure-AsyncOperation, then done.
        let swap = || async {
            let started = arm
                .call(
                    "swap staging into production",
                    Method::POST,
                    &q(&format!("{site}/slots/staging/slotsswap"), WEB),
                    Some(&json!({"targetSlot": "production", "preserveVnet": true})),
                )
                .await?;
            arm.wait("swap staging into production", started).await
        };
        swap().await.unwrap();
        assert_eq!(fake.swaps(), 1);
        assert_eq!(
            fake.app_settings("shop-aprod", None).unwrap()["NUBO_RELEASE"],
            "r2",
            "production now has the slot's settings"
        );
        // A swap that fails: an error naming it, and nothing moved.
        fake.fail_next_swap();
        let err = swap().await.unwrap_err();
        assert!(
            err.message.contains("swap staging into production") && err.message.contains("failed"),
            "{err}"
        );
        assert_eq!(fake.swaps(), 1);
        assert_eq!(fake.app_settings("shop-aprod", None).unwrap()["NUBO_RELEASE"], "r2");

        // Throttled twice with Retry-After, then served.
        fake.fail_next("WebApps_Get", 429, 2, Some(1));
        let t = Instant::now();
        let got = arm
            .call("get site", Method::GET, &q(&site, WEB), None)
            .await
            .unwrap();
        assert!(t.elapsed() >= Duration::from_secs(2), "Retry-After honoured");
        assert_eq!(got.body["properties"]["defaultHostName"], "shop-aprod.azurewebsites.net");

        // Tokens revoked mid-run: a new credential signs in again.
        fake.expire_tokens();
        arm.call("get site", Method::GET, &q(&site, WEB), None)
            .await
            .unwrap();

        // An ARM error names the request, ARM's code and its request id.
        let err = arm
            .call(
                "get missing site",
                Method::GET,
                &q(&provider("shop-rg", "Microsoft.Web/sites", "nothing-here"), WEB),
                None,
            )
            .await
            .unwrap_err();
        assert!(err.message.starts_with("get missing site: 404"), "{err}");
        assert!(err.request_id.is_some(), "{err:?}");

        // A wrong secret: the sign-in error says who tried.
        let wrong = Arm::new(Some(fake.url()), &env("not-the-secret")).unwrap();
        let err = wrong
            .call("get site", Method::GET, &q(&site, WEB), None)
            .await
            .unwrap_err();
        assert!(
            err.message.contains("could not sign in to Azure as service principal"),
            "{err}"
        );
        assert!(!err.message.contains("not-the-secret"), "the secret is not in errors");

        // The same service principal with a certificate: an RS256 client
        // assertion naming the certificate by its thumbprint.
        let pem = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/support/azure_tls/client.pem");
        let with_cert = Arm::new(
            Some(fake.url()),
            &HashMap::from([
                ("AZURE_TENANT_ID".to_owned(), TENANT_ID.to_owned()),
                ("AZURE_CLIENT_ID".to_owned(), CLIENT_ID.to_owned()),
                (
                    "AZURE_CLIENT_CERTIFICATE_PATH".to_owned(),
                    pem.display().to_string(),
                ),
            ]),
        )
        .unwrap();
        with_cert
            .call(
                "get the resource group",
                Method::GET,
                &q(&rg("shop-rg"), RESOURCES),
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("signed in with the certificate: {e}"));
        let missing = Arm::new(
            Some(fake.url()),
            &HashMap::from([
                ("AZURE_TENANT_ID".to_owned(), TENANT_ID.to_owned()),
                ("AZURE_CLIENT_ID".to_owned(), CLIENT_ID.to_owned()),
                (
                    "AZURE_CLIENT_CERTIFICATE_PATH".to_owned(),
                    "/nonexistent/sp.pem".to_owned(),
                ),
            ]),
        )
        .unwrap();
        let err = missing
            .call("get site", Method::GET, &q(&site, WEB), None)
            .await
            .unwrap_err();
        assert!(err.message.contains("/nonexistent/sp.pem"), "{err}");
    });
    let calls = fake.calls();
    assert!(
        calls
            .iter()
            .filter(|(id, _)| id == azure_fake::TOKEN_OPERATION)
            .count()
            >= 2,
        "a new token after the revocation: {calls:?}"
    );
    let violations = fake.violations();
    assert!(
        violations.is_empty(),
        "requests outside the OpenAPI documents: {violations:#?}"
    );
}
