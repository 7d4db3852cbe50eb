exports.handler = async (event, ctx) => { console.log(JSON.stringify({ tick: event.time, release: ctx.release })); };
