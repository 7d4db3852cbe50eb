//! The Google Cloud backend through the real binary, against the
//! spec-checked fake (`tests/support/gcp_fake.rs`): every request nubo sends
//! is validated against the discovery documents in `../shared/specs/gcp`, and
//! the fake's Cloud Run front end runs the deployed revisions for real under
//! Google's Functions Framework (`tests/support/gcp_front.rs`), so checks and
//! `nubo.call` chains execute the shop's handlers.

#[path = "support/files.rs"]
mod files;
#[path = "support/gcp_fake.rs"]
mod gcp_fake;
#[path = "support/race.rs"]
mod race;

use files::{copy_dir, walk};

use std::path::{Path, PathBuf};
use std::process::{Command as Std, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

const PARENT: &str = "projects/test-project/locations/europe-west1/services";

/// The shop's chain (checkout → charge → ship, Node and Python) as a GCP
/// target of the fake; `STATE` and `CHECKS` are filled in per test.
const SHOP: &str = r#"nubo: 1
service: shop
targets:
  gprod: { provider: gcp, project: test-project, region: europe-west1, endpoint: "ENDPOINT"STATE }
defaults:
  runtime: nodejs22
  timeout: 10s
functions:
  checkout:
    handler: src/checkout.handler
    env: { API_KEY: "${secret:stripe-key}", STAGE: "${target}" }
    include: ["src/checkout.js"]
    events:
      - http: { method: POST, path: /checkout, public: true }
    calls: [charge]
  charge:
    handler: billing/charge.handler
    runtime: python3.12
    include: ["billing/**"]
    calls: [ship]
  ship:
    handler: src/ship.handler
    include: ["src/ship.js"]
CHECKS"#;

const SHOP_CHECK: &str = "release:
  checks:
    - invoke: checkout
      with: { method: POST, path: /checkout, body: '{\"sku\":1}' }
      expect: { status: 200, body_contains: '\"function\":\"ship\"' }
";

/// A deployed service in a temporary directory, pointed at a fake.
struct Svc {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    key: PathBuf,
}

impl Svc {
    fn shop(fake: &gcp_fake::Fake, state: &str, checks: &str) -> Svc {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("shop");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop");
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::create_dir_all(dir.join("billing")).unwrap();
        for f in [
            "package.json",
            "src/checkout.js",
            "src/ship.js",
            "billing/charge.py",
        ] {
            std::fs::copy(src.join(f), dir.join(f)).unwrap();
        }
        let manifest = SHOP
            .replace("ENDPOINT", fake.url())
            .replace("STATE", state)
            .replace("CHECKS", checks);
        std::fs::write(dir.join("nubo.yaml"), manifest).unwrap();
        let key = fake.service_account_key(tmp.path());
        Svc {
            _tmp: tmp,
            dir,
            key,
        }
    }

    /// The binary with the fake's key file and nothing from this machine's
    /// Google set-up.
    fn std_cmd(&self) -> Std {
        let mut cmd = Std::new(assert_cmd::cargo::cargo_bin("nubo"));
        cmd.current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .env("GOOGLE_APPLICATION_CREDENTIALS", &self.key)
            .env("HOME", self.dir.parent().unwrap())
            .env_remove("CLOUDSDK_CONFIG")
            .env_remove("GCE_METADATA_HOST")
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
}

fn service(fake: &gcp_fake::Fake, function: &str) -> Value {
    fake.service(&format!("shop-gprod-{function}"))
        .unwrap_or_else(|| panic!("no service for {function}"))
}

/// The revision a tag names on a function's service.
fn tagged(fake: &gcp_fake::Fake, function: &str, tag: &str) -> Option<String> {
    service(fake, function)["traffic"]
        .as_array()?
        .iter()
        .find(|t| t["tag"] == tag)
        .and_then(|t| t["revision"].as_str().map(str::to_owned))
}

/// Revision → percent, for the entries that get traffic.
fn serving(fake: &gcp_fake::Fake, function: &str) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = service(fake, function)["traffic"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["percent"].as_i64().unwrap_or(0) > 0)
        .map(|t| {
            (
                t["revision"].as_str().unwrap_or("LATEST").to_owned(),
                t["percent"].as_i64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn env_of(revision_or_service: &Value) -> Vec<(String, Value)> {
    revision_or_service["template"]["containers"][0]["env"]
        .as_array()
        .or(revision_or_service["containers"][0]["env"].as_array())
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e.get("value")
                    .cloned()
                    .unwrap_or_else(|| e["valueSource"].clone()),
            )
        })
        .collect()
}

/// POST /checkout through the entry service's own URL (no tag: traffic
/// decides), as a user on the internet would.
fn order(fake: &gcp_fake::Fake) -> (u16, Value) {
    let uri = service(fake, "checkout")["uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let host = uri.trim_start_matches("https://");
    let r = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
        .post(format!("{}/checkout", fake.url()))
        .header("host", host)
        .header("content-type", "application/json")
        .body(r#"{"sku":2,"qty":1}"#)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn no_violations(fake: &gcp_fake::Fake) {
    let v = fake.violations();
    assert!(
        v.is_empty(),
        "requests outside the discovery documents: {v:#?}"
    );
}

#[test]
fn the_shop_chain_deploys_runs_changes_one_function_and_rolls_back() {
    let fake = gcp_fake::Fake::start();
    fake.set_secret("shop-gprod-stripe-key", "sk_test_gcp_51secret");
    let svc = Svc::shop(&fake, "", SHOP_CHECK);

    // First deploy: three services, each revision tagged with its version
    // and the release; the check ran the real chain on r1's tagged URLs.
    let out = svc.ok(&["deploy", "-t", "gprod", "--output", "json"]);
    assert!(out.contains("\"release\":\"r1\""), "{out}");
    for f in ["checkout", "charge", "ship"] {
        let r1 = tagged(&fake, f, "r1").unwrap_or_else(|| panic!("{f} has no r1 tag"));
        assert!(r1.starts_with(&format!("shop-gprod-{f}-v")), "{r1}");
        let s = service(&fake, f);
        assert_eq!(s["labels"]["nubo-service"], "shop");
        assert_eq!(
            s["buildConfig"]["functionTarget"], "nubo",
            "{f}: the shim is the function target"
        );
    }
    assert_eq!(
        service(&fake, "charge")["buildConfig"]["baseImage"],
        "python312"
    );
    let served = fake.served();
    let hosts: Vec<&str> = served.iter().map(|s| s.host.as_str()).collect();
    assert!(
        hosts
            .iter()
            .any(|h| h.starts_with("r1---shop-gprod-checkout")),
        "the check calls r1's tagged URL: {hosts:?}"
    );
    assert!(
        hosts
            .iter()
            .any(|h| h.starts_with("v") && h.contains("---shop-gprod-charge"))
            && hosts
                .iter()
                .any(|h| h.starts_with("v") && h.contains("---shop-gprod-ship")),
        "nubo.call goes to the callees' version tags: {hosts:?}"
    );
    assert!(served.iter().all(|s| s.status == 200), "{served:?}");
    let checkout_r1 = tagged(&fake, "checkout", "r1").unwrap();
    assert_eq!(serving(&fake, "checkout"), [(checkout_r1.clone(), 100)]);
    assert_eq!(service(&fake, "checkout")["labels"]["nubo-live"], "r1");

    // The entry is public; the chain answers through its main URL, and the
    // secret reached the handler only as a Secret Manager reference.
    let (status, body) = order(&fake);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["chain"][2]["function"], "ship", "{body}");
    let env = env_of(&service(&fake, "checkout"));
    let key = env.iter().find(|(k, _)| k == "API_KEY").unwrap();
    assert_eq!(
        key.1["secretKeyRef"]["secret"], "shop-gprod-stripe-key",
        "{env:?}"
    );
    for path in walk(&svc.dir.join(".nubo")) {
        let text = std::fs::read(&path).unwrap();
        assert!(
            !String::from_utf8_lossy(&text).contains("sk_test_gcp_51secret"),
            "the secret is in {}",
            path.display()
        );
    }
    assert!(!out.contains("sk_test_gcp_51secret"));

    // No change: nothing written.
    let before = fake.calls().len();
    svc.ok(&["deploy", "-t", "gprod"]);
    let w = gcp_fake::writes(&fake.calls()[before..]);
    assert!(w.is_empty(), "a no-change deploy wrote: {w:#?}");

    // checkout changed: one new revision (checkout's), the release's tags,
    // one traffic patch of the entry; charge and ship keep theirs.
    let charge_r1 = tagged(&fake, "charge", "r1").unwrap();
    let ship_r1 = tagged(&fake, "ship", "r1").unwrap();
    let text = std::fs::read_to_string(svc.dir.join("src/checkout.js"))
        .unwrap()
        .replace(
            "stage: process.env.STAGE,",
            "stage: process.env.STAGE, v: 2,",
        );
    std::fs::write(svc.dir.join("src/checkout.js"), text).unwrap();
    let count = |f: &str| fake.revisions(&format!("{PARENT}/shop-gprod-{f}")).len();
    let revisions_before: Vec<usize> = ["checkout", "charge", "ship"].map(count).to_vec();
    let before = fake.calls().len();
    svc.ok(&["deploy", "-t", "gprod"]);
    let calls = fake.calls()[before..].to_vec();
    let revisions_after: Vec<usize> = ["checkout", "charge", "ship"].map(count).to_vec();
    assert_eq!(
        revisions_after,
        [
            revisions_before[0] + 1,
            revisions_before[1],
            revisions_before[2]
        ],
        "only checkout gets a revision"
    );
    let entry_moves = calls
        .iter()
        .filter(|(id, what)| id.ends_with("services.patch") && what.contains("shop-gprod-checkout"))
        .count();
    assert_eq!(
        entry_moves, 2,
        "checkout: the new revision (with its version and r2 tags), the switch: {calls:#?}"
    );
    let checkout_r2 = tagged(&fake, "checkout", "r2").unwrap();
    assert_ne!(checkout_r2, checkout_r1);
    assert_eq!(tagged(&fake, "charge", "r2").unwrap(), charge_r1);
    assert_eq!(tagged(&fake, "ship", "r2").unwrap(), ship_r1);
    assert_eq!(serving(&fake, "checkout"), [(checkout_r2.clone(), 100)]);
    let (status, body) = order(&fake);
    assert_eq!((status, body["v"].clone()), (200, Value::from(2)), "{body}");

    // ship changed: its callers are bound to it, so the chain gets new
    // revisions, and a request through the main URL reaches the new ship.
    let text = std::fs::read_to_string(svc.dir.join("src/ship.js"))
        .unwrap()
        .replace("TRK-", "TRK3-");
    std::fs::write(svc.dir.join("src/ship.js"), text).unwrap();
    svc.ok(&["deploy", "-t", "gprod"]);
    for f in ["checkout", "charge", "ship"] {
        assert_ne!(
            tagged(&fake, f, "r3"),
            tagged(&fake, f, "r2"),
            "{f} is bound to ship's version"
        );
    }
    let (status, body) = order(&fake);
    assert_eq!(status, 200, "{body}");
    assert!(
        body["order"]["tracking"]
            .as_str()
            .is_some_and(|t| t.starts_with("TRK3-")),
        "{body}"
    );

    // Rollback to r1: traffic patches only, one per entry (here one), and
    // the old chain answers again.
    let before = fake.calls().len();
    svc.ok(&["rollback", "-t", "gprod", "--to", "r1", "--yes"]);
    let w = gcp_fake::writes(&fake.calls()[before..]);
    assert_eq!(w.len(), 1, "rollback wrote: {w:#?}");
    assert!(
        w[0].contains("services.patch") && w[0].contains("shop-gprod-checkout"),
        "{w:?}"
    );
    assert_eq!(serving(&fake, "checkout"), [(checkout_r1.clone(), 100)]);
    let (status, body) = order(&fake);
    assert_eq!(status, 200, "{body}");
    assert!(body.get("v").is_none(), "r1's checkout answers: {body}");
    assert!(
        body["order"]["tracking"]
            .as_str()
            .is_some_and(|t| t.starts_with("TRK-")),
        "r1's ship answers: {body}"
    );

    // Status reads the tags back; a tag moved by hand is drift.
    let out = svc.ok(&["status", "-t", "gprod", "--output", "json"]);
    assert!(out.contains("\"drift\":false"), "{out}");
    no_violations(&fake);
}

#[test]
fn a_failing_check_moves_no_traffic_and_exits_4() {
    let fake = gcp_fake::Fake::start();
    fake.set_secret("shop-gprod-stripe-key", "sk_test_x");
    let svc = Svc::shop(&fake, "", SHOP_CHECK);
    svc.ok(&["deploy", "-t", "gprod"]);
    let live = serving(&fake, "checkout");
    // r2's checkout answers 500.
    std::fs::write(
        svc.dir.join("src/checkout.js"),
        "exports.handler = async () => { throw new Error('broken release'); };\n",
    )
    .unwrap();
    let before = fake.calls().len();
    let (code, out, err) = svc.run(&["deploy", "-t", "gprod"]);
    assert_eq!(code, 4, "{out}\n{err}");
    assert!(
        err.contains("check") && err.contains("500"),
        "the failure names the check and the status: {err}"
    );
    assert_eq!(serving(&fake, "checkout"), live, "traffic did not move");
    assert_eq!(service(&fake, "checkout")["labels"]["nubo-live"], "r1");
    let moved: Vec<String> = gcp_fake::writes(&fake.calls()[before..])
        .into_iter()
        .filter(|w| w.contains("labels"))
        .collect();
    assert!(moved.is_empty(), "{moved:?}");
    no_violations(&fake);
}

/// One Node function with an HTTP route and no checks: the fast service of
/// the lock, kill and fault tests.
fn small(fake: &gcp_fake::Fake, state: &str) -> Svc {
    let svc = Svc::shop(fake, state, "");
    let manifest = format!(
        "nubo: 1\nservice: shop\ntargets:\n  gprod: {{ provider: gcp, project: test-project, \
         region: europe-west1, endpoint: \"{}\"{state} }}\nfunctions:\n  api:\n    handler: \
         src/ship.handler\n    runtime: nodejs22\n    events:\n      - http: {{ method: GET, path: /ship }}\n  \
         worker:\n    handler: src/ship.handler\n    runtime: nodejs22\n",
        fake.url()
    );
    std::fs::write(svc.dir.join("nubo.yaml"), manifest).unwrap();
    svc
}

fn change(svc: &Svc, tag: &str) {
    std::fs::write(
        svc.dir.join("src/ship.js"),
        format!("exports.handler = async () => ({{ status: 200, body: '{tag}' }});\n"),
    )
    .unwrap();
}

#[test]
fn operations_throttling_unavailability_and_token_expiry_are_ridden_out() {
    let fake = gcp_fake::Fake::start();
    let svc = small(&fake, "");
    fake.set_operation_delay(Duration::from_millis(400));
    fake.fail_next("run.projects.locations.services.create", 429, 2, Some(1));
    fake.fail_next("run.projects.locations.services.patch", 503, 2, Some(1));
    fake.fail_next("storage.objects.insert", 503, 1, None);
    fake.fail_next(gcp_fake::TOKEN_METHOD, 503, 1, Some(1));
    // Tokens revoked while the deploy runs: nubo gets a new one.
    let t = Instant::now();
    let expired_at = std::thread::scope(|s| {
        let expirer = s.spawn(|| {
            std::thread::sleep(Duration::from_millis(700));
            fake.expire_tokens();
            fake.calls().len()
        });
        svc.ok(&["deploy", "-t", "gprod"]);
        expirer.join().unwrap()
    });
    assert!(
        t.elapsed() >= Duration::from_millis(800),
        "operations were waited for"
    );
    let calls = fake.calls();
    let count = |id: &str, from: usize| calls[from..].iter().filter(|(c, _)| c == id).count();
    assert!(
        count("run.projects.locations.operations.get", 0) >= 2,
        "long-running operations were polled"
    );
    assert!(
        count("run.projects.locations.services.create", 0) >= 4,
        "two services, each created after two 429s were ridden out"
    );
    assert!(count("run.projects.locations.services.patch", 0) >= 3);
    assert!(
        count("storage.objects.insert", 0) >= 2,
        "the 503 upload was repeated"
    );
    let after = calls[expired_at..]
        .iter()
        .filter(|(id, _)| id.starts_with("run.") || id.starts_with("storage."))
        .count();
    assert!(after > 0, "the deploy went on after the tokens expired");
    assert!(
        count(gcp_fake::TOKEN_METHOD, expired_at) >= 1,
        "a new token after the old one was revoked"
    );
    assert_eq!(service(&fake, "api")["labels"]["nubo-live"], "r1");
    no_violations(&fake);
}

#[test]
fn concurrent_deploys_on_gcs_state_one_holds_the_lock() {
    let fake = gcp_fake::Fake::start();
    let svc = small(&fake, ", state: \"gs://team-state/shop/gprod\"");
    // The state bucket exists (nubo does not make the team's bucket).
    let http = reqwest::blocking::Client::new();
    let r = http
        .post(format!("{}/storage/v1/b?project=test-project", fake.url()))
        .bearer_auth(fake.issue_token())
        .json(&serde_json::json!({"name": "team-state"}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text());
    svc.ok(&["deploy", "-t", "gprod"]);
    assert!(!svc.dir.join(".nubo/state").exists());
    // Each operation takes 300 ms: the first deploy holds the lock long enough.
    fake.set_operation_delay(Duration::from_millis(300));
    for trial in 0..20 {
        change(&svc, &format!("trial-{trial}"));
        let err = race::exactly_one_holds_the_lock(
            || {
                let mut c = svc.std_cmd();
                c.args(["deploy", "-t", "gprod"]);
                c
            },
            trial,
        );
        assert!(err.contains("lock"), "trial {trial}: {err}");
    }
    assert_eq!(service(&fake, "api")["labels"]["nubo-live"], "r21");
    no_violations(&fake);
}

#[test]
fn killed_at_any_instant_traffic_names_a_whole_release() {
    let fake = gcp_fake::Fake::start();
    let svc = small(&fake, "");
    fake.set_operation_delay(Duration::from_millis(30));
    svc.ok(&["deploy", "-t", "gprod"]);
    // How long a deploy that changes both functions takes.
    let mut span = Duration::MAX;
    for tag in ["calibrate-1", "calibrate-2"] {
        change(&svc, tag);
        let t = Instant::now();
        svc.ok(&["deploy", "-t", "gprod"]);
        span = span.min(t.elapsed());
    }
    let span = span.mul_f64(0.9);
    let whole = |at: &str| {
        let live = service(&fake, "api")["labels"]["nubo-live"]
            .as_str()
            .unwrap()
            .to_owned();
        let serving = serving(&fake, "api");
        assert_eq!(serving.len(), 1, "{at}: {serving:?}");
        assert_eq!(
            tagged(&fake, "api", &live).as_deref(),
            Some(serving[0].0.as_str()),
            "{at}: the label and the traffic disagree"
        );
        assert!(
            tagged(&fake, "worker", &live).is_some(),
            "{at}: live `{live}` has no revision of worker"
        );
        live
    };
    let mut killed_mid_run = 0;
    let mut i = 0;
    while killed_mid_run < 30 && i < 90 {
        i += 1;
        change(&svc, &format!("kill-{i}"));
        let at = span.mul_f64((i as f64 * 0.618_033_988_7).fract());
        let mut child = svc
            .std_cmd()
            .args(["deploy", "-t", "gprod"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        whole(&format!("instant {i} ({at:?})"));
        let (code, out, err) = svc.run(&["deploy", "-t", "gprod"]);
        assert_eq!(
            code, 0,
            "instant {i}: the next deploy failed:\n{out}\n{err}"
        );
        whole(&format!("after instant {i}"));
        let before = fake.calls().len();
        svc.ok(&["deploy", "-t", "gprod"]);
        let w = gcp_fake::writes(&fake.calls()[before..]);
        assert!(w.is_empty(), "instant {i}: not converged, wrote {w:#?}");
    }
    assert!(
        killed_mid_run >= 30,
        "only {killed_mid_run} kills landed mid-run"
    );
    no_violations(&fake);
}

#[test]
fn logs_come_from_cloud_logging_by_function_and_release() {
    let fake = gcp_fake::Fake::start();
    let svc = small(&fake, "");
    svc.ok(&["deploy", "-t", "gprod"]);
    let r1 = tagged(&fake, "api", "r1").unwrap();
    change(&svc, "two");
    svc.ok(&["deploy", "-t", "gprod"]);
    let r2 = tagged(&fake, "api", "r2").unwrap();
    assert_ne!(r1, r2);
    let now = std::time::SystemTime::now();
    let at = |secs_ago: u64| {
        humantime::format_rfc3339_micros(now - Duration::from_secs(secs_ago)).to_string()
    };
    let add = |service: &str, revision: &str, text: &str, secs_ago: u64| {
        fake.add_log_entry(
            "projects/test-project/logs/run.googleapis.com%2Fstdout",
            Value::from(text),
            &at(secs_ago),
            &[
                ("service_name", service),
                ("revision_name", revision),
                ("location", "europe-west1"),
            ],
        );
    };
    add("shop-gprod-api", &r1, "old api line", 50);
    add("shop-gprod-api", &r2, "new api line", 40);
    add(
        "shop-gprod-worker",
        "shop-gprod-worker-v00000000",
        "worker line",
        30,
    );
    add("shop-gprod-api", &r2, "too old", 7200);
    add("other-service", "other-v1", "not ours", 20);

    let out = svc.ok(&["logs", "-t", "gprod"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[1].contains("new api line"), "{out}");
    assert!(lines[2].contains("worker v00000000 worker line"), "{out}");
    let v1 = r1.rsplit_once("-v").unwrap().1;
    assert!(
        lines[0].contains(&format!("api v{v1} old api line")),
        "{out}"
    );

    let out = svc.ok(&[
        "logs",
        "api",
        "-t",
        "gprod",
        "--release",
        "r1",
        "--since",
        "1h",
    ]);
    assert_eq!(out.trim().lines().count(), 1, "{out}");
    assert!(out.contains("old api line"), "{out}");
    let out = svc.ok(&["logs", "api", "-t", "gprod", "-n", "1"]);
    assert!(
        out.trim().ends_with("new api line") && out.trim().lines().count() == 1,
        "{out}"
    );
    no_violations(&fake);
}

/// `examples/shop` as it is, its `gprod` target pointed at the fake.
fn shop_example(fake: &gcp_fake::Fake) -> Svc {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shop");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop"),
        &dir,
    );
    let from = "gprod: { provider: gcp, project: acme-shop, region: europe-west1 }";
    let text = std::fs::read_to_string(dir.join("nubo.yaml")).unwrap();
    assert!(text.contains(from), "the shop's gcp target moved");
    let text = text
        .replace(
            from,
            &format!(
                "gprod: {{ provider: gcp, project: acme-shop, region: europe-west1, endpoint: \"{}\" }}",
                fake.url()
            ),
        )
        .replace("interval: 20s", "interval: 1s");
    std::fs::write(dir.join("nubo.yaml"), text).unwrap();
    let key = fake.service_account_key(tmp.path());
    Svc {
        _tmp: tmp,
        dir,
        key,
    }
}

/// A Google API call as a test client (the fake's token).
fn google(
    fake: &gcp_fake::Fake,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut r = reqwest::blocking::Client::new()
        .request(method, format!("{}{path}", fake.url()))
        .bearer_auth(fake.issue_token());
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().unwrap();
    let status = r.status();
    let text = r.text().unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Wait (bounded) for the front end to have served a request matching `f`.
fn wait_served(
    fake: &gcp_fake::Fake,
    what: &str,
    f: impl Fn(&gcp_fake::Served) -> bool,
) -> gcp_fake::Served {
    let start = Instant::now();
    loop {
        if let Some(s) = fake.served().into_iter().find(|s| f(s)) {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} was never served: {:#?}",
            fake.served()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_shop_example_deploys_with_its_queue_schedule_and_bucket() {
    let fake = gcp_fake::Fake::start();
    fake.set_secret("shop-gprod-stripe-key", "sk_test_shop");
    let svc = shop_example(&fake);
    let out = svc.ok(&["deploy", "-t", "gprod", "--output", "json"]);
    assert!(out.contains("\"release\":\"r1\""), "{out}");
    // The check ran the real chain; the canary ended on r1 everywhere.
    for f in ["checkout", "ship", "report"] {
        assert_eq!(service(&fake, f)["labels"]["nubo-live"], "r1", "{f}");
    }
    let uri = |f: &str| service(&fake, f)["uri"].as_str().unwrap().to_owned();
    let host = |f: &str| uri(f).trim_start_matches("https://").to_owned();

    // The queue: a topic, a dead-letter topic, a push subscription to ship.
    let sub = google(
        &fake,
        reqwest::Method::GET,
        "/v1/projects/acme-shop/subscriptions/shop-gprod-shipments-ship",
        None,
    );
    assert_eq!(
        sub["pushConfig"]["pushEndpoint"],
        format!("{}/_nubo/queue/shipments", uri("ship"))
    );
    assert_eq!(
        sub["deadLetterPolicy"]["deadLetterTopic"],
        "projects/acme-shop/topics/shop-gprod-shipments-dlq"
    );
    assert_eq!(sub["pushConfig"]["oidcToken"]["audience"], uri("ship"));
    let order = serde_json::json!({"orderId": "o-7", "sku": 3}).to_string();
    google(
        &fake,
        reqwest::Method::POST,
        "/v1/projects/acme-shop/topics/shop-gprod-shipments:publish",
        Some(serde_json::json!({"messages": [{
            "data": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, order),
        }]})),
    );
    let shipped = wait_served(&fake, "the queue message", |s| {
        s.host == host("ship") && s.path == "/_nubo/queue/shipments"
    });
    assert_eq!(shipped.status, 200, "{shipped:?}");
    assert!(shipped.body.contains("TRK-o-7-3"), "{shipped:?}");

    // The schedule: a Cloud Scheduler job at 03:00 UTC, run once now.
    let job_path = "/v1/projects/acme-shop/locations/europe-west1/jobs/shop-gprod-report-1";
    let job = google(&fake, reqwest::Method::GET, job_path, None);
    assert_eq!(job["schedule"], "0 3 * * *");
    assert_eq!(job["timeZone"], "Etc/UTC");
    google(
        &fake,
        reqwest::Method::POST,
        &format!("{job_path}:run"),
        Some(serde_json::json!({})),
    );
    let ran = wait_served(&fake, "the schedule", |s| {
        s.host == host("report") && s.path == "/_nubo/schedule"
    });
    assert!(ran.body.contains("\"kind\":\"schedule\""), "{ran:?}");

    // The bucket: uploads under in/ reach report; others are skipped.
    let bucket = "shop-gprod-uploads-acme-shop";
    for key in ["in/day.csv", "out/skip.csv"] {
        let r = reqwest::blocking::Client::new()
            .post(format!(
                "{}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={}",
                fake.url(),
                key.replace('/', "%2F")
            ))
            .bearer_auth(fake.issue_token())
            .body("a,b\n")
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{:?}", r.text());
    }
    let upload = wait_served(&fake, "the upload", |s| {
        s.host == host("report") && s.body.contains("in/day.csv")
    });
    assert!(upload.body.contains("\"event\":\"created\""), "{upload:?}");
    let skipped = wait_served(&fake, "the upload outside in/", |s| {
        s.host == host("report") && s.body.contains("skipped")
    });
    assert_eq!(skipped.status, 200);

    // A rollback moves traffic only: no trigger is written again.
    std::fs::write(
        svc.dir.join("src/report.js"),
        "exports.handler = async () => ({ kind: 'v2' });\n",
    )
    .unwrap();
    svc.ok(&["deploy", "-t", "gprod"]);
    let before = fake.calls().len();
    svc.ok(&["rollback", "-t", "gprod", "--yes"]);
    let w = gcp_fake::writes(&fake.calls()[before..]);
    assert!(
        !w.is_empty()
            && w.iter()
                .all(|w| w.contains("run.projects.locations.services.patch")),
        "rollback wrote more than traffic: {w:#?}"
    );
    assert_eq!(service(&fake, "report")["labels"]["nubo-live"], "r1");

    // remove: everything the target made, except a bucket that holds data.
    let (code, out, err) = svc.run(&["remove", "-t", "gprod", "--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        fake.service("shop-gprod-ship").is_none(),
        "services are gone"
    );
    let r = reqwest::blocking::Client::new()
        .get(format!(
            "{}/v1/projects/acme-shop/subscriptions/shop-gprod-shipments-ship",
            fake.url()
        ))
        .bearer_auth(fake.issue_token())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404, "the subscription is gone");
    let r = reqwest::blocking::Client::new()
        .get(format!("{}/storage/v1/b/{bucket}", fake.url()))
        .bearer_auth(fake.issue_token())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "a bucket with data is kept");
    no_violations(&fake);
}

#[test]
fn a_message_that_keeps_failing_goes_to_the_dead_letter_topic() {
    let fake = gcp_fake::Fake::start();
    let svc = small(&fake, "");
    let manifest = std::fs::read_to_string(svc.dir.join("nubo.yaml"))
        .unwrap()
        .replace(
            "  worker:\n    handler: src/ship.handler\n",
            "  worker:\n    handler: src/ship.handler\n    events:\n      - queue: { name: jobs }\n",
        );
    std::fs::write(svc.dir.join("nubo.yaml"), manifest).unwrap();
    std::fs::write(
        svc.dir.join("src/ship.js"),
        "exports.handler = async (e) => { if (e.messages[0].body === 'bad') throw new Error('no'); return { ok: e.messages[0].attempt }; };\n",
    )
    .unwrap();
    svc.ok(&["deploy", "-t", "gprod"]);
    let publish = |body: &str| {
        google(
            &fake,
            reqwest::Method::POST,
            "/v1/projects/test-project/topics/shop-gprod-jobs:publish",
            Some(serde_json::json!({"messages": [{
                "data": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, body),
            }]})),
        )
    };
    publish("good");
    publish("bad");
    let start = Instant::now();
    while fake.published("shop-gprod-jobs-dlq").is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{:#?}",
            fake.served()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let dead = fake.published("shop-gprod-jobs-dlq");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["data"], "YmFk", "the bad message, after 5 attempts");
    let failures = fake
        .served()
        .iter()
        .filter(|s| s.path == "/_nubo/queue/jobs" && s.status == 500)
        .count();
    assert_eq!(failures, 5);
    assert!(
        fake.served()
            .iter()
            .any(|s| s.status == 200 && s.body.contains("\"ok\":1")),
        "the good one was handled on its first attempt"
    );
    no_violations(&fake);
}
