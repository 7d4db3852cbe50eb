//! The release engine through the real binary, against the provider test
//! double (`src/provider/fake.rs`, feature `test-backend`): round trips,
//! checks, canary, pruning, JSON Lines, the lock under concurrency, and
//! SIGKILL at many instants of a deploy.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command as Std, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

struct Svc {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    backend: PathBuf,
}

const MANIFEST: &str = "nubo: 1
service: svc
targets:
  dev: { provider: local }
defaults:
  runtime: nodejs22
  env: { STAGE: \"${target}\", VERSION: \"1\" }
functions:
  front:
    handler: front/index.handler
    events:
      - http: { method: POST, path: /orders }
    calls: [price]
  price:
    handler: price/index.handler
  report:
    handler: report/index.handler
release:
  STRATEGY
  checks:
    - invoke: front
      with: { method: POST, path: /orders, body: '{}' }
      expect: { status: 200, body_contains: '\"release\"' }
  keep: 3
";

impl Svc {
    fn new() -> Svc {
        Svc::with(MANIFEST.replace("  STRATEGY\n", ""))
    }

    fn with(manifest: String) -> Svc {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("svc");
        let backend = tmp.path().join("cloud");
        for f in ["front", "price", "report"] {
            std::fs::create_dir_all(dir.join(f)).unwrap();
            std::fs::write(
                dir.join(f).join("index.js"),
                format!("exports.handler = async () => ({{ status: 200, body: '{f}' }});\n"),
            )
            .unwrap();
        }
        std::fs::write(dir.join("nubo.yaml"), manifest).unwrap();
        std::fs::create_dir_all(&backend).unwrap();
        Svc {
            _tmp: tmp,
            dir,
            backend,
        }
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("nubo").unwrap();
        cmd.current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .env("NUBO_TEST_BACKEND", &self.backend)
            .env_remove("NUBO_FILE")
            .env_remove("NUBO_TARGET")
            .timeout(Duration::from_secs(120));
        cmd
    }

    fn run(&self, args: &[&str]) -> Out {
        let out = self.cmd().args(args).output().unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn ok(&self, args: &[&str]) -> Out {
        let out = self.run(args);
        assert_eq!(out.code, 0, "nubo {args:?}:\n{}", out.stderr);
        out
    }

    fn behaviour(&self, json: &str) {
        std::fs::write(self.backend.join("behaviour.json"), json).unwrap();
    }

    fn set_env_version(&self, v: &str) {
        let text = std::fs::read_to_string(self.dir.join("nubo.yaml")).unwrap();
        let start = text.find("VERSION: \"").unwrap() + 10;
        let end = start + text[start..].find('"').unwrap();
        std::fs::write(
            self.dir.join("nubo.yaml"),
            format!("{}{v}{}", &text[..start], &text[end..]),
        )
        .unwrap();
    }

    fn touch_front(&self, body: &str) {
        std::fs::write(
            self.dir.join("front/index.js"),
            format!("exports.handler = async () => ({{ status: 200, body: '{body}' }});\n"),
        )
        .unwrap();
    }

    /// What the provider serves: (primary, canary).
    fn live(&self) -> Option<Value> {
        std::fs::read(self.backend.join("live.json"))
            .ok()
            .map(|b| serde_json::from_slice(&b).unwrap())
    }

    fn live_primary(&self) -> Option<String> {
        self.live()
            .map(|l| l["primary"].as_str().unwrap().to_owned())
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.backend.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn state(&self) -> PathBuf {
        self.dir.join(".nubo/state/dev")
    }

    fn record(&self, id: &str) -> Option<Value> {
        std::fs::read(self.state().join("releases").join(format!("{id}.json")))
            .ok()
            .map(|b| serde_json::from_slice(&b).unwrap())
    }

    fn release_ids(&self) -> Vec<String> {
        let mut ids: Vec<(u64, String)> = std::fs::read_dir(self.state().join("releases"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        let id = name.strip_suffix(".json")?.to_owned();
                        Some((id[1..].parse().ok()?, id))
                    })
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect()
    }
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn json_lines(stdout: &str) -> Vec<Value> {
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(events.iter().all(|e| e["type"].is_string()), "{stdout}");
    assert_eq!(
        events.last().map(|e| e["type"].clone()),
        Some(Value::from("result")),
        "{stdout}"
    );
    events
}

#[test]
fn deploy_is_a_whole_release_and_unchanged_functions_are_not_republished() {
    let s = Svc::new();
    let out = s.ok(&["deploy"]);
    assert_eq!(out.stdout.trim(), "r1");
    assert!(
        out.stderr
            .contains("Deployed `svc` release `r1` to `dev`: 3 published, 0 reused"),
        "{}",
        out.stderr
    );
    assert_eq!(s.live_primary().as_deref(), Some("r1"));
    let r1 = s.record("r1").unwrap();
    assert_eq!(r1["status"], "ready");
    assert_eq!(r1["functions"].as_object().unwrap().len(), 3);

    // Nothing changed: no release, no provider write.
    let before = s.calls().len();
    let out = s.ok(&["deploy"]);
    assert!(
        out.stderr.contains("nothing to deploy, `r1` is live"),
        "{}",
        out.stderr
    );
    assert_eq!(
        s.calls().len(),
        before,
        "a no-op deploy wrote to the provider"
    );

    // One function's code changed: only it is uploaded and published.
    s.touch_front("v2");
    let plan = s.ok(&["plan"]);
    assert!(plan.stdout.contains("  ~ front  (code)"), "{}", plan.stdout);
    assert!(plan.stdout.contains("  = price"), "{}", plan.stdout);
    let before = s.calls().len();
    let out = s.ok(&["deploy"]);
    assert_eq!(out.stdout.trim(), "r2");
    let new: Vec<String> = s.calls()[before..].to_vec();
    assert_eq!(
        new.iter()
            .filter(|c| c.starts_with("publish "))
            .cloned()
            .collect::<Vec<_>>(),
        ["publish front r2"]
    );
    assert_eq!(
        new.iter().filter(|c| c.starts_with("upload ")).count(),
        1,
        "{new:?}"
    );
    let r2 = s.record("r2").unwrap();
    assert_eq!(
        r2["functions"]["price"]["version"],
        r1["functions"]["price"]["version"]
    );
    assert_ne!(
        r2["functions"]["front"]["version"],
        r1["functions"]["front"]["version"]
    );
    assert_eq!(r2["changed"], serde_json::json!(["front"]));

    // An env value changed: the plan names the key, never the value.
    s.set_env_version("secret-looking-value-42");
    let plan = s.ok(&["plan"]);
    assert!(plan.stdout.contains("env ~VERSION"), "{}", plan.stdout);
    assert!(
        !plan.stdout.contains("secret-looking-value-42")
            && !plan.stderr.contains("secret-looking-value-42")
    );
    s.ok(&["deploy"]);
    let mut state_text = String::new();
    for e in std::fs::read_dir(s.state().join("releases")).unwrap() {
        state_text.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
    }
    state_text.push_str(&std::fs::read_to_string(s.state().join("pointer.json")).unwrap());
    assert!(state_text.contains("VERSION"), "the key is recorded");
    assert!(
        !state_text.contains("secret-looking-value-42"),
        "an env value reached the state"
    );
}

#[test]
fn rollback_and_switch_only_move_pointers() {
    let s = Svc::new();
    s.ok(&["deploy"]);
    s.touch_front("v2");
    s.ok(&["deploy"]);
    assert_eq!(s.live_primary().as_deref(), Some("r2"));

    let before = s.calls().len();
    let out = s.ok(&["rollback"]);
    assert!(
        out.stderr
            .contains("Rolled back `svc` on `dev`: `r2` → `r1`"),
        "{}",
        out.stderr
    );
    assert_eq!(s.calls()[before..], ["route r1"]);
    assert_eq!(s.live_primary().as_deref(), Some("r1"));

    let before = s.calls().len();
    s.ok(&["switch", "r2"]);
    assert_eq!(s.calls()[before..], ["route r2"]);
    let out = s.ok(&["switch", "r2"]);
    assert!(out.stderr.contains("already serving"), "{}", out.stderr);

    let out = s.run(&["switch", "r9"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no release `r9`"), "{}", out.stderr);
    let out = s.ok(&["rollback", "--to", "r1"]);
    assert!(out.stderr.contains("`r2` → `r1`"), "{}", out.stderr);
    let out = s.run(&["rollback"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no earlier release"), "{}", out.stderr);

    let status = s.ok(&["status"]);
    assert!(
        status.stdout.contains("serving   `r1`"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("recorded  `r1`"),
        "{}",
        status.stdout
    );
    let releases = s.ok(&["releases"]);
    let lines: Vec<&str> = releases.stdout.lines().collect();
    assert!(
        lines[1].starts_with("r2") && lines[2].starts_with("r1") && lines[2].ends_with("live"),
        "{}",
        releases.stdout
    );
}

#[test]
fn a_failing_check_exits_4_and_switches_nothing() {
    let s = Svc::new();
    s.ok(&["deploy"]);
    s.touch_front("v2");
    s.behaviour(r#"{"invoke": {"front": {"status": 500, "body": "boom"}}}"#);
    let before = s.calls().len();
    let out = s.run(&["deploy"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("check 1 (`front`): expected status 200, got 500"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("release `r2` failed its checks; nothing was switched"),
        "{}",
        out.stderr
    );
    assert!(!s.calls()[before..].iter().any(|c| c.starts_with("route")));
    assert_eq!(s.live_primary().as_deref(), Some("r1"));
    assert_eq!(s.record("r2").unwrap()["status"], "failed");
    let out = s.run(&["switch", "r2"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("failed its checks; it cannot take traffic"),
        "{}",
        out.stderr
    );
    // Fixed: the next deploy goes through.
    s.behaviour("{}");
    s.ok(&["deploy"]);
    assert_eq!(s.live_primary().as_deref(), Some("r3"));
}

#[test]
fn canary_moves_in_steps_and_a_failing_step_rolls_back_by_itself() {
    let canary = "  strategy: canary\n  canary: { steps: [20, 60], interval: 100ms }\n";
    let s = Svc::with(MANIFEST.replace("  STRATEGY\n", canary));
    s.ok(&["deploy"]);
    s.touch_front("v2");
    let before = s.calls().len();
    let out = s.ok(&["deploy"]);
    assert_eq!(
        s.calls()[before..]
            .iter()
            .filter(|c| c.starts_with("route"))
            .cloned()
            .collect::<Vec<_>>(),
        ["route r1 r2@20", "route r1 r2@60", "route r2"]
    );
    assert!(out.stderr.contains("`r1` 80% · `r2` 20%"), "{}", out.stderr);

    // Healthy when checked, failing under traffic: the canary rolls back.
    s.touch_front("v3");
    s.behaviour(r#"{"invoke_fail_after": {"front": 2}}"#);
    let before = s.calls().len();
    let out = s.run(&["deploy"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("release `r3` failed its canary checks; traffic is back on `r2`"),
        "{}",
        out.stderr
    );
    let routes: Vec<String> = s.calls()[before..]
        .iter()
        .filter(|c| c.starts_with("route"))
        .cloned()
        .collect();
    assert_eq!(routes, ["route r2 r3@20", "route r2 r3@60", "route r2"]);
    assert_eq!(s.live(), Some(serde_json::json!({"primary": "r2"})));
}

#[test]
fn no_switch_stages_and_switch_finishes() {
    let s = Svc::new();
    s.ok(&["deploy"]);
    s.touch_front("v2");
    let out = s.ok(&["deploy", "--no-switch"]);
    assert!(
        out.stderr
            .contains("release `r2` of `svc` passed its checks; no traffic moved"),
        "{}",
        out.stderr
    );
    assert_eq!(s.live_primary().as_deref(), Some("r1"));
    s.ok(&["switch", "r2"]);
    assert_eq!(s.live_primary().as_deref(), Some("r2"));
}

#[test]
fn plan_detailed_exitcode() {
    let s = Svc::new();
    assert_eq!(s.run(&["plan", "--detailed-exitcode"]).code, 2);
    s.ok(&["deploy"]);
    assert_eq!(s.run(&["plan", "--detailed-exitcode"]).code, 0);
    s.set_env_version("2");
    let out = s.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stdout.contains("  ~ front  (env ~VERSION)"),
        "{}",
        out.stdout
    );
}

#[test]
fn pruning_keeps_the_live_and_previous_releases() {
    let s = Svc::new();
    for i in 0..6 {
        s.set_env_version(&i.to_string());
        s.ok(&["deploy"]);
    }
    // keep: 3 → r4, r5, r6 retained; older retired at the provider too.
    assert_eq!(s.release_ids(), ["r4", "r5", "r6"]);
    let staged: BTreeMap<String, Value> =
        serde_json::from_slice(&std::fs::read(s.backend.join("staged.json")).unwrap()).unwrap();
    assert_eq!(
        staged.keys().cloned().collect::<Vec<_>>(),
        ["r4", "r5", "r6"]
    );
    // Roll back to r4, then deploy: r4 (the previous live) survives pruning.
    s.ok(&["rollback", "--to", "r4"]);
    s.set_env_version("new");
    s.ok(&["deploy"]);
    let ids = s.release_ids();
    assert!(
        ids.contains(&"r4".to_owned()) && ids.contains(&"r7".to_owned()),
        "{ids:?}"
    );
}

#[test]
fn json_lines_for_every_release_command() {
    let s = Svc::new();
    for args in [
        &["--output", "json", "plan"][..],
        &["--output", "json", "deploy"],
        &["--output", "json", "releases"],
        &["--output", "json", "status"],
    ] {
        let out = s.ok(args);
        assert!(
            out.stderr.is_empty(),
            "{args:?} wrote human text: {}",
            out.stderr
        );
        let events = json_lines(&out.stdout);
        if args[2] == "deploy" {
            let result = events.last().unwrap();
            assert_eq!(result["release"], "r1");
            assert_eq!(result["switched"], true);
            assert!(result["timings_ms"]["publish"].is_u64());
            assert!(events.iter().any(|e| e["type"] == "plan"));
            assert!(
                events
                    .iter()
                    .any(|e| e["type"] == "check" && e["ok"] == true)
            );
            assert!(events.iter().any(|e| e["type"] == "switch"));
            assert_eq!(
                events
                    .iter()
                    .filter(|e| e["type"] == "function" && e["phase"] == "published")
                    .count(),
                3
            );
        }
    }
    s.behaviour(r#"{"invoke": {"front": {"status": 503}}}"#);
    s.set_env_version("2");
    let out = s.run(&["--output", "json", "deploy"]);
    assert_eq!(out.code, 4);
    let events = json_lines(&out.stdout);
    assert_eq!(events.last().unwrap()["exit_code"], 4);
}

/// The first process to take the lock proceeds; the others exit 3 at once
/// naming it. Repeated 20 times with 8 writers.
#[test]
fn one_writer_at_a_time() {
    let s = Svc::new();
    s.behaviour(r#"{"delay_ms": {"publish": 600}}"#);
    let bin = assert_cmd::cargo::cargo_bin("nubo");
    for round in 0..20 {
        s.set_env_version(&format!("round-{round}"));
        let children: Vec<_> = (0..8)
            .map(|_| {
                Std::new(&bin)
                    .arg("deploy")
                    .current_dir(&s.dir)
                    .env("NO_COLOR", "1")
                    .env("NUBO_TEST_BACKEND", &s.backend)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let ok = outs.iter().filter(|o| o.status.code() == Some(0)).count();
        let locked: Vec<String> = outs
            .iter()
            .filter(|o| o.status.code() == Some(3))
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .collect();
        assert_eq!(ok, 1, "round {round}: {ok} writers proceeded");
        assert_eq!(
            locked.len(),
            7,
            "round {round}: exit codes {:?}",
            outs.iter().map(|o| o.status.code()).collect::<Vec<_>>()
        );
        for e in &locked {
            assert!(
                e.contains("target `dev` is locked by")
                    && e.contains("`nubo deploy`")
                    && e.contains("pid "),
                "{e}"
            );
        }
        // The state is whole: the live release is recorded and ready.
        let live = s.live_primary().unwrap();
        assert_eq!(s.record(&live).unwrap()["status"], "ready");
        assert!(!s.state().join("lock.json").exists());
    }
    // With --lock-timeout every writer gets its turn.
    s.behaviour(r#"{"delay_ms": {"publish": 50}}"#);
    let children: Vec<_> = (0..4)
        .map(|i| {
            Std::new(&bin)
                .args(["deploy", "--lock-timeout", "60s"])
                .current_dir(&s.dir)
                .env("NUBO_TEST_BACKEND", &s.backend)
                .env("NUBO_TARGET", "dev")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map(|c| (i, c))
                .unwrap()
        })
        .collect();
    for (i, c) in children {
        let status = c.wait_with_output().unwrap().status;
        assert_eq!(status.code(), Some(0), "waiting writer {i}");
    }
}

/// SIGKILL a deploy at instants spread over its whole run; after each kill
/// the provider serves one complete recorded release, and the next deploy
/// finishes and converges.
#[cfg(unix)]
#[test]
fn killed_at_any_instant_the_live_release_stays_whole() {
    let s = Svc::new();
    let slow = r#"{"delay_ms": {"ensure_base": 20, "upload": 40, "publish": 60, "stage": 40, "invoke": 40, "route": 40, "retire": 20}}"#;
    s.behaviour(slow);
    s.ok(&["deploy"]);
    let bin = assert_cmd::cargo::cargo_bin("nubo");
    // How long a deploy that changes every function takes.
    s.set_env_version("calibrate");
    let t = Instant::now();
    s.ok(&["deploy"]);
    let span = t.elapsed();
    let instants = 60;
    let mut survived = 0;
    let mut killed_mid_run = 0;
    let mut recovered = 0;
    for i in 0..instants {
        s.set_env_version(&format!("kill-{i}"));
        let at = span.mul_f64((i as f64 + 0.5) / instants as f64);
        let mut child = Std::new(&bin)
            .arg("deploy")
            .current_dir(&s.dir)
            .env("NUBO_TEST_BACKEND", &s.backend)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        // Invariant: what serves is one complete, recorded, ready release.
        if let Some(live) = s.live() {
            assert!(
                live["canary"].is_null() || live.get("canary").is_none(),
                "instant {i}: a canary split was left: {live}"
            );
            let id = live["primary"].as_str().unwrap();
            let record = s
                .record(id)
                .unwrap_or_else(|| panic!("instant {i}: live `{id}` has no record"));
            assert_eq!(record["status"], "ready", "instant {i}");
            let staged: BTreeMap<String, BTreeMap<String, String>> =
                serde_json::from_slice(&std::fs::read(s.backend.join("staged.json")).unwrap())
                    .unwrap();
            let versions = &staged[id];
            for (f, r) in record["functions"].as_object().unwrap() {
                assert_eq!(
                    versions.get(f).map(String::as_str),
                    r["version"].as_str(),
                    "instant {i}: `{id}` is not whole"
                );
            }
        }
        // The next deploy recovers, finishes, and converges.
        let out = s.run(&["deploy"]);
        assert_eq!(
            out.code, 0,
            "instant {i}: the deploy after the kill failed:\n{}",
            out.stderr
        );
        assert_eq!(
            s.run(&["plan", "--detailed-exitcode"]).code,
            0,
            "instant {i}: not converged"
        );
        let live = s.live_primary().unwrap();
        let newest_ready = s
            .release_ids()
            .into_iter()
            .rev()
            .find(|id| s.record(id).unwrap()["status"] == "ready");
        assert_eq!(
            newest_ready.as_deref(),
            Some(live.as_str()),
            "instant {i}: the newest release is not the live one"
        );
        if out.stderr.contains("Recovered") {
            recovered += 1;
        }
        survived += 1;
    }
    eprintln!(
        "kill test: {instants} instants tried over {span:?}, {killed_mid_run} killed mid-run, {recovered} recovered from the journal, {survived} survived"
    );
    assert_eq!(survived, instants);
    assert!(
        killed_mid_run >= 50,
        "only {killed_mid_run} kills landed inside a deploy"
    );
}

#[test]
fn unlock_breaks_only_locks_whose_holder_is_gone() {
    let s = Svc::new();
    s.ok(&["deploy"]);
    let lock = s.state().join("lock.json");
    // A holder that is alive: this test process, on this host.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    let holder = |pid: u32, expires_unix: u64| {
        serde_json::json!({
            "user": "ann", "host": host, "pid": pid, "command": "nubo deploy",
            "started": "2026-01-01T00:00:00Z", "expires": "2099-01-01T00:00:00Z", "expires_unix": expires_unix
        })
        .to_string()
    };
    std::fs::write(&lock, holder(std::process::id(), u64::MAX / 2)).unwrap();
    let out = s.run(&["deploy"]);
    assert_eq!(out.code, 3);
    assert!(out.stderr.contains("is locked by ann@"), "{}", out.stderr);
    let out = s.run(&["unlock", "--yes"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("looks alive"), "{}", out.stderr);
    let out = s.run(&["unlock"]);
    assert_eq!(out.code, 3);
    let out = s.run(&["unlock", "--force"]);
    assert_eq!(
        out.code, 1,
        "no confirmation without a terminal: {}",
        out.stderr
    );
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    assert!(lock.exists());
    s.ok(&["unlock", "--force", "--yes"]);
    assert!(!lock.exists());
    // An expired lock from another host is broken by `unlock --yes`.
    std::fs::write(&lock, holder(1, 1).replace(&host, "elsewhere")).unwrap();
    let out = s.run(&["deploy"]);
    assert_eq!(out.code, 3);
    assert!(out.stderr.contains("(expired)"), "{}", out.stderr);
    s.ok(&["unlock", "--yes"]);
    s.ok(&["deploy"]);
}

/// A deploy killed while its checks run leaves an unchecked release that
/// can never take traffic; the next deploy says what it found.
#[cfg(unix)]
#[test]
fn an_interrupted_release_is_never_served_unchecked() {
    let s = Svc::new();
    s.ok(&["deploy"]);
    s.touch_front("v2");
    s.behaviour(r#"{"delay_ms": {"invoke": 3000}}"#);
    let bin = assert_cmd::cargo::cargo_bin("nubo");
    let mut child = Std::new(&bin)
        .arg("deploy")
        .current_dir(&s.dir)
        .env("NUBO_TEST_BACKEND", &s.backend)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while s.record("r2").is_none() && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(s.record("r2").unwrap()["status"], "unchecked");
    assert_eq!(s.live_primary().as_deref(), Some("r1"));
    let out = s.run(&["switch", "r2"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "an interrupted `deploy` left release `r2` unfinished; it never took traffic"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("release `r2` was never checked"),
        "{}",
        out.stderr
    );
    s.behaviour("{}");
    let out = s.ok(&["deploy"]);
    assert_eq!(out.stdout.trim(), "r3");
}

#[test]
fn remove_asks_then_removes_everything() {
    let s = Svc::new();
    s.ok(&["deploy"]);
    let out = s.run(&["remove"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("pass `--yes`"), "{}", out.stderr);
    assert!(s.live().is_some());
    let out = s.ok(&["remove", "--yes"]);
    assert!(
        out.stderr.contains("Removed `svc` from `dev` (1 releases)"),
        "{}",
        out.stderr
    );
    assert!(s.live().is_none());
    assert!(s.release_ids().is_empty());
    assert_eq!(s.calls().last().map(String::as_str), Some("remove "));
    // A fresh start: the next deploy makes a whole new release.
    let out = s.ok(&["deploy"]);
    assert_eq!(out.stdout.trim(), "r2", "release numbers are never reused");
}
