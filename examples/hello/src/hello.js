"use strict";

// Neutral HTTP handler: runs unchanged on local, AWS, GCP and Azure.
//   req: {method, path, query, headers, body, release}
//   ctx: {release, function, requestId}
// Returns {status, headers, body}.

// A query value may arrive as a string or, when repeated, as a list.
function first(value) {
  return Array.isArray(value) ? value[0] : value;
}

exports.handler = async (req, ctx) => {
  const name = String(first((req.query || {}).name) || "world").trim() || "world";
  const release = ctx.release || req.release;
  return {
    status: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      message: `Hello, ${name}!`,
      release,
      function: ctx.function,
      requestId: ctx.requestId,
    }),
  };
};
