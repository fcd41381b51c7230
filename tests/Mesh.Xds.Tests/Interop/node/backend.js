#!/usr/bin/env node
// Greeter backend for the xDS interop tests: answers helloworld.Greeter/SayHello with its name.
//
// node backend.js --name backend-a [--host 127.0.0.1] [--port 0] [--fail-code N]
//
// Prints ONE JSON line on stdout once listening: {"name":"backend-a","port":12345}
// and serves until SIGTERM/SIGINT. --fail-code N makes every call fail with gRPC status N
// (e.g. 14 UNAVAILABLE) for retry / outlier-detection tests.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function fail(message) {
  process.stderr.write(`backend.js: ${message}\n`);
  process.exit(2);
}

const opts = { name: null, host: '127.0.0.1', port: 0, failCode: 0 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const value = argv[i + 1];
  if (value === undefined) fail(`${argv[i]} needs a value`);
  switch (argv[i]) {
    case '--name': opts.name = value; break;
    case '--host': opts.host = value; break;
    case '--port': opts.port = Number(value); break;
    case '--fail-code': opts.failCode = Number(value); break;
    default: fail(`unknown argument ${argv[i]}`);
  }
  i++;
}
if (!opts.name) fail('--name is required');

const def = protoLoader.loadSync(path.join(__dirname, 'greeter.proto'), { keepCase: true, defaults: true });
const { Greeter } = grpc.loadPackageDefinition(def).helloworld;

const server = new grpc.Server();
server.addService(Greeter.service, {
  SayHello(call, callback) {
    if (opts.failCode) {
      callback({ code: opts.failCode, details: `${opts.name} configured to fail` });
      return;
    }
    callback(null, { message: `Hello ${call.request.name} from ${opts.name}`, backend: opts.name });
  },
});

const address = opts.host.includes(':') ? `[${opts.host}]:${opts.port}` : `${opts.host}:${opts.port}`;
server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) fail(`cannot listen on ${address}: ${err.message}`);
  process.stdout.write(JSON.stringify({ name: opts.name, port }) + '\n');
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.tryShutdown(() => process.exit(0)));
}
