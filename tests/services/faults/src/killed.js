exports.handler = async () => { process.kill(process.pid, "SIGKILL"); };
