// `responsesPolling(options)`: the parts composed into one router, in the order of the checks.

import { Router, type RequestHandler } from 'express';
import type { ResponsesPollingOptions } from './config/options';
import { auth } from './middleware/auth';
import { addCreateRoute, RESPONSES_PATHS } from './middleware/background-mode-router';
import { errorResponder } from './middleware/http';
import { noRoute } from './middleware/no-route';
import { addLifecycleRoutes } from './middleware/polling-handler';
import { preCallLimiter } from './middleware/pre-call-limiter';
import { runtimeFor, type Runtime } from './runtime';
import { startNativeReconciler } from './middleware/native-reconcile';
import { healthCheck, metricsHandler, type HealthCheckOptions } from './observability/health';
import type { ResponsesMetrics } from './observability/metrics';
import { requestId } from './observability/request-id';

/** The router `responsesPolling` returns: an Express router plus its shutdown. */
export type ResponsesPollingRouter = Router & {
  /** The shared runtime (config, store, running workers). */
  runtime: Runtime;
  /**
   * Stops admitting new responses, lets running ones finish for up to `graceMs` (default
   * `worker.shutdownGraceMs`), ends the rest as failed, and closes a store the package built.
   */
  close(graceMs?: number): Promise<void>;
  /** The Prometheus metrics of this router (`metrics.registry` is the prom-client registry). */
  metrics: ResponsesMetrics;
  /** A handler serving the metrics in the Prometheus text format: `app.get('/metrics', router.metricsHandler())`. */
  metricsHandler(): RequestHandler;
  /** A health check handler (store PING with a timeout, running responses): `app.get('/healthz', router.healthCheck())`. */
  healthCheck(options?: HealthCheckOptions): RequestHandler;
};

/**
 * One router serving `POST /v1/responses`, `GET|DELETE /v1/responses/:id` and
 * `POST /v1/responses/:id/cancel` (and the same under `/responses`) below its mount point:
 * `app.use('/llm', responsesPolling(options))`. Options are validated here; a bad value throws
 * a `ConfigError` naming the path and the fix.
 */
export function responsesPolling(options: ResponsesPollingOptions | Runtime = {}): ResponsesPollingRouter {
  const runtime = runtimeFor(options);
  const router = Router() as ResponsesPollingRouter;
  // One flat router: the parts' routes are added here rather than mounted as nested routers,
  // which would match every request's path again per part.
  router.use(RESPONSES_PATHS, requestId(), auth(runtime));
  addCreateRoute(router, runtime, preCallLimiter(runtime));
  addLifecycleRoutes(router, runtime);
  router.use(RESPONSES_PATHS, noRoute(), errorResponder(runtime.config.logger));
  if (runtime.config.backgroundMode.nativeBackgroundMode.length > 0 && runtime.config.nativeReconcileIntervalMs > 0) {
    runtime.service('native-reconciler', () => startNativeReconciler(runtime));
  }
  router.runtime = runtime;
  router.close = (graceMs?: number) => runtime.close(graceMs);
  router.metrics = runtime.config.metrics;
  router.metricsHandler = () => metricsHandler(runtime);
  router.healthCheck = (opts?: HealthCheckOptions) => healthCheck(runtime, opts);
  return router;
}
