"""A handler in Lambda's own style: API Gateway proxy event in, proxy response out."""

import json


def handler(event, context):
    name = (event.get("pathParameters") or {}).get("name", "world")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({
            "greeting": f"hello {name}",
            "method": event["httpMethod"],
            "resource": event["resource"],
            "release": event["stageVariables"]["release"],
            "requestId": context.aws_request_id,
            "function": context.function_name,
            "arn": context.invoked_function_arn,
            "remaining_ms": context.get_remaining_time_in_millis(),
        }),
    }
