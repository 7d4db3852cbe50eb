exports.handler = () => new Promise(() => {});
