#!/usr/bin/env node
// xDS interop client: calls helloworld.Greeter/SayHello through @grpc/grpc-js-xds.
//
// node client.js --target xds:///greeter.test:50051 [--calls 1000] [--concurrency 10]
//                [--metadata key=value ...] [--duration-ms N] [--rpc-timeout-ms N]
//                [--progress-ms N] [--wait-for-ready] [--xds-creds]
//
// The bootstrap comes from GRPC_XDS_BOOTSTRAP (a file) or GRPC_XDS_BOOTSTRAP_CONFIG (the JSON
// itself), read and validated by grpc-js-xds's own loader. Prints ONE JSON line on stdout:
//   {"ok":n,"failed":n,"byBackend":{"backend-a":n},"errors":{"14/some message":n}}
// With --duration-ms it calls until the time is up and writes one JSON line per --progress-ms
// interval to stderr: {"progress":true,"tMs":..,"ok":..,"failed":..,"byBackend":{..},"errors":{..}}
// (counts for that interval only). Exit code 0 whatever the calls did; 2 on harness errors.
// --xds-creds uses grpc-js-xds's XdsChannelCredentials (insecure fallback): the clusters' UpstreamTlsContext
// (gRFC A29) then decides TLS / mTLS with the bootstrap's certificate_providers; without it, insecure credentials.
'use strict';

const path = require('path');

function fail(message) {
  process.stderr.write(`client.js: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { target: null, calls: 1000, concurrency: 10, metadata: [], durationMs: 0,
    rpcTimeoutMs: 5000, progressMs: 1000, waitForReady: false, xdsCreds: false };
  const intArg = (name, value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) fail(`${name} needs a non-negative integer, got ${value}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) fail(`${arg} needs a value`);
      return argv[++i];
    };
    switch (arg) {
      case '--target': opts.target = next(); break;
      case '--calls': opts.calls = intArg(arg, next()); break;
      case '--concurrency': opts.concurrency = intArg(arg, next()); break;
      case '--duration-ms': opts.durationMs = intArg(arg, next()); break;
      case '--rpc-timeout-ms': opts.rpcTimeoutMs = intArg(arg, next()); break;
      case '--progress-ms': opts.progressMs = intArg(arg, next()); break;
      case '--wait-for-ready': opts.waitForReady = true; break;
      case '--xds-creds': opts.xdsCreds = true; break;
      case '--metadata': {
        const kv = next();
        const eq = kv.indexOf('=');
        if (eq <= 0) fail(`--metadata needs key=value, got ${kv}`);
        opts.metadata.push([kv.slice(0, eq).toLowerCase(), kv.slice(eq + 1)]);
        break;
      }
      default: fail(`unknown argument ${arg}`);
    }
  }
  if (!opts.target) fail('--target is required');
  if (opts.concurrency < 1) fail('--concurrency must be at least 1');
  return opts;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));

  let grpc, protoLoader, xds;
  try {
    grpc = require('@grpc/grpc-js');
    protoLoader = require('@grpc/proto-loader');
    xds = require('@grpc/grpc-js-xds');
  } catch (e) {
    fail(`cannot load the npm packages (run npm ci in ${__dirname}): ${e.message}`);
  }

  if (opts.target.startsWith('xds:')) {
    // Same loader (and so the same env vars and validation) that the xds resolver uses.
    try {
      require('@grpc/grpc-js-xds/build/src/xds-bootstrap').loadBootstrapInfo();
    } catch (e) {
      fail(`bad xDS bootstrap: ${e.message}`);
    }
  }
  xds.register();

  let Greeter;
  try {
    const def = protoLoader.loadSync(path.join(__dirname, 'greeter.proto'),
      { keepCase: true, defaults: true });
    Greeter = grpc.loadPackageDefinition(def).helloworld.Greeter;
  } catch (e) {
    fail(`cannot load greeter.proto: ${e.message}`);
  }

  let client;
  try {
    const credentials = opts.xdsCreds
      ? new xds.XdsChannelCredentials(grpc.credentials.createInsecure())
      : grpc.credentials.createInsecure();
    client = new Greeter(opts.target, credentials);
  } catch (e) {
    fail(`cannot create a channel for ${opts.target}: ${e.message}`);
  }

  const newTally = () => ({ ok: 0, failed: 0, byBackend: {}, errors: {} });
  const total = newTally();
  let interval = newTally();
  const bump = (map, key) => { map[key] = (map[key] || 0) + 1; };
  const record = (err, reply) => {
    for (const t of [total, interval]) {
      if (err) {
        t.failed++;
        // Timings inside messages ("after 3.001s") would split one error into many keys.
        bump(t.errors, `${err.code}/${String(err.details || err.message).replace(/\d+\.\d+s\b/g, 'Ns')}`);
      } else {
        t.ok++;
        bump(t.byBackend, reply.backend || reply.message || '(unnamed)');
      }
    }
  };

  const started = Date.now();
  const deadlineAt = opts.durationMs > 0 ? started + opts.durationMs : Infinity;
  let issued = 0;
  const more = () => (opts.durationMs > 0 ? Date.now() < deadlineAt : issued < opts.calls);

  function callOnce() {
    return new Promise((resolve) => {
      const md = new grpc.Metadata();
      for (const [k, v] of opts.metadata) md.add(k, v);
      const callOpts = { deadline: Date.now() + opts.rpcTimeoutMs };
      if (opts.waitForReady) callOpts.waitForReady = true;
      client.SayHello({ name: `call-${issued}` }, md, callOpts, (err, reply) => {
        record(err, reply);
        resolve();
      });
    });
  }

  async function worker() {
    while (more()) {
      issued++;
      await callOnce();
    }
  }

  let progressTimer = null;
  if (opts.durationMs > 0 && opts.progressMs > 0) {
    progressTimer = setInterval(() => {
      process.stderr.write(JSON.stringify({ progress: true, tMs: Date.now() - started, ...interval }) + '\n');
      interval = newTally();
    }, opts.progressMs);
  }

  const workers = [];
  for (let i = 0; i < opts.concurrency; i++) workers.push(worker());
  Promise.all(workers).then(() => {
    if (progressTimer) clearInterval(progressTimer);
    client.close();
    process.stdout.write(JSON.stringify({ ok: total.ok, failed: total.failed,
      byBackend: total.byBackend, errors: total.errors }) + '\n', () => process.exit(0));
  }, (e) => fail(`unexpected error: ${e && e.stack || e}`));
}

main();
