// The package options every bench process uses: one deployment on the bench upstream, the shared
// Redis and key prefix, polling for everything, silent logs. The server and the worker process agree.
'use strict';

/** Options for `responsesPolling` / `responsesWorker` from the bench process config. */
function packageOptions(pkg, config) {
  return {
    models: [{ modelName: 'bench-model', model: 'openai/bench-model', apiBase: config.upstreamUrl, apiKey: 'sk-bench-upstream' }],
    auth: 'none',
    redis: config.redisUrl,
    keyPrefix: config.keyPrefix,
    backgroundMode: { pollingViaCache: 'all', ttl: 3600 },
    worker: config.worker ?? {},
    logger: pkg.silentLogger,
  };
}

module.exports = { packageOptions };
