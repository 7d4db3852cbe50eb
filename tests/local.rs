//! The embedded local cloud through the real binary, with real node and
//! python workers: the shop example end to end, releases under concurrent
//! load (no request crosses releases), faults, and the daemon's security.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

/// The load test and the timing-sensitive fault test do not overlap on two cores.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_name() == ".nubo" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// A service in a temp dir with its own local cloud, stopped on drop.
struct Service {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Service {
    fn from(path: &Path) -> Service {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("svc");
        copy_dir(path, &dir);
        Service { _tmp: tmp, dir }
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("nubo").unwrap();
        cmd.current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .env("NUBO_SECRET_STRIPE_KEY", "sk_test_local")
            .env_remove("NUBO_TEST_BACKEND")
            .env_remove("NUBO_FILE")
            .env_remove("NUBO_TARGET")
            .timeout(Duration::from_secs(180));
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

    fn daemon(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.dir.join(".nubo/local/daemon.json")).unwrap())
            .unwrap()
    }

    fn gateway(&self) -> String {
        format!("http://{}", self.daemon()["gateway"].as_str().unwrap())
    }

    fn edit(&self, file: &str, from: &str, to: &str) {
        let p = self.dir.join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{file} lacks {from}");
        std::fs::write(p, text.replacen(from, to, 1)).unwrap();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.cmd().args(["local", "stop"]).output();
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[test]
fn shop_runs_its_chain_and_rolls_back() {
    let s = Service::from(&repo().join("examples/shop"));
    // Canary steps of five minutes are for production; switch at once here.
    s.edit("nubo.yaml", "strategy: canary", "strategy: blue-green");
    // Any free port: tests run side by side.
    s.edit(
        "nubo.yaml",
        "provider: local, port: 8080",
        "provider: local",
    );
    let out = s.ok(&["deploy"]);
    assert_eq!(out.stdout.trim(), "r1");
    assert!(
        out.stderr.contains("Checked check 1 `checkout`"),
        "{}",
        out.stderr
    );

    let http = client();
    let order = |want: &str| {
        let resp = http
            .post(format!("{}/checkout", s.gateway()))
            .body(r#"{"sku": 1, "qty": 2}"#)
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["nubo-release"], want);
        let body: Value = resp.json().unwrap();
        let chain: Vec<(String, String)> = body["chain"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["function"].as_str().unwrap().to_owned(),
                    c["release"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            chain,
            [("checkout", want), ("charge", want), ("ship", want)]
                .map(|(f, r)| (f.to_owned(), r.to_owned())),
            "{body}"
        );
        assert_eq!(body["order"]["amount"], 3998);
        body
    };
    order("r1");
    // Bad input gets the handler's own 4xx.
    let resp = http
        .post(format!("{}/checkout", s.gateway()))
        .body("{")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);
    // Routes and methods the service does not have.
    assert_eq!(
        http.get(format!("{}/nope", s.gateway()))
            .send()
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        http.get(format!("{}/checkout", s.gateway()))
            .send()
            .unwrap()
            .status(),
        405
    );

    // A new release; the python function keeps its version.
    s.edit(
        "src/checkout.js",
        "amount: charged.amount",
        "amount: charged.amount, v: 2",
    );
    let out = s.ok(&["deploy"]);
    assert_eq!(out.stdout.trim(), "r2");
    assert!(
        out.stderr.contains("3 published, 1 reused"),
        "{}",
        out.stderr
    );
    assert_eq!(order("r2")["order"]["v"], 2);
    s.ok(&["rollback"]);
    assert!(order("r1")["order"]["v"].is_null());

    // `nubo invoke` runs one function of a release; `nubo logs` shows its output.
    let out = s.ok(&[
        "invoke",
        "charge",
        "--release",
        "r2",
        "--data",
        r#"{"sku": 2, "qty": 1, "orderId": "o-1"}"#,
    ]);
    let body: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(body["status"], 200, "{}", out.stdout);
    assert!(
        out.stderr
            .contains("Invoked `charge` on release `r2`: status 200"),
        "{}",
        out.stderr
    );
    let out = s.run(&["invoke", "charge", "--data", "{oops"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("`--data` is not JSON"),
        "{}",
        out.stderr
    );
    let out = s.run(&["invoke", "chrage"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("did you mean `charge`?"),
        "{}",
        out.stderr
    );
    let out = s.ok(&["logs", "charge", "--release", "r2"]);
    assert!(
        out.stdout.contains("\"orderId\": \"o-1\""),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .lines()
            .all(|l| l.split(' ').nth(1) == Some("r2")),
        "{}",
        out.stdout
    );

    // The function logs, with release and request id.
    let log = std::fs::read_to_string(s.dir.join(".nubo/local/logs/charge.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains(" r1 charge v1 ") && l.contains("\"amount\": 3998")),
        "{log}"
    );
}

/// ≥ 8 clients, ≥ 10,000 requests through front → price → notify while the
/// releases switch, canary and roll back ≥ 20 times: every response's chain
/// ran on one release, and no request fails.
#[test]
fn no_request_crosses_releases() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let s = Service::from(&repo().join("tests/services/chain"));
    s.ok(&["deploy"]);
    s.edit("nubo.yaml", "GENERATION: \"0\"", "GENERATION: \"1\"");
    s.ok(&["deploy"]);
    let gateway = s.gateway();
    let done = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mixed = Arc::new(AtomicUsize::new(0));
    let seen: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>> = Arc::default();
    let target = 10_000;
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (gateway, done, requests, failed, mixed, seen) = (
                gateway.clone(),
                done.clone(),
                requests.clone(),
                failed.clone(),
                mixed.clone(),
                seen.clone(),
            );
            std::thread::spawn(move || {
                let http = client();
                let start = Instant::now();
                while requests.load(Ordering::SeqCst) < target || !done.load(Ordering::SeqCst) {
                    if start.elapsed() > Duration::from_secs(240) {
                        break;
                    }
                    let n = requests.fetch_add(1, Ordering::SeqCst);
                    let resp = if n % 2 == 0 {
                        http.post(format!("{gateway}/orders"))
                            .body(format!("{{\"qty\": {}}}", c + 1))
                            .send()
                    } else {
                        http.get(format!("{gateway}/orders/{n}?client={c}")).send()
                    };
                    let resp = match resp {
                        Ok(r) => r,
                        Err(e) => {
                            failed.lock().unwrap().push(format!("request {n}: {e}"));
                            continue;
                        }
                    };
                    let status = resp.status();
                    let header = resp
                        .headers()
                        .get("nubo-release")
                        .map(|v| v.to_str().unwrap().to_owned());
                    let text = resp.text().unwrap_or_default();
                    if status != 200 {
                        failed
                            .lock()
                            .unwrap()
                            .push(format!("request {n}: {status} {text}"));
                        continue;
                    }
                    let body: Value = serde_json::from_str(&text).unwrap();
                    let releases: Vec<&str> = body["chain"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c["release"].as_str().unwrap())
                        .collect();
                    let top = body["release"].as_str().unwrap();
                    if releases.len() != 3
                        || releases.iter().any(|r| *r != top)
                        || header.as_deref() != Some(top)
                    {
                        mixed.fetch_add(1, Ordering::SeqCst);
                    }
                    seen.lock().unwrap().insert(top.to_owned());
                }
            })
        })
        .collect();

    // Meanwhile: switches, rollbacks, and canary deploys of new releases.
    let mut moves = 0;
    let canary = "strategy: canary\n  canary: { steps: [20, 60], interval: 150ms }";
    s.edit("nubo.yaml", "strategy: blue-green", canary);
    for round in 0..8 {
        s.ok(&["switch", "r1"]);
        s.ok(&["rollback", "--to", "r2"]);
        s.edit(
            "nubo.yaml",
            &format!("GENERATION: \"{}\"", round + 1),
            &format!("GENERATION: \"{}\"", round + 2),
        );
        let out = s.ok(&["deploy"]);
        assert!(
            out.stderr.contains("% · `"),
            "no canary step: {}",
            out.stderr
        );
        s.ok(&["rollback"]);
        moves += 2 + 3 + 1; // switch, rollback, two canary steps + the switch, rollback
    }
    done.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let total = requests.load(Ordering::SeqCst);
    let failed = failed.lock().unwrap();
    let releases = seen.lock().unwrap().len();
    eprintln!(
        "no-crossing test: {total} requests from 8 clients, {moves} pointer moves (switches, canary steps, rollbacks), {releases} releases served, {} mixed chains, {} failed",
        mixed.load(Ordering::SeqCst),
        failed.len()
    );
    assert!(total >= 10_000, "only {total} requests");
    assert!(moves >= 20);
    assert!(releases >= 3, "traffic reached only {releases} releases");
    assert_eq!(mixed.load(Ordering::SeqCst), 0, "mixed chains");
    assert!(
        failed.is_empty(),
        "{} failed requests, e.g. {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
}

#[test]
fn faults_give_clear_errors_and_the_daemon_keeps_serving() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let s = Service::from(&repo().join("tests/services/faults"));
    // No checks in this manifest: the faulty functions deploy fine.
    s.ok(&["deploy"]);
    let http = client();
    let get = |path: &str| {
        let r = http.get(format!("{}{path}", s.gateway())).send().unwrap();
        let status = r.status().as_u16();
        (status, r.text().unwrap())
    };
    for (path, status, text) in [
        ("/slow", 504, "`slow` failed: timed out after 3s"),
        ("/hang", 504, "`hang` failed: timed out after 3s"),
        (
            "/crash",
            502,
            "`crash` failed: the worker exited (exit status: 3) during the invocation",
        ),
        (
            "/killed",
            502,
            "`killed` failed: the worker exited (signal: 9",
        ),
        ("/throws", 502, "`throws` failed: TypeError: no such order"),
        ("/notjson", 502, "`notjson` failed:"),
        (
            "/badshape",
            502,
            "invalid response from `badshape`: the handler returned a string instead of an object with `status`",
        ),
        (
            "/hog",
            502,
            "`hog` failed: the worker exceeded its memory limit and was stopped",
        ),
        ("/pyhog", 502, "`pyhog` failed: MemoryError"),
        (
            "/broken",
            502,
            "`broken` failed: the handler could not be loaded: Error: cannot load",
        ),
        (
            "/sneaky",
            403,
            "`sneaky` may not call `ok`: add it to `calls:` of `sneaky`",
        ),
    ] {
        let (got, body) = get(path);
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains(text), "{path}: {body}");
        // Healthy after each fault.
        assert_eq!(get("/ok"), (200, "ok".to_owned()), "after {path}");
    }
    // A worker that dies after answering (while idle) is replaced without a
    // failed request. (One that dies during the next invocation fails that
    // invocation, as on Lambda: hence the pause.)
    for _ in 0..5 {
        assert_eq!(get("/flaky"), (200, "bye".to_owned()));
        std::thread::sleep(Duration::from_millis(150));
    }
    // Faulty workers were replaced: the same fault again gives the same answer.
    assert_eq!(get("/crash").0, 502);
    assert_eq!(get("/ok").0, 200);
}

#[test]
fn the_daemon_requires_its_token_and_listens_on_loopback_only() {
    let s = Service::from(&repo().join("examples/hello"));
    s.ok(&["deploy"]);
    let d = s.daemon();
    let control = d["control"].as_str().unwrap();
    let http = client();
    for (path, method) in [
        ("/v1/status", "GET"),
        ("/v1/live", "GET"),
        ("/v1/route", "POST"),
        ("/v1/remove", "POST"),
        ("/call", "POST"),
    ] {
        let req = match method {
            "GET" => http.get(format!("http://{control}{path}")),
            _ => http.post(format!("http://{control}{path}")).body("{}"),
        };
        assert_eq!(req.send().unwrap().status(), 401, "{path} without a token");
        let req = match method {
            "GET" => http.get(format!("http://{control}{path}")),
            _ => http.post(format!("http://{control}{path}")).body("{}"),
        };
        assert_eq!(
            req.bearer_auth("0".repeat(64)).send().unwrap().status(),
            401,
            "{path} with a wrong token"
        );
    }
    // The control token is for the owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.dir.join(".nubo/local/daemon.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "daemon.json is readable by others");
    }
    // Every listening socket of the daemon and its workers is on 127.0.0.1.
    let pid = d["pid"].as_u64().unwrap();
    let mut inodes = std::collections::BTreeSet::new();
    let mut pids = vec![pid.to_string()];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{name}/stat"))
            && stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1))
                == Some(&pid.to_string())
        {
            pids.push(name);
        }
    }
    for p in &pids {
        for fd in std::fs::read_dir(format!("/proc/{p}/fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(link) = std::fs::read_link(fd.path())
                && let Some(inode) = link
                    .to_string_lossy()
                    .strip_prefix("socket:[")
                    .and_then(|s| s.strip_suffix(']'))
            {
                inodes.insert(inode.to_owned());
            }
        }
    }
    let mut listening = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
        {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 9 && f[3] == "0A" && inodes.contains(f[9]) {
                listening += 1;
                assert!(
                    f[1].starts_with("0100007F:"),
                    "a socket listens on {} ({table})",
                    f[1]
                );
            }
        }
    }
    assert!(
        listening >= 3,
        "expected the control, gateway and a worker's runtime API, found {listening}"
    );
}

#[test]
fn local_status_and_stop() {
    let s = Service::from(&repo().join("examples/hello"));
    let out = s.ok(&["local", "status"]);
    assert!(out.stderr.contains("not running"), "{}", out.stderr);
    s.ok(&["deploy"]);
    let out = s.ok(&["local", "status"]);
    assert!(out.stdout.contains("live      r1"), "{}", out.stdout);
    let pid = s.daemon()["pid"].as_u64().unwrap();
    s.ok(&["local", "stop"]);
    assert!(!s.dir.join(".nubo/local/daemon.json").exists());
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z")
    );
    // Started again on demand, with its releases: the pointer survived.
    let out = s.ok(&["status"]);
    assert!(out.stdout.contains("serving   `r1`"), "{}", out.stdout);
    let resp = client()
        .get(format!("{}/hello", s.gateway()))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    // SIGTERM stops it cleanly too: workers ended, state saved, address file gone.
    let pid = s.daemon()["pid"].as_u64().unwrap();
    let children = |pid: u64| -> Vec<String> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .ok()
                    .and_then(|st| {
                        st.rsplit_once(')').map(|(_, r)| {
                            r.split_whitespace().nth(1) == Some(pid.to_string().as_str())
                        })
                    })
                    .unwrap_or(false)
            })
            .collect()
    };
    let workers = children(pid);
    assert!(!workers.is_empty(), "a warm worker runs under the daemon");
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    wait_for("the daemon to stop on SIGTERM", 10, || {
        !s.dir.join(".nubo/local/daemon.json").exists()
    });
    wait_for("its workers to end", 10, || {
        workers.iter().all(|w| {
            std::fs::read_to_string(format!("/proc/{w}/stat"))
                .map_or(true, |st| st.contains(") Z "))
        })
    });
    assert!(s.dir.join(".nubo/local/cloud.json").exists());
}

/// AWS's own runtime interface client (PyPI `awslambdaric`, installed into
/// the project's `.venv` by `./scripts/test`) runs a native handler unmodified.
#[test]
fn aws_runtime_interface_client_runs_unmodified() {
    let python = repo().join(".venv/bin/python");
    let has = std::process::Command::new(&python)
        .args(["-c", "import awslambdaric"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has,
        "awslambdaric is not installed in {}: run ./scripts/test, which installs it",
        python.display()
    );
    let s = Service::from(&repo().join("tests/services/lambdaric"));
    let out = s
        .cmd()
        .env("NUBO_AWSLAMBDARIC_PYTHON", &python)
        .arg("deploy")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resp = client()
        .get(format!("{}/native/nubo", s.gateway()))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().unwrap();
    assert_eq!(body["greeting"], "hello nubo");
    assert_eq!(body["method"], "GET");
    assert_eq!(body["resource"], "/native/{name}");
    assert_eq!(body["release"], "r1");
    assert_eq!(body["function"], "native");
    assert_eq!(
        body["arn"],
        "arn:aws:lambda:local:000000000000:function:native:r1"
    );
    assert!(body["requestId"].as_str().is_some_and(|id| id.len() == 36));
    assert!(
        body["remaining_ms"]
            .as_u64()
            .is_some_and(|ms| ms > 0 && ms <= 10_000)
    );
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn schedules_queues_and_buckets_trigger_the_live_release() {
    let s = Service::from(&repo().join("tests/services/triggers"));
    s.ok(&["deploy"]);
    let log = |f: &str| {
        std::fs::read_to_string(s.dir.join(format!(".nubo/local/logs/{f}.log"))).unwrap_or_default()
    };

    // A schedule every second.
    wait_for("two ticks", 15, || {
        log("tick").matches("\"tick\"").count() >= 2
    });
    assert!(
        log("tick")
            .lines()
            .all(|l| l.contains("\"release\":\"r1\""))
    );

    // Durable queue: sent messages arrive in batches of at most 2.
    for n in 1..=3 {
        s.ok(&[
            "local",
            "send",
            "jobs",
            "--data",
            &format!("{{\"n\": {n}}}"),
        ]);
    }
    wait_for("three messages", 15, || {
        let l = log("consume");
        ["1", "2", "3"]
            .iter()
            .all(|n| l.contains(&format!("{n}]")) || l.contains(&format!("{n},")))
    });
    for line in log("consume").lines() {
        let json = &line[line.find('{').unwrap()..];
        let v: Value = serde_json::from_str(json).unwrap();
        assert!(v["batch"].as_array().unwrap().len() <= 2, "{line}");
    }
    // A message that always fails is retried, then dead-lettered.
    s.ok(&["local", "send", "jobs", "--data", r#"{"fail": true}"#]);
    let dead = s.dir.join(".nubo/local/queues/jobs/dead");
    wait_for("a dead letter", 30, || {
        std::fs::read_dir(&dead)
            .map(|d| d.count() == 1)
            .unwrap_or(false)
    });
    let letter: Value = serde_json::from_slice(
        &std::fs::read(
            std::fs::read_dir(&dead)
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(letter["attempts"], 5);
    assert!(
        letter["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot process"),
        "{letter}"
    );
    assert_eq!(
        log("consume").matches("cannot process").count(),
        0,
        "errors go to the caller, not the log"
    );

    // A file created under in/ fires `created`; one elsewhere does not; deleting fires `deleted`.
    let bucket = s.dir.join(".nubo/local/buckets/files");
    std::fs::create_dir_all(bucket.join("in")).unwrap();
    std::fs::write(bucket.join("in/report.csv"), "a,b\n1,2\n").unwrap();
    std::fs::write(bucket.join("other.txt"), "x").unwrap();
    wait_for("a created event", 15, || {
        log("upload").contains("\"file\":\"in/report.csv\",\"on\":\"created\",\"size\":8")
    });
    std::fs::remove_file(bucket.join("in/report.csv")).unwrap();
    wait_for("a deleted event", 15, || {
        log("upload").contains("\"file\":\"in/report.csv\",\"on\":\"deleted\"")
    });
    assert!(
        !log("upload").contains("other.txt\",\"on\":\"created\""),
        "{}",
        log("upload")
    );
}

/// `nubo dev`: deploy, serve, redeploy on save, keep the last good release
/// when a save breaks the checks, stop cleanly on Ctrl-C.
#[cfg(unix)]
#[test]
fn dev_redeploys_on_change_and_stops_on_ctrl_c() {
    use std::io::Read;
    let s = Service::from(&repo().join("examples/hello"));
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("nubo"))
        .arg("dev")
        .arg(&s.dir)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let http = client();
    let hello = |s: &Service| -> Option<(String, String)> {
        let r = http
            .get(format!("{}/hello?name=dev", s.gateway()))
            .send()
            .ok()?;
        let release = r.headers().get("nubo-release")?.to_str().ok()?.to_owned();
        Some((release, r.text().ok()?))
    };
    wait_for("the first release", 60, || {
        s.dir.join(".nubo/local/daemon.json").exists() && hello(&s).is_some_and(|(r, _)| r == "r1")
    });
    // Save a change: a new release serves it.
    s.edit("src/hello.js", "message: ", "edited: true, message: ");
    wait_for("the change to be served", 60, || {
        hello(&s).is_some_and(|(r, b)| r == "r2" && b.contains("edited"))
    });
    // Save a change that breaks the check: r2 keeps serving.
    s.edit("src/hello.js", "Hello", "Bye");
    std::thread::sleep(Duration::from_secs(3));
    let (release, body) = hello(&s).unwrap();
    assert_eq!(release, "r2", "{body}");
    // Ctrl-C stops nubo dev and the local cloud.
    let pid = child.id() as i32;
    std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "nubo dev did not stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    assert!(err.contains("Watching"), "{err}");
    assert!(err.contains("Route GET http://127.0.0.1:"), "{err}");
    assert!(err.contains("failed its checks"), "{err}");
    wait_for("the daemon to stop", 10, || {
        !s.dir.join(".nubo/local/daemon.json").exists()
    });
}
