// nubo helper module for Node.js handlers: `const nubo = require("nubo")`.
//
// nubo.call(name, payload) invokes another function of the same release through
// the local nubo daemon (NUBO_CALL_URL) and resolves to its return value.
// The worker sets the current invocation context before each call of the
// handler. Core modules only.
"use strict";

const http = require("http");

const agent = new http.Agent({ keepAlive: true });
let current = { release: null, function: null, requestId: null };

// Called by the worker before each invocation.
function _setContext(ctx) {
  current = {
    release: ctx.release ?? null,
    function: ctx.function ?? null,
    requestId: ctx.requestId ?? null,
  };
}

function context() {
  return { ...current };
}

function release() {
  return current.release;
}

function callError(message, status, errorType) {
  const err = new Error(message);
  err.status = status;
  err.errorType = errorType;
  return err;
}

function send(url, headers, body, retried) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", headers, agent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", (err) => {
      // A kept-alive socket closed by the server while idle: retry once.
      if (req.reusedSocket && !retried && err.code === "ECONNRESET") {
        resolve(send(url, headers, body, true));
      } else {
        reject(err);
      }
    });
    req.end(body);
  });
}

// Invoke function `name` of the current release with `payload`; resolves to its
// return value. Rejects with an Error carrying `.status` and `.errorType` when
// the call fails.
async function call(name, payload) {
  if (typeof name !== "string" || name === "") throw new TypeError("nubo.call: function name must be a non-empty string");
  const url = process.env.NUBO_CALL_URL;
  if (!url) throw new Error("nubo.call: NUBO_CALL_URL is not set (not running under nubo?)");

  const body = Buffer.from(JSON.stringify({ function: name, payload: payload === undefined ? null : payload }), "utf8");
  const headers = {
    Authorization: `Bearer ${process.env.NUBO_CALL_TOKEN || ""}`,
    "Content-Type": "application/json",
    "Content-Length": body.length,
  };
  if (current.release != null) headers["Nubo-Release"] = current.release;
  if (current.function != null) headers["Nubo-Caller"] = current.function;
  if (current.requestId != null) headers["Nubo-Request-Id"] = current.requestId;

  const res = await send(url, headers, body, false);
  if (res.status === 200) {
    if (res.body === "") return null;
    try {
      return JSON.parse(res.body);
    } catch (err) {
      throw callError(`nubo.call(${JSON.stringify(name)}): invalid JSON response: ${err.message}`, res.status, "InvalidResponse");
    }
  }
  let info = {};
  try {
    info = JSON.parse(res.body) || {};
  } catch {}
  throw callError(
    typeof info.errorMessage === "string" ? info.errorMessage : `nubo.call(${JSON.stringify(name)}) failed with HTTP ${res.status}`,
    res.status,
    typeof info.errorType === "string" ? info.errorType : "Error",
  );
}

module.exports = { call, release, context, _setContext };
