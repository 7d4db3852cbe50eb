"""nubo helper module for Python handlers: `import nubo`.

nubo.call(name, payload) invokes another function of the same release through
the local nubo daemon (NUBO_CALL_URL) and returns its return value. The worker
sets the current invocation context before each call of the handler.
Standard library only.
"""

import http.client
import json
import os
import threading
import urllib.parse

__all__ = ["CallError", "call", "context", "release"]


class CallError(Exception):
    """A nubo.call that failed: `status` is the HTTP status (None for network errors)."""

    def __init__(self, message, status, error_type):
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_type = error_type


_context = {"release": None, "function": None, "requestId": None}
# One kept-alive connection per thread, so handlers may call from threads.
_local = threading.local()


def _set_context(ctx):
    """Called by the worker before each invocation."""
    global _context
    _context = {k: ctx.get(k) for k in ("release", "function", "requestId")}


def context():
    return dict(_context)


def release():
    return _context["release"]


def _connection(host, port):
    conn = getattr(_local, "conn", None)
    if conn is None or (conn.host, conn.port) != (host, port):
        if conn is not None:
            conn.close()
        conn = _local.conn = http.client.HTTPConnection(host, port)
    return conn


def _post(url, body, headers):
    parts = urllib.parse.urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    for attempt in (0, 1):
        conn = _connection(parts.hostname, parts.port or 80)
        reused = conn.sock is not None
        try:
            conn.request("POST", path, body, headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            # A kept-alive connection the server closed while idle: retry once.
            if reused and attempt == 0:
                continue
            raise


def call(name, payload=None):
    """Invoke function `name` of the current release with `payload` and return
    its result. Raises CallError when the call fails."""
    if not isinstance(name, str) or not name:
        raise TypeError("nubo.call: function name must be a non-empty string")
    url = os.environ.get("NUBO_CALL_URL")
    if not url:
        raise CallError("nubo.call: NUBO_CALL_URL is not set (not running under nubo?)", None, "ConfigError")

    body = json.dumps({"function": name, "payload": payload}).encode("utf-8")
    headers = {
        "Authorization": "Bearer " + os.environ.get("NUBO_CALL_TOKEN", ""),
        "Content-Type": "application/json",
    }
    for header, key in (("Nubo-Release", "release"), ("Nubo-Caller", "function"), ("Nubo-Request-Id", "requestId")):
        if _context.get(key) is not None:
            headers[header] = str(_context[key])

    try:
        status, data = _post(url, body, headers)
    except (OSError, http.client.HTTPException) as e:
        raise CallError(f"nubo.call({name!r}) failed: {e}", None, type(e).__name__) from e

    if status == 200:
        try:
            return json.loads(data) if data else None
        except ValueError as e:
            raise CallError(f"nubo.call({name!r}): invalid JSON response: {e}", status, "InvalidResponse") from e
    try:
        info = json.loads(data)
        if not isinstance(info, dict):
            info = {}
    except ValueError:
        info = {}
    message = info.get("errorMessage")
    if not isinstance(message, str):
        message = f"nubo.call({name!r}) failed with HTTP {status}"
    error_type = info.get("errorType")
    raise CallError(message, status, error_type if isinstance(error_type, str) else "Error")
