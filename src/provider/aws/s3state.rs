//! Remote state on S3 (`state: s3://bucket/prefix`).
//!
//! Each key is an object under the prefix. Creating is a conditional write
//! (`If-None-Match: *`): of two writers exactly one succeeds, which makes the
//! lock safe between CI jobs on different machines. Compare-and-swap and
//! compare-and-delete read the object and its ETag, compare the bytes, and
//! write or delete with `If-Match: <etag>`, so a change in between fails
//! the condition instead of being overwritten.

use std::io;

use aws_sdk_s3::primitives::ByteStream;

use super::{Clients, Connection, runtime};
use crate::state::StateStore;

pub struct S3Store {
    clients: Clients,
    bucket: String,
    prefix: String,
}

/// `s3://bucket/prefix` → (bucket, prefix without slashes at the ends).
pub fn parse_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return None;
    }
    Some((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

fn io_err(what: String, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

/// An SDK error as text: code, message and request id.
fn describe<E>(
    e: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    super::fail("", e)
        .to_string()
        .trim_start_matches(": ")
        .to_owned()
}

fn precondition_failed<E: aws_smithy_types::error::metadata::ProvideErrorMetadata>(
    e: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> bool {
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;
    matches!(
        e.code(),
        Some("PreconditionFailed" | "ConditionalRequestConflict")
    ) || matches!(e, aws_smithy_runtime_api::client::result::SdkError::ServiceError(s)
            if matches!(s.raw().status().as_u16(), 412 | 409))
}

impl S3Store {
    pub fn open(url: &str, conn: &Connection) -> io::Result<S3Store> {
        let (bucket, prefix) = parse_url(url).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{url}` is not an S3 state URL (s3://bucket/prefix)"),
            )
        })?;
        let clients = runtime().block_on(Clients::connect(conn));
        Ok(S3Store {
            clients,
            bucket,
            prefix,
        })
    }

    fn key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    async fn read(&self, key: &str) -> io::Result<Option<(Vec<u8>, String)>> {
        let k = self.key(key);
        match self
            .clients
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&k)
            .send()
            .await
        {
            Ok(out) => {
                let etag = out.e_tag().unwrap_or_default().to_owned();
                let body = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| io_err(format!("s3://{}/{k}", self.bucket), e))?;
                Ok(Some((body.into_bytes().to_vec(), etag)))
            }
            Err(e) if super::not_found(&e) => Ok(None),
            Err(e) => Err(io_err(
                format!("s3:GetObject s3://{}/{k}", self.bucket),
                describe(&e),
            )),
        }
    }
}

impl StateStore for S3Store {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(runtime().block_on(self.read(key))?.map(|(b, _)| b))
    }

    fn put(&self, key: &str, value: &[u8]) -> io::Result<()> {
        let k = self.key(key);
        runtime()
            .block_on(
                self.clients
                    .s3
                    .put_object()
                    .bucket(&self.bucket)
                    .key(&k)
                    .body(ByteStream::from(value.to_vec()))
                    .send(),
            )
            .map_err(|e| {
                io_err(
                    format!("s3:PutObject s3://{}/{k}", self.bucket),
                    describe(&e),
                )
            })?;
        Ok(())
    }

    fn create_new(&self, key: &str, value: &[u8]) -> io::Result<bool> {
        let k = self.key(key);
        match runtime().block_on(
            self.clients
                .s3
                .put_object()
                .bucket(&self.bucket)
                .key(&k)
                .if_none_match("*")
                .body(ByteStream::from(value.to_vec()))
                .send(),
        ) {
            Ok(_) => Ok(true),
            Err(e) if precondition_failed(&e) => Ok(false),
            Err(e) => Err(io_err(
                format!("s3:PutObject (If-None-Match) s3://{}/{k}", self.bucket),
                describe(&e),
            )),
        }
    }

    fn delete(&self, key: &str) -> io::Result<()> {
        let k = self.key(key);
        match runtime().block_on(
            self.clients
                .s3
                .delete_object()
                .bucket(&self.bucket)
                .key(&k)
                .send(),
        ) {
            Ok(_) => Ok(()),
            Err(e) if super::not_found(&e) => Ok(()),
            Err(e) => Err(io_err(
                format!("s3:DeleteObject s3://{}/{k}", self.bucket),
                describe(&e),
            )),
        }
    }

    fn compare_and_delete(&self, key: &str, expected: &[u8]) -> io::Result<bool> {
        runtime().block_on(async {
            let Some((bytes, etag)) = self.read(key).await? else {
                return Ok(false);
            };
            if bytes != expected {
                return Ok(false);
            }
            let k = self.key(key);
            match self
                .clients
                .s3
                .delete_object()
                .bucket(&self.bucket)
                .key(&k)
                .if_match(etag)
                .send()
                .await
            {
                Ok(_) => Ok(true),
                Err(e) if precondition_failed(&e) || super::not_found(&e) => Ok(false),
                Err(e) => Err(io_err(
                    format!("s3:DeleteObject (If-Match) s3://{}/{k}", self.bucket),
                    describe(&e),
                )),
            }
        })
    }

    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> io::Result<bool> {
        runtime().block_on(async {
            let Some((bytes, etag)) = self.read(key).await? else {
                return Ok(false);
            };
            if bytes != expected {
                return Ok(false);
            }
            let k = self.key(key);
            match self
                .clients
                .s3
                .put_object()
                .bucket(&self.bucket)
                .key(&k)
                .if_match(etag)
                .body(ByteStream::from(new.to_vec()))
                .send()
                .await
            {
                Ok(_) => Ok(true),
                Err(e) if precondition_failed(&e) || super::not_found(&e) => Ok(false),
                Err(e) => Err(io_err(
                    format!("s3:PutObject (If-Match) s3://{}/{k}", self.bucket),
                    describe(&e),
                )),
            }
        })
    }

    fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        let full = self.key(prefix);
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let keys = runtime()
            .block_on(super::list_keys(&self.clients.s3, &self.bucket, &full))
            .map_err(other)?
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("the state bucket s3://{} does not exist", self.bucket),
                )
            })?;
        let mut out: Vec<String> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(&strip).map(str::to_owned))
            .collect();
        out.sort();
        Ok(out)
    }

    fn describe(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn state_urls() {
        assert_eq!(
            parse_url("s3://acme-state/shop/prod/"),
            Some(("acme-state".into(), "shop/prod".into()))
        );
        assert_eq!(
            parse_url("s3://acme-state"),
            Some(("acme-state".into(), "".into()))
        );
        assert_eq!(parse_url("gs://x/y"), None);
        assert_eq!(parse_url("s3:///y"), None);
    }
}
