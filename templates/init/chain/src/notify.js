"use strict";

// The end of the chain. Called by price with nubo.call("notify", {...}).
exports.handler = async (req, ctx) => {
  const order = typeof req.body === "string" ? JSON.parse(req.body) : req;
  // Next: send an e-mail or a message here.
  console.log(JSON.stringify({ notify: order.item, total: order.total, release: ctx.release }));
  return {
    status: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ chain: [{ function: ctx.function, release: ctx.release }] }),
  };
};
