//! Google Cloud: the authenticated REST client every GCP part shares, and
//! remote state on Cloud Storage.
//!
//! Credentials are Application Default Credentials through `gcp_auth`: a
//! service-account key file (`GOOGLE_APPLICATION_CREDENTIALS`, which posts a
//! signed JWT to the key's own `token_uri`), gcloud's user credentials, or
//! the metadata server. Tokens are cached by `gcp_auth` and never logged.

pub mod gcs;
pub mod logs;
pub mod provider;
pub mod run;
pub mod triggers;

pub use provider::GcpProvider;

use std::sync::Arc;
use std::time::Duration;

use crate::provider::{ProviderError, Result};

/// The scope every call asks for.
const SCOPES: &[&str] = &["https://www.googleapis.com/auth/cloud-platform"];
/// Attempts of one call when Google answers 429 or 5xx.
const ATTEMPTS: u32 = 6;
/// The longest `Retry-After` nubo honours.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Where the Google APIs are: Google's hosts, or one emulator/fake for all.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub storage: String,
    pub run: String,
    pub logging: String,
    pub iamcredentials: String,
    pub pubsub: String,
    pub scheduler: String,
    pub eventarc: String,
}

impl Endpoints {
    pub fn new(endpoint: Option<&str>) -> Endpoints {
        match endpoint {
            Some(e) => {
                let e = e.trim_end_matches('/').to_owned();
                Endpoints {
                    storage: e.clone(),
                    run: e.clone(),
                    logging: e.clone(),
                    iamcredentials: e.clone(),
                    pubsub: e.clone(),
                    scheduler: e.clone(),
                    eventarc: e,
                }
            }
            None => Endpoints {
                storage: "https://storage.googleapis.com".to_owned(),
                run: "https://run.googleapis.com".to_owned(),
                logging: "https://logging.googleapis.com".to_owned(),
                iamcredentials: "https://iamcredentials.googleapis.com".to_owned(),
                pubsub: "https://pubsub.googleapis.com".to_owned(),
                scheduler: "https://cloudscheduler.googleapis.com".to_owned(),
                eventarc: "https://eventarc.googleapis.com".to_owned(),
            },
        }
    }
}

/// An authenticated client for Google's REST APIs.
pub struct Google {
    http: reqwest::Client,
    auth: tokio::sync::Mutex<Option<Arc<dyn gcp_auth::TokenProvider>>>,
    pub endpoints: Endpoints,
}

/// A Google API error as a provider error: status, Google's message and
/// status word; the request is named by the caller.
pub(crate) fn error(what: &str, status: reqwest::StatusCode, body: &str) -> ProviderError {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let message = v["error"]["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| body.chars().take(300).collect());
    let word = v["error"]["status"].as_str().unwrap_or("");
    ProviderError {
        message: format!("{what}: {} {word}: {message}", status.as_u16()),
        request_id: None,
        retryable: status.as_u16() == 429 || status.is_server_error(),
    }
}

impl Google {
    pub fn new(endpoint: Option<&str>) -> Result<Google> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| ProviderError::new(format!("could not make an HTTP client: {e}")))?;
        Ok(Google {
            http,
            auth: tokio::sync::Mutex::new(None),
            endpoints: Endpoints::new(endpoint),
        })
    }

    /// A token for the cloud-platform scope; `fresh` drops the cached
    /// provider first (after a 401: the token expired or was revoked).
    async fn token(&self, fresh: bool) -> Result<String> {
        let mut auth = self.auth.lock().await;
        if fresh {
            *auth = None;
        }
        let provider = match &*auth {
            Some(p) => p.clone(),
            None => {
                let p = gcp_auth::provider().await.map_err(|e| {
                    ProviderError::new(format!(
                        "no Google Cloud credentials: {e} (set GOOGLE_APPLICATION_CREDENTIALS to a \
                         service-account key file, or run `gcloud auth application-default login`)"
                    ))
                })?;
                *auth = Some(p.clone());
                p
            }
        };
        drop(auth);
        let token = provider
            .token(SCOPES)
            .await
            .map_err(|e| ProviderError::new(format!("could not get a Google access token: {e}")))?;
        Ok(token.as_str().to_owned())
    }

    /// Send a request built by `make` with a bearer token: 429 and 5xx are
    /// retried with backoff (honouring `Retry-After`), a 401 once with a new
    /// token. Returns the final status and body.
    pub async fn send(
        &self,
        what: &str,
        make: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Body)> {
        let mut fresh = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.token(fresh).await?;
            let sent = make(&self.http).bearer_auth(&token).send().await;
            let res = match sent {
                Ok(r) => r,
                Err(e) if attempt < ATTEMPTS && (e.is_connect() || e.is_timeout()) => {
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(e) => return Err(ProviderError::new(format!("{what}: {e}"))),
            };
            let status = res.status();
            let retry_after = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
            let headers = res.headers().clone();
            let body = res
                .bytes()
                .await
                .map_err(|e| ProviderError::new(format!("{what}: {e}")))?;
            if status.as_u16() == 401 && !fresh {
                fresh = true;
                continue;
            }
            if (status.as_u16() == 429 || status.is_server_error()) && attempt < ATTEMPTS {
                tokio::time::sleep(retry_after.unwrap_or_else(|| backoff(attempt))).await;
                continue;
            }
            return Ok((
                status,
                Body {
                    bytes: body.to_vec(),
                    headers,
                },
            ));
        }
    }

    /// [`Google::send`], then the body as JSON on success, or the error.
    pub async fn json(
        &self,
        what: &str,
        make: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<serde_json::Value> {
        let (status, body) = self.send(what, make).await?;
        if !status.is_success() {
            return Err(error(what, status, &body.text()));
        }
        serde_json::from_slice(&body.bytes)
            .map_err(|e| ProviderError::new(format!("{what}: the answer is not JSON: {e}")))
    }
}

/// 100 ms doubling to 5 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(6)).min(5000))
}

/// Percent-encode one URL path segment or query value (RFC 3986 unreserved
/// characters stay).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A response's body and headers.
pub struct Body {
    pub bytes: Vec<u8>,
    pub headers: reqwest::header::HeaderMap,
}

impl Body {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_unreserved_only() {
        assert_eq!(encode("shop/prod/lock.json"), "shop%2Fprod%2Flock.json");
        assert_eq!(encode("a b+c"), "a%20b%2Bc");
        assert_eq!(encode("AZaz09-_.~"), "AZaz09-_.~");
    }

    #[test]
    fn errors_carry_googles_message() {
        let e = error(
            "storage.objects.insert gs://b/k",
            reqwest::StatusCode::PRECONDITION_FAILED,
            r#"{"error": {"code": 412, "message": "At least one of the pre-conditions you specified did not hold.", "status": "FAILED_PRECONDITION"}}"#,
        );
        assert!(
            e.message.contains("412 FAILED_PRECONDITION"),
            "{}",
            e.message
        );
        assert!(!e.retryable);
    }
}
