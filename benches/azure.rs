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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use azure_fake::{CLIENT_ID, CLIENT_SECRET, Fake, SUBSCRIPTION_ID, TENANT_ID};

const KEY: &str = "bnViby10ZXN0LWFjY291bnQta2V5LXByb3RlY3RzLW5vdGhpbmc=";

struct Figures {
    ms: f64,
    requests: usize,
    writes: usize,
    swaps: usize,
    operations: usize,
}

fn service(dir: &Path, url: &str, n: usize) {
    let mut m = format!(
        "nubo: 1\nservice: bench\ntargets:\n  a: {{ provider: azure, subscription: \"{SUBSCRIPTION_ID}\", \
         resource_group: bench, location: westeurope, endpoint: \"{url}\" }}\ndefaults:\n  runtime: nodejs22\n\
         functions:\n"
    );
    for i in 0..n {
        m.push_str(&format!(
            "  f{i}:\n    handler: f{i}/index.handler\n    include: [\"f{i}/**\"]\n    events:\n      \
             - http: {{ method: GET, path: /f{i} }}\n"
        ));
        let d = dir.join(format!("f{i}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("index.js"),
            format!("exports.handler = async () => ({{ status: 200, body: 'f{i}' }});\n"),
        )
        .unwrap();
    }
    std::fs::write(dir.join("nubo.yaml"), m).unwrap();
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let bin = PathBuf::from(std::env::var("NUBO_BIN").unwrap_or_else(|_| {
        format!(
            "{}/release/nubo",
            std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into())
        )
    }));
    assert!(bin.is_file(), "no nubo binary at {}", bin.display());
    let sizes: Vec<usize> = std::env::var("SIZES")
        .unwrap_or_else(|_| "10".into())
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let delay = Duration::from_millis(
        std::env::var("OP_DELAY_MS")
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0),
    );
    println!(
        "nubo on the Azure fake + Azurite: {} runs per figure, operations take {} ms",
        runs,
        delay.as_millis()
    );
    for n in sizes {
        let steps = [
            "first deploy",
            "no-change deploy",
            "one changed",
            "rollback",
        ];
        let mut all: Vec<Vec<Figures>> = (0..steps.len()).map(|_| Vec::new()).collect();
        for _ in 0..runs {
            let fake = Fake::start();
            fake.set_operation_delay(delay);
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("svc");
            std::fs::create_dir_all(&dir).unwrap();
            service(&dir, fake.url(), n);
            let loaded = nubo::manifest::load(&dir.join("nubo.yaml")).unwrap();
            let resolved = nubo::resolve::resolve(&loaded, "a", &HashMap::new()).unwrap();
            let account = nubo::provider::azure::base::storage_account_name(&resolved);
            let az = azurite::Azurite::with_accounts(&[(account.as_str(), KEY)]);
            fake.set_storage_key(&account, KEY);
            fake.set_blob_endpoint(&account, &format!("{}/{account}", az.base));
            let deploy = ["deploy", "-t", "a"];
            all[0].push(run(&bin, &dir, &fake, &deploy));
            all[1].push(run(&bin, &dir, &fake, &deploy));
            std::fs::write(
                dir.join("f0/index.js"),
                "exports.handler = async () => ({ status: 200, body: 'changed' });\n",
            )
            .unwrap();
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
                median(figures.iter().map(|f| f.ms).collect()),
                figures[0].requests,
                figures[0].writes,
                figures[0].swaps,
                figures[0].operations
            );
        }
    }
}
