#!/usr/bin/env node
// The `responses-polling` command: serves the router on its own Express app.

import { parseArgs } from 'node:util';
import express from 'express';
import { loadConfig } from './config/load-config';
import type { ResponsesPollingOptions } from './config/options';
import { startDemoUpstream, type DemoUpstream } from './demo-upstream';
import { ConfigError } from './errors';
import { responsesPolling } from './responses-polling';

const USAGE = `Usage: responses-polling [--config FILE] [--port N] [--host H] [--prefix /path] [--demo]
                          [--health-path /path] [--metrics-path /path]

  --config FILE         LiteLLM-style YAML configuration (model_list, litellm_settings, general_settings)
  --port N              port to listen on (default 4000; 0 picks a free one)
  --host H              address to bind (default 127.0.0.1)
  --prefix /path        mount point of the routes (default /)
  --demo                serve every model from a built-in demo upstream (no provider needed)
  --health-path /path   health check: store PING and running responses (default /healthz; "" turns it off)
  --metrics-path /path  Prometheus metrics (default /metrics; "" turns it off)
`;

function normalisePrefix(prefix: string): string {
  const trimmed = `/${prefix.replace(/^\/+|\/+$/g, '')}`;
  return trimmed === '/' ? '' : trimmed;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      port: { type: 'string', default: '4000' },
      host: { type: 'string', default: '127.0.0.1' },
      prefix: { type: 'string', default: '/' },
      demo: { type: 'boolean', default: false },
      'health-path': { type: 'string', default: '/healthz' },
      'metrics-path': { type: 'string', default: '/metrics' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError([`--port must be an integer from 0 to 65535`]);

  let demo: DemoUpstream | undefined;
  let options: ResponsesPollingOptions = values.config ? loadConfig(values.config) : {};
  if (values.demo) {
    demo = await startDemoUpstream();
    options = { ...options, models: [{ modelName: '*', model: 'openai/*', apiBase: demo.url }] };
  }
  const router = responsesPolling(options);
  const prefix = normalisePrefix(values.prefix ?? '/');
  const app = express();
  app.disable('x-powered-by');
  // Outside the prefix and before it, so a prefix of / does not shadow them; no key needed, as
  // for any scrape or probe endpoint: bind to a private address, or turn them off.
  const healthPath = values['health-path'] ? normalisePrefix(values['health-path']) : '';
  const metricsPath = values['metrics-path'] ? normalisePrefix(values['metrics-path']) : '';
  if (healthPath) app.get(healthPath, router.healthCheck());
  if (metricsPath) app.get(metricsPath, router.metricsHandler());
  app.use(prefix || '/', router);

  const server = app.listen(port, values.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  process.stdout.write(`listening on http://${values.host}:${boundPort}${prefix}\n`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal} received: draining running responses\n`);
    server.close();
    router
      .close()
      .then(() => demo?.close())
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
