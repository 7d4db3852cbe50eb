//! What the cloud benches share: their knobs (`NUBO_BIN`, `SIZES`, `RUNS`,
//! `OP_DELAY_MS`), the generated service, and the median.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The benches' settings, from their environment.
pub struct Knobs {
    pub bin: PathBuf,
    pub sizes: Vec<usize>,
    pub runs: usize,
    pub delay: Duration,
}

impl Knobs {
    pub fn from_env() -> Knobs {
        let bin = PathBuf::from(std::env::var("NUBO_BIN").unwrap_or_else(|_| {
            format!(
                "{}/release/nubo",
                std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into())
            )
        }));
        assert!(bin.is_file(), "no nubo binary at {}", bin.display());
        Knobs {
            bin,
            sizes: std::env::var("SIZES")
                .unwrap_or_else(|_| "10".into())
                .split(',')
                .map(|s| s.trim().parse().unwrap())
                .collect(),
            runs: std::env::var("RUNS")
                .ok()
                .and_then(|r| r.parse().ok())
                .unwrap_or(5),
            delay: Duration::from_millis(
                std::env::var("OP_DELAY_MS")
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0),
            ),
        }
    }
}

/// The steps every cloud bench measures, in order.
pub const STEPS: [&str; 4] = [
    "first deploy",
    "no-change deploy",
    "one changed",
    "rollback",
];

/// A service of `n` Node.js functions with an HTTP route each, in `dir`;
/// `target` is the target's line (`name: { provider: … }`).
pub fn service(dir: &Path, target: &str, n: usize) {
    let mut m = format!(
        "nubo: 1\nservice: bench\ntargets:\n  {target}\ndefaults:\n  runtime: nodejs22\nfunctions:\n"
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

/// The change the "one changed" step deploys.
pub fn change_one(dir: &Path) {
    std::fs::write(
        dir.join("f0/index.js"),
        "exports.handler = async () => ({ status: 200, body: 'changed' });\n",
    )
    .unwrap();
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}
