//! The discovery-driven Google Cloud request validator
//! (`tests/support/gcp_discovery.rs`) checked against the real discovery
//! documents in `../shared/specs/gcp`: it must accept the requests a Google
//! Cloud backend for nubo will make, and reject each kind of mistake with a
//! message that says what is wrong and where.
//!
//! Rejections start from a request that is known to pass and change one
//! thing, and expect exactly one violation, so each test shows that the
//! change alone is caught.

#[path = "support/gcp_discovery.rs"]
mod gcp_discovery;

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use gcp_discovery::{Api, Location, ParamType};
use regex::Regex;
use serde_json::{Value, json};

/// The directory holding the discovery documents; a missing directory fails
/// every test that needs it rather than skipping them.
fn spec_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/specs/gcp");
    assert!(
        dir.is_dir(),
        "the Google Cloud discovery documents are missing: expected run.v2.json, storage.v1.json, \
         cloudfunctions.v2.json, logging.v2.json, iamcredentials.v1.json and sts.v1.json in {}",
        dir.display()
    );
    dir
}

fn load(file: &str) -> Api {
    let path = spec_dir().join(file);
    assert!(
        path.is_file(),
        "discovery document {} is missing",
        path.display()
    );
    Api::load(path)
}

static RUN: LazyLock<Api> = LazyLock::new(|| load("run.v2.json"));
static STORAGE: LazyLock<Api> = LazyLock::new(|| load("storage.v1.json"));
static LOGGING: LazyLock<Api> = LazyLock::new(|| load("logging.v2.json"));

const DOCUMENTS: [&str; 6] = [
    "run.v2.json",
    "storage.v1.json",
    "cloudfunctions.v2.json",
    "logging.v2.json",
    "iamcredentials.v1.json",
    "sts.v1.json",
];

const SERVICES: &str = "/v2/projects/my-proj/locations/us-central1/services";
const SERVICE: &str = "/v2/projects/my-proj/locations/us-central1/services/shop-api";

/// Splits `path?a=1&b=2` into the path and its query pairs (the tests write
/// query values that need no decoding).
fn split_url(url: &str) -> (&str, Vec<(String, String)>) {
    let Some((path, query)) = url.split_once('?') else {
        return (url, Vec::new());
    };
    let pairs = query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    (path, pairs)
}

fn validate(
    api: &Api,
    method: &str,
    url: &str,
    body: Option<&[u8]>,
) -> Result<String, Vec<String>> {
    let (path, query) = split_url(url);
    api.validate_request(method, path, &query, body)
}

/// Asserts that the request passes and returns its method id.
#[track_caller]
fn accepted(api: &Api, method: &str, url: &str, body: Option<&[u8]>) -> String {
    validate(api, method, url, body)
        .unwrap_or_else(|v| panic!("{method} {url} was rejected:\n  {}", v.join("\n  ")))
}

/// Asserts that the request is rejected with exactly one violation, which
/// contains `needle`, and returns it.
#[track_caller]
fn rejected_once(api: &Api, method: &str, url: &str, body: Option<&[u8]>, needle: &str) -> String {
    match validate(api, method, url, body) {
        Ok(id) => panic!(
            "{method} {url} was accepted as {id}, expected a violation containing {needle:?}"
        ),
        Err(violations) => one_violation(violations, needle),
    }
}

#[track_caller]
fn one_violation(violations: Vec<String>, needle: &str) -> String {
    assert!(
        violations.len() == 1 && violations[0].contains(needle),
        "expected exactly one violation containing {needle:?}, got:\n  {}",
        violations.join("\n  ")
    );
    violations.into_iter().next().unwrap()
}

fn bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

/// A Cloud Run service as nubo would create it: a function built from source
/// by Cloud Build (`buildConfig`), its release split between two revisions.
fn service_body() -> Value {
    json!({
        "description": "shop/api, deployed by nubo",
        "labels": { "managed-by": "nubo", "nubo-release": "r7" },
        "ingress": "INGRESS_TRAFFIC_ALL",
        "invokerIamDisabled": true,
        "template": {
            "revision": "shop-api-r7",
            "serviceAccount": "nubo-shop@my-proj.iam.gserviceaccount.com",
            "timeout": "300s",
            "maxInstanceRequestConcurrency": 80,
            "executionEnvironment": "EXECUTION_ENVIRONMENT_GEN2",
            "scaling": { "minInstanceCount": 0, "maxInstanceCount": 10 },
            "labels": { "nubo-function": "api" },
            "containers": [{
                "image": "us-central1-docker.pkg.dev/my-proj/nubo/shop-api:r7",
                "env": [{ "name": "NUBO_RELEASE", "value": "r7" }],
                "ports": [{ "containerPort": 8080 }],
                "resources": { "limits": { "cpu": "1", "memory": "512Mi" }, "cpuIdle": true }
            }]
        },
        "traffic": [
            {
                "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                "revision": "shop-api-r6",
                "percent": 90,
                "tag": "r6"
            },
            {
                "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                "revision": "shop-api-r7",
                "percent": 10,
                "tag": "r7"
            }
        ],
        "buildConfig": {
            "sourceLocation": "gs://nubo-my-proj/shop/api-r7.zip",
            "functionTarget": "handler",
            "baseImage": "nodejs22",
            "imageUri": "us-central1-docker.pkg.dev/my-proj/nubo/shop-api:r7",
            "environmentVariables": { "GOOGLE_NODE_RUN_SCRIPTS": "" },
            "enableAutomaticUpdates": true
        }
    })
}

/// Creates the service with `body`, which must draw exactly one violation
/// containing `needle`.
#[track_caller]
fn create_rejected(body: &Value, needle: &str) -> String {
    let url = format!("{SERVICES}?serviceId=shop-api");
    rejected_once(&RUN, "POST", &url, Some(&bytes(body)), needle)
}

// ---------------------------------------------------------------------------
// (a) The documents load and their methods are found.

#[test]
fn all_six_documents_load_with_their_methods() {
    let expected = [
        (
            "run.v2.json",
            "run.projects.locations.services.create",
            "POST",
        ),
        (
            "run.v2.json",
            "run.projects.locations.services.patch",
            "PATCH",
        ),
        (
            "run.v2.json",
            "run.projects.locations.operations.get",
            "GET",
        ),
        ("storage.v1.json", "storage.objects.insert", "POST"),
        ("storage.v1.json", "storage.objects.get", "GET"),
        ("storage.v1.json", "storage.objects.delete", "DELETE"),
        ("logging.v2.json", "logging.entries.list", "POST"),
        (
            "cloudfunctions.v2.json",
            "cloudfunctions.projects.locations.functions.create",
            "POST",
        ),
        (
            "iamcredentials.v1.json",
            "iamcredentials.projects.serviceAccounts.generateAccessToken",
            "POST",
        ),
        ("sts.v1.json", "sts.token", "POST"),
    ];
    for file in DOCUMENTS {
        let api = load(file);
        assert!(
            api.root_url.starts_with("https://"),
            "{file}: rootUrl {}",
            api.root_url
        );
        assert!(!api.methods.is_empty(), "{file}: no methods found");
        for standard in [
            "alt",
            "fields",
            "key",
            "prettyPrint",
            "quotaUser",
            "uploadType",
        ] {
            assert!(
                api.parameters.contains_key(standard),
                "{file}: no standard parameter {standard}"
            );
        }
        for (_, id, http) in expected.iter().filter(|(f, ..)| *f == file) {
            let method = api
                .methods
                .get(*id)
                .unwrap_or_else(|| panic!("{file}: no method {id}"));
            assert_eq!(method.http_method, *http, "{id}");
        }
    }

    let create = &RUN.methods["run.projects.locations.services.create"];
    assert_eq!(
        create.flat_path,
        "v2/projects/{projectsId}/locations/{locationsId}/services"
    );
    assert_eq!(create.path, "v2/{+parent}/services");
    assert_eq!(create.request.as_deref(), Some("GoogleCloudRunV2Service"));
    assert_eq!(
        create.response.as_deref(),
        Some("GoogleLongrunningOperation")
    );
    let parent = &create.parameters["parent"];
    assert_eq!(parent.location, Location::Path);
    assert!(parent.required);
    assert_eq!(
        parent.pattern.as_ref().unwrap().as_str(),
        "^projects/[^/]+/locations/[^/]+$"
    );
    assert_eq!(
        create.parameters["validateOnly"].param_type,
        ParamType::Boolean
    );

    let insert = &STORAGE.methods["storage.objects.insert"];
    assert_eq!(STORAGE.service_path, "storage/v1/");
    assert_eq!(
        insert.flat_path, "b/{bucket}/o",
        "storage.v1 has no flatPath: path is used"
    );
    let media = insert
        .media_upload
        .as_ref()
        .expect("objects.insert takes media");
    assert_eq!(
        media.simple.as_ref().unwrap().path,
        "/upload/storage/v1/b/{bucket}/o"
    );
    assert_eq!(
        media.resumable.as_ref().unwrap().path,
        "/resumable/upload/storage/v1/b/{bucket}/o"
    );
    let generation = &insert.parameters["ifGenerationMatch"];
    assert_eq!(
        (generation.param_type, generation.format.as_deref()),
        (ParamType::String, Some("int64"))
    );
    assert!(STORAGE.methods["storage.objects.get"].supports_media_download);
}

/// Every method of every document is found again from its own `flatPath`
/// (filled with sample values), and its path parameters come out under their
/// declared names and satisfy their patterns: the matcher covers all the
/// documents, and the most-specific rule never picks the wrong method.
#[test]
fn every_method_is_found_from_its_own_path() {
    let variable = Regex::new(r"\{\+?[^}]+\}").unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for file in DOCUMENTS {
        let api = load(file);
        for method in api.methods.values() {
            let mut n = 0;
            let template = format!("/{}{}", api.service_path, method.flat_path);
            let url = variable.replace_all(&template, |_: &regex::Captures| {
                n += 1;
                format!("v{n}")
            });
            checked += 1;
            let Some((found, params)) = api.match_request(&method.http_method, &url) else {
                wrong.push(format!(
                    "{} {url}: no match (expected {})",
                    method.http_method, method.id
                ));
                continue;
            };
            if found.id != method.id {
                wrong.push(format!(
                    "{} {url}: {} instead of {}",
                    method.http_method, found.id, method.id
                ));
            }
            for (name, param) in method
                .parameters
                .iter()
                .filter(|(_, p)| p.location == Location::Path)
            {
                match (params.get(name), &param.pattern) {
                    (None, _) => {
                        wrong.push(format!("{}: no value for `{name}` from {url}", method.id))
                    }
                    (Some(value), Some(pattern)) if !pattern.is_match(value) => {
                        wrong.push(format!(
                            "{}: `{name}` = {value:?} fails {}",
                            method.id,
                            pattern.as_str()
                        ))
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(checked > 400, "only {checked} methods in the six documents");
    assert!(
        wrong.is_empty(),
        "{} of {checked} methods:\n  {}",
        wrong.len(),
        wrong.join("\n  ")
    );
}

// ---------------------------------------------------------------------------
// (b) Well-formed requests pass.

#[test]
fn cloud_run_service_create_is_accepted() {
    let url = format!("{SERVICES}?serviceId=shop-api");
    let id = accepted(&RUN, "POST", &url, Some(&bytes(&service_body())));
    assert_eq!(id, "run.projects.locations.services.create");

    let (method, params) = RUN.match_request("POST", SERVICES).unwrap();
    assert_eq!(method.id, "run.projects.locations.services.create");
    assert_eq!(params["parent"], "projects/my-proj/locations/us-central1");
    assert_eq!(params.len(), 1, "only declared parameters: {params:?}");

    // validateOnly is a boolean parameter; the standard ones are accepted too.
    let url = format!("{SERVICES}?serviceId=shop-api&validateOnly=true&alt=json&$.xgafv=2");
    accepted(&RUN, "POST", &url, Some(&bytes(&service_body())));
}

#[test]
fn cloud_run_service_patch_with_update_mask_is_accepted() {
    let body = json!({
        "template": { "containers": [{ "image": "us-central1-docker.pkg.dev/my-proj/nubo/shop-api:r8" }] },
        "traffic": [{ "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100 }]
    });
    let url = format!("{SERVICE}?updateMask=template.containers,traffic&allowMissing=false");
    let id = accepted(&RUN, "PATCH", &url, Some(&bytes(&body)));
    assert_eq!(id, "run.projects.locations.services.patch");
    let (_, params) = RUN.match_request("PATCH", SERVICE).unwrap();
    assert_eq!(
        params["name"],
        "projects/my-proj/locations/us-central1/services/shop-api"
    );
}

#[test]
fn cloud_run_operations_are_accepted() {
    let op = "/v2/projects/my-proj/locations/us-central1/operations/op-123";
    assert_eq!(
        accepted(&RUN, "GET", op, None),
        "run.projects.locations.operations.get"
    );
    let wait = format!("{op}:wait");
    let body = bytes(&json!({ "timeout": "30s" }));
    assert_eq!(
        accepted(&RUN, "POST", &wait, Some(&body)),
        "run.projects.locations.operations.wait"
    );
    assert_eq!(
        accepted(&RUN, "DELETE", SERVICE, None),
        "run.projects.locations.services.delete"
    );
}

#[test]
fn storage_media_upload_is_accepted_with_any_bytes() {
    let url = "/upload/storage/v1/b/bkt/o?uploadType=media&name=a/b.json&ifGenerationMatch=0";
    // Raw media: not JSON, and not checked as such.
    let zip = b"PK\x03\x04\x14\x00\x00\x00not json at all";
    assert_eq!(
        accepted(&STORAGE, "POST", url, Some(zip)),
        "storage.objects.insert"
    );
    // An empty object is a valid upload too.
    assert_eq!(
        accepted(&STORAGE, "POST", url, None),
        "storage.objects.insert"
    );

    let (method, params) = STORAGE
        .match_request("POST", "/upload/storage/v1/b/bkt/o")
        .unwrap();
    assert_eq!(method.id, "storage.objects.insert");
    assert_eq!(params["bucket"], "bkt");
}

#[test]
fn storage_resumable_upload_initiation_checks_its_metadata() {
    let url = "/upload/storage/v1/b/bkt/o?uploadType=resumable&name=shop/api-r7.zip";
    let metadata =
        json!({ "contentType": "application/zip", "metadata": { "nubo-release": "r7" } });
    assert_eq!(
        accepted(&STORAGE, "POST", url, Some(&bytes(&metadata))),
        "storage.objects.insert"
    );
    let metadata = json!({ "contentTypo": "application/zip" });
    rejected_once(
        &STORAGE,
        "POST",
        url,
        Some(&bytes(&metadata)),
        "request.contentTypo: unknown field (not a property of Object)",
    );
}

#[test]
fn storage_object_get_delete_and_metadata_insert_are_accepted() {
    let url = "/storage/v1/b/bkt/o/a%2Fb.json?alt=media&ifGenerationMatch=1700000000000000";
    assert_eq!(accepted(&STORAGE, "GET", url, None), "storage.objects.get");
    let (_, params) = STORAGE
        .match_request("GET", "/storage/v1/b/bkt/o/a%2Fb.json")
        .unwrap();
    assert_eq!(
        params["object"], "a/b.json",
        "{{object}} values are percent-decoded"
    );
    assert_eq!(params["bucket"], "bkt");

    let url = "/storage/v1/b/bkt/o/a%2Fb.json?ifGenerationMatch=1700000000000000";
    assert_eq!(
        accepted(&STORAGE, "DELETE", url, None),
        "storage.objects.delete"
    );

    // Metadata only, as JSON, on the ordinary path.
    let object = bytes(&json!({ "name": "a/b.json", "contentType": "application/json" }));
    assert_eq!(
        accepted(&STORAGE, "POST", "/storage/v1/b/bkt/o", Some(&object)),
        "storage.objects.insert"
    );
}

#[test]
fn logging_entries_list_is_accepted() {
    let body = json!({
        "resourceNames": ["projects/my-proj"],
        "filter": "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"shop-api\"",
        "orderBy": "timestamp desc",
        "pageSize": 50
    });
    assert_eq!(
        accepted(&LOGGING, "POST", "/v2/entries:list", Some(&bytes(&body))),
        "logging.entries.list"
    );
}

#[test]
fn the_most_specific_template_wins() {
    // `{servicesId}` would also take "shop-api:getIamPolicy".
    let url = format!("{SERVICE}:getIamPolicy");
    assert_eq!(
        accepted(&RUN, "GET", &url, None),
        "run.projects.locations.services.getIamPolicy"
    );
    let (_, params) = RUN.match_request("GET", &url).unwrap();
    assert_eq!(
        params["resource"],
        "projects/my-proj/locations/us-central1/services/shop-api"
    );

    // `v2/{v2Id}/{v2Id1}/logs` would also take projects/my-proj.
    let (method, _) = LOGGING
        .match_request("GET", "/v2/projects/my-proj/logs")
        .unwrap();
    assert_eq!(method.id, "logging.projects.logs.list");

    // Two `{+x}` variables in one template: the last takes one segment.
    let url = format!("{SERVICE}/revisions/shop-api-r7/op-1:exportStatus");
    let (method, params) = RUN.match_request("GET", &url).unwrap();
    assert_eq!(
        method.id,
        "run.projects.locations.services.revisions.exportStatus"
    );
    assert_eq!(
        params["name"],
        "projects/my-proj/locations/us-central1/services/shop-api/revisions/shop-api-r7"
    );
    assert_eq!(params["operationId"], "op-1");
}

/// `{+x}` values keep `%2F` encoded, as Google's transcoding does, so a log
/// ID with an encoded slash satisfies `^projects/[^/]+/logs/[^/]+$`.
#[test]
fn reserved_expansion_keeps_encoded_slashes() {
    let url = "/v2/projects/my-proj/logs/cloudaudit.googleapis.com%2Factivity";
    assert_eq!(
        accepted(&LOGGING, "DELETE", url, None),
        "logging.projects.logs.delete"
    );
    let (_, params) = LOGGING.match_request("DELETE", url).unwrap();
    assert_eq!(
        params["logName"],
        "projects/my-proj/logs/cloudaudit.googleapis.com%2Factivity"
    );
}

// ---------------------------------------------------------------------------
// (c) Mistakes are rejected, each with a message that names it.

#[test]
fn unknown_body_field_is_rejected_with_its_json_path() {
    let mut body = service_body();
    body["template"]["containers"][0]["imageX"] = json!("nginx");
    create_rejected(
        &body,
        "request.template.containers[0].imageX: unknown field (not a property of GoogleCloudRunV2Container)",
    );
}

#[test]
fn wrong_json_type_is_rejected() {
    let mut body = service_body();
    body["traffic"][0]["percent"] = json!("90");
    create_rejected(
        &body,
        r#"request.traffic[0].percent: expected an integer (int32), got string "90""#,
    );

    let mut body = service_body();
    body["template"]["containers"] = json!({ "image": "nginx" });
    create_rejected(
        &body,
        "request.template.containers: expected an array, got an object",
    );
}

#[test]
fn bad_enum_value_is_rejected() {
    let mut body = service_body();
    body["traffic"][1]["type"] = json!("REVISION");
    let message = create_rejected(
        &body,
        r#"request.traffic[1].type: "REVISION" is not one of"#,
    );
    assert!(
        message.contains("TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"),
        "{message}"
    );
}

#[test]
fn other_body_mistakes_are_rejected() {
    let cases: [(&str, Value, &str); 5] = [
        (
            "/template/timeout",
            json!("300"),
            r#"request.template.timeout: "300" is not a valid google-duration"#,
        ),
        (
            "/template/scaling/maxInstanceCount",
            json!(3_000_000_000_u64),
            "request.template.scaling.maxInstanceCount: expected an integer (int32), got number 3000000000",
        ),
        (
            "/labels/managed-by",
            json!(1),
            r#"request.labels["managed-by"]: expected a string, got number 1"#,
        ),
        (
            "/invokerIamDisabled",
            json!("true"),
            "request.invokerIamDisabled: expected a boolean",
        ),
        (
            "/buildConfig/functionTarget",
            json!(["handler"]),
            "request.buildConfig.functionTarget: expected a string",
        ),
    ];
    for (pointer, value, needle) in cases {
        let mut body = service_body();
        *body
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{pointer} not in the body")) = value;
        create_rejected(&body, needle);
    }
}

#[test]
fn unknown_query_parameter_is_rejected() {
    let url = format!("{SERVICES}?serviceID=shop-api");
    let message = rejected_once(
        &RUN,
        "POST",
        &url,
        Some(&bytes(&service_body())),
        "unknown query parameter `serviceID` for run.projects.locations.services.create",
    );
    assert!(
        message.contains("it takes serviceId, validateOnly"),
        "{message}"
    );
}

#[test]
fn non_integer_if_generation_match_is_rejected() {
    let url = "/upload/storage/v1/b/bkt/o?uploadType=media&name=a/b.json&ifGenerationMatch=latest";
    rejected_once(
        &STORAGE,
        "POST",
        url,
        Some(b"data"),
        r#"query parameter `ifGenerationMatch`: "latest" is not a valid int64"#,
    );
}

#[test]
fn bad_query_values_are_rejected() {
    let body = bytes(&service_body());
    let cases = [
        (
            "validateOnly=yes",
            r#"query parameter `validateOnly`: "yes" is not a boolean"#,
        ),
        (
            "serviceId=a&serviceId=b",
            "query parameter `serviceId` is given 2 times but is not repeated",
        ),
        (
            "alt=xml",
            r#"query parameter `alt`: "xml" is not one of json, media, proto"#,
        ),
        (
            "parent=projects/p/locations/l",
            "`parent` is a path parameter of run.projects.locations.services.create, not a query parameter",
        ),
    ];
    for (query, needle) in cases {
        rejected_once(
            &RUN,
            "POST",
            &format!("{SERVICES}?{query}"),
            Some(&body),
            needle,
        );
    }
    rejected_once(
        &STORAGE,
        "GET",
        "/storage/v1/b?project=my-proj&maxResults=-1",
        None,
        r#"query parameter `maxResults`: "-1" is not a valid uint32"#,
    );
    rejected_once(
        &RUN,
        "GET",
        &format!("{SERVICE}?alt=media"),
        None,
        "run.projects.locations.services.get does not support alt=media downloads",
    );
}

#[test]
fn missing_required_parameter_is_rejected() {
    assert_eq!(
        accepted(&STORAGE, "GET", "/storage/v1/b?project=my-proj", None),
        "storage.buckets.list"
    );
    rejected_once(
        &STORAGE,
        "GET",
        "/storage/v1/b",
        None,
        "missing required query parameter `project` of storage.buckets.list",
    );
}

#[test]
fn field_required_by_the_method_is_rejected_when_missing() {
    let url = "/storage/v1/b?project=my-proj";
    let bucket = json!({ "name": "nubo-my-proj", "location": "US-CENTRAL1" });
    assert_eq!(
        accepted(&STORAGE, "POST", url, Some(&bytes(&bucket))),
        "storage.buckets.insert"
    );
    let bucket = json!({ "location": "US-CENTRAL1" });
    rejected_once(
        &STORAGE,
        "POST",
        url,
        Some(&bytes(&bucket)),
        "request.name: missing, but storage.buckets.insert requires it",
    );
}

#[test]
fn unmatched_path_is_rejected() {
    let message = rejected_once(
        &RUN,
        "GET",
        "/v2/projects/my-proj/services",
        None,
        "no method of run:v2",
    );
    assert_eq!(
        message,
        "no method of run:v2 for GET /v2/projects/my-proj/services"
    );
    rejected_once(
        &RUN,
        "GET",
        &format!("{SERVICE}/"),
        None,
        "no method of run:v2 for GET",
    );
    // A percent-encoded name is one segment, so it matches nothing.
    rejected_once(
        &RUN,
        "GET",
        "/v2/projects%2Fmy-proj%2Flocations%2Fus-central1%2Fservices%2Fshop-api",
        None,
        "no method of run:v2",
    );
    // The right path with the wrong HTTP method says which methods it has.
    let message = rejected_once(
        &RUN,
        "PUT",
        SERVICE,
        Some(b"{}"),
        "no method of run:v2 for PUT",
    );
    assert!(
        message.contains("PATCH run.projects.locations.services.patch"),
        "{message}"
    );
}

#[test]
fn path_parameter_violating_its_pattern_is_rejected() {
    // Cloud Run's source upload path is `/upload/v2/{+parent}:uploadSource`:
    // `{+parent}` takes any number of segments, its pattern exactly two pairs.
    let good = "/upload/v2/projects/my-proj/locations/us-central1:uploadSource?uploadType=media";
    assert_eq!(
        accepted(&RUN, "POST", good, Some(b"zip")),
        "run.projects.locations.sourceUploads.upload"
    );
    let bad =
        "/upload/v2/projects/my-proj/locations/us-central1/services:uploadSource?uploadType=media";
    rejected_once(
        &RUN,
        "POST",
        bad,
        Some(b"zip"),
        r#"path parameter `parent` of run.projects.locations.sourceUploads.upload is "projects/my-proj/locations/us-central1/services", which does not match ^projects/[^/]+/locations/[^/]+$"#,
    );
}

#[test]
fn invalid_json_body_is_rejected() {
    let url = format!("{SERVICES}?serviceId=shop-api");
    rejected_once(
        &RUN,
        "POST",
        &url,
        Some(br#"{"template": "#),
        "request body of run.projects.locations.services.create is not valid JSON",
    );
}

#[test]
fn body_presence_is_checked() {
    rejected_once(
        &RUN,
        "GET",
        SERVICE,
        Some(b"{}"),
        "GET run.projects.locations.services.get takes no request body, but got 2 bytes",
    );
    rejected_once(
        &RUN,
        "POST",
        &format!("{SERVICES}?serviceId=shop-api"),
        None,
        "POST run.projects.locations.services.create needs a request body (GoogleCloudRunV2Service)",
    );
}

#[test]
fn media_upload_mistakes_are_rejected() {
    // Media sent to the metadata path instead of /upload/...
    rejected_once(
        &STORAGE,
        "POST",
        "/storage/v1/b/bkt/o?uploadType=media&name=a",
        Some(b"data"),
        "uploadType=media needs a media upload path of storage.objects.insert (/upload/storage/v1/b/{bucket}/o or /resumable/upload/storage/v1/b/{bucket}/o)",
    );
    rejected_once(
        &STORAGE,
        "POST",
        "/upload/storage/v1/b/bkt/o?name=a",
        Some(b"data"),
        "storage.objects.insert on its upload path /upload/storage/v1/b/{bucket}/o needs uploadType (media, multipart, resumable)",
    );
    rejected_once(
        &STORAGE,
        "POST",
        "/upload/storage/v1/b/bkt/o?uploadType=chunked&name=a",
        Some(b"data"),
        "uploadType=chunked is not accepted on /upload/storage/v1/b/{bucket}/o",
    );
    rejected_once(
        &STORAGE,
        "POST",
        "/upload/storage/v1/b/bkt/o?uploadType=multipart",
        None,
        "uploadType=multipart to storage.objects.insert without a body",
    );
}

#[test]
fn malformed_paths_are_rejected() {
    rejected_once(
        &STORAGE,
        "GET",
        "/storage/v1/b/bkt/o/100%",
        None,
        r#"malformed percent-escape at "%""#,
    );
    // The query belongs in its own argument, not in the path.
    let violations = RUN
        .validate_request("GET", &format!("{SERVICE}?view=full"), &[], None)
        .unwrap_err();
    one_violation(violations, "the path must not carry a query");
}

// ---------------------------------------------------------------------------
// (d) Responses.

#[test]
fn plausible_operations_are_accepted() {
    let method = "run.projects.locations.services.create";
    let running = json!({
        "name": "projects/my-proj/locations/us-central1/operations/op-123",
        "metadata": {
            "@type": "type.googleapis.com/google.cloud.run.v2.Service",
            "name": "projects/my-proj/locations/us-central1/services/shop-api",
            "reconciling": true
        },
        "done": false
    });
    let succeeded = json!({
        "name": "projects/my-proj/locations/us-central1/operations/op-123",
        "done": true,
        "response": {
            "@type": "type.googleapis.com/google.cloud.run.v2.Service",
            "uri": "https://shop-api-abc123-uc.a.run.app"
        }
    });
    let failed = json!({
        "name": "projects/my-proj/locations/us-central1/operations/op-124",
        "done": true,
        "error": {
            "code": 9,
            "message": "Revision 'shop-api-r7' is not ready and cannot serve traffic.",
            "details": [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "FAILED_PRECONDITION" }]
        }
    });
    for op in [running, succeeded, failed] {
        RUN.validate_response(method, &op)
            .unwrap_or_else(|v| panic!("{op} was rejected:\n  {}", v.join("\n  ")));
    }
}

#[test]
fn operation_with_unknown_field_is_rejected() {
    let op = json!({ "name": "operations/op-1", "done": true, "doneTime": "2025-01-01T00:00:00Z" });
    let violations = RUN
        .validate_response("run.projects.locations.operations.get", &op)
        .unwrap_err();
    one_violation(
        violations,
        "response.doneTime: unknown field (not a property of GoogleLongrunningOperation)",
    );

    let op = json!({ "name": "operations/op-1", "done": "true" });
    let violations = RUN
        .validate_response("run.projects.locations.operations.get", &op)
        .unwrap_err();
    one_violation(
        violations,
        r#"response.done: expected a boolean, got string "true""#,
    );
}

#[test]
fn storage_object_responses_are_checked() {
    let mut object = json!({
        "kind": "storage#object",
        "bucket": "bkt",
        "name": "a/b.json",
        "generation": "1700000000000000",
        "metageneration": 1,
        "size": "12",
        "timeCreated": "2025-06-01T12:00:00.123Z",
        "metadata": { "nubo-release": "r7" },
        "owner": { "entity": "user-nubo" },
        "md5Hash": "XUFAKrxLKna5cZ2REBfFkg==",
        "customTime": null
    });
    STORAGE
        .validate_response("storage.objects.get", &object)
        .unwrap_or_else(|v| panic!("rejected:\n  {}", v.join("\n  ")));

    object["timeCreated"] = json!("yesterday");
    object["owner"]["entityID"] = json!("42");
    let mut violations = STORAGE
        .validate_response("storage.objects.get", &object)
        .unwrap_err();
    violations.sort();
    assert_eq!(
        violations,
        [
            r#"response.owner.entityID: unknown field (not a property of Object.owner)"#,
            r#"response.timeCreated: "yesterday" is not a valid date-time"#,
        ]
    );

    // objects.delete answers with an empty body.
    assert!(
        STORAGE
            .validate_response("storage.objects.delete", &Value::Null)
            .is_ok()
    );
    let violations = STORAGE
        .validate_response("storage.objects.delete", &json!({ "deleted": true }))
        .unwrap_err();
    one_violation(violations, "storage.objects.delete returns no body");

    let violations = STORAGE
        .validate_response("storage.objects.frobnicate", &json!({}))
        .unwrap_err();
    one_violation(
        violations,
        "storage:v1 has no method storage.objects.frobnicate",
    );
}

// ---------------------------------------------------------------------------
// The engine on a small hand-written document: top-level methods, recursive
// and cyclic schemas, `{+x}` in a path without a flatPath.

fn tiny_api() -> Api {
    Api::from_document(&json!({
        "id": "tiny:v1",
        "rootUrl": "https://tiny.example.com/",
        "servicePath": "tiny/v1/",
        "parameters": { "alt": { "type": "string", "location": "query", "enum": ["json"] } },
        "methods": {
            "getTree": {
                "id": "tiny.getTree",
                "httpMethod": "GET",
                "path": "trees/{+name}",
                "parameters": {
                    "name": {
                        "type": "string",
                        "location": "path",
                        "required": true,
                        "pattern": "^forests/[^/]+/trees/[^/]+$"
                    }
                },
                "response": { "$ref": "Node" }
            },
            "loop": { "id": "tiny.loop", "httpMethod": "GET", "path": "loop", "response": { "$ref": "A" } }
        },
        "schemas": {
            "Node": {
                "id": "Node",
                "type": "object",
                "properties": {
                    "name": { "type": "string" },
                    "children": { "type": "array", "items": { "$ref": "Node" } }
                }
            },
            "A": { "$ref": "B" },
            "B": { "$ref": "A" }
        }
    }))
}

#[test]
fn recursive_schemas_are_walked_along_the_value() {
    let api = tiny_api();
    assert_eq!(
        accepted(&api, "GET", "/tiny/v1/trees/forests/f/trees/oak", None),
        "tiny.getTree"
    );
    rejected_once(
        &api,
        "GET",
        "/tiny/v1/trees/forests/f/oak",
        None,
        r#"path parameter `name` of tiny.getTree is "forests/f/oak", which does not match"#,
    );

    // Deeper than serde_json parses JSON text (128 levels), then one unknown
    // field. (Much deeper and building or dropping the `Value` itself
    // overflows a test thread's stack in a debug build.)
    const DEPTH: usize = 300;
    let mut tree = json!({ "name": "leaf", "colour": "green" });
    for depth in 0..DEPTH {
        tree = json!({ "name": format!("n{depth}"), "children": [{ "name": "x" }, tree] });
    }
    let violations = api.validate_response("tiny.getTree", &tree).unwrap_err();
    let expected = format!(
        "response{}.colour: unknown field (not a property of Node)",
        ".children[1]".repeat(DEPTH)
    );
    assert_eq!(violations, [expected]);

    let violations = api.validate_response("tiny.loop", &json!({})).unwrap_err();
    one_violation(violations, "response: $ref cycle through schema");
}

#[test]
#[should_panic(expected = "tiny:v1: $ref to undefined schemas: Node.parent -> Missing")]
fn dangling_refs_fail_at_load() {
    Api::from_document(&json!({
        "id": "tiny:v1",
        "schemas": {
            "Node": { "type": "object", "properties": { "parent": { "$ref": "Missing" } } }
        }
    }));
}
