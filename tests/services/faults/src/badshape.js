exports.handler = async () => "just a string";
