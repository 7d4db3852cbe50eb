//! Property tests: the loader and validator never panic or hang, whatever the
//! bytes, and every rejection names a place in the file.
//!
//! Bounded: a fixed number of cases per property, each on a small input, so
//! the suite stays fast. The binary-level property checks the exit codes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;

const SHOP: &str = include_str!("../examples/shop/nubo.yaml");

/// Fragments a person (or a bad merge) might leave in a manifest.
const TOKENS: &[&str] = &[
    "\n",
    " ",
    "  ",
    ":",
    ": ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "\"",
    "'",
    "&a ",
    "*a",
    "<<: *a\n",
    "!Ref ",
    "~",
    "null",
    "true",
    "0x1F",
    "-1",
    "99999999999999999999",
    "1.5",
    "10s",
    "10",
    "${",
    "${env:X}",
    "${secret:",
    "}",
    "---\n",
    "...\n",
    "#",
    "\t",
    "|\n",
    ">\n",
    "? ",
    "%YAML 1.2\n",
    "handler: ",
    "events:\n",
    "  - http: ",
    "calls: [",
    "runtime: ",
    "memory: ",
    "timeout: ",
    "functions:\n",
    "targets:\n",
    "provider: aws",
    "\u{feff}",
    "\u{0}",
    "é",
    "🙂",
];

fn mutate(base: &str, ops: &[(u8, usize, usize)]) -> String {
    let mut s: Vec<char> = base.chars().collect();
    for &(op, a, b) in ops {
        if s.is_empty() {
            s.push('x');
        }
        let i = a % s.len();
        match op % 5 {
            0 => {
                let end = (i + b % 40).min(s.len());
                s.drain(i..end);
            }
            1 => {
                let t = TOKENS[b % TOKENS.len()];
                s.splice(i..i, t.chars());
            }
            2 => {
                let end = (i + b % 80).min(s.len());
                let copy: Vec<char> = s[i..end].to_vec();
                s.splice(i..i, copy);
            }
            3 => s[i] = TOKENS[b % TOKENS.len()].chars().next().unwrap_or(' '),
            _ => {
                // Re-indent a line.
                let line_start = s[..i].iter().rposition(|c| *c == '\n').map_or(0, |p| p + 1);
                s.splice(line_start..line_start, std::iter::repeat_n(' ', b % 7));
            }
        }
    }
    s.into_iter().collect()
}

fn check_library(text: String) -> Result<(), TestCaseError> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/shop");
    match nubo::manifest::load_str(Path::new("nubo.yaml"), text, dir) {
        Err(diags) => {
            prop_assert!(!diags.is_empty());
            for d in &diags {
                prop_assert!(
                    d.location().is_some(),
                    "diagnostic without a place: {}",
                    d.message
                );
            }
        }
        Ok(loaded) => {
            let targets: Vec<String> = loaded.manifest.targets.keys().cloned().collect();
            let outcome = nubo::validate::validate(&loaded, &targets, &HashMap::new());
            for d in outcome.diagnostics.iter().filter(|d| d.is_error()) {
                prop_assert!(
                    d.location().is_some(),
                    "error without a place: {}",
                    d.message
                );
                let _ = d.render();
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        check_library(String::from_utf8_lossy(&bytes).into_owned())?;
    }

    #[test]
    fn mutated_manifests_never_panic(ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 1..8)) {
        check_library(mutate(SHOP, &ops))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 20, ..ProptestConfig::default() })]

    /// Through the real binary: never a crash, only 0 (valid) or 2 (invalid).
    #[test]
    fn binary_exits_0_or_2(ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 0..6)) {
        // A copy of the example, so handler paths resolve.
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/shop"), dir.path());
        let text = mutate(SHOP, &ops);
        let file = dir.path().join("nubo.yaml");
        std::fs::write(&file, &text).unwrap();
        let out = assert_cmd::Command::cargo_bin("nubo").unwrap()
            .args(["validate", "-f"]).arg(&file)
            .env("NO_COLOR", "1")
            .env_remove("NUBO_TARGET")
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap();
        let code = out.status.code();
        prop_assert!(code == Some(0) || code == Some(2), "exit {:?}\n{}\n--- input\n{}", code, String::from_utf8_lossy(&out.stderr), text);
        prop_assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}
