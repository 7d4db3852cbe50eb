// nubo local worker for Node.js (written to disk by nubo, not edited by hand).
//
// Loads the handler named by _HANDLER ("path/file.export", relative to
// LAMBDA_TASK_ROOT) and serves invocations one at a time from the AWS Lambda
// Runtime API at AWS_LAMBDA_RUNTIME_API. Handlers are called as
// handler(event, {release, function, requestId}); async, sync and legacy
// callback-style handlers are supported. CommonJS, core modules only.
"use strict";

const net = require("net");
const path = require("path");
const fs = require("fs");
const { pathToFileURL } = require("url");

const api = new URL("http://" + process.env.AWS_LAMBDA_RUNTIME_API);
const host = api.hostname.replace(/^\[|\]$/g, "");
const port = Number(api.port || 80);

// A minimal HTTP/1.1 client on one persistent socket: the runtime API is a
// strict request/response loop on loopback, and Node's general-purpose
// client costs more per invocation than the handler usually does.
let sock = null;
let buf = Buffer.alloc(0);
// Requests in flight, in order: HTTP/1.1 answers them in the same order, so
// a response and the next `next` can share one write (pipelining).
const waiters = [];

function connect() {
  sock = net.connect({ host, port });
  sock.setNoDelay(true);
  sock.on("data", (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    parse();
  });
  const broken = (err) => {
    const ws = waiters.splice(0);
    sock = null;
    buf = Buffer.alloc(0);
    for (const w of ws) w.reject(err);
  };
  sock.on("error", broken);
  sock.on("close", () => broken(Object.assign(new Error("runtime API connection closed"), { code: "ECONNRESET" })));
}

function parse() {
  while (waiters.length && parseOne());
}

// Resolve the oldest waiter if a whole response is buffered.
function parseOne() {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const lines = buf.toString("latin1", 0, end).split("\r\n");
  const status = parseInt(lines[0].split(" ")[1], 10);
  const headers = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const length = parseInt(headers["content-length"] || "0", 10);
  if (buf.length < end + 4 + length) return false;
  // Header values are bytes; the body is UTF-8 JSON.
  for (const k of Object.keys(headers)) headers[k] = Buffer.from(headers[k], "latin1").toString("utf8");
  const body = buf.toString("utf8", end + 4, end + 4 + length);
  buf = buf.subarray(end + 4 + length);
  waiters.shift().resolve({ status, headers, body });
  return true;
}

// One request to the runtime API. Resolves {status, headers, body}; rejects
// on network errors (the daemon keeps its connections open, so a broken one
// means it went away).
function request(method, urlPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    if (!sock) connect();
    const data = body === undefined ? null : Buffer.from(body, "utf8");
    let head = `${method} /2018-06-01${urlPath} HTTP/1.1\r\nHost: ${api.host}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    head += data ? `Content-Type: application/json\r\nContent-Length: ${data.length}\r\n\r\n` : "Content-Length: 0\r\n\r\n";
    waiters.push({ resolve, reject });
    sock.write(data ? Buffer.concat([Buffer.from(head, "latin1"), data]) : head);
  });
}

// Post an invocation's outcome and ask for the next invocation in one write.
function reply(urlPath, body, headers) {
  if (!sock) connect();
  sock.cork();
  const posted = request("POST", urlPath, body, headers);
  const next = request("GET", "/runtime/invocation/next");
  sock.uncork();
  next.catch(() => {}); // awaited later; its failure is the same broken socket
  return { posted, next };
}

// The daemon went away: nothing left to do.
function gone() {
  process.exit(0);
}

function errorType(err) {
  if (!(err instanceof Error)) return "Error";
  if (err.name && err.name !== "Error") return err.name;
  return (err.constructor && err.constructor.name) || "Error";
}

function errorJson(err, type) {
  if (!(err instanceof Error)) {
    let message;
    try {
      message = typeof err === "string" ? err : JSON.stringify(err);
    } catch {}
    return { errorMessage: message === undefined ? String(err) : message, errorType: type || "Error", stackTrace: [] };
  }
  // Keep the user's frames: drop this file's and node's internals.
  const stack = String(err.stack || "")
    .split("\n")
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => l && !l.includes(__filename) && !l.includes("node:internal"));
  return { errorMessage: String(err.message), errorType: type || errorType(err), stackTrace: stack };
}

// The body and headers of an error post.
function errorPost(err, type) {
  const json = errorJson(err, type);
  let body;
  try {
    body = JSON.stringify(json);
  } catch {
    body = JSON.stringify({ errorMessage: String(json.errorMessage), errorType: String(json.errorType), stackTrace: [] });
  }
  return [body, { "Lambda-Runtime-Function-Error-Type": json.errorType }];
}

function postError(urlPath, err, type) {
  const [body, headers] = errorPost(err, type);
  return request("POST", urlPath, body, headers);
}

function runtimeError(type, message) {
  const err = new Error(message);
  err.name = type;
  return err;
}

async function loadHandler() {
  const spec = process.env._HANDLER || "";
  const dot = spec.lastIndexOf(".");
  if (dot <= 0 || dot === spec.length - 1) {
    throw runtimeError("Runtime.MalformedHandlerName", `Bad handler '${spec}': expected 'path/file.export'`);
  }
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const base = path.resolve(root, spec.slice(0, dot));
  const name = spec.slice(dot + 1);

  let mod;
  const file = [".js", ".cjs", ".mjs"].map((ext) => base + ext).find((f) => fs.existsSync(f));
  if (!file) {
    throw runtimeError(
      "Runtime.ImportModuleError",
      `Cannot find module '${spec.slice(0, dot)}' (looked for .js, .cjs, .mjs in ${root})`,
    );
  }
  if (file.endsWith(".mjs")) {
    mod = await import(pathToFileURL(file).href);
  } else {
    try {
      mod = require(file);
    } catch (err) {
      // A .js file in a "type": "module" package is ESM.
      if (err && err.code === "ERR_REQUIRE_ESM") mod = await import(pathToFileURL(file).href);
      else throw err;
    }
  }
  let fn = mod == null ? undefined : mod[name];
  // import() of a CommonJS module puts module.exports on `default`.
  if (typeof fn !== "function" && mod && mod.default && typeof mod.default[name] === "function") fn = mod.default[name];
  if (typeof fn !== "function") {
    throw runtimeError("Runtime.HandlerNotFound", `${path.relative(root, file)} does not export a function '${name}'`);
  }
  return fn;
}

function invoke(handler, event, ctx) {
  if (handler.length >= 3) {
    return new Promise((resolve, reject) => {
      const callback = (err, result) => (err != null ? reject(err) : resolve(result));
      const ret = handler(event, ctx, callback);
      if (ret !== undefined) Promise.resolve(ret).then(resolve, reject);
    });
  }
  return Promise.resolve().then(() => handler(event, ctx));
}

// Errors thrown outside the handler's promise chain (timers, stray promises)
// fail the invocation in flight instead of killing the worker.
let failCurrent = null;
function onStray(err) {
  if (failCurrent) failCurrent(err);
  else console.error(err);
}
process.on("uncaughtException", onStray);
process.on("unhandledRejection", onStray);

async function main() {
  let handler;
  let nubo;
  try {
    nubo = require("nubo");
    handler = await loadHandler();
  } catch (err) {
    await postError("/runtime/init/error", err).catch(() => {});
    process.exit(1);
  }

  let pending = request("GET", "/runtime/invocation/next");
  for (;;) {
    let next;
    try {
      next = await pending;
    } catch {
      return gone();
    }
    if (next.status !== 200) {
      console.error(`nubo worker: unexpected status ${next.status} from runtime API: ${next.body}`);
      process.exit(1);
    }
    const requestId = next.headers["lambda-runtime-aws-request-id"];
    const ctx = {
      release: next.headers["nubo-release"] ?? null,
      function: process.env.AWS_LAMBDA_FUNCTION_NAME ?? null,
      requestId: requestId ?? null,
    };
    const prefix = `/runtime/invocation/${encodeURIComponent(requestId)}`;

    let result;
    let failed = false;
    let error;
    // Keep the process alive while the invocation is pending: a handler whose
    // promise never settles must time out (and be stopped by the daemon), as on
    // Lambda, not end the process with nothing left on the event loop.
    const alive = setInterval(() => {}, 1 << 30);
    try {
      const stray = new Promise((_, reject) => (failCurrent = reject));
      const event = next.body === "" ? null : JSON.parse(next.body);
      nubo._setContext(ctx);
      result = await Promise.race([invoke(handler, event, { ...ctx }), stray]);
    } catch (err) {
      failed = true;
      error = err;
    } finally {
      failCurrent = null;
      clearInterval(alive);
    }

    let out;
    if (failed) {
      out = [prefix + "/error", ...errorPost(error)];
    } else {
      let body;
      try {
        body = JSON.stringify(result);
        out = [prefix + "/response", body === undefined ? "null" : body, {}];
      } catch (err) {
        out = [prefix + "/error", ...errorPost(runtimeError("Runtime.MarshalError", `Unable to serialise response: ${err.message}`))];
      }
    }
    const { posted, next: following } = reply(...out);
    pending = following;
    try {
      await posted;
    } catch {
      return gone();
    }
  }
}

main();
