"""A neutral HTTP handler: the same code runs on every target.

req: {method, path, query, headers, body, release}
ctx: {release, function, requestId}
Return {status, headers, body}. Edit this, then run `nubo dev`.
"""

import json


def handler(req, ctx):
    return {
        "status": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"message": "Hello from nubo", "path": req["path"], "release": ctx["release"]}),
    }
