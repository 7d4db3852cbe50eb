//! Azure Resource Manager over HTTPS: Entra ID tokens through
//! `azure_identity`, retries, and long-running operations.
//!
//! - **Credentials**, first that applies: a service principal with a secret
//!   (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`); workload
//!   identity (`AZURE_FEDERATED_TOKEN_FILE`, as AKS and GitHub Actions set);
//!   a managed identity (`IDENTITY_ENDPOINT` or `MSI_ENDPOINT` set, or
//!   `AZURE_USE_MANAGED_IDENTITY=1` for the instance metadata service); else
//!   the Azure CLI's sign-in (`az login`). `AZURE_AUTHORITY_HOST` moves the
//!   sign-in (HTTPS only, as `azure_identity` insists). Tokens are cached by
//!   the credential and never logged; a 401 gets a new credential once.
//! - **Retries**: 429 and 5xx answers, honouring `Retry-After` (at most 30 s
//!   a wait), 6 attempts.
//! - **Long-running operations**: a 201/202 with `Azure-AsyncOperation` is
//!   polled until its `status` is terminal; one with only `Location` until
//!   that stops answering 202; bounded at 15 minutes.
//! - **Errors** name the request, ARM's `code` and `message` and the
//!   `x-ms-request-id`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_core::credentials::TokenCredential;
use serde_json::Value;

use crate::provider::{ProviderError, Result};

/// The scope of every ARM token.
const SCOPE: &str = "https://management.azure.com/.default";
const ATTEMPTS: u32 = 6;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
const OPERATION_WAIT: Duration = Duration::from_secs(15 * 60);

/// An answer from ARM (or Kudu): status, headers, JSON body (`Null` if none).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Which credential to use, read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialKind {
    ClientSecret {
        tenant: String,
        client: String,
    },
    ClientCertificate {
        tenant: String,
        client: String,
        path: String,
    },
    WorkloadIdentity,
    ManagedIdentity,
    AzureCli,
}

impl CredentialKind {
    pub fn from_env(env: &dyn crate::resolve::Environment) -> CredentialKind {
        let set = |k: &str| env.var(k).is_some_and(|v| !v.is_empty());
        if set("AZURE_CLIENT_SECRET") && set("AZURE_TENANT_ID") && set("AZURE_CLIENT_ID") {
            CredentialKind::ClientSecret {
                tenant: env.var("AZURE_TENANT_ID").unwrap_or_default(),
                client: env.var("AZURE_CLIENT_ID").unwrap_or_default(),
            }
        } else if set("AZURE_CLIENT_CERTIFICATE_PATH")
            && set("AZURE_TENANT_ID")
            && set("AZURE_CLIENT_ID")
        {
            CredentialKind::ClientCertificate {
                tenant: env.var("AZURE_TENANT_ID").unwrap_or_default(),
                client: env.var("AZURE_CLIENT_ID").unwrap_or_default(),
                path: env.var("AZURE_CLIENT_CERTIFICATE_PATH").unwrap_or_default(),
            }
        } else if set("AZURE_FEDERATED_TOKEN_FILE") {
            CredentialKind::WorkloadIdentity
        } else if set("IDENTITY_ENDPOINT")
            || set("MSI_ENDPOINT")
            || env.var("AZURE_USE_MANAGED_IDENTITY").as_deref() == Some("1")
        {
            CredentialKind::ManagedIdentity
        } else {
            CredentialKind::AzureCli
        }
    }

    fn build(
        &self,
        env: &dyn crate::resolve::Environment,
    ) -> azure_core::Result<Arc<dyn TokenCredential>> {
        Ok(match self {
            CredentialKind::ClientSecret { tenant, client } => {
                azure_identity::ClientSecretCredential::new(
                    tenant,
                    client.clone(),
                    env.var("AZURE_CLIENT_SECRET").unwrap_or_default().into(),
                    None,
                )?
            }
            CredentialKind::ClientCertificate {
                tenant,
                client,
                path,
            } => {
                let authority = env
                    .var("AZURE_AUTHORITY_HOST")
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| "https://login.microsoftonline.com".to_owned());
                let assertion = super::cert::CertificateAssertion::load(
                    std::path::Path::new(path),
                    &authority,
                    tenant,
                    client,
                )
                .map_err(|e| {
                    azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, e)
                })?;
                azure_identity::ClientAssertionCredential::new(
                    tenant.clone(),
                    client.clone(),
                    assertion,
                    None,
                )?
            }
            CredentialKind::WorkloadIdentity => {
                azure_identity::WorkloadIdentityCredential::new(None)?
            }
            CredentialKind::ManagedIdentity => {
                azure_identity::ManagedIdentityCredential::new(None)?
            }
            CredentialKind::AzureCli => azure_identity::AzureCliCredential::new(None)?,
        })
    }

    fn describe(&self) -> String {
        match self {
            CredentialKind::ClientSecret { client, .. } => format!("service principal {client}"),
            CredentialKind::ClientCertificate { client, path, .. } => {
                format!("service principal {client} with the certificate in {path}")
            }
            CredentialKind::WorkloadIdentity => "workload identity".to_owned(),
            CredentialKind::ManagedIdentity => "managed identity".to_owned(),
            CredentialKind::AzureCli => "the Azure CLI's sign-in (`az login`)".to_owned(),
        }
    }
}

/// An authenticated ARM client.
pub struct Arm {
    http: reqwest::Client,
    kind: CredentialKind,
    secret: Option<String>,
    /// `AZURE_AUTHORITY_HOST` (sovereign clouds, tests).
    authority: Option<String>,
    credential: tokio::sync::Mutex<Option<Arc<dyn TokenCredential>>>,
    /// `https://management.azure.com`, or a fake's address.
    pub endpoint: String,
}

/// A snapshot of the environment for building credentials later.
struct Vars {
    secret: Option<String>,
    authority: Option<String>,
}

impl crate::resolve::Environment for Vars {
    fn var(&self, name: &str) -> Option<String> {
        match name {
            "AZURE_CLIENT_SECRET" => self.secret.clone(),
            "AZURE_AUTHORITY_HOST" => self.authority.clone(),
            _ => None,
        }
    }
}

impl Arm {
    pub fn new(endpoint: Option<&str>, env: &dyn crate::resolve::Environment) -> Result<Arm> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| ProviderError::new(format!("could not make an HTTP client: {e}")))?;
        Ok(Arm {
            http,
            kind: CredentialKind::from_env(env),
            secret: env.var("AZURE_CLIENT_SECRET"),
            authority: env.var("AZURE_AUTHORITY_HOST"),
            credential: tokio::sync::Mutex::new(None),
            endpoint: endpoint
                .unwrap_or("https://management.azure.com")
                .trim_end_matches('/')
                .to_owned(),
        })
    }

    /// A token for ARM; `fresh` builds a new credential first (after a 401).
    async fn token(&self, fresh: bool) -> Result<String> {
        let mut slot = self.credential.lock().await;
        if fresh {
            *slot = None;
        }
        let credential = match &*slot {
            Some(c) => c.clone(),
            None => {
                let vars = Vars {
                    secret: self.secret.clone(),
                    authority: self.authority.clone(),
                };
                let c = self.kind.build(&vars).map_err(|e| {
                    ProviderError::new(format!(
                        "no Azure credentials ({}): {e}",
                        self.kind.describe()
                    ))
                })?;
                *slot = Some(c.clone());
                c
            }
        };
        // Held while the token is fetched: requests sent at once wait for
        // the first sign-in instead of each signing in (the credential
        // caches the token for the rest).
        let token = credential.get_token(&[SCOPE], None).await;
        drop(slot);
        let token = token.map_err(|e| {
            ProviderError::new(format!(
                "could not sign in to Azure as {}: {e}",
                self.kind.describe()
            ))
        })?;
        Ok(token.token.secret().to_owned())
    }

    /// The absolute URL of an ARM path (or a URL ARM handed back).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("https://") || path.starts_with("http://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.endpoint)
        }
    }

    /// Send one request with a token, retrying throttling and server errors.
    pub async fn send(
        &self,
        what: &str,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Answer> {
        let mut fresh = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.token(fresh).await?;
            let mut req = self.http.request(method.clone(), url).bearer_auth(&token);
            if let Some(b) = body {
                req = req.json(b);
            } else if matches!(method, reqwest::Method::POST | reqwest::Method::PUT) {
                req = req.header("content-length", "0");
            }
            let res = match req.send().await {
                Ok(r) => r,
                Err(e) if attempt < ATTEMPTS && (e.is_connect() || e.is_timeout()) => {
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(e) => return Err(ProviderError::new(format!("{what}: {e}"))),
            };
            let status = res.status().as_u16();
            let headers = res.headers().clone();
            let bytes = res
                .bytes()
                .await
                .map_err(|e| ProviderError::new(format!("{what}: {e}")))?;
            if status == 401 && !fresh {
                fresh = true;
                continue;
            }
            if (status == 429 || status >= 500) && attempt < ATTEMPTS {
                let wait = headers
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER))
                    .unwrap_or_else(|| backoff(attempt));
                tokio::time::sleep(wait).await;
                continue;
            }
            let body = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
            };
            return Ok(Answer {
                status,
                headers,
                body,
            });
        }
    }

    /// [`Arm::send`], then an error for anything but 2xx.
    pub async fn call(
        &self,
        what: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer> {
        let a = self.send(what, method, &self.url(path), body).await?;
        if (200..300).contains(&a.status) {
            Ok(a)
        } else {
            Err(error(what, &a))
        }
    }

    /// Wait for the operation `started` began (201/202 with
    /// `Azure-AsyncOperation` or `Location`); the final resource, if any.
    pub async fn wait(&self, what: &str, started: Answer) -> Result<Value> {
        let async_op = started.header("azure-asyncoperation").map(str::to_owned);
        let location = started.header("location").map(str::to_owned);
        if !matches!(started.status, 201 | 202) || (async_op.is_none() && location.is_none()) {
            return Ok(started.body);
        }
        let begun = Instant::now();
        let mut attempt = 0u32;
        let mut retry_after = retry_after(&started);
        loop {
            if begun.elapsed() > OPERATION_WAIT {
                return Err(ProviderError::new(format!(
                    "{what}: not done after {} s",
                    OPERATION_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(
                retry_after
                    .unwrap_or_else(|| Duration::from_millis((50u64 << attempt.min(6)).min(3000))),
            )
            .await;
            attempt += 1;
            if let Some(url) = &async_op {
                let a = self.send(what, reqwest::Method::GET, url, None).await?;
                if !(200..300).contains(&a.status) {
                    return Err(error(what, &a));
                }
                retry_after = self::retry_after(&a);
                match a.body["status"].as_str().unwrap_or("") {
                    "Succeeded" => {
                        // The resource as it is now, where ARM says.
                        return match &location {
                            Some(l) => {
                                let a = self.send(what, reqwest::Method::GET, l, None).await?;
                                Ok(a.body)
                            }
                            None => Ok(Value::Null),
                        };
                    }
                    "Failed" | "Canceled" => {
                        return Err(ProviderError {
                            message: format!(
                                "{what}: the operation {}: {} {}",
                                a.body["status"].as_str().unwrap_or("failed").to_lowercase(),
                                a.body["error"]["code"].as_str().unwrap_or(""),
                                a.body["error"]["message"].as_str().unwrap_or("")
                            ),
                            request_id: a.header("x-ms-request-id").map(str::to_owned),
                            retryable: false,
                        });
                    }
                    _ => continue,
                }
            }
            let url = location.as_deref().expect("one of the two");
            let a = self.send(what, reqwest::Method::GET, url, None).await?;
            match a.status {
                202 => retry_after = self::retry_after(&a),
                s if (200..300).contains(&s) => return Ok(a.body),
                _ => return Err(error(what, &a)),
            }
        }
    }
}

fn retry_after(a: &Answer) -> Option<Duration> {
    a.header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER))
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(6)).min(5000))
}

/// An ARM error answer as a provider error.
pub fn error(what: &str, a: &Answer) -> ProviderError {
    let code = a.body["error"]["code"].as_str().unwrap_or("");
    let message = a.body["error"]["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| match &a.body {
            Value::String(s) => s.chars().take(300).collect(),
            Value::Null => String::new(),
            other => other.to_string().chars().take(300).collect(),
        });
    ProviderError {
        message: format!("{what}: {} {code}: {message}", a.status)
            .trim_end_matches([' ', ':'])
            .to_owned(),
        request_id: a.header("x-ms-request-id").map(str::to_owned),
        retryable: a.status == 429 || a.status >= 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn credentials_are_picked_from_the_environment() {
        let env = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            CredentialKind::from_env(&env(&[
                ("AZURE_TENANT_ID", "t"),
                ("AZURE_CLIENT_ID", "c"),
                ("AZURE_CLIENT_SECRET", "s"),
            ])),
            CredentialKind::ClientSecret {
                tenant: "t".into(),
                client: "c".into()
            }
        );
        assert_eq!(
            CredentialKind::from_env(&env(&[("AZURE_FEDERATED_TOKEN_FILE", "/t")])),
            CredentialKind::WorkloadIdentity
        );
        assert_eq!(
            CredentialKind::from_env(&env(&[("IDENTITY_ENDPOINT", "http://x")])),
            CredentialKind::ManagedIdentity
        );
        assert_eq!(
            CredentialKind::from_env(&env(&[])),
            CredentialKind::AzureCli
        );
        // A secret without its tenant is not a service principal.
        assert_eq!(
            CredentialKind::from_env(&env(&[("AZURE_CLIENT_SECRET", "s")])),
            CredentialKind::AzureCli
        );
    }

    #[test]
    fn errors_name_arms_code_and_request_id() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-ms-request-id", "req-1".parse().unwrap());
        let e = error(
            "create site shop-prod",
            &Answer {
                status: 409,
                headers,
                body: serde_json::json!({"error": {"code": "Conflict", "message": "in use"}}),
            },
        );
        assert_eq!(e.message, "create site shop-prod: 409 Conflict: in use");
        assert_eq!(e.request_id.as_deref(), Some("req-1"));
        assert!(!e.retryable);
    }
}
