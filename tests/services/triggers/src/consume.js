exports.handler = async (event, ctx) => {
  for (const m of event.messages) {
    if (m.body.fail) throw new Error(`cannot process ${m.id} (attempt ${m.attempt})`);
  }
  console.log(JSON.stringify({ batch: event.messages.map((m) => m.body.n), release: ctx.release }));
};
