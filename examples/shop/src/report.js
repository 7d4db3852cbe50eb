"use strict";

// Two event sources, one handler:
//   schedule: {time, schedule}                                — nightly at 03:00
//   storage:  {bucket, key, event: "created"|"deleted", size} — uploads under in/
// ctx: {release, function, requestId}.

exports.handler = async (event, ctx) => {
  const release = ctx.release || event.release;

  if (event.bucket !== undefined) {
    const { bucket, key, size } = event;
    console.log(JSON.stringify({ function: "report", release, upload: { bucket, key, event: event.event, size } }));
    return { release, kind: "storage", bucket, key, event: event.event, size };
  }

  if (event.schedule !== undefined) {
    console.log(JSON.stringify({ function: "report", release, run: event.time, schedule: event.schedule }));
    return { release, kind: "schedule", time: event.time };
  }

  console.warn(JSON.stringify({ function: "report", release, warn: "unexpected event", keys: Object.keys(event) }));
  return { release, kind: "unknown" };
};
