exports.handler = () => new Promise((r) => setTimeout(() => r({ status: 200, body: "late" }), 8000));
