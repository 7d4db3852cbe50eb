//! Azurite, Microsoft's Azure Storage emulator (npm `azurite`, installed into
//! `tests/azure/node_modules` by `./scripts/test`): its blob service on a
//! free loopback port for a test.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use nubo::provider::azure::blob::AzBlobStore;

/// Azurite's well-known development account and key (public, documented by
/// Microsoft for the emulator; it protects nothing).
pub const ACCOUNT: &str = "devstoreaccount1";
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Azurite's blob service on a free loopback port, stopped on drop.
pub struct Azurite {
    child: Child,
    /// `http://127.0.0.1:PORT/devstoreaccount1`.
    pub endpoint: String,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Azurite {
    pub fn start() -> Azurite {
        Azurite::with_accounts(&[])
    }

    /// Azurite knowing `accounts` (name, base64 key) besides its own.
    pub fn with_accounts(accounts: &[(&str, &str)]) -> Azurite {
        let bin = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/azure/node_modules/azurite/dist/src/blob/main.js");
        assert!(
            bin.is_file(),
            "Azurite is not installed at {}: run ./scripts/test, which runs `npm ci --prefix tests/azure`",
            bin.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("node")
            .arg(&bin)
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                "0",
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
            ])
            // Its debug log and any stray files stay out of the repository.
            .current_dir(dir.path())
            .env(
                "AZURITE_ACCOUNTS",
                std::iter::once((ACCOUNT, KEY))
                    .chain(accounts.iter().copied())
                    .map(|(a, k)| format!("{a}:{k}"))
                    .collect::<Vec<_>>()
                    .join(";"),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Azurite");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let endpoint = loop {
            let line = lines
                .next()
                .expect("Azurite exited before listening")
                .unwrap();
            if let Some(url) = line.split("listens on ").nth(1) {
                break url.trim().to_owned();
            }
        };
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Azurite {
            child,
            endpoint: format!("{endpoint}/{ACCOUNT}"),
            base: endpoint,
            _dir: dir,
        }
    }

    pub fn env(&self) -> HashMap<String, String> {
        HashMap::from([(
            "AZURE_STORAGE_CONNECTION_STRING".to_owned(),
            format!(
                "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={};",
                self.endpoint
            ),
        )])
    }

    pub fn open(&self, url: &str) -> AzBlobStore {
        AzBlobStore::open(url, &self.env()).unwrap()
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
