//! Remote state on Azure Blob Storage (`state: azblob://account/container/prefix`).
//!
//! Each key is a block blob under the prefix. Creating is a create-only
//! write (`If-None-Match: *`): of two writers exactly one succeeds.
//! Compare-and-swap and compare-and-delete read the blob's bytes and ETag,
//! compare, and write or delete with `If-Match: <etag>`.
//!
//! **The lock is a blob lease** on `lock.json`: whoever creates it takes an
//! infinite lease at once, so no other writer can overwrite or delete it
//! while it is held (Blob Storage refuses writes without the lease id); the
//! holder renews its record and releases it (the delete ends the lease) with
//! the lease id, which only it knows. A writer that finds the recorded
//! holder dead or its expiry passed (the engine's rule, `state::lock`)
//! **breaks** the lease (break period 0) before removing the record, and
//! so does `nubo unlock`.
//!
//! Credentials: the account key, from `AZURE_STORAGE_CONNECTION_STRING`
//! (whose `AccountName` must be the URL's account; `BlobEndpoint` points at
//! an emulator such as Azurite) or `AZURE_STORAGE_KEY`, signed as Shared Key
//! requests. Entra ID sign-in for state lands with the Azure backend.

use std::collections::HashMap;
use std::io;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::state::StateStore;

/// The Blob service version nubo speaks.
const VERSION: &str = "2023-11-03";
/// The key whose blob is leased while held (`state::lock`).
const LOCK_KEY: &str = "lock.json";
/// Attempts of one request when Azure answers 429, 500 or 503.
const ATTEMPTS: u32 = 6;

/// A storage account's blob service, with its key: signs requests (Shared
/// Key) and read links (service SAS).
pub struct BlobAccount {
    http: reqwest::blocking::Client,
    pub account: String,
    key: Vec<u8>,
    /// `https://account.blob.core.windows.net`, or an emulator's
    /// `http://127.0.0.1:10000/devstoreaccount1` (path-style).
    pub endpoint: String,
}

pub struct AzBlobStore {
    blobs: BlobAccount,
    container: String,
    prefix: String,
    /// Lease ids of the blobs this process holds (the lock).
    leases: Mutex<HashMap<String, String>>,
    /// How many names one listing page asks for.
    page: usize,
}

/// `azblob://account/container/prefix` → (account, container, prefix).
pub fn parse_url(url: &str) -> Option<(String, String, String)> {
    let rest = url.strip_prefix("azblob://")?;
    let mut parts = rest.splitn(3, '/');
    let account = parts.next().filter(|a| !a.is_empty())?;
    let container = parts.next().filter(|c| !c.is_empty())?;
    let prefix = parts.next().unwrap_or("").trim_matches('/');
    Some((account.to_owned(), container.to_owned(), prefix.to_owned()))
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// The fields of a storage connection string.
fn connection_fields(s: &str) -> HashMap<String, String> {
    s.split(';')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect()
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// A new lease id (a UUID's shape, from the clock and the process).
fn new_lease_id() -> String {
    let seed = format!(
        "{:?}{}{:?}",
        std::time::SystemTime::now(),
        std::process::id(),
        std::thread::current().id()
    );
    let h = Sha256::digest(seed.as_bytes());
    let x: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// An answer: status, ETag, body, Azure's error code.
pub struct Answer {
    pub status: u16,
    pub etag: Option<String>,
    pub body: Vec<u8>,
    pub code: Option<String>,
    pub request_id: Option<String>,
}

impl BlobAccount {
    /// The account with the key from the environment:
    /// `AZURE_STORAGE_CONNECTION_STRING` (whose `AccountName` must be
    /// `account`; `BlobEndpoint` may point at an emulator) or
    /// `AZURE_STORAGE_KEY`.
    pub fn from_env(
        account: &str,
        vars: &dyn crate::resolve::Environment,
    ) -> io::Result<BlobAccount> {
        let (key, endpoint) = match vars.var("AZURE_STORAGE_CONNECTION_STRING") {
            Some(cs) => {
                let f = connection_fields(&cs);
                if f.get("accountname").map(String::as_str) != Some(account) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "AZURE_STORAGE_CONNECTION_STRING is for account `{}`, not `{account}`",
                            f.get("accountname").map(String::as_str).unwrap_or("?")
                        ),
                    ));
                }
                let key = f
                    .get("accountkey")
                    .cloned()
                    .ok_or_else(|| other("AZURE_STORAGE_CONNECTION_STRING has no AccountKey"))?;
                let endpoint = f.get("blobendpoint").cloned().unwrap_or_else(|| {
                    format!(
                        "{}://{account}.blob.{}",
                        f.get("defaultendpointsprotocol")
                            .map(String::as_str)
                            .unwrap_or("https"),
                        f.get("endpointsuffix")
                            .map(String::as_str)
                            .unwrap_or("core.windows.net")
                    )
                });
                (key, endpoint)
            }
            None => match vars.var("AZURE_STORAGE_KEY") {
                Some(key) => (key, format!("https://{account}.blob.core.windows.net")),
                None => {
                    return Err(other(format!(
                        "no credentials for the storage account `{account}`: set AZURE_STORAGE_KEY \
                         (its account key) or AZURE_STORAGE_CONNECTION_STRING"
                    )));
                }
            },
        };
        BlobAccount::new(account, &key, &endpoint)
    }

    /// The account `account` with its base64 `key`, at `endpoint`.
    pub fn new(account: &str, key: &str, endpoint: &str) -> io::Result<BlobAccount> {
        let key = STANDARD
            .decode(key.trim())
            .map_err(|_| other("the storage account key is not base64"))?;
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(other)?;
        Ok(BlobAccount {
            http,
            account: account.to_owned(),
            key,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        })
    }

    /// The URL path below the endpoint: `/container[/blob]`, encoded.
    fn path(container: &str, blob: Option<&str>) -> String {
        let mut p = format!("/{}", crate::provider::gcp::encode(container));
        if let Some(b) = blob {
            p.push('/');
            p.push_str(
                &b.split('/')
                    .map(crate::provider::gcp::encode)
                    .collect::<Vec<_>>()
                    .join("/"),
            );
        }
        p
    }

    /// Send one signed request (Shared Key) about `container` (and `blob`),
    /// retrying 429/500/503.
    pub fn send(
        &self,
        method: reqwest::Method,
        container: &str,
        blob: Option<&str>,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        body: &[u8],
    ) -> io::Result<Answer> {
        let path = Self::path(container, blob);
        let url = reqwest::Url::parse(&format!("{}{path}", self.endpoint)).map_err(other)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let date = httpdate(std::time::SystemTime::now());
            let mut all: Vec<(String, String)> = headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect();
            all.push(("x-ms-date".into(), date));
            all.push(("x-ms-version".into(), VERSION.into()));
            let header = |name: &str| {
                all.iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("")
            };
            let length = if body.is_empty() {
                String::new()
            } else {
                body.len().to_string()
            };
            let mut ms: Vec<&(String, String)> =
                all.iter().filter(|(k, _)| k.starts_with("x-ms-")).collect();
            ms.sort();
            let canonical_headers: String = ms
                .iter()
                .map(|(k, v)| format!("{k}:{}\n", v.trim()))
                .collect();
            // The resource: the account, then the URL's path (which names the
            // account again on a path-style emulator endpoint), then the
            // query parameters sorted.
            let mut resource = format!("/{}{}", self.account, url.path());
            let mut q: Vec<(String, String)> = query
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
                .collect();
            q.sort();
            for (k, v) in &q {
                resource.push_str(&format!("\n{k}:{v}"));
            }
            // VERB, Content-Encoding, -Language, -Length, -MD5, -Type, Date,
            // If-Modified-Since, If-Match, If-None-Match,
            // If-Unmodified-Since, Range; then the x-ms- headers and the
            // resource.
            let fields = [
                method.as_str(),
                "",
                "",
                length.as_str(),
                "",
                header("content-type"),
                "",
                "",
                header("if-match"),
                header("if-none-match"),
                "",
                "",
            ];
            let to_sign = format!("{}\n{canonical_headers}{resource}", fields.join("\n"));
            let signature = STANDARD.encode(hmac_sha256(&self.key, to_sign.as_bytes()));
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .query(query)
                .header(
                    "authorization",
                    format!("SharedKey {}:{signature}", self.account),
                );
            for (k, v) in &all {
                req = req.header(k.as_str(), v.as_str());
            }
            if !body.is_empty() {
                req = req.body(body.to_vec());
            } else if method == reqwest::Method::PUT {
                req = req.header("content-length", "0");
            }
            let res = match req.send() {
                Ok(r) => r,
                Err(e) if attempt < ATTEMPTS && (e.is_connect() || e.is_timeout()) => {
                    std::thread::sleep(backoff(attempt));
                    continue;
                }
                Err(e) => return Err(other(format!("{} {path}: {e}", method.as_str()))),
            };
            let status = res.status().as_u16();
            let get = |h: &str| {
                res.headers()
                    .get(h)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let etag = get("etag");
            let code = get("x-ms-error-code");
            let request_id = get("x-ms-request-id");
            let retry_after = get("retry-after").and_then(|s| s.trim().parse::<u64>().ok());
            let body = res.bytes().map_err(other)?.to_vec();
            if matches!(status, 429 | 500 | 503) && attempt < ATTEMPTS {
                std::thread::sleep(
                    retry_after
                        .map(|s| Duration::from_secs(s.min(30)))
                        .unwrap_or_else(|| backoff(attempt)),
                );
                continue;
            }
            return Ok(Answer {
                status,
                etag,
                body,
                code,
                request_id,
            });
        }
    }
}

impl BlobAccount {
    /// Make `container` unless it exists.
    pub fn make_container(&self, container: &str) -> io::Result<()> {
        let a = self.send(
            reqwest::Method::PUT,
            container,
            None,
            &[("restype", "container")],
            &[],
            &[],
        )?;
        match a.status {
            201 | 409 => Ok(()),
            _ => Err(self.error(&format!("create container {container}"), &a)),
        }
    }

    /// Write `blob` unless it exists (content-addressed artifacts): whether
    /// bytes were sent.
    pub fn put_if_absent(&self, container: &str, blob: &str, bytes: &[u8]) -> io::Result<bool> {
        let a = self.send(
            reqwest::Method::PUT,
            container,
            Some(blob),
            &[],
            &[
                ("x-ms-blob-type", "BlockBlob".to_owned()),
                ("content-type", "application/zip".to_owned()),
                ("if-none-match", "*".to_owned()),
            ],
            bytes,
        )?;
        match a.status {
            201 => Ok(true),
            409 | 412 => Ok(false),
            _ => Err(self.error(&format!("upload {container}/{blob}"), &a)),
        }
    }

    /// A read-only link to `blob` valid until `expiry` (a service SAS
    /// signed with the account key: `sp=r`, `sr=b`, HTTPS only unless the
    /// endpoint is plain HTTP, as an emulator's is).
    pub fn sas_url(&self, container: &str, blob: &str, expiry: std::time::SystemTime) -> String {
        let se = humantime::format_rfc3339_seconds(expiry).to_string();
        let protocol = if self.endpoint.starts_with("https://") {
            "https"
        } else {
            "https,http"
        };
        let resource = format!("/blob/{}/{container}/{blob}", self.account);
        // sp, st, se, canonicalized resource, si, sip, spr, sv, sr,
        // snapshot time, ses, rscc, rscd, rsce, rscl, rsct.
        let to_sign = [
            "r", "", &se, &resource, "", "", protocol, VERSION, "b", "", "", "", "", "", "", "",
        ]
        .join("\n");
        let sig = STANDARD.encode(hmac_sha256(&self.key, to_sign.as_bytes()));
        let enc = crate::provider::gcp::encode;
        format!(
            "{}{}?sv={VERSION}&sr=b&sp=r&se={}&spr={}&sig={}",
            self.endpoint,
            Self::path(container, Some(blob)),
            enc(&se),
            enc(protocol),
            enc(&sig)
        )
    }

    fn error(&self, what: &str, a: &Answer) -> io::Error {
        other(format!(
            "{what} in storage account {}: {} {}{}",
            self.account,
            a.status,
            a.code.as_deref().unwrap_or(""),
            a.request_id
                .as_ref()
                .map(|r| format!(" (request id {r})"))
                .unwrap_or_default()
        ))
    }
}

impl AzBlobStore {
    /// Open `url` with the credentials in the environment (`vars`).
    pub fn open(url: &str, vars: &dyn crate::resolve::Environment) -> io::Result<AzBlobStore> {
        let (account, container, prefix) = parse_url(url).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "`{url}` is not an Azure Blob state URL (azblob://account/container/prefix)"
                ),
            )
        })?;
        Ok(AzBlobStore {
            blobs: BlobAccount::from_env(&account, vars)?,
            container,
            prefix,
            leases: Mutex::new(HashMap::new()),
            page: 5000,
        })
    }

    /// A store on `container` of an account already at hand (the
    /// target's own storage account, whose key ARM listed).
    pub fn on(blobs: BlobAccount, container: &str, prefix: &str) -> AzBlobStore {
        AzBlobStore {
            blobs,
            container: container.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            leases: Mutex::new(HashMap::new()),
            page: 5000,
        }
    }

    /// Ask for `n` names per listing page (tests use small pages).
    pub fn with_page_size(mut self, n: usize) -> AzBlobStore {
        self.page = n.max(1);
        self
    }

    /// Make the container unless it exists (nubo's own tests; a team's
    /// state container is made by the team, like an S3 or GCS bucket).
    pub fn make_container(&self) -> io::Result<()> {
        let a = self.send(
            reqwest::Method::PUT,
            None,
            &[("restype", "container")],
            &[],
            &[],
        )?;
        match a.status {
            201 | 409 => Ok(()),
            _ => Err(self.fail("create the container of", "", &a)),
        }
    }

    fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// Send one signed request to the state's container.
    fn send(
        &self,
        method: reqwest::Method,
        blob: Option<&str>,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        body: &[u8],
    ) -> io::Result<Answer> {
        self.blobs
            .send(method, &self.container, blob, query, headers, body)
    }

    fn fail(&self, what: &str, key: &str, a: &Answer) -> io::Error {
        let message = String::from_utf8_lossy(&a.body);
        let message = message
            .split("<Message>")
            .nth(1)
            .and_then(|m| m.split("</Message>").next())
            .unwrap_or("")
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        other(format!(
            "{what} {}: {} {}{}{}",
            self.describe_key(key),
            a.status,
            a.code.as_deref().unwrap_or(""),
            if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            },
            a.request_id
                .as_ref()
                .map(|r| format!(" (request id {r})"))
                .unwrap_or_default()
        ))
    }

    fn describe_key(&self, key: &str) -> String {
        format!(
            "azblob://{}/{}/{}",
            self.blobs.account,
            self.container,
            self.name(key)
        )
    }

    /// The blob's bytes and ETag, if it exists.
    fn read(&self, key: &str) -> io::Result<Option<(Vec<u8>, String)>> {
        let name = self.name(key);
        let a = self.send(reqwest::Method::GET, Some(&name), &[], &[], &[])?;
        match a.status {
            200 => Ok(Some((a.body, a.etag.unwrap_or_default()))),
            404 => Ok(None),
            _ => Err(self.fail("read", key, &a)),
        }
    }

    fn lease_of(&self, key: &str) -> Option<String> {
        self.leases.lock().unwrap().get(key).cloned()
    }

    /// Break whatever lease the blob has, at once (the holder is gone).
    fn break_lease(&self, key: &str) -> io::Result<()> {
        let name = self.name(key);
        let a = self.send(
            reqwest::Method::PUT,
            Some(&name),
            &[("comp", "lease")],
            &[
                ("x-ms-lease-action", "break".into()),
                ("x-ms-lease-break-period", "0".into()),
            ],
            &[],
        )?;
        match (a.status, a.code.as_deref()) {
            (202 | 404, _) | (409, Some("LeaseNotPresentWithLeaseOperation")) => Ok(()),
            _ => Err(self.fail("break the lease of", key, &a)),
        }
    }

    fn lease_headers(&self, key: &str) -> Vec<(&'static str, String)> {
        self.lease_of(key)
            .map(|id| vec![("x-ms-lease-id", id)])
            .unwrap_or_default()
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(6)).min(5000))
}

/// An RFC 1123 date (`Sun, 29 Nov 2026 06:19:41 GMT`).
fn httpdate(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let names = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {d:02} {} {year} {h:02}:{m:02}:{s:02} GMT",
        names[(month - 1) as usize]
    )
}

/// The text between `<tag>` and `</tag>`, each time, XML entities decoded.
fn xml_all(text: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    text.split(&open)
        .skip(1)
        .filter_map(|s| s.split(&close).next())
        .map(|s| {
            s.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        })
        .collect()
}

impl StateStore for AzBlobStore {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self.read(key)?.map(|(b, _)| b))
    }

    fn put(&self, key: &str, value: &[u8]) -> io::Result<()> {
        let name = self.name(key);
        let mut headers = vec![
            ("x-ms-blob-type", "BlockBlob".to_owned()),
            ("content-type", "application/json".to_owned()),
        ];
        headers.extend(self.lease_headers(key));
        let a = self.send(reqwest::Method::PUT, Some(&name), &[], &headers, value)?;
        match a.status {
            201 => Ok(()),
            _ => Err(self.fail("write", key, &a)),
        }
    }

    fn create_new(&self, key: &str, value: &[u8]) -> io::Result<bool> {
        let name = self.name(key);
        let a = self.send(
            reqwest::Method::PUT,
            Some(&name),
            &[],
            &[
                ("x-ms-blob-type", "BlockBlob".to_owned()),
                ("content-type", "application/json".to_owned()),
                ("if-none-match", "*".to_owned()),
            ],
            value,
        )?;
        match a.status {
            201 => {}
            409 | 412 => return Ok(false),
            _ => return Err(self.fail("create", key, &a)),
        }
        if key == LOCK_KEY {
            // Ours: lease it, so nobody else can replace or delete it.
            let id = new_lease_id();
            let a = self.send(
                reqwest::Method::PUT,
                Some(&name),
                &[("comp", "lease")],
                &[
                    ("x-ms-lease-action", "acquire".into()),
                    ("x-ms-lease-duration", "-1".into()),
                    ("x-ms-proposed-lease-id", id.clone()),
                ],
                &[],
            )?;
            if a.status != 201 {
                return Err(self.fail("lease", key, &a));
            }
            self.leases.lock().unwrap().insert(key.to_owned(), id);
        }
        Ok(true)
    }

    fn delete(&self, key: &str) -> io::Result<()> {
        let name = self.name(key);
        let a = self.send(
            reqwest::Method::DELETE,
            Some(&name),
            &[],
            &self.lease_headers(key),
            &[],
        )?;
        match a.status {
            202 | 404 => {
                self.leases.lock().unwrap().remove(key);
                Ok(())
            }
            _ => Err(self.fail("delete", key, &a)),
        }
    }

    fn compare_and_delete(&self, key: &str, expected: &[u8]) -> io::Result<bool> {
        let Some((bytes, etag)) = self.read(key)? else {
            return Ok(false);
        };
        if bytes != expected {
            return Ok(false);
        }
        let ours = self.lease_of(key);
        if key == LOCK_KEY && ours.is_none() {
            // Someone else's lock, found dead or expired (or `nubo unlock`):
            // end its lease, then remove that very record.
            self.break_lease(key)?;
        }
        let name = self.name(key);
        let mut headers = vec![("if-match", etag)];
        headers.extend(ours.map(|id| ("x-ms-lease-id", id)));
        let a = self.send(reqwest::Method::DELETE, Some(&name), &[], &headers, &[])?;
        match a.status {
            202 => {
                self.leases.lock().unwrap().remove(key);
                Ok(true)
            }
            404 | 412 => Ok(false),
            _ => Err(self.fail("delete", key, &a)),
        }
    }

    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> io::Result<bool> {
        let Some((bytes, etag)) = self.read(key)? else {
            return Ok(false);
        };
        if bytes != expected {
            return Ok(false);
        }
        let name = self.name(key);
        let mut headers = vec![
            ("x-ms-blob-type", "BlockBlob".to_owned()),
            ("content-type", "application/json".to_owned()),
            ("if-match", etag),
        ];
        headers.extend(self.lease_headers(key));
        let a = self.send(reqwest::Method::PUT, Some(&name), &[], &headers, new)?;
        match a.status {
            201 => Ok(true),
            412 => Ok(false),
            _ => Err(self.fail("write", key, &a)),
        }
    }

    fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        let full = self.name(prefix);
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let page = self.page.to_string();
        let mut out = Vec::new();
        let mut marker = String::new();
        loop {
            let mut q = vec![
                ("restype", "container"),
                ("comp", "list"),
                ("prefix", full.as_str()),
                ("maxresults", page.as_str()),
            ];
            if !marker.is_empty() {
                q.push(("marker", marker.as_str()));
            }
            let a = self.send(reqwest::Method::GET, None, &q, &[], &[])?;
            if a.status != 200 {
                return Err(self.fail("list", prefix, &a));
            }
            let text = String::from_utf8_lossy(&a.body).into_owned();
            for name in xml_all(&text, "Name") {
                if let Some(k) = name.strip_prefix(&strip) {
                    out.push(k.to_owned());
                }
            }
            marker = xml_all(&text, "NextMarker")
                .into_iter()
                .next()
                .unwrap_or_default();
            if marker.is_empty() {
                break;
            }
        }
        out.sort();
        Ok(out)
    }

    fn describe(&self) -> String {
        format!(
            "azblob://{}/{}/{}",
            self.blobs.account, self.container, self.prefix
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        assert_eq!(
            parse_url("azblob://acct/state/shop/prod"),
            Some(("acct".into(), "state".into(), "shop/prod".into()))
        );
        assert_eq!(
            parse_url("azblob://acct/state"),
            Some(("acct".into(), "state".into(), String::new()))
        );
        assert_eq!(parse_url("azblob://acct"), None);
        assert_eq!(parse_url("s3://a/b"), None);
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231, test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn dates_are_rfc_1123() {
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_795_933_181);
        assert_eq!(httpdate(t), "Sun, 29 Nov 2026 06:19:41 GMT");
        assert_eq!(
            httpdate(std::time::UNIX_EPOCH),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }

    #[test]
    fn listing_names_are_unescaped() {
        let xml = "<Blobs><Blob><Name>a&amp;b</Name></Blob><Blob><Name>c</Name></Blob></Blobs><NextMarker>m1</NextMarker>";
        assert_eq!(xml_all(xml, "Name"), ["a&b", "c"]);
        assert_eq!(xml_all(xml, "NextMarker"), ["m1"]);
    }
}
