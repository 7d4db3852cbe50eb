exports.handler = async () => { setTimeout(() => process.exit(1), 20); return { status: 200, body: "bye" }; };
