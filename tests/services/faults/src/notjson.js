exports.handler = async () => { const a = {}; a.self = a; return a; };
