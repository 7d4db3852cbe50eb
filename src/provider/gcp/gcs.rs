//! Remote state on Cloud Storage (`state: gs://bucket/prefix`).
//!
//! Each key is an object under the prefix, written with a simple media
//! upload. Creating is a create-only write (`ifGenerationMatch=0`): of two
//! writers exactly one succeeds, which makes the lock safe between CI jobs.
//! Compare-and-swap and compare-and-delete read the object's generation and
//! bytes (the bytes pinned to that generation), compare, and write or delete
//! with `ifGenerationMatch=<generation>`, so a change in between fails the
//! precondition (412) instead of being overwritten.

use std::io;

use super::{Google, encode};
use crate::state::StateStore;

pub struct GcsStore {
    google: Google,
    bucket: String,
    prefix: String,
}

/// `gs://bucket/prefix` → (bucket, prefix without slashes at the ends).
pub fn parse_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("gs://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return None;
    }
    Some((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl GcsStore {
    pub fn open(url: &str, endpoint: Option<&str>) -> io::Result<GcsStore> {
        let (bucket, prefix) = parse_url(url).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{url}` is not a Cloud Storage state URL (gs://bucket/prefix)"),
            )
        })?;
        Ok(GcsStore {
            google: Google::new(endpoint).map_err(other)?,
            bucket,
            prefix,
        })
    }

    fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    fn object_url(&self, name: &str) -> String {
        format!(
            "{}/storage/v1/b/{}/o/{}",
            self.google.endpoints.storage,
            encode(&self.bucket),
            encode(name)
        )
    }

    fn upload_url(&self) -> String {
        format!(
            "{}/upload/storage/v1/b/{}/o",
            self.google.endpoints.storage,
            encode(&self.bucket)
        )
    }

    /// The object's bytes and generation, if it exists: one download,
    /// whose `x-goog-generation` header says which generation it was (a
    /// server that does not send it costs a metadata read first).
    async fn read(&self, key: &str) -> io::Result<Option<(Vec<u8>, String)>> {
        let name = self.name(key);
        let what = format!("storage.objects.get gs://{}/{name}", self.bucket);
        let url = self.object_url(&name);
        let (status, body) = self
            .google
            .send(&what, |c| c.get(&url).query(&[("alt", "media")]))
            .await
            .map_err(other)?;
        match status.as_u16() {
            404 => return Ok(None),
            200 => {
                if let Some(g) = body.header("x-goog-generation").map(str::to_owned) {
                    return Ok(Some((body.bytes, g)));
                }
            }
            _ => return Err(other(super::error(&what, status, &body.text()))),
        }
        let (status, meta) = self
            .google
            .send(&what, |c| c.get(&url))
            .await
            .map_err(other)?;
        if status.as_u16() == 404 {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(other(super::error(&what, status, &meta.text())));
        }
        let meta: serde_json::Value = serde_json::from_slice(&meta.bytes).map_err(other)?;
        let generation = meta["generation"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| meta["generation"].as_i64().map(|g| g.to_string()))
            .ok_or_else(|| other(format!("{what}: no generation in the answer")))?;
        // The bytes of exactly that generation: a newer write in between is a 412.
        let (status, bytes) = self
            .google
            .send(&what, |c| {
                c.get(&url)
                    .query(&[("alt", "media"), ("ifGenerationMatch", generation.as_str())])
            })
            .await
            .map_err(other)?;
        match status.as_u16() {
            200 => Ok(Some((bytes.bytes, generation))),
            404 => Ok(None),
            // Changed since the metadata read: report what is there now.
            412 => Box::pin(self.read(key)).await,
            _ => Err(other(super::error(&what, status, &bytes.text()))),
        }
    }

    /// Write `value` under `key` if `condition` (a generation, `0` for
    /// absent) still holds; false when it does not.
    async fn write(&self, key: &str, value: &[u8], condition: Option<&str>) -> io::Result<bool> {
        let name = self.name(key);
        let what = format!("storage.objects.insert gs://{}/{name}", self.bucket);
        let url = self.upload_url();
        let (status, body) = self
            .google
            .send(&what, |c| {
                let mut q = vec![("uploadType", "media"), ("name", name.as_str())];
                if let Some(g) = condition {
                    q.push(("ifGenerationMatch", g));
                }
                c.post(&url)
                    .query(&q)
                    .header("content-type", "application/json")
                    .body(value.to_vec())
            })
            .await
            .map_err(other)?;
        match status.as_u16() {
            200 => Ok(true),
            412 => Ok(false),
            _ => Err(other(super::error(&what, status, &body.text()))),
        }
    }

    async fn remove(&self, key: &str, condition: Option<&str>) -> io::Result<bool> {
        let name = self.name(key);
        let what = format!("storage.objects.delete gs://{}/{name}", self.bucket);
        let url = self.object_url(&name);
        let (status, body) = self
            .google
            .send(&what, |c| {
                let req = c.delete(&url);
                match condition {
                    Some(g) => req.query(&[("ifGenerationMatch", g)]),
                    None => req,
                }
            })
            .await
            .map_err(other)?;
        match status.as_u16() {
            200 | 204 => Ok(true),
            404 | 412 => Ok(false),
            _ => Err(other(super::error(&what, status, &body.text()))),
        }
    }
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    crate::provider::aws::runtime().block_on(f)
}

impl StateStore for GcsStore {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(block(self.read(key))?.map(|(b, _)| b))
    }

    fn put(&self, key: &str, value: &[u8]) -> io::Result<()> {
        block(self.write(key, value, None)).map(|_| ())
    }

    fn create_new(&self, key: &str, value: &[u8]) -> io::Result<bool> {
        block(self.write(key, value, Some("0")))
    }

    fn delete(&self, key: &str) -> io::Result<()> {
        block(self.remove(key, None)).map(|_| ())
    }

    fn compare_and_delete(&self, key: &str, expected: &[u8]) -> io::Result<bool> {
        block(async {
            match self.read(key).await? {
                Some((bytes, generation)) if bytes == expected => {
                    self.remove(key, Some(&generation)).await
                }
                _ => Ok(false),
            }
        })
    }

    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> io::Result<bool> {
        block(async {
            match self.read(key).await? {
                Some((bytes, generation)) if bytes == expected => {
                    self.write(key, new, Some(&generation)).await
                }
                _ => Ok(false),
            }
        })
    }

    fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        let full = self.name(prefix);
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let what = format!("storage.objects.list gs://{}/{full}", self.bucket);
        let url = format!(
            "{}/storage/v1/b/{}/o",
            self.google.endpoints.storage,
            encode(&self.bucket)
        );
        block(async {
            let mut out = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let page = self
                    .google
                    .json(&what, |c| {
                        let mut q = vec![("prefix", full.as_str())];
                        if let Some(t) = &token {
                            q.push(("pageToken", t.as_str()));
                        }
                        c.get(&url).query(&q)
                    })
                    .await
                    .map_err(other)?;
                for item in page["items"].as_array().into_iter().flatten() {
                    if let Some(k) = item["name"].as_str().and_then(|n| n.strip_prefix(&strip)) {
                        out.push(k.to_owned());
                    }
                }
                token = page["nextPageToken"].as_str().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
            out.sort();
            Ok(out)
        })
    }

    fn describe(&self) -> String {
        if self.prefix.is_empty() {
            format!("gs://{}", self.bucket)
        } else {
            format!("gs://{}/{}", self.bucket, self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn state_urls() {
        assert_eq!(
            parse_url("gs://acme-state/shop/prod/"),
            Some(("acme-state".into(), "shop/prod".into()))
        );
        assert_eq!(parse_url("gs://b"), Some(("b".into(), "".into())));
        assert_eq!(parse_url("s3://b/x"), None);
        assert_eq!(parse_url("gs:///x"), None);
    }
}
