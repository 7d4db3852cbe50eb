//! End-to-end tests of the `nubo` binary: scaffolds, examples, the schema,
//! the command skeleton, exit codes and JSON output.

// Only `copy_dir` is used here.
#[allow(dead_code)]
#[path = "support/files.rs"]
mod files;

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn nubo() -> Command {
    let mut cmd = Command::cargo_bin("nubo").unwrap();
    cmd.env("NO_COLOR", "1")
        .env_remove("NUBO_FILE")
        .env_remove("NUBO_TARGET")
        .timeout(Duration::from_secs(60));
    cmd
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Out {
    let out = cmd.output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Parse JSON Lines; every line must be an object with a `type`.
fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(v["type"].is_string(), "event without type: {l}");
            v
        })
        .collect()
}

#[test]
fn checked_in_schema_matches_the_types() {
    let out = run(nubo().arg("schema"));
    assert_eq!(out.code, 0);
    let checked_in = std::fs::read_to_string(repo().join("schemas/nubo.schema.json")).unwrap();
    assert!(
        out.stdout == checked_in,
        "schemas/nubo.schema.json is stale: run `cargo run -- schema > schemas/nubo.schema.json`"
    );
    let schema: Value = serde_json::from_str(&out.stdout).unwrap();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, ["nubo", "service", "targets", "functions"]);
    assert_eq!(schema["additionalProperties"], Value::Bool(false));
}

#[test]
fn examples_validate_on_every_target() {
    for example in ["hello", "shop"] {
        let file = repo().join("examples").join(example).join("nubo.yaml");
        let out = run(nubo()
            .arg("validate")
            .arg("-f")
            .arg(&file)
            .arg("--all-targets"));
        assert_eq!(out.code, 0, "{example}:\n{}", out.stderr);
        assert!(
            out.stdout.contains("targets can run every function"),
            "{}",
            out.stdout
        );
        assert!(!out.stderr.contains("error"), "{}", out.stderr);
    }
}

#[test]
fn shop_portability_table_lists_every_function_and_target() {
    let file = repo().join("examples/shop/nubo.yaml");
    let out = run(nubo().arg("validate").arg("-f").arg(&file));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let header = out.stdout.lines().next().unwrap();
    for t in ["dev", "prod", "gprod", "aprod"] {
        assert!(header.contains(t), "{header}");
    }
    for f in ["checkout", "charge", "ship", "report"] {
        assert!(
            out.stdout.lines().any(|l| l.starts_with(f)),
            "{}",
            out.stdout
        );
    }
    // `ship` takes batches of 10, which GCP and Azure deliver one by one.
    let ship = out.stdout.lines().find(|l| l.starts_with("ship")).unwrap();
    assert!(ship.contains('!'), "{ship}");
    assert!(
        out.stdout.contains("gprod/ship: batch capped at 1"),
        "{}",
        out.stdout
    );
}

#[test]
fn every_init_template_validates() {
    for template in ["http-node", "http-python", "chain"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(format!("my-{template}"));
        let out = run(nubo().arg("init").arg(&dir).args(["--template", template]));
        assert_eq!(out.code, 0, "{template}: {}", out.stderr);
        assert!(dir.join(".gitignore").is_file());
        let manifest = std::fs::read_to_string(dir.join("nubo.yaml")).unwrap();
        assert!(
            manifest.contains(&format!("service: my-{template}")),
            "{manifest}"
        );
        let out = run(nubo().current_dir(&dir).args(["validate", "--all-targets"]));
        assert_eq!(out.code, 0, "{template}: {}", out.stderr);
        assert!(out.stderr.contains("Validated"), "{}", out.stderr);
    }
}

#[test]
fn init_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(
        run(nubo().arg("init").arg(tmp.path()).args(["--name", "svc"])).code,
        0
    );
    std::fs::write(tmp.path().join("nubo.yaml"), "mine").unwrap();
    let out = run(nubo().arg("init").arg(tmp.path()).args(["--name", "svc"]));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("nubo.yaml")).unwrap(),
        "mine"
    );
}

#[test]
fn init_unknown_template_suggests() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(nubo()
        .arg("init")
        .arg(tmp.path())
        .args(["--template", "http-nod"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("did you mean `http-node`?"),
        "{}",
        out.stderr
    );
}

#[test]
fn commands_of_later_issues_say_so_and_exit_1() {
    for args in [&["export"][..], &["cost"]] {
        let out = run(nubo().args(args));
        assert_eq!(out.code, 1, "{args:?}");
        assert!(
            out.stderr.contains("is not available yet"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stdout.is_empty(),
            "{args:?} printed data: {}",
            out.stdout
        );
    }
}

#[test]
fn version_and_help() {
    let out = run(nubo().arg("--version"));
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stdout.trim(),
        format!("nubo {}", env!("CARGO_PKG_VERSION"))
    );
    let out = run(nubo().arg("--help"));
    assert_eq!(out.code, 0);
    for cmd in [
        "init",
        "validate",
        "package",
        "plan",
        "deploy",
        "releases",
        "switch",
        "rollback",
        "status",
        "invoke",
        "logs",
        "dev",
        "remove",
        "unlock",
        "export",
        "cost",
        "schema",
        "completions",
    ] {
        assert!(
            out.stdout.contains(&format!("  {cmd} ")),
            "help lacks {cmd}"
        );
    }
    let out = run(nubo().arg("deploi"));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("deploy"), "{}", out.stderr);
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(nubo().args(["completions", shell]));
        assert_eq!(out.code, 0, "{shell}");
        assert!(out.stdout.contains("validate"), "{shell}");
    }
}

#[test]
fn json_output_is_json_lines_ending_in_result() {
    let file = repo().join("examples/shop/nubo.yaml");
    let out = run(nubo()
        .args(["--output", "json", "validate", "-f"])
        .arg(&file));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.is_empty(),
        "human text in JSON mode: {}",
        out.stderr
    );
    let events = json_lines(&out.stdout);
    let last = events.last().unwrap();
    assert_eq!(last["type"], "result");
    assert_eq!(last["ok"], true);
    assert_eq!(last["functions"], 4);
    let table = events.iter().find(|e| e["type"] == "portability").unwrap();
    assert_eq!(table["targets"].as_array().unwrap().len(), 4);
    let warning = events.iter().find(|e| e["type"] == "diagnostic").unwrap();
    assert_eq!(warning["severity"], "warning");
    assert!(warning["line"].as_u64().unwrap() > 0);
}

#[test]
fn json_output_reports_errors_with_positions() {
    let fixture = repo().join("tests/fixtures/invalid/unknown-key-typo.yaml");
    let out = run(nubo()
        .args(["--output", "json", "validate", "-f"])
        .arg(&fixture));
    assert_eq!(out.code, 2);
    let events = json_lines(&out.stdout);
    let d = &events[0];
    assert_eq!(d["type"], "diagnostic");
    assert_eq!(d["severity"], "error");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(9), Some(5))
    );
    assert_eq!(d["help"], "did you mean `timeout`?");
    let last = events.last().unwrap();
    assert_eq!(
        (
            last["type"].as_str(),
            last["ok"].as_bool(),
            last["exit_code"].as_u64()
        ),
        (Some("result"), Some(false), Some(2))
    );
}

#[test]
fn unknown_target_is_invalid_input() {
    let file = repo().join("examples/shop/nubo.yaml");
    let out = run(nubo().args(["validate", "-t", "prd", "-f"]).arg(&file));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("no target named `prd`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("did you mean `prod`?"),
        "{}",
        out.stderr
    );
}

#[test]
fn missing_manifest_is_invalid_input_with_a_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(nubo().current_dir(tmp.path()).arg("validate"));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("could not read `nubo.yaml`: no such file"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nubo init"), "{}", out.stderr);
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn hostile_inputs_are_refused_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    // 10 MB of otherwise valid YAML.
    let mut big = String::from("nubo: 1\nservice: big\nfunctions:\n");
    while big.len() < 10 * 1024 * 1024 {
        big.push_str("  # padding padding padding padding padding padding padding padding\n");
    }
    // Billion laughs: nine levels of ten-fold aliases.
    let mut laughs = String::from(
        "a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n",
    );
    let mut prev = 'a';
    for c in 'b'..='i' {
        let refs = vec![format!("*{prev}"); 10].join(", ");
        laughs.push_str(&format!("{c}: &{c} [{refs}]\n"));
        prev = c;
    }
    let deep = format!("nubo: {}1{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let deep_block: String = (0..10_000)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i % 300)))
        .collect();
    for (name, text, expect) in [
        ("big.yaml", big.as_str(), "the most a manifest may be"),
        ("laughs.yaml", laughs.as_str(), "expands to more than"),
        ("deep.yaml", deep.as_str(), "nests deeper than"),
        ("deep-block.yaml", deep_block.as_str(), "nests deeper than"),
    ] {
        let file = write(tmp.path(), name, text);
        let out = run(nubo().arg("validate").arg("-f").arg(&file));
        assert_eq!(out.code, 2, "{name}: {}", out.stderr);
        assert!(out.stderr.contains(expect), "{name}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("{name}:1:")) || out.stderr.contains(&format!("{name}:")),
            "{name}: {}",
            out.stderr
        );
    }
}

#[test]
fn shop_validate_output_snapshot() {
    let out = run(nubo()
        .current_dir(repo().join("examples/shop"))
        .args(["validate", "--all-targets"]));
    assert_eq!(out.code, 0);
    insta::assert_snapshot!(format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.code, out.stdout, out.stderr
    ));
}

#[test]
fn provider_settings_and_native_handlers_warn_but_pass() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("src")).unwrap();
    write(
        tmp.path(),
        "src/app.js",
        "exports.handler = async () => ({ status: 200 });\n",
    );
    write(
        tmp.path(),
        "nubo.yaml",
        "nubo: 1\nservice: shop\ntargets:\n  dev: { provider: local }\n  prod: { provider: aws, region: eu-west-1 }\nfunctions:\n  api:\n    handler: src/app.handler\n    runtime: nodejs22\n    handler_style: native\n    aws:\n      ReservedConcurrentExecutions: 5\n",
    );
    let out = run(nubo().current_dir(tmp.path()).arg("validate"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "warning: `api` has `aws` settings, which do not apply on local (target `dev`)"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("uses a native handler"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("dev/api: aws settings ignored"),
        "{}",
        out.stdout
    );
    // The warnings are data in JSON mode too.
    let out = run(nubo()
        .current_dir(tmp.path())
        .args(["--output", "json", "validate"]));
    let events = json_lines(&out.stdout);
    assert_eq!(
        events.iter().filter(|e| e["severity"] == "warning").count(),
        2
    );
    // One per problem: the native-handler warning is the same on both targets.
    assert_eq!(events.last().unwrap()["warnings"].as_u64(), Some(2));
}

#[test]
fn release_commands_on_azure_without_a_sign_in_say_who_tried() {
    // Every backend is built (tests/aws.rs against moto, tests/gcp.rs and
    // tests/azure.rs against the spec-checked fakes). Here Azure's sign-in
    // cannot start (an authority host that is not HTTPS): nothing reaches
    // the network, and the error names the identity, never its secret.
    let tmp = tempfile::tempdir().unwrap();
    let shop = tmp.path().join("shop");
    files::copy_dir(&repo().join("examples/shop"), &shop);
    let _ = std::fs::remove_dir_all(shop.join(".nubo"));
    for cmd in ["plan", "status", "rollback"] {
        let out = run(nubo()
            .current_dir(&shop)
            .env_remove("NUBO_TEST_BACKEND")
            .env("AZURE_TENANT_ID", "7e57c0de-0000-4000-8000-00000000a001")
            .env("AZURE_CLIENT_ID", "7e57c0de-0000-4000-8000-00000000a002")
            .env("AZURE_CLIENT_SECRET", "not-a-real-secret")
            .env("AZURE_AUTHORITY_HOST", "http://127.0.0.1:9")
            .args([cmd, "-t", "aprod", "--yes"]));
        assert_ne!(out.code, 0, "{cmd}: {}", out.stderr);
        assert!(
            out.stderr
                .contains("service principal 7e57c0de-0000-4000-8000-00000000a002"),
            "{cmd}: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("not-a-real-secret"),
            "the secret is never shown: {}",
            out.stderr
        );
    }
}
