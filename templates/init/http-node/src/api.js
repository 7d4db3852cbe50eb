"use strict";

// A neutral HTTP handler: the same code runs on every target.
//   req: {method, path, query, headers, body, release}
//   ctx: {release, function, requestId}
// Return {status, headers, body}. Edit this, then run `nubo dev`.
exports.handler = async (req, ctx) => {
  return {
    status: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message: "Hello from nubo", path: req.path, release: ctx.release }),
  };
};
