//! Snapshot tests of the exact diagnostics for malformed manifests.
//!
//! Each `tests/fixtures/invalid/*.yaml` is validated by the real binary from
//! inside that folder. A first line `# args: ...` adds arguments (e.g. `-t
//! prod`). Every case must exit 2 and name `file:line:column`; the snapshot
//! holds the whole stderr, so a change to any message shows up in review.

use std::path::Path;

use assert_cmd::Command;

fn run(path: &Path) -> (i32, String, String) {
    let dir = path.parent().unwrap();
    let file = path.file_name().unwrap().to_str().unwrap();
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut args = vec!["validate".to_owned(), "-f".to_owned(), file.to_owned()];
    if let Some(extra) = text.lines().next().and_then(|l| l.strip_prefix("# args:")) {
        args.extend(extra.split_whitespace().map(str::to_owned));
    }
    let out = Command::cargo_bin("nubo")
        .unwrap()
        .current_dir(dir)
        .args(&args)
        .env("NO_COLOR", "1")
        .env_remove("NUBO_FIXTURE_UNSET")
        .env_remove("NUBO_TARGET")
        .env_remove("NUBO_FILE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn invalid_manifests_exit_2_with_located_diagnostics() {
    let mut count = 0;
    insta::glob!("fixtures/invalid/*.yaml", |path| {
        count += 1;
        let (code, stdout, stderr) = run(path);
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(code, 2, "{name} exited {code}:\n{stderr}");
        assert!(
            stderr.contains(&format!("--> {name}:")),
            "{name}: no file:line:column in:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name} panicked:\n{stderr}");
        insta::assert_snapshot!(format!(
            "exit: {code}\n--- stdout\n{stdout}--- stderr\n{stderr}"
        ));
    });
    assert!(count >= 30, "only {count} malformed manifests");
}
