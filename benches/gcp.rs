//! nubo on Google Cloud against the spec-checked fake on loopback (the
//! fake of `tests/support/gcp_fake.rs`, validating every request): first
//! deploy (packaging included), no-change deploy, one-function-changed
//! deploy and rollback of a generated service of N Node.js functions, one
//! HTTP route each. Prints wall time (median of RUNS runs, each on a new
//! fake), requests, writes, and Cloud Run operations nubo waited for.
//!
//! Run with `./benches/gcp.sh` (it builds the release binary first).
//! Environment: `NUBO_BIN` (the binary), `SIZES` (default `10`), `RUNS`
//! (default 5), `OP_DELAY_MS`: how long the fake's long-running operations
//! take (default 0: nubo's own cost; Cloud Run's real builds from source
//! take tens of seconds, in parallel across functions).

// The bench's own knobs come from its environment (there is no manifest to
// resolve them through).
#![allow(clippy::disallowed_methods)]

#[path = "../tests/support/gcp_fake.rs"]
mod gcp_fake;
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

struct Figures {
    ms: f64,
    requests: usize,
    writes: usize,
    operations: usize,
}

fn run(bin: &Path, dir: &Path, key: &Path, fake: &gcp_fake::Fake, args: &[&str]) -> Figures {
    let before = fake.calls().len();
    let t = Instant::now();
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("GOOGLE_APPLICATION_CREDENTIALS", key)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    assert!(
        out.status.success(),
        "nubo {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = fake.calls()[before..].to_vec();
    Figures {
        ms,
        requests: calls.len(),
        writes: gcp_fake::writes(&calls).len(),
        operations: calls
            .iter()
            .filter(|(id, _)| id == "run.projects.locations.operations.get")
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
        "nubo on the GCP fake: {} runs per figure, operations take {} ms",
        runs,
        delay.as_millis()
    );
    for n in sizes {
        let steps = support::STEPS;
        let mut all: Vec<Vec<Figures>> = (0..steps.len()).map(|_| Vec::new()).collect();
        for _ in 0..runs {
            let fake = gcp_fake::Fake::start();
            fake.set_operation_delay(delay);
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("svc");
            std::fs::create_dir_all(&dir).unwrap();
            support::service(
                &dir,
                &format!(
                    "g: {{ provider: gcp, project: test-project, region: europe-west1, endpoint: \"{}\" }}",
                    fake.url()
                ),
                n,
            );
            let key = fake.service_account_key(tmp.path());
            let deploy = ["deploy", "-t", "g"];
            all[0].push(run(&bin, &dir, &key, &fake, &deploy));
            all[1].push(run(&bin, &dir, &key, &fake, &deploy));
            support::change_one(&dir);
            all[2].push(run(&bin, &dir, &key, &fake, &deploy));
            all[3].push(run(
                &bin,
                &dir,
                &key,
                &fake,
                &["rollback", "-t", "g", "--yes"],
            ));
            let v = fake.violations();
            assert!(
                v.is_empty(),
                "requests outside the discovery documents: {v:#?}"
            );
        }
        println!("\n{n} functions");
        println!(
            "{:<18} {:>10} {:>9} {:>7} {:>11}",
            "", "median ms", "requests", "writes", "op. polls"
        );
        for (step, figures) in steps.iter().zip(&all) {
            println!(
                "{:<18} {:>10.1} {:>9} {:>7} {:>11}",
                step,
                support::median(figures.iter().map(|f| f.ms).collect()),
                figures[0].requests,
                figures[0].writes,
                figures[0].operations
            );
        }
    }
}
