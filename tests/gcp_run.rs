//! The Cloud Run release mechanics (`src/provider/gcp/run.rs`) against the
//! spec-checked fake: publish pins traffic away from the new revision,
//! stage tags every function's revision with the release, route moves only
//! the entry services (keeping every tag), rollback is traffic patches
//! only, retire drops tags and unused revisions; every request validates
//! against the discovery documents. The same backend through the binary,
//! with triggers and checks, is in `tests/gcp.rs`.

#[path = "support/gcp_fake.rs"]
mod gcp_fake;

use std::collections::BTreeMap;
use std::path::Path;

use nubo::provider::gcp::run::CloudRun;
use nubo::provider::{ArtifactRef, PublishSpec, Route, StagedRelease};
use serde_json::Value;

const MANIFEST: &str = "nubo: 1
service: shop
targets:
  gprod: { provider: gcp, project: test-project, region: europe-west1, endpoint: \"ENDPOINT\" }
defaults:
  runtime: nodejs22
functions:
  checkout:
    handler: checkout/index.handler
    env: { BUILD: \"${release}\" }
    events:
      - http: { method: POST, path: /checkout }
    calls: [ship]
  ship:
    handler: ship/index.handler
";

fn resolved(dir: &Path, endpoint: &str) -> nubo::resolve::Resolved {
    let text = MANIFEST.replace("ENDPOINT", endpoint);
    std::fs::write(dir.join("nubo.yaml"), &text).unwrap();
    let loaded = nubo::manifest::load(&dir.join("nubo.yaml")).unwrap();
    nubo::resolve::resolve(&loaded, "gprod", &std::collections::HashMap::new()).unwrap()
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    nubo::provider::aws::runtime().block_on(f)
}

/// The traffic of a service in the fake: (revision, tag, percent).
fn traffic(fake: &gcp_fake::Fake, service: &str) -> Vec<(String, String, i64)> {
    let s = fake
        .service(&format!(
            "projects/test-project/locations/europe-west1/services/{service}"
        ))
        .unwrap_or_else(|| panic!("no service {service}"));
    s["traffic"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["revision"].as_str().unwrap_or("LATEST").to_owned(),
                t["tag"].as_str().unwrap_or("").to_owned(),
                t["percent"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

fn serving(t: &[(String, String, i64)]) -> Vec<(String, i64)> {
    let mut by: BTreeMap<String, i64> = BTreeMap::new();
    for (r, _, p) in t {
        *by.entry(r.clone()).or_default() += p;
    }
    by.into_iter().filter(|(_, p)| *p > 0).collect()
}

#[test]
fn publish_stage_route_rollback_and_retire_on_the_fake() {
    let fake = gcp_fake::Fake::start();
    let tmp = tempfile::tempdir().unwrap();
    let key = fake.service_account_key(tmp.path());
    // SAFETY: the only test in this binary; set before any thread reads it.
    unsafe {
        std::env::set_var("GOOGLE_APPLICATION_CREDENTIALS", &key);
    }
    let r = resolved(tmp.path(), fake.url());
    let run = CloudRun::new(&r).unwrap();
    let zip = tmp.path().join("a.zip");
    std::fs::write(&zip, b"PK fake zip").unwrap();
    let artifact = ArtifactRef {
        sha256: "ab".repeat(32),
        path: zip.clone(),
        size: 11,
    };
    assert!(block(run.upload(&artifact)).unwrap(), "sent the first time");
    assert!(!block(run.upload(&artifact)).unwrap(), "not sent again");
    let (bucket, object) = run.source(&artifact.sha256);
    assert_eq!(
        fake.object(&bucket, &object).as_deref(),
        Some(&b"PK fake zip"[..])
    );

    let publish = |function: &str, unit: &str, release: &str, previous: Option<&str>| {
        block(run.publish(&PublishSpec {
            function: &r.functions[function],
            artifact: &artifact,
            unit,
            release,
            previous,
            callees: if function == "checkout" {
                vec![("ship", "5f5f5f5f5f5f5f5f")]
            } else {
                vec![]
            },
        }))
        .unwrap()
    };

    // r1: both functions new.
    let c1 = publish("checkout", "c1c1c1c1c1c1c1c1", "r1", None);
    let s1 = publish("ship", "5f5f5f5f5f5f5f5f", "r1", None);
    assert_eq!(
        c1, "shop-gprod-checkout-vc1c1c1c1",
        "revisions are named by their unit"
    );
    // A repeated publish of the same unit (a run that stopped) finds it.
    assert_eq!(publish("ship", "5f5f5f5f5f5f5f5f", "r1", Some(&s1)), s1);
    let r1 = StagedRelease {
        id: "r1".into(),
        versions: [("checkout".into(), c1.clone()), ("ship".into(), s1.clone())].into(),
        artifacts: Default::default(),
    };
    block(run.stage(&r1)).unwrap();
    block(run.route(&Route::to("r1"))).unwrap();
    assert_eq!(block(run.live()).unwrap(), Some(Route::to("r1")));
    assert_eq!(
        serving(&traffic(&fake, "shop-gprod-checkout")),
        [(c1.clone(), 100)]
    );
    let svc = fake
        .service("projects/test-project/locations/europe-west1/services/shop-gprod-checkout")
        .unwrap();
    let env = &svc["template"]["containers"][0]["env"];
    assert!(
        env.as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "BUILD" && e["value"] == "r1"),
        "{env}"
    );
    let var = |name: &str| {
        env.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .map(str::to_owned)
    };
    assert_eq!(var("NUBO_CALLS").as_deref(), Some("ship"));
    assert_eq!(var("NUBO_CALL_TAGS").as_deref(), Some("ship=v5f5f5f5f"));
    assert_eq!(var("NUBO_PREFIX").as_deref(), Some("shop-gprod-"));
    assert_eq!(
        var("NUBO_ROUTES").as_deref(),
        Some(r#"[{"method":"POST","path":"/checkout"}]"#)
    );
    assert_eq!(
        svc["buildConfig"]["sourceLocation"],
        format!("gs://{bucket}/{object}")
    );
    assert!(
        block(run.tagged_url("ship", "r1"))
            .unwrap()
            .unwrap()
            .contains("r1---")
    );

    // r2 changes checkout only: its new revision gets no traffic until the switch.
    let c2 = publish("checkout", "c2c2c2c2c2c2c2c2", "r2", Some(&c1));
    assert_ne!(c2, c1);
    assert_eq!(
        serving(&traffic(&fake, "shop-gprod-checkout")),
        [(c1.clone(), 100)],
        "a published revision must not serve before the switch"
    );
    let r2 = StagedRelease {
        id: "r2".into(),
        versions: [("checkout".into(), c2.clone()), ("ship".into(), s1.clone())].into(),
        artifacts: Default::default(),
    };
    block(run.stage(&r2)).unwrap();
    assert!(block(run.tagged_url("checkout", "r2")).unwrap().is_some());
    assert!(
        block(run.tagged_url("ship", "r2")).unwrap().is_some(),
        "unchanged functions get the tag too"
    );

    // A canary, then the switch, then a rollback: traffic patches of the entry only.
    let before = fake.calls().len();
    block(run.route(&Route {
        primary: "r1".into(),
        canary: Some(("r2".into(), 10)),
    }))
    .unwrap();
    let mut split = serving(&traffic(&fake, "shop-gprod-checkout"));
    split.sort_by_key(|(_, p)| *p);
    assert_eq!(split, [(c2.clone(), 10), (c1.clone(), 90)]);
    assert_eq!(
        block(run.live()).unwrap(),
        Some(Route {
            primary: "r1".into(),
            canary: Some(("r2".into(), 10))
        })
    );
    block(run.route(&Route::to("r2"))).unwrap();
    assert_eq!(
        serving(&traffic(&fake, "shop-gprod-checkout")),
        [(c2.clone(), 100)]
    );
    block(run.route(&Route::to("r1"))).unwrap();
    assert_eq!(
        serving(&traffic(&fake, "shop-gprod-checkout")),
        [(c1.clone(), 100)]
    );
    let patches: Vec<(String, String)> = fake.calls()[before..]
        .iter()
        .filter(|(id, _)| id.ends_with(".patch"))
        .cloned()
        .collect();
    assert_eq!(patches.len(), 3, "one traffic patch per move: {patches:?}");
    assert!(
        patches
            .iter()
            .all(|(_, p)| p.contains("shop-gprod-checkout")),
        "{patches:?}"
    );
    // Every tag survived the moves.
    let tags: Vec<String> = traffic(&fake, "shop-gprod-checkout")
        .into_iter()
        .map(|(_, t, _)| t)
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(tags, ["vc1c1c1c1", "r1", "vc2c2c2c2", "r2"]);

    // Retire r2 (r1 kept): its tags go, and checkout's r2 revision.
    block(run.retire(&r2, std::slice::from_ref(&r1))).unwrap();
    assert!(block(run.tagged_url("checkout", "r2")).unwrap().is_none());
    let revisions: Vec<String> = fake
        .revisions("projects/test-project/locations/europe-west1/services/shop-gprod-checkout")
        .iter()
        .filter_map(|r: &Value| {
            r["name"]
                .as_str()
                .map(|n| n.rsplit('/').next().unwrap().to_owned())
        })
        .collect();
    assert!(!revisions.contains(&c2), "{revisions:?}");
    let tags: Vec<String> = traffic(&fake, "shop-gprod-checkout")
        .into_iter()
        .map(|(_, t, _)| t)
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(
        tags,
        ["vc1c1c1c1", "r1"],
        "the retired revision's version tag went with it"
    );
    assert!(revisions.contains(&c1), "{revisions:?}");
    assert_eq!(block(run.live()).unwrap(), Some(Route::to("r1")));

    let violations = fake.violations();
    assert!(
        violations.is_empty(),
        "requests outside the discovery documents: {violations:#?}"
    );
}
