// The workers of an API-only deployment, run as their own process: `responsesWorker` of the built
// package on the same Redis and upstream as bench/server-process.js (started there with role 'api').
'use strict';

const path = require('node:path');
const { packageOptions } = require('./lib/package-options');

const config = JSON.parse(process.env.BENCH_SERVER_CONFIG);
const pkg = require(path.resolve(config.dist));

const worker = pkg.responsesWorker(packageOptions(pkg, config));

process.send({ ready: true, port: 0 });
process.on('disconnect', async () => {
  await worker.close(1000).catch(() => undefined);
  process.exit(0);
});
