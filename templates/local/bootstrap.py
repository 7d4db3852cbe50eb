"""nubo local worker for Python (written to disk by nubo, not edited by hand).

Loads the handler named by _HANDLER ("path/file.function", relative to
LAMBDA_TASK_ROOT) and serves invocations one at a time from the AWS Lambda
Runtime API at AWS_LAMBDA_RUNTIME_API. Handlers are called as
handler(event, {"release", "function", "requestId"}). Standard library only.
"""

import http.client
import importlib.util
import json
import os
import sys
import traceback

def _limit_memory():
    """Hold the process to the function's memory (plus interpreter headroom):
    an allocation past it raises MemoryError in the handler instead of
    growing until the daemon stops the worker."""
    try:
        import resource

        mib = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0"))
        if mib > 0:
            limit = (mib + 64) * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass


_limit_memory()

_host, _, _port = os.environ["AWS_LAMBDA_RUNTIME_API"].rpartition(":")
_conn = http.client.HTTPConnection(_host.strip("[]"), int(_port))


class RuntimeGone(Exception):
    """The runtime API connection is broken: the daemon went away."""


class RuntimeFailure(Exception):
    """An error with an explicit Lambda error type (Runtime.*)."""

    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type


def _exit(code):
    # os._exit: don't wait for threads the handler may have left running.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def request(method, path, body=None, headers=None):
    """Returns (status, response, body bytes); raises RuntimeGone on network errors."""
    for attempt in (0, 1):
        reused = _conn.sock is not None
        try:
            _conn.request(method, "/2018-06-01" + path, body, headers or {})
            resp = _conn.getresponse()
            return resp.status, resp, resp.read()
        except (OSError, http.client.HTTPException):
            _conn.close()
            # A kept-alive connection the server closed while idle: retry once.
            if reused and attempt == 0:
                continue
            raise RuntimeGone()


def error_json(e):
    # Keep the user's frames: drop this file's and the import machinery's.
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename != __file__ and not f.filename.startswith("<frozen")]
    return {
        "errorMessage": str(e),
        "errorType": e.error_type if isinstance(e, RuntimeFailure) else type(e).__name__,
        "stackTrace": [line.rstrip("\n") for line in traceback.format_list(frames)],
    }


def post_error(path, e):
    err = error_json(e)
    headers = {"Content-Type": "application/json", "Lambda-Runtime-Function-Error-Type": err["errorType"]}
    request("POST", path, json.dumps(err).encode("utf-8"), headers)


def load_handler():
    root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    if root not in sys.path:
        sys.path.insert(0, root)
    spec = os.environ.get("_HANDLER", "")
    module_path, _, name = spec.rpartition(".")
    if not module_path or not name:
        raise RuntimeFailure("Runtime.MalformedHandlerName", f"Bad handler '{spec}': expected 'path/file.function'")

    # "path/file" as given; also accept the dotted "package.module" form.
    candidates = [module_path]
    if "/" not in module_path and "." in module_path:
        candidates.append(module_path.replace(".", "/"))
    for rel in candidates:
        file = os.path.join(root, rel + ".py")
        if os.path.isfile(file):
            break
    else:
        raise RuntimeFailure(
            "Runtime.ImportModuleError", f"Unable to import module '{module_path}': no {module_path}.py in {root}"
        )

    module_name = rel.replace(os.sep, ".").replace("/", ".")
    module_spec = importlib.util.spec_from_file_location(module_name, file)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    module_spec.loader.exec_module(module)

    handler = getattr(module, name, None)
    if not callable(handler):
        raise RuntimeFailure("Runtime.HandlerNotFound", f"{rel}.py does not define a function '{name}'")
    return handler


def main():
    # Line-buffered output, so logs of an invocation that is killed (timeout) aren't lost.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except Exception:
            pass
    try:
        import nubo

        handler = load_handler()
    except (Exception, SystemExit) as e:
        try:
            post_error("/runtime/init/error", e)
        except RuntimeGone:
            pass
        _exit(1)

    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    while True:
        try:
            status, resp, body = request("GET", "/runtime/invocation/next")
        except RuntimeGone:
            _exit(0)
        if status != 200:
            print(f"nubo worker: unexpected status {status} from runtime API: {body!r}", file=sys.stderr)
            _exit(1)
        request_id = resp.getheader("Lambda-Runtime-Aws-Request-Id")
        ctx = {"release": resp.getheader("Nubo-Release"), "function": function, "requestId": request_id}
        prefix = f"/runtime/invocation/{request_id}"

        try:
            try:
                event = json.loads(body) if body else None
                nubo._set_context(ctx)
                result = handler(event, dict(ctx))
            except (Exception, SystemExit) as e:
                post_error(prefix + "/error", e)
            else:
                try:
                    out = json.dumps(result, allow_nan=False).encode("utf-8")
                except Exception as e:
                    post_error(prefix + "/error", RuntimeFailure("Runtime.MarshalError", f"Unable to serialise response: {e}"))
                else:
                    request("POST", prefix + "/response", out, {"Content-Type": "application/json"})
        except RuntimeGone:
            _exit(0)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        _exit(130)
