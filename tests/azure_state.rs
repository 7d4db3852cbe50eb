//! Remote state on Azure Blob Storage (`state: azblob://...`) against
//! Azurite, Microsoft's storage emulator (npm `azurite`, installed into
//! `tests/azure/node_modules` by `./scripts/test`): Shared Key signing,
//! create-only and ETag-matched writes, listing in pages, and the lock as a
//! blob lease (held, renewed, released; broken when its holder is dead or
//! expired).

#[path = "support/azurite.rs"]
mod azurite;

use std::collections::HashMap;
use std::time::Duration;

use azurite::{ACCOUNT, Azurite, KEY};
use nubo::provider::azure::blob::{AzBlobStore, BlobAccount};
use nubo::state::{LockInfo, State, StateStore};

#[test]
fn blob_state_conditional_writes_listing_and_lease_lock() {
    let az = Azurite::start();
    let url = "azblob://devstoreaccount1/team-state/shop/aprod";
    let store = az.open(url);
    store.make_container().unwrap();
    store.make_container().unwrap(); // already there: fine

    // Conditional writes.
    assert_eq!(store.get("k").unwrap(), None);
    assert!(store.create_new("k", b"one").unwrap());
    assert!(!store.create_new("k", b"two").unwrap(), "create-only");
    assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"one"[..]));
    assert!(!store.compare_and_swap("k", b"zzz", b"three").unwrap());
    assert!(store.compare_and_swap("k", b"one", b"three").unwrap());
    assert!(!store.compare_and_delete("k", b"one").unwrap());
    store.put("other", b"x").unwrap();
    assert_eq!(store.list("").unwrap(), ["k", "other"]);
    assert!(store.compare_and_delete("k", b"three").unwrap());
    store.delete("other").unwrap();
    store.delete("other").unwrap();
    assert!(store.list("").unwrap().is_empty());
    assert_eq!(store.describe(), url);

    // Listing follows NextMarker page after page; another prefix is not seen.
    let paged = az.open(url).with_page_size(2);
    for i in 0..5 {
        paged.put(&format!("releases/r{i}.json"), b"{}").unwrap();
    }
    az.open("azblob://devstoreaccount1/team-state/shop/other")
        .put("releases/x.json", b"{}")
        .unwrap();
    assert_eq!(
        paged.list("releases/").unwrap(),
        (0..5)
            .map(|i| format!("releases/r{i}.json"))
            .collect::<Vec<_>>()
    );

    // A wrong key is refused with Azure's error code.
    let mut wrong = az.env();
    let cs = wrong["AZURE_STORAGE_CONNECTION_STRING"].replace(KEY, &"A".repeat(88));
    wrong.insert("AZURE_STORAGE_CONNECTION_STRING".into(), cs);
    let err = AzBlobStore::open(url, &wrong)
        .unwrap()
        .get("k")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("403")
            && (err.contains("AuthorizationFailure") || err.contains("AuthenticationFailed")),
        "{err}"
    );
    // No credentials at all: said plainly.
    let err = AzBlobStore::open(url, &HashMap::new())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("AZURE_STORAGE_KEY"), "{err}");

    // The lock is leased: while held, nobody can overwrite or delete it.
    let holder = State::new(Box::new(az.open(url)));
    let mut guard = holder.lock("nubo deploy", None).unwrap();
    let raw = store.get("lock.json").unwrap().unwrap();
    let err = store.put("lock.json", b"{}").unwrap_err().to_string();
    assert!(
        err.contains("412") && err.contains("LeaseIdMissing"),
        "{err}"
    );
    assert!(
        store.delete("lock.json").is_err(),
        "a leased blob cannot be deleted without its lease"
    );
    let other = State::new(Box::new(az.open(url)));
    assert!(other.lock("nubo deploy", None).is_err(), "held");
    std::thread::sleep(Duration::from_millis(1100)); // a new expiry, to the second
    guard.refresh("nubo deploy").unwrap();
    assert_ne!(store.get("lock.json").unwrap().unwrap(), raw, "renewed");
    drop(guard);
    assert_eq!(store.get("lock.json").unwrap(), None, "released");

    // A holder that died with its lease held: the next writer breaks it.
    let dead = State::new(Box::new(az.open(url)));
    let guard = dead.lock("nubo deploy", None).unwrap();
    std::mem::forget(guard); // as if the process had been killed
    let mut info: LockInfo =
        serde_json::from_slice(&store.get("lock.json").unwrap().unwrap()).unwrap();
    info.pid = 999_999_999; // no such process on this host: its holder is gone
    info.pid_start = None;
    let expired = serde_json::to_vec_pretty(&info).unwrap();
    // Rewrite the record as the dead holder would have left it, with its lease.
    assert!(
        dead_store_rewrite(&az, url, &expired),
        "the dead holder's record is rewritten under its lease"
    );
    let next = State::new(Box::new(az.open(url)));
    let g = next
        .lock("nubo deploy", None)
        .expect("takes over an expired lock");
    assert!(g.took_over.is_some(), "says whose lock it replaced");
    drop(g);

    // Two writers race for the lock, 24 times: exactly one holds it.
    for trial in 0..24 {
        let a = State::new(Box::new(az.open(url)));
        let b = State::new(Box::new(az.open(url)));
        let barrier = std::sync::Barrier::new(2);
        let run = |st: &State| {
            barrier.wait();
            st.lock("nubo deploy", None).map(|g| {
                std::thread::sleep(Duration::from_millis(150));
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
            State::new(Box::new(az.open(url))).lock_holder().unwrap(),
            None,
            "released"
        );
    }
}

/// Break the lease of the lock and write `bytes` in its place, as a dead
/// holder's stale record (the test's stand-in for a crash long ago).
fn dead_store_rewrite(az: &Azurite, url: &str, bytes: &[u8]) -> bool {
    let s = az.open(url);
    let raw = s.get("lock.json").unwrap().unwrap();
    // compare_and_delete from a store that does not hold the lease breaks it.
    if !s.compare_and_delete("lock.json", &raw).unwrap() {
        return false;
    }
    let again = az.open(url);
    // Leased again, as a holder would have it, then abandoned.
    if !again.create_new("lock.json", bytes).unwrap() {
        return false;
    }
    std::mem::forget(again);
    true
}

#[test]
fn artifacts_are_uploaded_once_and_read_through_expiring_sas_links() {
    let az = Azurite::start();
    let blobs = BlobAccount::from_env(ACCOUNT, &az.env()).unwrap();
    blobs.make_container("nubo-artifacts").unwrap();
    blobs.make_container("nubo-artifacts").unwrap();
    let name = format!("shop-aprod/{}.zip", "ab".repeat(32));
    assert!(
        blobs
            .put_if_absent("nubo-artifacts", &name, b"PK zip bytes")
            .unwrap()
    );
    assert!(
        !blobs
            .put_if_absent("nubo-artifacts", &name, b"other")
            .unwrap(),
        "content-addressed: never sent twice"
    );

    // Without a signature the blob is private.
    let anonymous = reqwest::blocking::Client::new();
    let plain = format!("{}/nubo-artifacts/{name}", az.endpoint);
    let status = anonymous.get(&plain).send().unwrap().status().as_u16();
    assert!(matches!(status, 403 | 404), "an unsigned read got {status}");

    // A SAS link reads it, as App Service's run-from-package does.
    let later = std::time::SystemTime::now() + Duration::from_secs(3600);
    let url = blobs.sas_url("nubo-artifacts", &name, later);
    assert!(url.contains("sp=r") && url.contains("sr=b"), "{url}");
    let r = anonymous.get(&url).send().unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    assert_eq!(r.bytes().unwrap().as_ref(), b"PK zip bytes");

    // A tampered or expired link is refused.
    let tampered = url.replace("sp=r", "sp=rw");
    assert_eq!(anonymous.get(&tampered).send().unwrap().status(), 403);
    let expired = blobs.sas_url(
        "nubo-artifacts",
        &name,
        std::time::SystemTime::now() - Duration::from_secs(60),
    );
    assert_eq!(anonymous.get(&expired).send().unwrap().status(), 403);
}
