//! Functions, versions and release aliases; the execution role; artifacts.
//!
//! Real Lambda is eventually consistent in ways moto is not, and every
//! path here handles it: a function is `Pending` after creation and
//! `InProgress` after an update (the next update waits for `Successful`),
//! an update racing another gets `ResourceConflictException` (wait, try
//! again), and a role just created cannot be assumed for some seconds
//! ("The role defined for the function cannot be assumed by Lambda": retry
//! for a bounded time).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_lambda::types::{
    Environment, FunctionCode, LastUpdateStatus, Runtime as LambdaRuntime, State,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use base64::Engine as _;

use super::{AwsProvider, Base, fail, not_found};
use crate::manifest::{HandlerStyle, Language};
use crate::provider::{ProviderError, PublishSpec, Result};
use crate::resolve::{EnvValue, Function};

/// The longest nubo waits for a function to leave `Pending`/`InProgress`.
const READY_WAIT: Duration = Duration::from_secs(300);
/// The longest nubo retries a role Lambda cannot assume yet.
const ROLE_WAIT: Duration = Duration::from_secs(90);

/// `CodeSha256` as Lambda reports it: base64 of the zip's SHA-256.
pub fn code_sha256(hex_sha: &str) -> String {
    let bytes: Vec<u8> = (0..hex_sha.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex_sha[2 * i..2 * i + 2], 16).ok())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Backoff for polling: 50 ms doubling to 2 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((50u64 << attempt.min(6)).min(2000))
}

/// Whether a function can take an update now: not `Pending`, not
/// `InProgress`, not failed (those go through [`AwsProvider::wait_ready`],
/// which waits or says why).
fn settled(state: Option<&State>, update: Option<&LastUpdateStatus>) -> bool {
    !matches!(state, Some(State::Pending | State::Failed))
        && !matches!(
            update,
            Some(LastUpdateStatus::InProgress | LastUpdateStatus::Failed)
        )
}

/// A function's configuration as nubo sets it.
#[derive(Debug, Clone, PartialEq)]
struct Config {
    runtime: String,
    handler: String,
    memory: i32,
    timeout: i32,
    role: String,
    env: HashMap<String, String>,
}

impl AwsProvider {
    /// The artifact bucket and the execution role, created when absent.
    pub(super) async fn ensure_base_async(&self) -> Result<()> {
        let base = self.base().await?;
        let (bucket, role, gateway, triggers) = tokio::join!(
            self.ensure_s3_bucket(&base.bucket),
            self.ensure_role(base),
            self.ensure_gateway_role(base),
            self.ensure_triggers(base)
        );
        bucket.map(|_| ())?;
        role?;
        gateway?;
        triggers
    }

    /// The role's policy: its own log groups, `lambda:InvokeFunction` on
    /// exactly the functions some `calls:` names, nothing else.
    fn role_policy(&self, base: &Base) -> String {
        let mut callees: Vec<&str> = self
            .service
            .functions
            .values()
            .flat_map(|f| f.calls.iter().map(String::as_str))
            .collect();
        callees.sort_unstable();
        callees.dedup();
        let mut statements = vec![serde_json::json!({
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [format!(
                "arn:aws:logs:{}:{}:log-group:/aws/lambda/{}*",
                self.conn.region, base.account, self.names.prefix()
            )],
        })];
        if !callees.is_empty() {
            let arns: Vec<String> = callees
                .iter()
                .map(|c| format!("{}:*", self.function_arn(base, c)))
                .collect();
            statements.push(serde_json::json!({
                "Sid": "Calls",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": arns,
            }));
        }
        statements.extend(self.trigger_statements(base));
        serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
    }

    /// The functions' execution role.
    async fn ensure_role(&self, base: &Base) -> Result<()> {
        self.ensure_role_with(
            &self.names.role(),
            "lambda.amazonaws.com",
            self.role_policy(base),
        )
        .await
    }

    /// The role API Gateway invokes the entry functions' aliases with:
    /// `lambda:InvokeFunction` on exactly those functions, any release.
    async fn ensure_gateway_role(&self, base: &Base) -> Result<()> {
        let arns: Vec<String> = self
            .service
            .functions
            .values()
            .filter(|f| {
                f.events
                    .iter()
                    .any(|e| matches!(e, crate::manifest::Event::Http(_)))
            })
            .map(|f| format!("{}:*", self.function_arn(base, &f.name)))
            .collect();
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "Entries",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": arns,
            }],
        })
        .to_string();
        self.ensure_role_with(
            &self.names.gateway_role(),
            "apigateway.amazonaws.com",
            policy,
        )
        .await
    }

    /// One read when nothing changed: the role's policy (a missing role
    /// answers `NoSuchEntity` too); the role and policy are written only
    /// when absent or different.
    async fn ensure_role_with(&self, role: &str, principal: &str, policy: String) -> Result<()> {
        let iam = &self.clients.iam;
        let current = iam
            .get_role_policy()
            .role_name(role)
            .policy_name("nubo")
            .send()
            .await;
        match &current {
            Ok(p) => {
                let doc = urlencoding_decode(p.policy_document());
                if serde_json::from_str::<serde_json::Value>(&doc).ok()
                    == serde_json::from_str::<serde_json::Value>(&policy).ok()
                {
                    return Ok(());
                }
            }
            Err(e) if not_found(e) => self.create_role(role, principal).await?,
            Err(e) => return Err(fail(format!("iam:GetRolePolicy {role}"), e)),
        }
        iam.put_role_policy()
            .role_name(role)
            .policy_name("nubo")
            .policy_document(policy)
            .send()
            .await
            .map_err(|e| fail(format!("iam:PutRolePolicy {role}"), &e))?;
        Ok(())
    }

    /// A role `principal` may assume; an existing one is kept.
    async fn create_role(&self, role: &str, principal: &str) -> Result<()> {
        let trust = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": principal},
                "Action": "sts:AssumeRole",
            }],
        });
        let mut req = self
            .clients
            .iam
            .create_role()
            .role_name(role)
            .assume_role_policy_document(trust.to_string())
            .description(format!("nubo: assumed by {principal} for a service"));
        for (k, v) in self.names.tags() {
            req = req.tags(
                aws_sdk_iam::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(|e| ProviderError::new(e.to_string()))?,
            );
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.code(), Some("EntityAlreadyExists")) => Ok(()),
            Err(e) => Err(fail(format!("iam:CreateRole {role}"), &e)),
        }
    }

    /// Send an artifact unless the bucket holds its key already.
    pub(super) async fn upload_async(&self, a: &crate::provider::ArtifactRef) -> Result<bool> {
        let base = self.base().await?;
        let key = self.names.artifact_key(&a.sha256);
        let s3 = &self.clients.s3;
        if self.stored_artifacts(base).await?.contains(&key) {
            return Ok(false);
        }
        let body = aws_sdk_s3::primitives::ByteStream::from_path(&a.path)
            .await
            .map_err(|e| ProviderError::new(format!("could not read {}: {e}", a.path.display())))?;
        let digest = base64::engine::general_purpose::STANDARD.encode(
            (0..a.sha256.len() / 2)
                .filter_map(|i| u8::from_str_radix(&a.sha256[2 * i..2 * i + 2], 16).ok())
                .collect::<Vec<u8>>(),
        );
        s3.put_object()
            .bucket(&base.bucket)
            .key(&key)
            .body(body)
            .checksum_sha256(digest)
            .send()
            .await
            .map_err(|e| fail(format!("s3:PutObject {key}"), &e))?;
        Ok(true)
    }

    /// The target's artifact keys in the bucket: one listing of its prefix.
    pub(super) async fn stored_artifacts(
        &self,
        base: &Base,
    ) -> Result<&std::collections::HashSet<String>> {
        self.artifacts
            .get_or_try_init(|| async {
                let prefix = format!("{}/", self.names.artifact_prefix());
                let keys = super::list_keys(&self.clients.s3, &base.bucket, &prefix).await?;
                Ok(keys.into_iter().flatten().collect())
            })
            .await
    }

    /// The environment a version runs with: the manifest's, `${release}`
    /// filled in, secrets read from SSM Parameter Store, and what the shim
    /// needs.
    async fn environment(
        &self,
        base: &Base,
        f: &Function,
        release: &str,
    ) -> Result<HashMap<String, String>> {
        let mut env = HashMap::new();
        for (k, v) in &f.env {
            let value = match v {
                EnvValue::Text(t) => t.clone(),
                EnvValue::PerRelease(parts) => crate::resolve::vars::render(parts, release),
                EnvValue::Secret(name) => self.secret(name).await?,
            };
            env.insert(k.clone(), value);
        }
        if f.handler_style == HandlerStyle::Neutral && f.runtime.language() != Language::Binary {
            env.insert(
                "NUBO_HANDLER".to_owned(),
                format!("{}.{}", f.handler_file, f.handler_export),
            );
            env.insert("NUBO_FUNCTION".to_owned(), f.name.clone());
            env.insert("NUBO_PREFIX".to_owned(), self.names.prefix());
            env.insert("NUBO_CALLS".to_owned(), f.calls.join(","));
            env.extend(self.trigger_env(base, &f.name));
        }
        Ok(env)
    }

    async fn secret(&self, name: &str) -> Result<String> {
        let parameter = self.names.secret_parameter(name);
        match self
            .clients
            .ssm
            .get_parameter()
            .name(&parameter)
            .with_decryption(true)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .parameter()
                .and_then(|p| p.value())
                .unwrap_or_default()
                .to_owned()),
            Err(e) if not_found(&e) => Err(ProviderError {
                message: format!(
                    "secret `{name}` is not set: no SSM parameter `{parameter}` (create it with \
                     `aws ssm put-parameter --type SecureString --name {parameter} --value ...`)"
                ),
                request_id: aws_types::request_id::RequestId::request_id(&e).map(str::to_owned),
                retryable: false,
            }),
            Err(e) => Err(fail(format!("ssm:GetParameter {parameter}"), &e)),
        }
    }

    async fn config(&self, base: &Base, f: &Function, release: &str) -> Result<Config> {
        let spec = crate::provider::spec::get(crate::manifest::ProviderKind::Aws);
        let runtime = spec
            .runtimes
            .get(&f.runtime)
            .cloned()
            .unwrap_or_else(|| f.runtime.as_str().to_owned());
        let handler = match (f.handler_style, f.runtime.language()) {
            (HandlerStyle::Neutral, Language::Node) => "nubo_aws.handler".to_owned(),
            (HandlerStyle::Neutral, Language::Python) => "nubo_aws.handler".to_owned(),
            _ => format!("{}.{}", f.handler_file, f.handler_export),
        };
        Ok(Config {
            runtime,
            handler,
            memory: f.memory as i32,
            timeout: f.timeout.0.as_secs().max(1) as i32,
            role: base.role_arn.clone(),
            env: self.environment(base, f, release).await?,
        })
    }

    /// Wait until the function can take an update: `State` is not
    /// `Pending` and `LastUpdateStatus` is not `InProgress`.
    async fn wait_ready(
        &self,
        name: &str,
    ) -> Result<aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput>
    {
        let start = Instant::now();
        let mut attempt = 0;
        loop {
            let c = self
                .clients
                .lambda
                .get_function_configuration()
                .function_name(name)
                .send()
                .await
                .map_err(|e| fail(format!("lambda:GetFunctionConfiguration {name}"), &e))?;
            let pending = matches!(c.state(), Some(State::Pending))
                || matches!(c.last_update_status(), Some(LastUpdateStatus::InProgress));
            if let Some(LastUpdateStatus::Failed) = c.last_update_status() {
                return Err(ProviderError::new(format!(
                    "function {name}: the last update failed: {}",
                    c.last_update_status_reason().unwrap_or("no reason given")
                )));
            }
            if matches!(c.state(), Some(State::Failed)) {
                return Err(ProviderError::new(format!(
                    "function {name} is in state Failed: {}",
                    c.state_reason().unwrap_or("no reason given")
                )));
            }
            if !pending {
                return Ok(c);
            }
            if start.elapsed() > READY_WAIT {
                return Err(ProviderError::new(format!(
                    "function {name} is still updating after {}s",
                    READY_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(backoff(attempt)).await;
            attempt += 1;
        }
    }

    /// Publish an immutable version of one function for `spec.release`.
    pub(super) async fn publish_async(&self, spec: &PublishSpec<'_>) -> Result<String> {
        let base = self.base().await?;
        let f = spec.function;
        let name = self.names.function(&f.name);
        let key = self.names.artifact_key(&spec.artifact.sha256);
        let want = self.config(base, f, spec.release).await?;
        let sha = code_sha256(&spec.artifact.sha256);
        let description = format!(
            "nubo {} {}",
            spec.release,
            &spec.unit[..12.min(spec.unit.len())]
        );

        let lambda = &self.clients.lambda;
        // A function new to nubo is created without a look first; one that
        // exists after all (an interrupted run made it) answers with a
        // conflict and is updated below.
        let current = if spec.previous.is_none() {
            None
        } else {
            match lambda
                .get_function_configuration()
                .function_name(&name)
                .send()
                .await
            {
                Ok(c) => Some(c),
                Err(e) if not_found(&e) => None,
                Err(e) => {
                    return Err(fail(format!("lambda:GetFunctionConfiguration {name}"), &e));
                }
            }
        };
        if current.is_none() {
            let created = Self::retry_role(|| {
                let mut req = lambda
                    .create_function()
                    .function_name(&name)
                    .runtime(LambdaRuntime::from(want.runtime.as_str()))
                    .role(&want.role)
                    .handler(&want.handler)
                    .memory_size(want.memory)
                    .timeout(want.timeout)
                    .environment(
                        Environment::builder()
                            .set_variables(Some(want.env.clone()))
                            .build(),
                    )
                    .code(
                        FunctionCode::builder()
                            .s3_bucket(&base.bucket)
                            .s3_key(&key)
                            .build(),
                    )
                    .description(&description)
                    .publish(true);
                for (k, v) in self.names.tags() {
                    req = req.tags(k, v);
                }
                req.send()
            })
            .await;
            match created {
                Ok(out) => {
                    if let Some(v) = out.version().filter(|v| *v != "$LATEST") {
                        return Ok(v.to_owned());
                    }
                    // Published without a number in the answer: publish again (idempotent).
                }
                Err(e) if matches!(e.code(), Some("ResourceConflictException")) => {
                    // Created by an earlier, interrupted run: update it below.
                }
                Err(e) => return Err(fail(format!("lambda:CreateFunction {name}"), &e)),
            }
        }

        // The first read serves unless the function is busy or failed.
        let now = match current {
            Some(c) if settled(c.state(), c.last_update_status()) => c,
            _ => self.wait_ready(&name).await?,
        };
        if now.code_sha256() != Some(sha.as_str()) {
            let out = self
                .conflicting(&name, || {
                    lambda
                        .update_function_code()
                        .function_name(&name)
                        .s3_bucket(&base.bucket)
                        .s3_key(&key)
                        .send()
                })
                .await
                .map_err(|e| fail(format!("lambda:UpdateFunctionCode {name}"), &e))?;
            if !settled(out.state(), out.last_update_status()) {
                self.wait_ready(&name).await?;
            }
        }
        let have = Config {
            runtime: now
                .runtime()
                .map(|r| r.as_str().to_owned())
                .unwrap_or_default(),
            handler: now.handler().unwrap_or_default().to_owned(),
            memory: now.memory_size().unwrap_or_default(),
            timeout: now.timeout().unwrap_or_default(),
            role: now.role().unwrap_or_default().to_owned(),
            env: now
                .environment()
                .and_then(|e| e.variables())
                .cloned()
                .unwrap_or_default(),
        };
        if have != want {
            let out = Self::retry_role(|| {
                self.conflicting(&name, || {
                    lambda
                        .update_function_configuration()
                        .function_name(&name)
                        .runtime(LambdaRuntime::from(want.runtime.as_str()))
                        .role(&want.role)
                        .handler(&want.handler)
                        .memory_size(want.memory)
                        .timeout(want.timeout)
                        .environment(
                            Environment::builder()
                                .set_variables(Some(want.env.clone()))
                                .build(),
                        )
                        .send()
                })
            })
            .await
            .map_err(|e| fail(format!("lambda:UpdateFunctionConfiguration {name}"), &e))?;
            if !settled(out.state(), out.last_update_status()) {
                self.wait_ready(&name).await?;
            }
        }
        let published = self
            .conflicting(&name, || {
                lambda
                    .publish_version()
                    .function_name(&name)
                    .code_sha256(&sha)
                    .description(&description)
                    .send()
            })
            .await
            .map_err(|e| fail(format!("lambda:PublishVersion {name}"), &e))?;
        published.version().map(str::to_owned).ok_or_else(|| {
            ProviderError::new(format!(
                "lambda:PublishVersion {name}: no version in the answer"
            ))
        })
    }

    /// Repeat `call` while Lambda says another update is in progress,
    /// waiting for the function to settle between tries.
    async fn conflicting<T, E, F, Fut>(&self, name: &str, call: F) -> super::Sdk<T, E>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = super::Sdk<T, E>>,
        E: ProvideErrorMetadata,
    {
        super::retry_while(
            READY_WAIT,
            |e| matches!(e.code(), Some("ResourceConflictException")),
            |attempt| async move {
                let _ = self.wait_ready(name).await;
                tokio::time::sleep(backoff(attempt)).await;
            },
            call,
        )
        .await
    }

    /// Repeat `call` while Lambda cannot assume a role that was just created.
    async fn retry_role<T, E, F, Fut>(call: F) -> super::Sdk<T, E>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = super::Sdk<T, E>>,
        E: ProvideErrorMetadata,
    {
        super::retry_while(
            ROLE_WAIT,
            |e| {
                matches!(e.code(), Some("InvalidParameterValueException"))
                    && e.message().is_some_and(|m| m.contains("cannot be assumed"))
            },
            |attempt| tokio::time::sleep(backoff(attempt + 4)),
            call,
        )
        .await
    }

    /// Point the release alias of `function` at `version`.
    pub(super) async fn alias(&self, function: &str, release: &str, version: &str) -> Result<()> {
        let name = self.names.function(function);
        let lambda = &self.clients.lambda;
        // The version was just published: it may not be visible yet.
        let created = super::after_write(|| {
            lambda
                .create_alias()
                .function_name(&name)
                .name(release)
                .function_version(version)
                .description("nubo release")
                .send()
        })
        .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.code(), Some("ResourceConflictException")) => {
                let a = lambda
                    .get_alias()
                    .function_name(&name)
                    .name(release)
                    .send()
                    .await
                    .map_err(|e| fail(format!("lambda:GetAlias {name}:{release}"), &e))?;
                if a.function_version() != Some(version) {
                    lambda
                        .update_alias()
                        .function_name(&name)
                        .name(release)
                        .function_version(version)
                        .send()
                        .await
                        .map_err(|e| fail(format!("lambda:UpdateAlias {name}:{release}"), &e))?;
                }
                Ok(())
            }
            Err(e) => Err(fail(format!("lambda:CreateAlias {name}:{release}"), &e)),
        }
    }

    /// Let `principal` (API Gateway, EventBridge, S3) invoke the release alias.
    pub(super) async fn permit(
        &self,
        function: &str,
        release: &str,
        sid: &str,
        principal: &str,
        source_arn: &str,
    ) -> Result<()> {
        let name = self.names.function(function);
        match self
            .clients
            .lambda
            .add_permission()
            .function_name(&name)
            .qualifier(release)
            .statement_id(sid)
            .action("lambda:InvokeFunction")
            .principal(principal)
            .source_arn(source_arn)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // The statement exists: an earlier run added it.
            Err(e) if matches!(e.code(), Some("ResourceConflictException")) => Ok(()),
            Err(e) => Err(fail(format!("lambda:AddPermission {name}:{release}"), &e)),
        }
    }

    /// Invoke the release alias of `function`; the raw answer and whether
    /// the function failed.
    pub(super) async fn invoke_alias(
        &self,
        function: &str,
        release: &str,
        payload: &serde_json::Value,
    ) -> Result<(String, Option<String>)> {
        let name = self.names.function(function);
        let out = self
            .clients
            .lambda
            .invoke()
            .function_name(&name)
            .qualifier(release)
            .payload(aws_smithy_types::Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(|e| fail(format!("lambda:Invoke {name}:{release}"), &e))?;
        let body = out
            .payload()
            .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
            .unwrap_or_default();
        Ok((body, out.function_error().map(str::to_owned)))
    }

    /// Remove the release alias of `function` and the versions in `drop`.
    pub(super) async fn retire_function(
        &self,
        function: &str,
        release: &str,
        drop: &[String],
    ) -> Result<()> {
        let name = self.names.function(function);
        let lambda = &self.clients.lambda;
        match lambda
            .delete_alias()
            .function_name(&name)
            .name(release)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(fail(format!("lambda:DeleteAlias {name}:{release}"), &e)),
        }
        for version in drop {
            match lambda
                .delete_function()
                .function_name(&name)
                .qualifier(version)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if not_found(&e) => {}
                Err(e) => {
                    return Err(fail(format!("lambda:DeleteFunction {name}:{version}"), &e));
                }
            }
        }
        Ok(())
    }

    /// The functions of this target: those named with its prefix and tagged
    /// with its service and target.
    pub(super) async fn own_functions(&self) -> Result<Vec<String>> {
        let lambda = &self.clients.lambda;
        let mut names = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = lambda
                .list_functions()
                .set_marker(marker.clone())
                .max_items(50)
                .send()
                .await
                .map_err(|e| fail("lambda:ListFunctions", &e))?;
            for f in page.functions() {
                if let (Some(n), Some(arn)) = (f.function_name(), f.function_arn())
                    && self.names.logical(n).is_some()
                {
                    names.push((n.to_owned(), arn.to_owned()));
                }
            }
            marker = page.next_marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        let mut own = Vec::new();
        for (name, arn) in names {
            let tags = lambda
                .list_tags()
                .resource(&arn)
                .send()
                .await
                .map_err(|e| fail(format!("lambda:ListTags {name}"), &e))?;
            let tags = tags.tags().cloned().unwrap_or_default();
            if self
                .names
                .tags()
                .iter()
                .all(|(k, v)| tags.get(*k) == Some(v))
            {
                own.push(name);
            }
        }
        Ok(own)
    }
}

/// IAM returns policy documents URL-encoded.
fn urlencoding_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_sha256_is_base64_of_the_digest() {
        // sha256("") in hex and base64.
        assert_eq!(
            code_sha256("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn policy_documents_are_decoded() {
        assert_eq!(urlencoding_decode("%7B%22a%22%3A1%7D"), "{\"a\":1}");
        assert_eq!(urlencoding_decode("{}"), "{}");
    }
}
