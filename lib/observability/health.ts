// Health check and metrics endpoints the host app mounts where it likes.

import type { Request, RequestHandler, Response } from 'express';
import type { ResponsesPollingOptions } from '../config/options';
import { ApiError } from '../errors';
import { sendError } from '../middleware/http';
import { runtimeFor, type Runtime } from '../runtime';
import { RedisStoreUnavailableError } from '../store/redis-connection';
import { isEvictionAware, type EvictionAware } from '../store/redis-eviction';

/** Options of {@link healthCheck}. */
export interface HealthCheckOptions {
  /** How long the store's PING may take before the check fails, in ms. Default 1000. */
  timeoutMs?: number;
}

/** The body of a health answer. */
export interface HealthBody {
  /** `ok` (200), `unavailable` (503: store unreachable) or `shutting_down` (503: `close()` was called). */
  status: 'ok' | 'unavailable' | 'shutting_down';
  /**
   * `ok`, `unreachable` (PING failed: no connection, connection refused), `auth_failed` (Redis
   * refused the username or password, or needs one) or `timeout` (no answer within `timeoutMs`).
   */
  store: 'ok' | 'unreachable' | 'auth_failed' | 'timeout';
  /** Background responses this instance is running now. */
  running: number;
  /**
   * Present when the store's Redis runs a `maxmemory-policy` that may evict response keys (its
   * name, e.g. `allkeys-lru`): a warning, the status stays `ok`. Run Redis with `noeviction`.
   */
  evictionPolicy?: string;
}

const TIMED_OUT = Symbol('timed out');

/**
 * A handler answering 200 `{status: 'ok', store: 'ok', running}` when the store answers PING
 * within `timeoutMs`, else 503 with `store: 'unreachable' | 'auth_failed' | 'timeout'`; 503 `shutting_down` once
 * `close()` was called, so a load balancer stops sending new requests. No authentication: the
 * body holds no secret and no response data. `app.get('/healthz', router.healthCheck())`.
 */
export function healthCheck(options: ResponsesPollingOptions | Runtime = {}, opts: HealthCheckOptions = {}): RequestHandler {
  const runtime = runtimeFor(options);
  const timeoutMs = opts.timeoutMs ?? 1000;
  return async function responsesHealthCheck(_req: Request, res: Response): Promise<void> {
    const { store, metrics, logger } = runtime.config;
    let storeState: HealthBody['store'] = 'ok';
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = await Promise.race([
        store.ping(),
        new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), timeoutMs))),
      ]);
      if (answer === TIMED_OUT) storeState = 'timeout';
    } catch (err) {
      storeState = err instanceof RedisStoreUnavailableError && err.reason === 'auth_failed' ? 'auth_failed' : 'unreachable';
      logger.debug('health check: store ping failed', { error: err instanceof Error ? err.message : String(err) });
    } finally {
      clearTimeout(timer);
    }
    if (storeState !== 'ok') metrics.storeError('ping');
    const status: HealthBody['status'] = runtime.isClosing ? 'shutting_down' : storeState === 'ok' ? 'ok' : 'unavailable';
    const body: HealthBody = { status, store: storeState, running: runtime.workers.size };
    if (storeState === 'ok' && isEvictionAware(store)) {
      const policy = await evictionPolicyWithin(store, timeoutMs);
      if (policy) body.evictionPolicy = policy;
    }
    res.setHeader('cache-control', 'no-store');
    res.status(status === 'ok' ? 200 : 503).json(body);
  };
}

/**
 * A handler serving the metrics in the Prometheus text format (404 when `metrics: false`).
 * With a host registry, it serves everything on that registry. `app.get('/metrics', router.metricsHandler())`.
 */
export function metricsHandler(options: ResponsesPollingOptions | Runtime = {}): RequestHandler {
  const runtime = runtimeFor(options);
  return async function responsesMetrics(_req: Request, res: Response): Promise<void> {
    const { metrics } = runtime.config;
    if (!metrics.exposed) {
      sendError(res, new ApiError(404, 'Metrics are turned off (metrics: false).', { code: 'not_found' }));
      return;
    }
    try {
      const text = await metrics.text();
      res.setHeader('content-type', metrics.registry.contentType);
      res.status(200).send(text);
    } catch (err) {
      // A host-registered collect() may throw; this endpoint answers without internal details.
      runtime.config.logger.error('metrics collection failed', { error: err instanceof Error ? err.message : String(err) });
      sendError(res, new ApiError(500, 'Metrics could not be collected.', { type: 'server_error', code: 'metrics_failed' }));
    }
  };
}

/** The store's evicting policy, or null when there is none or it did not say within `timeoutMs`. */
async function evictionPolicyWithin(store: EvictionAware, timeoutMs: number): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      store.evictionRisk().catch(() => null),
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
