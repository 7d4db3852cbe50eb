//! `nubo package` through the real binary: determinism, content addressing,
//! sharing, what goes in and what never does, refusals, limits, the cache.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use assert_cmd::Command;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn nubo(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("nubo").unwrap();
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("NUBO_FILE")
        .env_remove("NUBO_TARGET")
        .timeout(Duration::from_secs(120));
    cmd
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn package(dir: &Path, args: &[&str]) -> Out {
    let out = nubo(dir).arg("package").args(args).output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write(dir: &Path, rel: &str, body: &[u8]) -> PathBuf {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, body).unwrap();
    p
}

#[cfg(unix)]
fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn set_mtime(p: &Path, secs_ago: u64) {
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(secs_ago))
        .unwrap();
}

const MANIFEST: &str = "nubo: 1
service: svc
targets:
  dev: { provider: local }
  prod: { provider: aws, region: eu-west-1 }
defaults:
  runtime: nodejs22
functions:
  api:
    handler: src/api.handler
    events:
      - http: { method: GET, path: / }
  worker:
    handler: src/worker.handler
  py:
    handler: py/job.handler
    runtime: python3.12
";

/// A small service: two node functions sharing `src/`, one python function.
fn service(dir: &Path, reverse: bool) {
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("nubo.yaml", MANIFEST.as_bytes().to_vec()),
        (
            "src/api.js",
            b"exports.handler = async () => ({ status: 200 });\n".to_vec(),
        ),
        (
            "src/worker.js",
            b"exports.handler = async () => ({});\n".to_vec(),
        ),
        (
            "src/lib/util.js",
            "module.exports = 'é ü';\n".repeat(200).into_bytes(),
        ),
        ("src/run.sh", b"#!/bin/sh\necho hi\n".to_vec()),
        (
            "py/job.py",
            b"def handler(req, ctx):\n    return {}\n".to_vec(),
        ),
        (
            "package.json",
            b"{\"name\": \"svc\", \"private\": true}\n".to_vec(),
        ),
        ("README.md", b"# svc\n".to_vec()),
    ];
    if reverse {
        files.reverse();
    }
    for (i, (rel, body)) in files.iter().enumerate() {
        let p = write(dir, rel, body);
        set_mtime(
            &p,
            if reverse {
                1000 + i as u64
            } else {
                10 * i as u64
            },
        );
    }
    #[cfg(unix)]
    {
        chmod(&dir.join("src/run.sh"), if reverse { 0o700 } else { 0o755 });
        chmod(&dir.join("src/api.js"), if reverse { 0o600 } else { 0o664 });
    }
}

fn artifacts(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join(".nubo/build/dev/artifacts.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn zip_of(dir: &Path, function: &str) -> PathBuf {
    let a = artifacts(dir);
    dir.join(".nubo/build/dev")
        .join(a["functions"][function]["path"].as_str().unwrap())
}

/// (name, unix mode, content) of every entry, read back with an independent zip reader.
fn entries(zip: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut f = archive.by_index(i).unwrap();
            let mut body = Vec::new();
            f.read_to_end(&mut body).unwrap();
            (
                f.name().unwrap().to_string(),
                f.unix_mode().unwrap_or(0),
                body,
            )
        })
        .collect()
}

fn names(zip: &Path) -> Vec<String> {
    entries(zip).into_iter().map(|(n, _, _)| n).collect()
}

#[test]
fn same_inputs_give_byte_identical_zips() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    service(a.path(), false);
    service(b.path(), true);
    assert_eq!(package(a.path(), &[]).code, 0);
    let out = package(b.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for f in ["api", "py"] {
        let za = std::fs::read(zip_of(a.path(), f)).unwrap();
        let zb = std::fs::read(zip_of(b.path(), f)).unwrap();
        assert!(za == zb, "{f}: zips differ between two trees");
    }
    let e = entries(&zip_of(a.path(), "api"));
    let modes: Vec<(&str, u32)> = e.iter().map(|(n, m, _)| (n.as_str(), *m & 0o777)).collect();
    assert_eq!(
        modes,
        [
            ("package.json", 0o644),
            ("src/api.js", 0o644),
            ("src/lib/util.js", 0o644),
            ("src/run.sh", 0o755),
            ("src/worker.js", 0o644)
        ]
    );
    assert_eq!(e[2].2, "module.exports = 'é ü';\n".repeat(200).into_bytes());
    // No timestamps of the machine: every entry says 1980-01-01 00:00.
    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(zip_of(a.path(), "api")).unwrap()).unwrap();
    for i in 0..archive.len() {
        let f = archive.by_index(i).unwrap();
        let t = f.last_modified().unwrap();
        assert_eq!(
            (t.year(), t.month(), t.day(), t.hour(), t.minute()),
            (1980, 1, 1, 0, 0)
        );
        assert!(f.extra_data().is_none_or(|x| x.is_empty()));
    }
}

#[test]
fn artifacts_are_content_addressed_and_shared() {
    let d = tempfile::tempdir().unwrap();
    service(d.path(), false);
    let out = package(d.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let a = artifacts(d.path());
    let api = &a["functions"]["api"];
    let worker = &a["functions"]["worker"];
    let py = &a["functions"]["py"];
    // api and worker have the same files (src/ + package.json): one artifact.
    assert_eq!(api["sha256"], worker["sha256"]);
    assert_ne!(api["sha256"], py["sha256"]);
    // ... but different deployable units (handler differs).
    assert_ne!(api["unit"], worker["unit"]);
    let zips: Vec<_> = std::fs::read_dir(d.path().join(".nubo/build/dev"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "zip"))
        .collect();
    assert_eq!(zips.len(), 2);
    for z in zips {
        let bytes = std::fs::read(z.path()).unwrap();
        let sha: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            z.path().file_stem().unwrap().to_str().unwrap(),
            sha,
            "the name is the content's sha256"
        );
        assert_eq!(
            bytes.len() as u64,
            a["functions"]["api"]["zipped"]
                .as_u64()
                .filter(|_| sha == api["sha256"])
                .unwrap_or(bytes.len() as u64)
        );
    }
    assert_eq!(api["files"], 5);
    assert_eq!(py["files"], 1);
    assert!(out.stdout.contains("shared"), "{}", out.stdout);
    assert!(
        out.stderr.contains("Packaged 3 functions into 2 artifacts"),
        "{}",
        out.stderr
    );
}

#[test]
fn config_changes_change_the_unit_hash_but_not_the_artifact() {
    let d = tempfile::tempdir().unwrap();
    service(d.path(), false);
    assert_eq!(package(d.path(), &[]).code, 0);
    let before = artifacts(d.path());
    write(
        d.path(),
        "nubo.yaml",
        MANIFEST
            .replace(
                "  runtime: nodejs22\n",
                "  runtime: nodejs22\n  memory: 512\n",
            )
            .as_bytes(),
    );
    assert_eq!(package(d.path(), &[]).code, 0);
    let after = artifacts(d.path());
    assert_eq!(
        before["functions"]["api"]["sha256"],
        after["functions"]["api"]["sha256"]
    );
    assert_ne!(
        before["functions"]["api"]["unit"],
        after["functions"]["api"]["unit"]
    );
}

#[test]
fn what_never_goes_in() {
    let d = tempfile::tempdir().unwrap();
    service(d.path(), false);
    write(d.path(), "src/.env", b"SECRET=1\n");
    write(d.path(), "src/.env.local", b"SECRET=1\n");
    write(d.path(), ".git/config", b"[core]\n");
    write(d.path(), "src/.git/HEAD", b"ref\n");
    write(d.path(), "src/fixtures/big.json", b"{}\n");
    write(d.path(), "src/api.test.js", b"test\n");
    write(d.path(), ".nuboignore", b"fixtures/\n");
    let manifest = MANIFEST.replace(
        "    handler: src/api.handler\n",
        "    handler: src/api.handler\n    exclude: [\"**/*.test.js\"]\n",
    );
    write(d.path(), "nubo.yaml", manifest.as_bytes());
    let out = package(d.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let n = names(&zip_of(d.path(), "api"));
    assert_eq!(
        n,
        [
            "package.json",
            "src/api.js",
            "src/lib/util.js",
            "src/run.sh",
            "src/worker.js"
        ]
    );
    // worker has no `exclude`, so it packages the test file, and differs from api now.
    let w = names(&zip_of(d.path(), "worker"));
    assert!(w.contains(&"src/api.test.js".to_owned()), "{w:?}");
    assert!(
        !w.iter().any(|n| n.contains(".env")
            || n.contains(".git")
            || n.contains("fixtures")
            || n == "nubo.yaml"),
        "{w:?}"
    );
}

#[test]
fn production_node_modules_only() {
    let d = tempfile::tempdir().unwrap();
    service(d.path(), false);
    write(
        d.path(),
        "node_modules/left-pad/index.js",
        b"module.exports = 1;\n",
    );
    write(d.path(), "node_modules/left-pad/package.json", b"{}\n");
    write(d.path(), "node_modules/jest/index.js", b"dev only\n");
    write(d.path(), "node_modules/.bin/jest", b"#!/bin/sh\n");
    write(
        d.path(),
        "package-lock.json",
        br#"{"lockfileVersion": 3, "packages": {"": {}, "node_modules/left-pad": {"version": "1.0.0"}, "node_modules/jest": {"version": "29.0.0", "dev": true}}}"#,
    );
    let out = package(d.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let n = names(&zip_of(d.path(), "api"));
    assert!(
        n.contains(&"node_modules/left-pad/index.js".to_owned()),
        "{n:?}"
    );
    assert!(!n.iter().any(|x| x.contains("jest")), "{n:?}");
    // Python functions do not get node_modules.
    assert_eq!(names(&zip_of(d.path(), "py")), ["py/job.py"]);
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_service_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.txt", b"top secret\n");
    for (link, target) in [
        ("src/leak.txt", outside.path().join("secret.txt")),
        ("src/leakdir", outside.path().to_path_buf()),
    ] {
        let d = tempfile::tempdir().unwrap();
        service(d.path(), false);
        std::os::unix::fs::symlink(&target, d.path().join(link)).unwrap();
        let out = package(d.path(), &[]);
        assert_eq!(out.code, 2, "{link}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!(
                "`{link}` in the package of `api` resolves outside the service directory"
            )),
            "{}",
            out.stderr
        );
        assert!(!d.path().join(".nubo/build/dev/artifacts.json").exists());
    }
    // A link inside the service is packaged as the file it points at.
    let d = tempfile::tempdir().unwrap();
    service(d.path(), false);
    std::os::unix::fs::symlink(d.path().join("src/api.js"), d.path().join("src/alias.js")).unwrap();
    assert_eq!(package(d.path(), &[]).code, 0);
    let e = entries(&zip_of(d.path(), "api"));
    let alias = e.iter().find(|(n, _, _)| n == "src/alias.js").unwrap();
    assert_eq!(alias.2, std::fs::read(d.path().join("src/api.js")).unwrap());
}

#[test]
fn include_cannot_reach_outside_the_service() {
    let parent = tempfile::tempdir().unwrap();
    write(parent.path(), "secret.txt", b"top secret\n");
    let d = parent.path().join("svc");
    std::fs::create_dir(&d).unwrap();
    service(&d, false);
    for pattern in ["../secret.txt", "src/../../*"] {
        let manifest = MANIFEST.replace(
            "    handler: src/api.handler\n",
            &format!("    handler: src/api.handler\n    include: [\"src/**\", \"{pattern}\"]\n"),
        );
        write(&d, "nubo.yaml", manifest.as_bytes());
        let out = package(&d, &[]);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!(
                "`{pattern}` in `functions.api.include` points outside the service directory"
            )),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("--> nubo.yaml:11:"), "{}", out.stderr);
    }
    // Anchored patterns are anchored at the service, not the file system.
    let manifest = MANIFEST.replace(
        "    handler: src/api.handler\n",
        "    handler: src/api.handler\n    include: [\"/src/**\", \"/secret.txt\"]\n",
    );
    write(&d, "nubo.yaml", manifest.as_bytes());
    let out = package(&d, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !names(&zip_of(&d, "api"))
            .iter()
            .any(|x| x.contains("secret"))
    );
}

#[test]
fn credentials_are_refused_unless_included_by_name() {
    let d = tempfile::tempdir().unwrap();
    service(d.path(), false);
    write(
        d.path(),
        "src/certs/server.key",
        b"-----BEGIN PRIVATE KEY-----\n",
    );
    let out = package(d.path(), &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("`src/certs/server.key` looks like a credential"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("include it by name"), "{}", out.stderr);
    assert!(!out.stderr.contains("BEGIN PRIVATE KEY"));
    let manifest = MANIFEST
        .replace(
            "    handler: src/api.handler\n",
            "    handler: src/api.handler\n    include: [\"src/**\", \"src/certs/server.key\"]\n",
        )
        .replace(
            "    handler: src/worker.handler\n",
            "    handler: src/worker.handler\n    exclude: [\"*.key\"]\n",
        );
    write(d.path(), "nubo.yaml", manifest.as_bytes());
    let out = package(d.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(names(&zip_of(d.path(), "api")).contains(&"src/certs/server.key".to_owned()));
    assert!(!names(&zip_of(d.path(), "worker")).contains(&"src/certs/server.key".to_owned()));
}

#[test]
fn limits_are_checked_before_upload() {
    // Unzipped: a 251 MiB sparse file costs no disk and is refused before any read.
    let d = tempfile::tempdir().unwrap();
    service(d.path(), false);
    let f = std::fs::File::create(d.path().join("src/lib/model.bin")).unwrap();
    f.set_len(251 * 1024 * 1024).unwrap();
    let out = package(d.path(), &["-t", "prod"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the package of `api` is 251.0 MiB unzipped, over aws's limit of 250.0 MiB"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("biggest directories: src/lib (251.0 MiB), src (1.2 KiB)")
            || out
                .stderr
                .contains("biggest directories: src/lib (251.0 MiB)"),
        "{}",
        out.stderr
    );
    // Zipped: 52 MiB that does not compress is over AWS's 50 MiB.
    let d = tempfile::tempdir().unwrap();
    service(d.path(), false);
    let mut f = std::fs::File::create(d.path().join("src/noise.bin")).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..52 {
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&buf).unwrap();
    }
    drop(f);
    let out = package(d.path(), &["-t", "prod"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("zipped, over aws's limit of 50.0 MiB"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("biggest directories: src (52.0 MiB)"),
        "{}",
        out.stderr
    );
}

#[test]
fn unchanged_inputs_are_not_zipped_again() {
    let d = tempfile::tempdir().unwrap();
    service(d.path(), false);
    assert_eq!(package(d.path(), &[]).code, 0);
    let zip = zip_of(d.path(), "api");
    let first = std::fs::metadata(&zip).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(20));

    let out = package(d.path(), &[]);
    assert!(out.stderr.contains("(2 unchanged)"), "{}", out.stderr);
    assert_eq!(std::fs::metadata(&zip).unwrap().modified().unwrap(), first);

    // Touched, not changed: the content digest says it is the same.
    set_mtime(&d.path().join("src/api.js"), 0);
    let out = package(d.path(), &[]);
    assert!(out.stderr.contains("(2 unchanged)"), "{}", out.stderr);

    // Changed: a new artifact, and the old zip is pruned.
    write(
        d.path(),
        "src/api.js",
        b"exports.handler = async () => ({ status: 201 });\n",
    );
    let out = package(d.path(), &[]);
    assert!(out.stderr.contains("(1 unchanged)"), "{}", out.stderr);
    assert_ne!(zip_of(d.path(), "api"), zip);
    assert!(!zip.exists());

    // A corrupt cache only costs time.
    write(d.path(), ".nubo/cache/package.json", b"{ not json");
    let out = package(d.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn json_output_and_out_dir() {
    let d = tempfile::tempdir().unwrap();
    service(d.path(), false);
    let out_dir = d.path().join("dist");
    let out = package(d.path(), &["--output", "json", "--out", "dist"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let events: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.iter().filter(|e| e["type"] == "artifact").count(), 2);
    let result = events.last().unwrap();
    assert_eq!(result["type"], "result");
    assert_eq!(result["functions"]["api"]["files"], 5);
    assert!(out_dir.join("artifacts.json").is_file());
    // The output folder is never packaged into itself.
    let out = package(d.path(), &["--out", "dist"]);
    assert_eq!(out.code, 0);
    let a: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("artifacts.json")).unwrap())
            .unwrap();
    assert_eq!(a["functions"]["api"]["files"], 5);
}

#[test]
fn handler_left_out_of_include_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    service(d.path(), false);
    write(
        d.path(),
        "nubo.yaml",
        MANIFEST
            .replace(
                "    handler: src/api.handler\n",
                "    handler: src/api.handler\n    include: [\"src/lib/**\"]\n",
            )
            .as_bytes(),
    );
    let out = package(d.path(), &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("the handler file of `api` is not in its package (looked for `src/api.js` or `src/api.mjs` or `src/api.cjs`)"), "{}", out.stderr);
    assert!(out.stderr.contains("--> nubo.yaml:"), "{}", out.stderr);
}

#[cfg(unix)]
#[test]
fn names_that_are_not_utf8_are_refused_when_packaged() {
    use std::os::unix::ffi::OsStrExt;
    let d = tempfile::tempdir().unwrap();
    service(d.path(), false);
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.js");
    if std::fs::write(d.path().join("src").join(name), b"x").is_err() {
        return; // the file system itself refuses such names: nothing to package
    }
    let out = package(d.path(), &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("has a name that is not UTF-8"),
        "{}",
        out.stderr
    );
    // Outside every function's files, it is no one's problem.
    write(
        d.path(),
        ".nuboignore",
        b"*.js\n!src/api.js\n!src/worker.js\n",
    );
    let out = package(d.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        names(&zip_of(d.path(), "api")),
        ["package.json", "src/api.js", "src/run.sh", "src/worker.js"]
    );
}

#[test]
fn a_user_file_with_a_shim_name_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Google's Python runtime wants the shim at `main.py`: a user's root
    // `main.py` would be a second zip entry of the same name.
    write(
        dir,
        "nubo.yaml",
        b"nubo: 1\nservice: s\ntargets:\n  g: { provider: gcp, project: test-project, region: europe-west1 }\n  dev: { provider: local }\nfunctions:\n  f:\n    handler: main.handler\n    runtime: python3.12\n",
    );
    write(dir, "main.py", b"def handler(req, ctx):\n    return 1\n");
    let out = package(dir, &["-t", "g"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("`main.py`") && out.stderr.contains("gcp shim"),
        "{}",
        out.stderr
    );
    // The local cloud adds no shim: the same file packages there.
    let out = package(dir, &["-t", "dev"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

#[test]
fn gcp_node_artifacts_point_package_json_main_at_the_shim() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(
        dir,
        "nubo.yaml",
        b"nubo: 1\nservice: s\ntargets:\n  g: { provider: gcp, project: test-project, region: europe-west1 }\nfunctions:\n  a:\n    handler: a/index.handler\n    runtime: nodejs22\n    include: [\"a/**\", \"package.json\"]\n  b:\n    handler: b/index.handler\n    runtime: nodejs22\n",
    );
    write(dir, "a/index.js", b"exports.handler = async () => 1;\n");
    write(dir, "b/index.js", b"exports.handler = async () => 2;\n");
    write(
        dir,
        "package.json",
        br#"{"name": "shop", "main": "a/index.js", "dependencies": {"left-pad": "1.3.0"}}"#,
    );
    let out = package(dir, &["-t", "g"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // The user's package.json, only `main` changed, and one entry of that name.
    let zip_g = |function: &str| {
        let text = std::fs::read_to_string(dir.join(".nubo/build/g/artifacts.json")).unwrap();
        let a: Value = serde_json::from_str(&text).unwrap();
        dir.join(".nubo/build/g")
            .join(a["functions"][function]["path"].as_str().unwrap())
    };
    let a = entries(&zip_g("a"));
    let pj: Vec<&(String, u32, Vec<u8>)> = a.iter().filter(|e| e.0 == "package.json").collect();
    assert_eq!(pj.len(), 1);
    let v: Value = serde_json::from_slice(&pj[0].2).unwrap();
    assert_eq!(v["main"], "nubo_gcp.js");
    assert_eq!(v["dependencies"]["left-pad"], "1.3.0");
    assert_eq!(v["name"], "shop");
    // Without one, a minimal package.json.
    let b = entries(&zip_g("b"));
    let v: Value =
        serde_json::from_slice(&b.iter().find(|e| e.0 == "package.json").unwrap().2).unwrap();
    assert_eq!(v["main"], "nubo_gcp.js");
    assert!(b.iter().any(|e| e.0 == "nubo_gcp.js"));
    // A package.json that is not an object is an input error.
    write(dir, "package.json", b"[1, 2]");
    let out = package(dir, &["-t", "g"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("not a JSON object"), "{}", out.stderr);
}
