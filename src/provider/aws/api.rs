//! The REST API: routes, one deployment per release, the `live` stage.
//!
//! Integrations are release-independent (`function:<name>:${stageVariables.release}`),
//! so a release's deployment is a snapshot of its route set (imported as
//! OpenAPI in one `PutRestApi`, whatever the number of routes), and the stage's
//! `deploymentId` + `variables.release` name the release that serves. Both
//! change in one `UpdateStage`.

use aws_sdk_apigateway::types::{EndpointConfiguration, EndpointType, Op, PatchOperation};

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{AwsProvider, Base, Clients, STAGE, fail, names::Names, not_found};
use crate::manifest::Event;
use crate::provider::{ProviderError, Result, Route};

/// Stage variable that mirrors a canary as `release:percent`, so the split
/// reads back even where `canarySettings` is not kept (emulators).
const CANARY_VAR: &str = "nubocanary";

/// What the description of a release's deployment says.
fn deployment_description(release: &str) -> String {
    format!("nubo release {release}")
}

/// The REST API of the target, found by name and tags (pages followed).
pub async fn find(clients: &Clients, names: &Names) -> Result<Option<String>> {
    let mut position: Option<String> = None;
    loop {
        let page = clients
            .apigw
            .get_rest_apis()
            .set_position(position.clone())
            .limit(500)
            .send()
            .await
            .map_err(|e| fail("apigateway:GetRestApis", &e))?;
        for api in page.items() {
            let tags = api.tags().cloned().unwrap_or_default();
            let ours = names.tags().iter().all(|(k, v)| tags.get(*k) == Some(v));
            if api.name() == Some(names.api().as_str()) && ours {
                return Ok(api.id().map(str::to_owned));
            }
        }
        position = page.position().map(str::to_owned);
        if position.is_none() || page.items().is_empty() {
            return Ok(None);
        }
    }
}

/// One route: method and path, and the function that serves it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RouteSpec {
    path: String,
    method: String,
    function: String,
}

impl AwsProvider {
    fn routes(&self) -> Vec<RouteSpec> {
        let mut out = Vec::new();
        for f in self.service.functions.values() {
            for e in &f.events {
                if let Event::Http(h) = e {
                    out.push(RouteSpec {
                        path: h.path.clone(),
                        method: h.method.as_str().to_owned(),
                        function: f.name.clone(),
                    });
                }
            }
        }
        out.sort();
        out
    }

    fn integration_uri(&self, account: &str, function: &str) -> String {
        format!(
            "arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/arn:aws:lambda:{region}:{account}:function:{name}:${{stageVariables.release}}/invocations",
            region = self.conn.region,
            name = self.names.function(function),
        )
    }

    /// The REST API, created when absent.
    pub(super) async fn ensure_api(&self) -> Result<String> {
        if let Some(id) = self.api().await? {
            return Ok(id);
        }
        let mut req = self
            .clients
            .apigw
            .create_rest_api()
            .name(self.names.api())
            .description("nubo: the HTTP routes of a service")
            .endpoint_configuration(
                EndpointConfiguration::builder()
                    .types(EndpointType::Regional)
                    .build(),
            );
        for (k, v) in self.names.tags() {
            req = req.tags(k, v);
        }
        let out = req
            .send()
            .await
            .map_err(|e| fail(format!("apigateway:CreateRestApi {}", self.names.api()), &e))?;
        let id = out
            .id()
            .ok_or_else(|| ProviderError::new("apigateway:CreateRestApi: no id in the answer"))?
            .to_owned();
        // Later calls in this process see the new API.
        *self.api_id.lock().unwrap_or_else(|e| e.into_inner()) = Some(id.clone());
        Ok(id)
    }

    /// The API's definition for this service's routes, as OpenAPI 3 with
    /// API Gateway's integration extension: every route a Lambda proxy
    /// integration with the release's alias, invoked with the gateway role.
    fn openapi(&self, base: &Base) -> serde_json::Value {
        let mut paths = serde_json::Map::new();
        for route in self.routes() {
            let params: Vec<serde_json::Value> = route
                .path
                .split('/')
                .filter_map(|p| p.strip_prefix('{')?.strip_suffix('}'))
                .map(|name| {
                    serde_json::json!({
                        "name": name, "in": "path", "required": true,
                        "schema": {"type": "string"},
                    })
                })
                .collect();
            let method = match route.method.as_str() {
                "ANY" => "x-amazon-apigateway-any-method".to_owned(),
                m => m.to_lowercase(),
            };
            let entry = paths
                .entry(route.path.clone())
                .or_insert_with(|| serde_json::json!({}));
            entry[method] = serde_json::json!({
                "parameters": params,
                "responses": {},
                "x-amazon-apigateway-integration": {
                    "type": "aws_proxy",
                    "httpMethod": "POST",
                    "uri": self.integration_uri(&base.account, &route.function),
                    "credentials": base.gateway_role_arn,
                    "passthroughBehavior": "when_no_match",
                },
            });
        }
        serde_json::json!({
            "openapi": "3.0.1",
            "info": {"title": self.names.api(), "version": "nubo"},
            "paths": paths,
        })
    }

    /// Make the API's working definition the release's routes (one
    /// `PutRestApi`, whatever their number), then snapshot it in a
    /// deployment for `release` (reused when one exists).
    pub(super) async fn stage_routes(&self, base: &Base, release: &str) -> Result<String> {
        let api = self.ensure_api().await?;
        if let Some(id) = self.deployment_of(&api, release).await? {
            return Ok(id);
        }
        let apigw = &self.clients.apigw;
        apigw
            .put_rest_api()
            .rest_api_id(&api)
            .mode(aws_sdk_apigateway::types::PutMode::Overwrite)
            .fail_on_warnings(false)
            .body(aws_smithy_types::Blob::new(self.openapi(base).to_string()))
            .send()
            .await
            .map_err(|e| fail(format!("apigateway:PutRestApi {api}"), &e))?;
        let out = apigw
            .create_deployment()
            .rest_api_id(&api)
            .description(deployment_description(release))
            .send()
            .await
            .map_err(|e| fail(format!("apigateway:CreateDeployment for {release}"), &e))?;
        let id = out.id().map(str::to_owned).ok_or_else(|| {
            ProviderError::new("apigateway:CreateDeployment: no id in the answer")
        })?;
        self.deployments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(release.to_owned(), id.clone());
        Ok(id)
    }

    /// The deployment made for `release`, if any (pages followed).
    pub(super) async fn deployment_of(&self, api: &str, release: &str) -> Result<Option<String>> {
        if let Some(id) = self
            .deployments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(release)
        {
            return Ok(Some(id.clone()));
        }
        let want = deployment_description(release);
        let mut position: Option<String> = None;
        loop {
            let page = self
                .clients
                .apigw
                .get_deployments()
                .rest_api_id(api)
                .set_position(position.clone())
                .limit(500)
                .send()
                .await
                .map_err(|e| fail("apigateway:GetDeployments", &e))?;
            // Every release's deployment on the page is remembered: a
            // switch after a lookup needs no second listing.
            let mut found = None;
            {
                let mut known = self.deployments.lock().unwrap_or_else(|e| e.into_inner());
                for d in page.items() {
                    if let (Some(desc), Some(id)) = (d.description(), d.id()) {
                        if let Some(r) = desc.strip_prefix("nubo release ") {
                            known.insert(r.to_owned(), id.to_owned());
                        }
                        if desc == want {
                            found = Some(id.to_owned());
                        }
                    }
                }
            }
            if found.is_some() {
                return Ok(found);
            }
            position = page.position().map(str::to_owned);
            if position.is_none() || page.items().is_empty() {
                return Ok(None);
            }
        }
    }

    /// What the stage serves now.
    pub(super) async fn stage_route(&self) -> Result<Option<Route>> {
        let Some(api) = self.api().await? else {
            return Ok(None);
        };
        let stage = match self
            .clients
            .apigw
            .get_stage()
            .rest_api_id(&api)
            .stage_name(STAGE)
            .send()
            .await
        {
            Ok(s) => s,
            Err(e) if not_found(&e) => {
                *self.stage_seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(None);
                return Ok(None);
            }
            Err(e) => return Err(fail("apigateway:GetStage", &e)),
        };
        let vars = stage.variables().cloned().unwrap_or_default();
        *self.stage_seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(Some(
            stage.canary_settings().is_some() || vars.contains_key(CANARY_VAR),
        ));
        let Some(primary) = vars.get("release").cloned() else {
            return Ok(None);
        };
        let canary = stage
            .canary_settings()
            .and_then(|c| {
                let r = c.stage_variable_overrides()?.get("release")?.clone();
                Some((r, c.percent_traffic().round().clamp(0.0, 100.0) as u8))
            })
            .or_else(|| {
                let (r, p) = vars.get(CANARY_VAR)?.split_once(':')?;
                Some((r.to_owned(), p.parse().ok()?))
            })
            .filter(|(r, p)| *p > 0 && *r != primary);
        Ok(Some(Route { primary, canary }))
    }

    /// Point the stage at `route`: one `UpdateStage` (or the `CreateStage`
    /// of the first release).
    pub(super) async fn set_stage(&self, route: &Route) -> Result<()> {
        let api = self
            .api()
            .await?
            .ok_or_else(|| ProviderError::new("the REST API does not exist; deploy first"))?;
        let primary_dep = self
            .deployment_of(&api, &route.primary)
            .await?
            .ok_or_else(|| {
                ProviderError::new(format!(
                    "release `{}` has no API deployment; it was never staged",
                    route.primary
                ))
            })?;
        let apigw = &self.clients.apigw;
        let seen = *self.stage_seen.lock().unwrap_or_else(|e| e.into_inner());
        let seen = match seen {
            Some(s) => s,
            None => match apigw
                .get_stage()
                .rest_api_id(&api)
                .stage_name(STAGE)
                .send()
                .await
            {
                Ok(s) => Some(
                    s.canary_settings().is_some()
                        || s.variables().is_some_and(|v| v.contains_key(CANARY_VAR)),
                ),
                Err(e) if not_found(&e) => None,
                Err(e) => return Err(fail("apigateway:GetStage", &e)),
            },
        };
        let Some(had_canary) = seen else {
            if route.canary.is_some() {
                return Err(ProviderError::new("a canary needs a live release first"));
            }
            let mut req = apigw
                .create_stage()
                .rest_api_id(&api)
                .stage_name(STAGE)
                .deployment_id(&primary_dep)
                .variables("release", &route.primary)
                .description("nubo: the live stage");
            for (k, v) in self.names.tags() {
                req = req.tags(k, v);
            }
            super::after_write(|| req.clone().send())
                .await
                .map_err(|e| fail(format!("apigateway:CreateStage {STAGE}"), &e))?;
            *self.stage_seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(Some(false));
            return Ok(());
        };
        let op = |op: Op, path: &str, value: Option<String>| {
            PatchOperation::builder()
                .op(op)
                .path(path)
                .set_value(value)
                .build()
        };
        let mut ops = Vec::new();
        match &route.canary {
            Some((release, percent)) => {
                let dep = self.deployment_of(&api, release).await?.ok_or_else(|| {
                    ProviderError::new(format!(
                        "release `{release}` has no API deployment; it was never staged"
                    ))
                })?;
                ops.push(op(Op::Replace, "/canarySettings/deploymentId", Some(dep)));
                ops.push(op(
                    Op::Replace,
                    "/canarySettings/percentTraffic",
                    Some(percent.to_string()),
                ));
                ops.push(op(
                    Op::Replace,
                    "/canarySettings/stageVariableOverrides/release",
                    Some(release.clone()),
                ));
                ops.push(op(
                    Op::Replace,
                    &format!("/variables/{CANARY_VAR}"),
                    Some(format!("{release}:{percent}")),
                ));
            }
            None => {
                if had_canary {
                    ops.push(op(Op::Remove, "/canarySettings", None));
                    ops.push(op(Op::Remove, &format!("/variables/{CANARY_VAR}"), None));
                }
            }
        }
        // Last, so it holds whatever an earlier path touched.
        ops.push(op(Op::Replace, "/deploymentId", Some(primary_dep)));
        ops.push(op(
            Op::Replace,
            "/variables/release",
            Some(route.primary.clone()),
        ));
        // The deployment may be minutes or moments old: "not found" first is possible.
        super::after_write(|| {
            apigw
                .update_stage()
                .rest_api_id(&api)
                .stage_name(STAGE)
                .set_patch_operations(Some(ops.clone()))
                .send()
        })
        .await
        .map_err(|e| fail(format!("apigateway:UpdateStage {STAGE}"), &e))?;
        *self.stage_seen.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Some(route.canary.is_some()));
        Ok(())
    }

    /// Delete the deployment made for `release` (never the live one).
    pub(super) async fn drop_deployment(&self, release: &str) -> Result<()> {
        let Some(api) = self.api().await? else {
            return Ok(());
        };
        let Some(dep) = self.deployment_of(&api, release).await? else {
            return Ok(());
        };
        match self
            .clients
            .apigw
            .delete_deployment()
            .rest_api_id(&api)
            .deployment_id(&dep)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            // Still referenced by the stage or its canary: leave it.
            Err(e) if matches!(e.code(), Some("BadRequestException" | "ConflictException")) => {
                Ok(())
            }
            Err(e) => Err(fail(format!("apigateway:DeleteDeployment {dep}"), &e)),
        }
    }

    /// The stage's invoke URL.
    pub(super) fn stage_url(&self, api: &str) -> String {
        match &self.conn.endpoint {
            Some(e) => format!(
                "{}/restapis/{api}/{STAGE}/_user_request_",
                e.trim_end_matches('/')
            ),
            None => format!(
                "https://{api}.execute-api.{}.amazonaws.com/{STAGE}",
                self.conn.region
            ),
        }
    }
}
