const nubo = require("nubo");

exports.handler = async (req, ctx) => {
  const order = req.body ? JSON.parse(req.body) : { id: req.params.id };
  const priced = await nubo.call("price", { qty: order.qty || 1 });
  return {
    status: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      release: req.release,
      generation: process.env.GENERATION,
      params: req.params,
      query: req.query,
      chain: [{ function: ctx.function, release: ctx.release }, ...priced.chain],
    }),
  };
};
