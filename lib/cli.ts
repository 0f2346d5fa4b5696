#!/usr/bin/env node
// The `responses-polling` command: serves the router on its own Express app and HTTP server.

import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { parseCliArgs, packageVersion, USAGE, type CliSettings } from './cli-args';
import { loadConfig } from './config/load-config';
import type { ResponsesPollingConfig, ResponsesPollingOptions } from './config/options';
import { startDemoUpstream, type DemoUpstream } from './demo-upstream';
import { ApiError, ConfigError, unauthorized } from './errors';
import { presentedKey } from './middleware/auth';
import { sendError } from './middleware/http';
import { responsesPolling, type ResponsesPollingRouter } from './responses-polling';
import { responsesWorker, type ResponsesWorker } from './queue/responses-worker';
import { MemoryStore } from './store/memory-store';
import { unavailableFrom } from './store/redis-reachability';
import type { ResponseStore } from './types';

/** The store in a start-up line: where it connects, never a credential. */
function describeStore(store: ResponseStore): string {
  if (store instanceof MemoryStore) return 'memory (this process only)';
  const location = (store as { location?: unknown }).location;
  return typeof location === 'string' ? location : 'a custom store';
}

function describeModels(config: ResponsesPollingConfig): string {
  const names = new Set(config.models.map((m) => m.modelName)).size;
  const deployments = config.models.length;
  return `${names} model${names === 1 ? '' : 's'} (${deployments} deployment${deployments === 1 ? '' : 's'})`;
}

/** Whether the options decide how callers authenticate (else the router would start open). */
function decidesAuth(options: ResponsesPollingOptions): boolean {
  return Boolean(options.masterKey || options.virtualKeys?.length || options.authenticate || options.auth);
}

/** Requires the master key (as for the routes: `Authorization: Bearer` or `api-key`), compared by digest in constant time. */
function masterKeyRequired(masterKeyHash: string): RequestHandler {
  const expected = Buffer.from(masterKeyHash, 'hex');
  return function requireMasterKey(req: Request, res: Response, next: NextFunction): void {
    const key = presentedKey(req);
    if (key && timingSafeEqual(createHash('sha256').update(key).digest(), expected)) return next();
    sendError(res, unauthorized(key ? undefined : 'Missing API key. This endpoint needs the master key (--ops-auth).'));
  };
}

/** OpenAI's answer for a URL it does not serve. */
function unknownRoute(req: Request, res: Response): void {
  sendError(res, new ApiError(404, `Invalid URL (${req.method} ${req.path.slice(0, 200)})`, { type: 'invalid_request_error' }));
}

/** Last resort for errors outside the router (a malformed URL, a body the host's parser refused): no stack, no details. */
function errorAnswer(err: unknown, _req: Request, res: Response, _next: NextFunction): void {
  const status = (err as { status?: unknown }).status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    sendError(res, new ApiError(status, 'The request could not be read.', { type: 'invalid_request_error' }));
    return;
  }
  sendError(res, new ApiError(500, 'The server had an error while processing your request.', { type: 'server_error', code: 'server_error' }));
}

/**
 * PINGs the store once (within its command deadline). Resolves `undefined` when it answered, else
 * why not; credentials Redis refused are reported as such.
 */
async function probeStore(store: ResponseStore): Promise<{ reason: 'unreachable' | 'auth_failed'; message: string } | undefined> {
  try {
    await store.ping();
    return undefined;
  } catch (err) {
    const failure = unavailableFrom(err);
    return { reason: failure.reason, message: failure.message };
  }
}

/** The app of a process: the routes (unless `--role worker`), the health check and the metrics. */
function buildApp(settings: CliSettings, router: ResponsesPollingRouter | ResponsesWorker, routes: ResponsesPollingRouter | undefined): express.Express {
  const app = express();
  app.disable('x-powered-by');
  const { masterKeyHash } = router.runtime.config;
  const ops: RequestHandler[] = settings.opsAuth && masterKeyHash ? [masterKeyRequired(masterKeyHash)] : [];
  // Outside the prefix and before it, so a prefix of / does not shadow them. Open unless
  // --ops-auth: bind to a private address, or turn them off.
  if (settings.healthPath) app.get(settings.healthPath, ...ops, router.healthCheck());
  if (settings.metricsPath) app.get(settings.metricsPath, ...ops, router.metricsHandler());
  if (routes) app.use(settings.prefix || '/', routes);
  app.use(unknownRoute);
  app.use(errorAnswer);
  return app;
}

async function listen(settings: CliSettings, app: express.Express): Promise<Server> {
  const server = createServer(
    {
      headersTimeout: settings.headersTimeoutMs,
      requestTimeout: settings.requestTimeoutMs,
      // Node checks both timeouts on this interval (30 s by default, longer than the timeouts).
      connectionsCheckingInterval: Math.min(1000, settings.headersTimeoutMs),
    },
    app,
  );
  server.maxConnections = settings.maxConnections;
  server.listen(settings.port, settings.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return server;
}

async function main(): Promise<void> {
  const settings = parseCliArgs(process.argv.slice(2), process.env);
  if (settings.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (settings.version) {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }

  let demo: DemoUpstream | undefined;
  let options: ResponsesPollingOptions = settings.config ? loadConfig(settings.config) : {};
  if (settings.demo) {
    demo = await startDemoUpstream();
    // The demo calls no provider: without keys of its own it is open, and says so.
    options = { ...(decidesAuth(options) ? {} : { auth: 'none' as const }), ...options, models: [{ modelName: '*', model: 'openai/*', apiBase: demo.url }] };
  }
  options = { ...options, role: settings.role };
  const routes = settings.role === 'worker' ? undefined : responsesPolling(options);
  const router = routes ?? responsesWorker(options);
  const { config } = router.runtime;
  const stopAll = async () => {
    await router.close();
    await demo?.close();
  };
  if (settings.opsAuth && !config.masterKeyHash) {
    await stopAll();
    throw new ConfigError(['--ops-auth needs a master key: set general_settings.master_key in the YAML configuration']);
  }

  const storeName = describeStore(config.store);
  const failure = await probeStore(config.store);
  if (failure && (failure.reason === 'auth_failed' || settings.requireStore)) {
    await stopAll();
    const why = failure.reason === 'auth_failed' ? '' : ' (--require-store)';
    throw new Error(`The store (${storeName}) cannot be used${why}: ${failure.message}`);
  }
  if (failure) {
    process.stderr.write(
      `warning: the store (${storeName}) is unreachable: ${failure.message} Serving anyway: creates and reads answer 503 ` +
        `store_unavailable and ${settings.healthPath || 'the health check'} says store: unreachable until it answers. ` +
        'Pass --require-store to exit instead.\n',
    );
  }

  const server = await listen(settings, buildApp(settings, router, routes));
  const address = server.address();
  const boundPort = typeof address === 'object' && address ? address.port : settings.port;
  // One line, the URL last (scripts read it up to the end of the line).
  process.stdout.write(
    `responses-polling ${packageVersion()}${settings.role === 'all' ? '' : ` (${settings.role})`}: store ${storeName}, ${describeModels(config)}; listening on http://${settings.host}:${boundPort}${routes ? settings.prefix : ''}\n`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal} received: draining running responses\n`);
    server.close();
    stopAll()
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
