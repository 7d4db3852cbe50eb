//! nubo on Azure against the spec-checked fake on loopback (ARM, Entra ID
//! and the function hosts of `tests/support/azure_fake.rs`, over TLS,
//! validating every ARM request) with the target's storage account in
//! Azurite: first deploy (packaging included), no-change deploy,
//! one-function-changed deploy and rollback of a generated service of N
//! Node.js functions, one HTTP route each, all in one Function App. Prints
//! wall time (median of RUNS runs, each on a new fake and Azurite), ARM
//! requests, ARM writes, slot swaps and operation polls.
//!
//! Run with `./benches/azure.sh` (it builds the release binary first).
//! Environment: `NUBO_BIN` (the binary), `SIZES` (default `10`), `RUNS`
//! (default 5), `OP_DELAY_MS`: how long the fake's long-running operations
//! take (default 0: nubo's own cost; a real swap takes tens of seconds).

// The bench's own knobs come from its environment (there is no manifest to
// resolve them through).
#![allow(clippy::disallowed_methods)]

#[path = "../tests/support/azure_fake.rs"]
mod azure_fake;
#[path = "../tests/support/azurite.rs"]
mod azurite;
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use azure_fake::{CLIENT_ID, CLIENT_SECRET, Fake, SUBSCRIPTION_ID, TENANT_ID};

const KEY: &str = "bnViby10ZXN0LWFjY291bnQta2V5LXByb3RlY3RzLW5vdGhpbmc=";

struct Figures {
    ms: f64,
    requests: usize,
    writes: usize,
    swaps: usize,
    operations: usize,
}

fn run(bin: &Path, dir: &Path, fake: &Fake, args: &[&str]) -> Figures {
    let before = fake.calls().len();
    let t = Instant::now();
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("HOME", dir)
        .env("AZURE_TENANT_ID", TENANT_ID)
        .env("AZURE_CLIENT_ID", CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
        .env("AZURE_AUTHORITY_HOST", fake.url())
        .env("SSL_CERT_FILE", azure_fake::azure_https::ca_pem())
        .output()
        .unwrap();
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    assert!(
        out.status.success(),
        "nubo {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = fake.calls()[before..].to_vec();
    let arm: Vec<&(String, String)> = calls
        .iter()
        .filter(|(id, _)| id != azure_fake::TOKEN_OPERATION && id != azure_fake::SITE_HTTP)
        .collect();
    let is = |id: &str, p: &str| id.contains(p);
    Figures {
        ms,
        requests: arm.len(),
        writes: arm
            .iter()
            .filter(|(id, r)| {
                ["PUT ", "POST ", "PATCH ", "DELETE "]
                    .iter()
                    .any(|m| r.starts_with(m))
                    && !is(id, "List")
            })
            .count(),
        swaps: arm.iter().filter(|(id, _)| is(id, "Swap")).count(),
        operations: arm
            .iter()
            .filter(|(id, _)| {
                id == azure_fake::OPERATION_STATUS || id == azure_fake::OPERATION_RESULT
            })
            .count(),
    }
}

fn main() {
    let support::Knobs {
        bin,
        sizes,
        runs,
        delay,
    } = support::Knobs::from_env();
    println!(
        "nubo on the Azure fake + Azurite: {} runs per figure, operations take {} ms",
        runs,
        delay.as_millis()
    );
    for n in sizes {
        let steps = support::STEPS;
        let mut all: Vec<Vec<Figures>> = (0..steps.len()).map(|_| Vec::new()).collect();
        for _ in 0..runs {
            let fake = Fake::start();
            fake.set_operation_delay(delay);
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("svc");
            std::fs::create_dir_all(&dir).unwrap();
            support::service(
                &dir,
                &format!(
                    "a: {{ provider: azure, subscription: \"{SUBSCRIPTION_ID}\", resource_group: bench, \
                     location: westeurope, endpoint: \"{}\" }}",
                    fake.url()
                ),
                n,
            );
            let loaded = nubo::manifest::load(&dir.join("nubo.yaml")).unwrap();
            let resolved = nubo::resolve::resolve(&loaded, "a", &HashMap::new()).unwrap();
            let account = nubo::provider::azure::base::storage_account_name(&resolved);
            let az = azurite::Azurite::with_accounts(&[(account.as_str(), KEY)]);
            fake.set_storage_key(&account, KEY);
            fake.set_blob_endpoint(&account, &format!("{}/{account}", az.base));
            let deploy = ["deploy", "-t", "a"];
            all[0].push(run(&bin, &dir, &fake, &deploy));
            all[1].push(run(&bin, &dir, &fake, &deploy));
            support::change_one(&dir);
            all[2].push(run(&bin, &dir, &fake, &deploy));
            all[3].push(run(&bin, &dir, &fake, &["rollback", "-t", "a", "--yes"]));
            let v = fake.violations();
            assert!(
                v.is_empty(),
                "requests outside the OpenAPI documents: {v:#?}"
            );
        }
        println!("\n{n} functions");
        println!(
            "{:<18} {:>10} {:>9} {:>7} {:>6} {:>10}",
            "", "median ms", "requests", "writes", "swaps", "op. polls"
        );
        for (step, figures) in steps.iter().zip(&all) {
            println!(
                "{:<18} {:>10.1} {:>9} {:>7} {:>6} {:>10}",
                step,
                support::median(figures.iter().map(|f| f.ms).collect()),
                figures[0].requests,
                figures[0].writes,
                figures[0].swaps,
                figures[0].operations
            );
        }
    }
}
