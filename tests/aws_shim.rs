//! The Lambda shims nubo puts into AWS artifacts, run for real with node
//! and python3: an artifact from `nubo package`, unzipped, its
//! `nubo_aws.handler` called the way Lambda calls it (API Gateway proxy,
//! SQS, EventBridge, S3 and `nubo.call` events, a context whose ARN names
//! the release alias). moto does not run Lambda code, so this is where the
//! shim's translation and `nubo.call`'s release pinning are checked. The
//! AWS SDK the runtimes ship is replaced by a recording stand-in.

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::Command as Cmd;
use serde_json::{Value, json};

const MANIFEST: &str = "nubo: 1
service: shop
targets:
  prod: { provider: aws, region: eu-west-1 }
functions:
  api:
    handler: api/index.handler
    runtime: nodejs22
    include: [\"api/**\"]
    events:
      - http: { method: POST, path: \"/orders/{id}\" }
    calls: [worker]
  worker:
    handler: worker/main.handler
    runtime: python3.12
    include: [\"worker/**\"]
    calls: [audit]
  audit:
    handler: api/index.handler
    runtime: nodejs22
    include: [\"api/**\"]
";

const NODE_HANDLER: &str = r#"
const nubo = require("nubo");
exports.handler = async (event, ctx) => {
  if (event && event.method) {
    const called = await nubo.call("worker", { id: event.params.id });
    let refused = null;
    try { await nubo.call("api", {}); } catch (e) { refused = { status: e.status, type: e.errorType }; }
    return { status: 201, headers: { "x-release": ctx.release }, body: { event, ctx, called, refused } };
  }
  return { event, ctx };
};
"#;

const PY_HANDLER: &str = r#"
import nubo

def handler(event, ctx):
    if isinstance(event, dict) and "method" in event:
        return {"status": 202, "body": {"event": event, "called": nubo.call("audit", {"n": 1})}}
    refused = None
    try:
        nubo.call("worker", {})
    except nubo.CallError as e:
        refused = {"status": e.status, "type": e.error_type}
    return {"event": event, "ctx": ctx, "refused": refused}
"#;

/// A recording stand-in for `@aws-sdk/client-lambda`.
const FAKE_JS_SDK: &str = r#"
const fs = require("fs");
class InvokeCommand { constructor(input) { this.input = input; } }
class LambdaClient {
  async send(cmd) {
    const i = cmd.input;
    fs.appendFileSync(process.env.FAKE_LOG, JSON.stringify({ FunctionName: i.FunctionName, Qualifier: i.Qualifier, Payload: JSON.parse(Buffer.from(i.Payload).toString()) }) + "\n");
    return { StatusCode: 200, Payload: Buffer.from(JSON.stringify({ from: i.FunctionName, release: i.Qualifier })) };
  }
}
module.exports = { LambdaClient, InvokeCommand };
"#;

/// A recording stand-in for boto3.
const FAKE_BOTO3: &str = r#"
import io, json, os

class _Lambda:
    def invoke(self, FunctionName, Qualifier, Payload):
        with open(os.environ["FAKE_LOG"], "a") as f:
            f.write(json.dumps({"FunctionName": FunctionName, "Qualifier": Qualifier, "Payload": json.loads(Payload)}) + "\n")
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps({"from": FunctionName, "release": Qualifier}).encode())}

def client(name):
    assert name == "lambda"
    return _Lambda()
"#;

/// Package the service for AWS and unzip each function's artifact.
fn artifacts() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let svc = tmp.path().join("svc");
    std::fs::create_dir_all(svc.join("api")).unwrap();
    std::fs::create_dir_all(svc.join("worker")).unwrap();
    std::fs::write(svc.join("nubo.yaml"), MANIFEST).unwrap();
    std::fs::write(svc.join("api/index.js"), NODE_HANDLER).unwrap();
    std::fs::write(svc.join("worker/main.py"), PY_HANDLER).unwrap();
    let out = tmp.path().join("out");
    let o = Cmd::cargo_bin("nubo")
        .unwrap()
        .current_dir(&svc)
        .args(["package", "-t", "prod", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("artifacts.json")).unwrap()).unwrap();
    let unzip = |function: &str| {
        let dir = tmp.path().join(format!("task-{function}"));
        let zip = out.join(report["functions"][function]["path"].as_str().unwrap());
        let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
        archive.extract(&dir).unwrap();
        dir
    };
    let api = unzip("api");
    let worker = unzip("worker");
    (tmp, api, worker)
}

fn context(function: &str, release: &str) -> Value {
    json!({
        "invokedFunctionArn": format!("arn:aws:lambda:eu-west-1:123456789012:function:shop-prod-{function}:{release}"),
        "awsRequestId": "req-1",
    })
}

/// Call `nubo_aws.handler` in node, the way Lambda does.
fn node(
    task: &Path,
    function: &str,
    calls: &str,
    event: &Value,
    release: &str,
) -> (Value, Vec<Value>) {
    std::fs::create_dir_all(task.join("node_modules/@aws-sdk/client-lambda")).unwrap();
    std::fs::write(
        task.join("node_modules/@aws-sdk/client-lambda/index.js"),
        FAKE_JS_SDK,
    )
    .unwrap();
    let log = task.join("calls.jsonl");
    let _ = std::fs::remove_file(&log);
    let script = format!(
        "require('./nubo_aws.js').handler({event}, {ctx}).then(r => process.stdout.write(JSON.stringify(r)), e => {{ console.error(e); process.exit(1); }});",
        ctx = context(function, release)
    );
    let out = Command::new("node")
        .current_dir(task)
        .args(["-e", &script])
        .env("NUBO_HANDLER", "api/index.handler")
        .env("NUBO_FUNCTION", function)
        .env("NUBO_PREFIX", "shop-prod-")
        .env("NUBO_CALLS", calls)
        .env("LAMBDA_TASK_ROOT", task)
        .env("FAKE_LOG", &log)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (serde_json::from_slice(&out.stdout).unwrap(), read_log(&log))
}

/// Call `nubo_aws.handler` in python3, the way Lambda does.
fn python(task: &Path, event: &Value, release: &str) -> (Value, Vec<Value>) {
    std::fs::write(task.join("boto3.py"), FAKE_BOTO3).unwrap();
    let log = task.join("calls.jsonl");
    let _ = std::fs::remove_file(&log);
    let ctx = context("worker", release);
    let script = format!(
        "import json, types, nubo_aws\n\
         ctx = types.SimpleNamespace(invoked_function_arn={arn:?}, aws_request_id='req-1')\n\
         print(json.dumps(nubo_aws.handler(json.loads({event:?}), ctx)))\n",
        arn = ctx["invokedFunctionArn"].as_str().unwrap(),
        event = event.to_string(),
    );
    let out = Command::new("python3")
        .current_dir(task)
        .args(["-c", &script])
        .env("NUBO_HANDLER", "worker/main.handler")
        .env("NUBO_FUNCTION", "worker")
        .env("NUBO_PREFIX", "shop-prod-")
        .env("NUBO_CALLS", "audit")
        .env("LAMBDA_TASK_ROOT", task)
        .env("PYTHONPATH", task)
        .env("FAKE_LOG", &log)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (serde_json::from_slice(&out.stdout).unwrap(), read_log(&log))
}

fn read_log(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn api_gateway_event() -> Value {
    json!({
        "resource": "/orders/{id}",
        "path": "/orders/42",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json", "X-Trace": "t1"},
        "queryStringParameters": {"q": "1"},
        "pathParameters": {"id": "42"},
        "stageVariables": {"release": "r7"},
        "requestContext": {"stage": "live", "requestId": "abc"},
        "body": "{\"sku\":1}",
        "isBase64Encoded": false
    })
}

#[test]
fn node_shim_serves_api_gateway_and_pins_calls_to_the_release() {
    let (_tmp, api, _) = artifacts();
    assert!(api.join("nubo_aws.js").is_file());
    assert!(api.join("node_modules/nubo/index.js").is_file());
    let (res, calls) = node(&api, "api", "worker", &api_gateway_event(), "r7");
    assert_eq!(res["statusCode"], 201);
    assert_eq!(res["headers"]["x-release"], "r7");
    assert_eq!(res["headers"]["content-type"], "application/json");
    let body: Value = serde_json::from_str(res["body"].as_str().unwrap()).unwrap();
    let event = &body["event"];
    assert_eq!(event["method"], "POST");
    assert_eq!(event["path"], "/orders/42");
    assert_eq!(event["route"], "/orders/{id}");
    assert_eq!(event["params"]["id"], "42");
    assert_eq!(event["query"]["q"], "1");
    assert_eq!(
        event["headers"]["x-trace"], "t1",
        "header names are lower-case"
    );
    assert_eq!(event["body"], "{\"sku\":1}");
    assert_eq!(event["release"], "r7");
    assert_eq!(body["ctx"]["release"], "r7");
    assert_eq!(body["ctx"]["requestId"], "req-1");
    // nubo.call went to worker's alias of the same release, and only there.
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["FunctionName"], "shop-prod-worker");
    assert_eq!(calls[0]["Qualifier"], "r7");
    assert_eq!(calls[0]["Payload"]["id"], "42");
    assert_eq!(body["called"]["release"], "r7");
    assert_eq!(
        body["refused"]["status"], 403,
        "a call outside `calls:` is refused"
    );
    assert_eq!(body["refused"]["type"], "NotAllowed");
}

#[test]
fn node_shim_turns_queue_schedule_and_storage_events_neutral() {
    let (_tmp, api, _) = artifacts();
    let sqs = json!({"Records": [
        {"messageId": "m1", "body": "{\"order\":1}", "eventSource": "aws:sqs",
         "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:shop-prod-shipments",
         "attributes": {"ApproximateReceiveCount": "2"}, "messageAttributes": {}},
        {"messageId": "m2", "body": "x", "eventSource": "aws:sqs",
         "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:shop-prod-shipments",
         "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}}
    ]});
    let (res, _) = node(&api, "api", "worker", &sqs, "r3");
    assert_eq!(res["event"]["queue"], "shipments");
    assert_eq!(res["event"]["release"], "r3");
    assert_eq!(res["event"]["messages"][0]["id"], "m1");
    assert_eq!(res["event"]["messages"][0]["attempt"], 2);
    assert_eq!(res["event"]["messages"].as_array().unwrap().len(), 2);

    let schedule = json!({"nubo": "schedule", "schedule": "cron 0 3 * * *"});
    let (res, _) = node(&api, "api", "worker", &schedule, "r3");
    assert_eq!(res["event"]["schedule"], "cron 0 3 * * *");
    assert_eq!(res["event"]["release"], "r3");
    assert!(res["event"]["time"].as_str().is_some());

    let s3 = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "shop-prod-uploads-123456789012"},
               "object": {"key": "in/a+b%21.csv", "size": 12}}}]});
    let (res, _) = node(&api, "api", "worker", &s3, "r3");
    assert_eq!(res["event"]["key"], "in/a b!.csv");
    assert_eq!(res["event"]["event"], "created");
    assert_eq!(res["event"]["size"], 12);

    // A `nubo.call` payload reaches the handler as it is.
    let (res, _) = node(&api, "api", "worker", &json!({"id": "42"}), "r3");
    assert_eq!(res["event"], json!({"id": "42"}));
    assert_eq!(res["ctx"]["release"], "r3");
}

#[test]
fn python_shim_serves_api_gateway_queues_and_calls() {
    let (_tmp, _, worker) = artifacts();
    assert!(worker.join("nubo_aws.py").is_file());
    assert!(worker.join("nubo.py").is_file());
    let (res, calls) = python(&worker, &api_gateway_event(), "r9");
    assert_eq!(res["statusCode"], 202);
    let body: Value = serde_json::from_str(res["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["event"]["release"], "r9");
    assert_eq!(body["event"]["params"]["id"], "42");
    assert_eq!(body["called"]["release"], "r9");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["FunctionName"], "shop-prod-audit");
    assert_eq!(calls[0]["Qualifier"], "r9");

    let sqs = json!({"Records": [{"messageId": "m1", "body": "b", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:shop-prod-jobs",
        "attributes": {"ApproximateReceiveCount": "1"}}]});
    let (res, calls) = python(&worker, &sqs, "r9");
    assert_eq!(res["event"]["queue"], "jobs");
    assert_eq!(res["event"]["messages"][0]["body"], "b");
    assert_eq!(res["ctx"]["release"], "r9");
    assert_eq!(res["refused"]["status"], 403);
    assert!(calls.is_empty(), "a refused call never reaches Lambda");
}
