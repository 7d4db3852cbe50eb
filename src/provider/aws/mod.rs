//! The AWS backend: Lambda versions and per-release aliases behind one API
//! Gateway REST API, by direct API calls (no CloudFormation).
//!
//! Lowering, per target (`{service}-{target}` is the prefix of every name):
//! - one execution role per service, least privilege (its own log groups,
//!   `lambda:InvokeFunction` on exactly the functions some `calls:` names);
//! - an artifact bucket per account and region, content-addressed keys
//!   (`{service}-{target}/{sha256}.zip`): an artifact already there is not
//!   sent again;
//! - each function created or updated from its artifact, then published:
//!   versions are immutable;
//! - a per-release alias (`r7`) on every function, and one REST API whose
//!   integrations call `function:<name>:${stageVariables.release}`; each
//!   release gets its own API deployment (a snapshot of its routes);
//! - the stage `live`: `variables.release` and `deploymentId` are the entry
//!   pointer. A switch or a rollback is one `UpdateStage`, so every route
//!   of the target flips at once; a canary is the stage's `canarySettings`
//!   with `stageVariableOverrides.release`.
//!
//! The Provider trait is synchronous (the engine runs it from its own
//! threads); each call runs the async SDK on a runtime this backend owns.

mod api;
mod lambda;
pub mod logs;
pub mod names;
pub mod s3state;
mod triggers;

use std::sync::OnceLock;
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::request_id::RequestId;

use super::{
    ArtifactRef, Invocation, Provider, ProviderError, PublishSpec, Result, Route, StagedRelease,
    VersionRef,
};
use crate::resolve::{Environment, Resolved};

/// The API Gateway stage that serves the target.
pub const STAGE: &str = "live";
/// Tags on everything nubo creates, so `nubo remove` finds exactly that.
pub const TAG_SERVICE: &str = "nubo:service";
pub const TAG_TARGET: &str = "nubo:target";

/// The SDK clients of one target, sharing one configuration.
#[derive(Clone)]
pub struct Clients {
    pub lambda: aws_sdk_lambda::Client,
    pub apigw: aws_sdk_apigateway::Client,
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    pub sts: aws_sdk_sts::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

/// Where and how to reach AWS.
#[derive(Debug, Clone)]
pub struct Connection {
    pub region: String,
    pub profile: Option<String>,
    pub endpoint: Option<String>,
}

impl Connection {
    pub fn of(resolved: &Resolved, env: &dyn Environment) -> Connection {
        Connection {
            region: resolved
                .settings
                .region
                .clone()
                .unwrap_or_else(|| "us-east-1".to_owned()),
            profile: resolved.settings.profile.clone(),
            endpoint: resolved
                .settings
                .endpoint
                .clone()
                .or_else(|| env.var("AWS_ENDPOINT_URL")),
        }
    }
}

/// A runtime for the SDK's futures, shared by every AWS client in the process.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("nubo-aws")
            .enable_all()
            .build()
            .expect("a tokio runtime can be built")
    })
}

impl Clients {
    /// Clients with the standard credential and region chain (env, profile,
    /// SSO, IMDS), throttling and 5xx retried with jittered exponential
    /// backoff by the SDK itself.
    pub async fn connect(c: &Connection) -> Clients {
        use aws_config::retry::RetryConfig;
        use aws_config::timeout::TimeoutConfig;
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(c.region.clone()))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(8)
                    .with_initial_backoff(Duration::from_millis(100))
                    .with_max_backoff(Duration::from_secs(8)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    // Long enough for a 250 MB artifact on a slow uplink.
                    .operation_attempt_timeout(Duration::from_secs(600))
                    .build(),
            );
        if let Some(p) = &c.profile {
            loader = loader.profile_name(p);
        }
        if let Some(e) = &c.endpoint {
            loader = loader.endpoint_url(e);
        }
        let config = loader.load().await;
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(c.endpoint.is_some())
            .build();
        Clients {
            lambda: aws_sdk_lambda::Client::new(&config),
            apigw: aws_sdk_apigateway::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(s3),
            sts: aws_sdk_sts::Client::new(&config),
            ssm: aws_sdk_ssm::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            events: aws_sdk_eventbridge::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
        }
    }
}

/// An SDK error as a provider error: the operation and resource, AWS's
/// error code and message, and the request id.
pub fn fail<E>(what: impl std::fmt::Display, e: &SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_owned(),
        _ => match e {
            SdkError::DispatchFailure(d) => format!("could not reach AWS: {d:?}"),
            SdkError::TimeoutError(_) => "timed out".to_owned(),
            other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
        },
    };
    ProviderError {
        message: format!("{what}: {detail}"),
        request_id: e.request_id().map(str::to_owned),
        retryable: is_throttle(e.code()),
    }
}

fn is_throttle(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "TooManyRequestsException"
                | "ThrottlingException"
                | "Throttling"
                | "ThrottledException"
                | "RequestLimitExceeded"
                | "SlowDown"
        )
    )
}

/// Whether an SDK error is the service saying "no such thing".
pub fn not_found<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    matches!(
        e.code(),
        Some(
            "ResourceNotFoundException"
                | "NotFoundException"
                | "NoSuchEntity"
                | "NoSuchKey"
                | "NoSuchBucket"
                | "NotFound"
                | "ParameterNotFound"
                | "AWS.SimpleQueueService.NonExistentQueue"
        )
    ) || matches!(e, SdkError::ServiceError(s) if s.raw().status().as_u16() == 404)
}

/// How long a call that names something just created keeps answering "not
/// found" before nubo believes it.
const CONSISTENCY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// What an SDK call returns.
pub(super) type Sdk<T, E> = std::result::Result<T, SdkError<E, HttpResponse>>;

/// Repeat `call` while `again` says its error is a passing state of the
/// service, for at most `limit`, running `pause(attempt)` between tries
/// (a sleep, or a wait for the thing to settle). The last answer is returned.
pub(super) async fn retry_while<T, E, F, Fut, P, PFut>(
    limit: Duration,
    again: impl Fn(&SdkError<E, HttpResponse>) -> bool,
    pause: P,
    call: F,
) -> Sdk<T, E>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Sdk<T, E>>,
    P: Fn(u32) -> PFut,
    PFut: std::future::Future<Output = ()>,
{
    let start = std::time::Instant::now();
    let mut attempt = 0u32;
    loop {
        match call().await {
            Err(e) if again(&e) && start.elapsed() < limit => {
                pause(attempt).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Repeat `call` while the service says "not found" about something this
/// run (or an interrupted one) just created: AWS control planes are
/// eventually consistent, so a new version, deployment or rule can be
/// invisible to the next call for a moment.
pub(super) async fn after_write<T, E, F, Fut>(call: F) -> Sdk<T, E>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Sdk<T, E>>,
    E: ProvideErrorMetadata,
{
    retry_while(
        CONSISTENCY_WAIT,
        not_found,
        |attempt| tokio::time::sleep(Duration::from_millis((50u64 << attempt.min(5)).min(1000))),
        call,
    )
    .await
}

/// The keys under `prefix` in `bucket`, every page; `None` when the bucket
/// does not exist.
pub(crate) async fn list_keys(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Option<Vec<String>>> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = match s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.clone())
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(fail(format!("s3:ListObjectsV2 s3://{bucket}/{prefix}"), &e)),
        };
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return Ok(Some(keys));
        }
    }
}

/// What `open` learns once: the account, and the names derived from it.
#[derive(Debug, Clone)]
struct Base {
    account: String,
    bucket: String,
    role_arn: String,
    /// The role API Gateway invokes the entry functions with.
    gateway_role_arn: String,
}

pub struct AwsProvider {
    clients: Clients,
    conn: Connection,
    service: Resolved,
    names: names::Names,
    base: tokio::sync::OnceCell<Base>,
    /// `GetCallerIdentity`, started when the backend opens, so the account
    /// is known by the time a deploy needs it (off the critical path).
    identity: std::sync::Mutex<Option<tokio::task::JoinHandle<Result<String>>>>,
    /// The keys of the target's artifacts already in the bucket (one
    /// listing per run instead of a `HeadObject` per artifact).
    artifacts: tokio::sync::OnceCell<std::collections::HashSet<String>>,
    /// The REST API's id once known (only found ids are kept).
    api_id: std::sync::Mutex<Option<String>>,
    /// The stage as last read or written by this process: whether it
    /// exists and has a canary (saves a read before `UpdateStage`).
    /// `None`: not read yet; `Some(None)`: no stage; `Some(Some(c))`: a
    /// stage, with a canary when `c`.
    stage_seen: std::sync::Mutex<Option<Option<bool>>>,
    /// Release → API deployment id, as found or made by this process.
    deployments: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl AwsProvider {
    pub fn open(resolved: &Resolved, env: &dyn Environment) -> Result<AwsProvider> {
        if !resolved.functions.values().any(|f| {
            f.events
                .iter()
                .any(|e| matches!(e, crate::manifest::Event::Http(_)))
        }) {
            return Err(ProviderError::new(format!(
                "`{}` has no HTTP route: on AWS the live release is the API Gateway stage's, and \
                 a service without one is not available yet in nubo {}",
                resolved.service,
                env!("CARGO_PKG_VERSION")
            )));
        }
        let conn = Connection::of(resolved, env);
        let clients = runtime().block_on(Clients::connect(&conn));
        let sts = clients.sts.clone();
        let identity = runtime().spawn(async move {
            let me = sts
                .get_caller_identity()
                .send()
                .await
                .map_err(|e| fail("sts:GetCallerIdentity (who are these credentials?)", &e))?;
            Ok(me.account().unwrap_or_default().to_owned())
        });
        Ok(AwsProvider {
            clients,
            names: names::Names::new(&resolved.service, &resolved.target),
            conn,
            service: resolved.clone(),
            base: tokio::sync::OnceCell::new(),
            identity: std::sync::Mutex::new(Some(identity)),
            artifacts: tokio::sync::OnceCell::new(),
            api_id: std::sync::Mutex::new(None),
            stage_seen: std::sync::Mutex::new(None),
            deployments: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    fn block<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        runtime().block_on(f)
    }

    /// The account id (one `GetCallerIdentity`), and the names that need it.
    async fn base(&self) -> Result<&Base> {
        self.base
            .get_or_try_init(|| async {
                let task = self
                    .identity
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                let account = match task {
                    Some(task) => task
                        .await
                        .map_err(|e| ProviderError::new(format!("sts:GetCallerIdentity: {e}")))??,
                    None => self
                        .clients
                        .sts
                        .get_caller_identity()
                        .send()
                        .await
                        .map_err(|e| {
                            fail("sts:GetCallerIdentity (who are these credentials?)", &e)
                        })?
                        .account()
                        .unwrap_or_default()
                        .to_owned(),
                };
                Ok::<_, ProviderError>(Base {
                    bucket: self.names.artifact_bucket(&account, &self.conn.region),
                    role_arn: format!("arn:aws:iam::{account}:role/{}", self.names.role()),
                    gateway_role_arn: format!(
                        "arn:aws:iam::{account}:role/{}",
                        self.names.gateway_role()
                    ),
                    account,
                })
            })
            .await
    }

    fn has_http(&self) -> bool {
        self.service.functions.values().any(|f| {
            f.events
                .iter()
                .any(|e| matches!(e, crate::manifest::Event::Http(_)))
        })
    }

    /// The REST API's id, when it exists.
    async fn api(&self) -> Result<Option<String>> {
        if let Some(id) = self
            .api_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(Some(id));
        }
        let found = api::find(&self.clients, &self.names).await?;
        if let Some(id) = &found {
            *self.api_id.lock().unwrap_or_else(|e| e.into_inner()) = Some(id.clone());
        }
        Ok(found)
    }

    fn function_arn(&self, base: &Base, function: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.conn.region,
            base.account,
            self.names.function(function)
        )
    }

    /// Run `work` on each item with at most `limit` in flight; first error wins.
    async fn each<T, F, Fut>(
        items: impl IntoIterator<Item = T>,
        limit: usize,
        work: F,
    ) -> Result<()>
    where
        F: Fn(T) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        use futures_util::stream::{self, TryStreamExt};
        stream::iter(items.into_iter().map(Ok::<T, ProviderError>))
            .try_for_each_concurrent(limit, work)
            .await
    }
}

impl Provider for AwsProvider {
    fn ensure_base(&self, _service: &Resolved) -> Result<()> {
        self.block(async {
            let (base, api) = tokio::join!(self.ensure_base_async(), async {
                if self.has_http() {
                    self.ensure_api().await.map(|_| ())
                } else {
                    Ok(())
                }
            });
            base?;
            api
        })
    }

    fn upload(&self, artifact: &ArtifactRef) -> Result<bool> {
        self.block(self.upload_async(artifact))
    }

    fn publish(&self, spec: &PublishSpec<'_>) -> Result<VersionRef> {
        self.block(self.publish_async(spec))
    }

    fn stage(&self, release: &StagedRelease) -> Result<()> {
        self.block(async {
            let base = self.base().await?;
            // The aliases; beside them, the release's routes and API
            // deployment (integrations name the alias through the stage
            // variable and invoke it with the gateway's role, so they need
            // neither an alias nor a per-alias permission first).
            let aliases = Self::each(release.versions.iter(), 16, |(function, version)| {
                self.alias(function, &release.id, version)
            });
            let (aliases, deployment) = tokio::join!(aliases, self.stage_routes(base, &release.id));
            aliases?;
            deployment?;
            self.permit_triggers(base, &release.id).await
        })
    }

    fn invoke(
        &self,
        release: &str,
        function: &str,
        event: &serde_json::Value,
    ) -> Result<Invocation> {
        let f = self.service.functions.get(function).ok_or_else(|| {
            ProviderError::new(format!("no function `{function}` in this service"))
        })?;
        let http = f
            .events
            .iter()
            .any(|e| matches!(e, crate::manifest::Event::Http(_)));
        // An HTTP function gets what API Gateway would send it.
        let payload = if http {
            crate::provider::local::gateway::check_event(
                crate::manifest::HandlerStyle::Native,
                event,
                &f.events,
                release,
            )
        } else {
            event.clone()
        };
        let (body, error) = self.block(self.invoke_alias(function, release, &payload))?;
        if let Some(kind) = error {
            return Ok(Invocation {
                status: 500,
                body: format!("{kind}: {body}"),
            });
        }
        if http {
            return Ok(
                match crate::provider::local::gateway::response(
                    crate::manifest::HandlerStyle::Native,
                    &body,
                ) {
                    Ok(r) => Invocation {
                        status: r.status,
                        body: String::from_utf8_lossy(&r.body).into_owned(),
                    },
                    Err(why) => Invocation {
                        status: 502,
                        body: format!("not an API Gateway proxy response: {why}"),
                    },
                },
            );
        }
        Ok(Invocation { status: 200, body })
    }

    fn live(&self) -> Result<Option<Route>> {
        self.block(self.stage_route())
    }

    fn route(&self, route: &Route) -> Result<()> {
        self.block(async {
            // HTTP first, in one write; then the triggers follow the
            // primary release (they stay on it during a canary).
            self.set_stage(route).await?;
            if route.canary.is_none() && self.has_triggers() {
                let base = self.base().await?;
                self.move_triggers(base, &route.primary).await?;
            }
            Ok(())
        })
    }

    fn retire(&self, release: &StagedRelease, keep: &[StagedRelease]) -> Result<()> {
        self.block(async {
            Self::each(release.versions.iter(), 8, |(function, version)| {
                let used = keep
                    .iter()
                    .any(|k| k.versions.get(function) == Some(version));
                let drop = if used {
                    Vec::new()
                } else {
                    vec![version.clone()]
                };
                async move { self.retire_function(function, &release.id, &drop).await }
            })
            .await?;
            self.drop_deployment(&release.id).await
        })
    }

    fn remove(&self) -> Result<()> {
        self.block(async {
            // Mappings and notifications first: they name the functions.
            let base = self.base().await?;
            self.remove_triggers(base).await?;
            let functions = self.own_functions().await?;
            Self::each(functions, 8, |name| async move {
                match self
                    .clients
                    .lambda
                    .delete_function()
                    .function_name(&name)
                    .send()
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(e) if not_found(&e) => Ok(()),
                    Err(e) => Err(fail(format!("lambda:DeleteFunction {name}"), &e)),
                }
            })
            .await?;
            if let Some(api) = self.api().await? {
                match self
                    .clients
                    .apigw
                    .delete_rest_api()
                    .rest_api_id(&api)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) if not_found(&e) => {}
                    Err(e) => return Err(fail(format!("apigateway:DeleteRestApi {api}"), &e)),
                }
            }
            self.remove_roles().await?;
            self.remove_artifacts().await
        })
    }

    fn verify(&self, release: &StagedRelease) -> Result<Vec<String>> {
        self.block(async {
            let found = std::sync::Mutex::new(Vec::new());
            Self::each(release.versions.iter(), 16, |(function, version)| {
                let found = &found;
                async move {
                    let name = self.names.function(function);
                    let problem = match self
                        .clients
                        .lambda
                        .get_alias()
                        .function_name(&name)
                        .name(&release.id)
                        .send()
                        .await
                    {
                        Ok(a) if a.function_version() == Some(version.as_str()) => None,
                        Ok(a) => Some(format!(
                            "alias {}:{} points at version {}, recorded {version}",
                            name,
                            release.id,
                            a.function_version().unwrap_or("?")
                        )),
                        Err(e) if not_found(&e) => {
                            Some(format!("alias {name}:{} is missing", release.id))
                        }
                        Err(e) => {
                            return Err(fail(format!("lambda:GetAlias {name}:{}", release.id), &e));
                        }
                    };
                    if let Some(p) = problem {
                        found.lock().unwrap_or_else(|e| e.into_inner()).push(p);
                    }
                    Ok(())
                }
            })
            .await?;
            let mut found = found.into_inner().unwrap_or_else(|e| e.into_inner());
            found.sort();
            Ok(found)
        })
    }

    fn inventory(&self) -> Result<Vec<String>> {
        self.block(async {
            let base = self.base().await?;
            let mut out: Vec<String> = self
                .own_functions()
                .await?
                .into_iter()
                .map(|f| format!("Lambda function {f}, its versions and aliases"))
                .collect();
            if let Some(api) = self.api().await? {
                out.push(format!(
                    "API Gateway REST API {} ({api}), its stage and deployments",
                    self.names.api()
                ));
            }
            for role in [self.names.role(), self.names.gateway_role()] {
                match self.clients.iam.get_role().role_name(&role).send().await {
                    Ok(_) => out.push(format!("IAM role {role}")),
                    Err(e) if not_found(&e) => {}
                    Err(e) => return Err(fail(format!("iam:GetRole {role}"), &e)),
                }
            }
            out.extend(self.trigger_inventory(base));
            let artifacts = self.stored_artifacts(base).await?.len();
            if artifacts > 0 {
                out.push(format!(
                    "{artifacts} artifacts under s3://{}/{}/",
                    base.bucket,
                    self.names.artifact_prefix()
                ));
            }
            Ok(out)
        })
    }

    fn endpoint(&self) -> Option<String> {
        let api = self.block(self.api()).ok().flatten()?;
        Some(self.stage_url(&api))
    }
}

impl AwsProvider {
    async fn remove_roles(&self) -> Result<()> {
        self.remove_role(&self.names.role()).await?;
        self.remove_role(&self.names.gateway_role()).await
    }

    async fn remove_role(&self, role: &str) -> Result<()> {
        let iam = &self.clients.iam;
        match iam.get_role().role_name(role).send().await {
            Ok(r) => {
                let tags = r.role().map(|r| r.tags().to_vec()).unwrap_or_default();
                let ours = self.names.tags().iter().all(|(k, v)| {
                    tags.iter()
                        .any(|t| t.key() == *k && t.value() == v.as_str())
                });
                if !ours {
                    return Ok(());
                }
            }
            Err(e) if not_found(&e) => return Ok(()),
            Err(e) => return Err(fail(format!("iam:GetRole {role}"), &e)),
        }
        match iam
            .delete_role_policy()
            .role_name(role)
            .policy_name("nubo")
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(fail(format!("iam:DeleteRolePolicy {role}"), &e)),
        }
        match iam.delete_role().role_name(role).send().await {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(fail(format!("iam:DeleteRole {role}"), &e)),
        }
    }

    /// Delete the target's artifacts (its prefix of the shared bucket).
    async fn remove_artifacts(&self) -> Result<()> {
        let base = self.base().await?;
        let prefix = format!("{}/", self.names.artifact_prefix());
        let keys = list_keys(&self.clients.s3, &base.bucket, &prefix).await?;
        Self::each(keys.into_iter().flatten(), 8, |key| async move {
            self.clients
                .s3
                .delete_object()
                .bucket(&base.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| fail(format!("s3:DeleteObject {key}"), &e))?;
            Ok(())
        })
        .await
    }

    /// A bucket in the target's region, created when absent; whether this
    /// call created it.
    pub(super) async fn ensure_s3_bucket(&self, name: &str) -> Result<bool> {
        let s3 = &self.clients.s3;
        match s3.head_bucket().bucket(name).send().await {
            Ok(_) => return Ok(false),
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(fail(format!("s3:HeadBucket {name}"), &e)),
        }
        let mut req = s3.create_bucket().bucket(name);
        if self.conn.region != "us-east-1" {
            req = req.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                        self.conn.region.as_str(),
                    ))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.code(), Some("BucketAlreadyOwnedByYou")) => Ok(false),
            Err(e) => Err(fail(format!("s3:CreateBucket {name}"), &e)),
        }
    }
}
