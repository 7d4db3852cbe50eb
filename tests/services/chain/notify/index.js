exports.handler = async (event, ctx) => ({
  amount: event.amount,
  chain: [{ function: ctx.function, release: ctx.release }],
});
