exports.handler = async (event, ctx) => { console.log(JSON.stringify({ file: event.key, on: event.event, size: event.size, release: ctx.release })); };
