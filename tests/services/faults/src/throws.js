exports.handler = async () => { throw new TypeError("no such order"); };
