//! Remote state on Cloud Storage (`state: gs://...`) against the
//! spec-checked Google Cloud fake (`tests/support/gcp_fake.rs`): every
//! request nubo sends validates against `storage.v1.json`, the lock is a
//! create-only write, and 429s, `Retry-After` and expired tokens are
//! survived. One test function: credentials come from the process
//! environment (`GOOGLE_APPLICATION_CREDENTIALS`), which is set once here.

#[path = "support/gcp_fake.rs"]
mod gcp_fake;

use std::time::{Duration, Instant};

use assert_cmd::Command;
use nubo::provider::gcp::gcs::GcsStore;
use nubo::state::{State, StateStore};

#[test]
fn gcs_state_conditional_writes_lock_races_and_faults() {
    let fake = gcp_fake::Fake::start();
    let tmp = tempfile::tempdir().unwrap();
    let key = fake.service_account_key(tmp.path());
    // SAFETY: the only test in this binary; set before any thread reads it.
    unsafe {
        std::env::set_var("GOOGLE_APPLICATION_CREDENTIALS", &key);
    }
    let open = || GcsStore::open("gs://team-state/shop/gprod", Some(fake.url())).unwrap();

    // The store's conditional writes.
    let store = open();
    assert_eq!(store.get("k").unwrap(), None);
    assert!(store.create_new("k", b"one").unwrap());
    assert!(!store.create_new("k", b"two").unwrap(), "create-only");
    assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"one"[..]));
    assert_eq!(
        fake.object("team-state", "shop/gprod/k").as_deref(),
        Some(&b"one"[..]),
        "keys live under the prefix"
    );
    assert!(!store.compare_and_swap("k", b"zzz", b"three").unwrap());
    assert!(store.compare_and_swap("k", b"one", b"three").unwrap());
    assert!(!store.compare_and_delete("k", b"one").unwrap());
    store.put("other", b"x").unwrap();
    assert_eq!(store.list("").unwrap(), ["k", "other"]);
    assert!(store.compare_and_delete("k", b"three").unwrap());
    store.delete("other").unwrap();
    store.delete("other").unwrap();
    assert!(store.list("").unwrap().is_empty());
    assert_eq!(store.describe(), "gs://team-state/shop/gprod");

    // Throttled twice (with Retry-After), then served.
    fake.fail_next("storage.objects.insert", 429, 2, Some(1));
    let t = Instant::now();
    assert!(store.create_new("slow", b"1").unwrap());
    assert!(
        t.elapsed() >= Duration::from_secs(2),
        "Retry-After was not honoured: {:?}",
        t.elapsed()
    );
    fake.fail_next("storage.objects.get", 503, 1, None);
    assert_eq!(store.get("slow").unwrap().as_deref(), Some(&b"1"[..]));

    // A read is one download: the generation comes in its headers.
    let before = fake.calls().len();
    assert_eq!(store.get("slow").unwrap().as_deref(), Some(&b"1"[..]));
    let reads: Vec<(String, String)> = fake.calls()[before..].to_vec();
    assert_eq!(reads.len(), 1, "{reads:?}");

    // The token expires mid-run: the next call gets a new one.
    fake.expire_tokens();
    assert_eq!(store.get("slow").unwrap().as_deref(), Some(&b"1"[..]));

    // Two writers race for the lock, 24 times: exactly one holds it.
    for trial in 0..24 {
        let a = State::new(Box::new(open()));
        let b = State::new(Box::new(open()));
        let barrier = std::sync::Barrier::new(2);
        let run = |st: &State| {
            barrier.wait();
            st.lock("nubo deploy", None).map(|g| {
                std::thread::sleep(Duration::from_millis(200));
                drop(g);
            })
        };
        let (ra, rb) = std::thread::scope(|s| {
            let ta = s.spawn(|| run(&a));
            let tb = s.spawn(|| run(&b));
            (ta.join().unwrap(), tb.join().unwrap())
        });
        assert!(
            ra.is_ok() != rb.is_ok(),
            "trial {trial}: exactly one writer must hold the lock (a: {}, b: {})",
            ra.is_ok(),
            rb.is_ok()
        );
        assert_eq!(
            State::new(Box::new(open())).lock_holder().unwrap(),
            None,
            "released"
        );
    }

    // Through the binary: a gcp target whose state is in the bucket.
    let svc = tmp.path().join("svc");
    std::fs::create_dir_all(svc.join("src")).unwrap();
    std::fs::write(svc.join("src/h.js"), "exports.handler = async () => 1;\n").unwrap();
    std::fs::write(
        svc.join("nubo.yaml"),
        format!(
            "nubo: 1\nservice: shop\ntargets:\n  gprod: {{ provider: gcp, project: test-project, region: europe-west1, state: \"gs://team-state/shop/gprod\", endpoint: \"{}\" }}\nfunctions:\n  h:\n    handler: src/h.handler\n    runtime: nodejs22\n",
            fake.url()
        ),
    )
    .unwrap();
    let held = State::new(Box::new(open()));
    let guard = held.lock("nubo deploy", None).unwrap();
    drop(guard);
    let out = Command::cargo_bin("nubo")
        .unwrap()
        .current_dir(&svc)
        .env("NO_COLOR", "1")
        .args(["unlock", "-t", "gprod"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not locked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let violations = fake.violations();
    assert!(
        violations.is_empty(),
        "requests outside the discovery documents: {violations:#?}"
    );
    let calls = fake.calls();
    assert!(calls.iter().any(|(id, _)| id == "storage.objects.insert"));
    assert!(calls.iter().any(|(id, _)| id == "storage.objects.delete"));
}
