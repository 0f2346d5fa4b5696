// A worker on its own: runs queued responses from the same options as the router, without routes
// (the `worker` role), with the health check and metrics a worker process serves.

import type { RequestHandler } from 'express';
import type { ResponsesPollingOptions } from '../config/options';
import { healthCheck, metricsHandler, type HealthCheckOptions } from '../observability/health';
import { Runtime, runtimeFor } from '../runtime';

/** What {@link responsesWorker} returns. */
export interface ResponsesWorker {
  /** The runtime the worker runs in (its config, store and running workers). */
  readonly runtime: Runtime;
  /**
   * Stops claiming, hands back claimed responses whose upstream has not answered yet, lets
   * running ones finish for up to `graceMs` (default `worker.shutdownGraceMs`), then ends the
   * rest `failed` (`server_shutdown`); closes a store it built.
   */
  close(graceMs?: number): Promise<void>;
  /** A health check handler: `app.get('/healthz', worker.healthCheck())`. */
  healthCheck(options?: HealthCheckOptions): RequestHandler;
  /** The Prometheus metrics handler: `app.get('/metrics', worker.metricsHandler())`. */
  metricsHandler(): RequestHandler;
}

/**
 * Starts a worker from `options` (the ones given to `responsesPolling`): it claims queued
 * responses from the store, up to `worker.concurrency` at once, and runs them. Pair it with
 * `responsesPolling({ ...options, role: 'api' })` on the API instances.
 */
export function responsesWorker(options: ResponsesPollingOptions | Runtime = {}): ResponsesWorker {
  const runtime = options instanceof Runtime ? options : runtimeFor(workerOptions(options));
  if (!runtime.pool) throw new Error("responsesWorker: this runtime has the 'api' role and runs no workers.");
  return {
    runtime,
    close: (graceMs?: number) => runtime.close(graceMs),
    healthCheck: (opts?: HealthCheckOptions) => healthCheck(runtime, opts),
    metricsHandler: () => metricsHandler(runtime),
  };
}

/**
 * `options` in the worker role. A worker serves no routes, so it needs no authentication: options
 * that decide none get `auth: 'none'` (the same object when nothing changes, so parts built from
 * it share one runtime).
 */
function workerOptions(options: ResponsesPollingOptions): ResponsesPollingOptions {
  const decidesAuth = Boolean(options.masterKey || options.virtualKeys?.length || options.authenticate || options.auth);
  if (options.role === 'worker' && decidesAuth) return options;
  return { ...options, role: 'worker', ...(decidesAuth ? {} : { auth: 'none' as const }) };
}
