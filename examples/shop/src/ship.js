"use strict";

// Ship an order. Two ways in:
//   - called by charge:  nubo.call("ship", {orderId, sku, qty})
//   - the `shipments` queue: {messages: [{id, body, attributes}]}
// ctx: {release, function, requestId}.

function json(status, value) {
  return { status, headers: { "content-type": "application/json" }, body: JSON.stringify(value) };
}

// The call payload: a JSON request body, or the request itself.
function payloadOf(req) {
  if (typeof req.body === "string") return JSON.parse(req.body || "{}");
  if (req.body && typeof req.body === "object") return req.body;
  return req;
}

function ship(order) {
  const tracking = `TRK-${order.orderId ?? "manual"}-${order.sku ?? 0}`;
  console.log(JSON.stringify({ function: "ship", orderId: order.orderId, tracking }));
  return tracking;
}

exports.handler = async (req, ctx) => {
  const release = ctx.release || req.release;

  if (Array.isArray(req.messages)) {
    const shipped = [];
    for (const msg of req.messages) {
      let order;
      try {
        order = typeof msg.body === "string" ? JSON.parse(msg.body) : msg.body;
      } catch {
        console.error(JSON.stringify({ function: "ship", message: msg.id, error: "body is not JSON" }));
        continue;
      }
      shipped.push({ id: msg.id, tracking: ship(order || {}) });
    }
    return { release, shipped };
  }

  const tracking = ship(payloadOf(req));
  return json(200, { release, tracking, chain: [{ function: "ship", release }] });
};
