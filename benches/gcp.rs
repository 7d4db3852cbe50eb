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

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Figures {
    ms: f64,
    requests: usize,
    writes: usize,
    operations: usize,
}

fn service(dir: &Path, url: &str, n: usize) {
    let mut m = format!(
        "nubo: 1\nservice: bench\ntargets:\n  g: {{ provider: gcp, project: test-project, region: \
         europe-west1, endpoint: \"{url}\" }}\ndefaults:\n  runtime: nodejs22\nfunctions:\n"
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
        "nubo on the GCP fake: {} runs per figure, operations take {} ms",
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
            let fake = gcp_fake::Fake::start();
            fake.set_operation_delay(delay);
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("svc");
            std::fs::create_dir_all(&dir).unwrap();
            service(&dir, fake.url(), n);
            let key = fake.service_account_key(tmp.path());
            let deploy = ["deploy", "-t", "g"];
            all[0].push(run(&bin, &dir, &key, &fake, &deploy));
            all[1].push(run(&bin, &dir, &key, &fake, &deploy));
            std::fs::write(
                dir.join("f0/index.js"),
                "exports.handler = async () => ({ status: 200, body: 'changed' });\n",
            )
            .unwrap();
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
                median(figures.iter().map(|f| f.ms).collect()),
                figures[0].requests,
                figures[0].writes,
                figures[0].operations
            );
        }
    }
}
