// The workers of an API-only deployment, run as their own process: `responsesWorker` of the built
// package on the same Redis and upstream as bench/server-process.js (started there with role 'api').
'use strict';

const path = require('node:path');

const config = JSON.parse(process.env.BENCH_SERVER_CONFIG);
const pkg = require(path.resolve(config.dist));

const worker = pkg.responsesWorker({
  models: [{ modelName: 'bench-model', model: 'openai/bench-model', apiBase: config.upstreamUrl, apiKey: 'sk-bench-upstream' }],
  auth: 'none',
  redis: config.redisUrl,
  keyPrefix: config.keyPrefix,
  backgroundMode: { pollingViaCache: 'all', ttl: 3600 },
  worker: config.worker ?? {},
  logger: pkg.silentLogger,
});

process.send({ ready: true, port: 0 });
process.on('disconnect', async () => {
  await worker.close(1000).catch(() => undefined);
  process.exit(0);
});
