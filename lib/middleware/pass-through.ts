// Requests that polling does not cover go to the deployment as they are: JSON in, JSON out, or
// SSE relayed chunk by chunk. The client's disconnect aborts the upstream request.

import type { Request, Response } from 'express';
import type { DeploymentConfig } from '../config/options';
import { ApiError } from '../errors';
import type { Runtime } from '../runtime';
import { openUpstream, UpstreamError, upstreamHttpError, upstreamUrl } from '../worker/upstream';
import { copyUpstreamHeaders, pipeRest, upstreamUnreachable } from './relay';
import type { CreateResponseBody } from './create-request';

/**
 * A non-streaming upstream sends its headers only when the whole answer is ready, so the header
 * deadline is the SDK's own default request timeout rather than `upstreamConnectTimeoutMs`.
 */
const NON_STREAM_TIMEOUT_MS = 600_000;

/**
 * Counts a pass-through request in the metrics: created now, and once its answer ends,
 * `completed` (answered below 400), `failed` (an error answer) or `cancelled` (the client left).
 */
export function countPassThrough(runtime: Runtime, res: Response): void {
  const { metrics } = runtime.config;
  metrics.responseCreated('pass_through');
  res.once('close', () => metrics.responseEnded('pass_through', !res.writableFinished ? 'cancelled' : res.statusCode < 400 ? 'completed' : 'failed'));
}

/** Forwards `body` to `deployment` and relays its answer. */
export async function passThrough(
  runtime: Runtime,
  req: Request,
  res: Response,
  body: CreateResponseBody,
  deployment: DeploymentConfig,
): Promise<void> {
  const controller = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) controller.abort(new Error('client disconnected'));
  };
  res.on('close', onClose);
  const { metrics } = runtime.config;
  countPassThrough(runtime, res);
  let upstream: globalThis.Response;
  try {
    upstream = await openUpstream({
      url: upstreamUrl(deployment, 'responses'),
      deployment,
      body: { ...body, model: deployment.upstreamModel },
      accept: body.stream === true ? 'text/event-stream' : 'application/json',
      signal: controller.signal,
      connectTimeoutMs: body.stream === true ? runtime.config.worker.upstreamConnectTimeoutMs : NON_STREAM_TIMEOUT_MS,
    });
  } catch (err) {
    res.off('close', onClose);
    if (controller.signal.aborted) return;
    metrics.upstreamError('pass_through', err instanceof UpstreamError ? err.kind : 'connection');
    throw upstreamUnreachable(err);
  }
  if (!upstream.ok) {
    res.off('close', onClose);
    metrics.upstreamError('pass_through', 'http');
    throw await relayableError(upstream, deployment, runtime.config.worker.upstreamIdleTimeoutMs);
  }
  res.status(upstream.status);
  copyUpstreamHeaders(res, upstream);
  if (!upstream.body) {
    res.off('close', onClose);
    res.end();
    return;
  }
  if (body.stream === true) res.flushHeaders();
  try {
    await pipeRest(res, upstream.body.getReader(), controller.signal);
  } finally {
    res.off('close', onClose);
  }
}

/**
 * The error answer for a non-2xx upstream: its status and code kept, its message scrubbed of
 * credentials. 401/403 concern the deployment's key, not the caller's, so they become a 502.
 */
export async function relayableError(upstream: globalThis.Response, deployment: DeploymentConfig, timeoutMs: number): Promise<ApiError> {
  const err = await upstreamHttpError(upstream, deployment, timeoutMs);
  const headers: Record<string, string> = {};
  for (const name of ['retry-after', 'x-request-id']) {
    const value = upstream.headers.get(name);
    if (value) headers[name] = value;
  }
  if (upstream.status === 401 || upstream.status === 403) {
    return new ApiError(502, err.message, { type: 'server_error', code: 'upstream_error', headers });
  }
  const type = upstream.status >= 500 ? 'server_error' : upstream.status === 429 ? 'rate_limit_error' : 'invalid_request_error';
  return new ApiError(upstream.status, err.message, { type, code: err.upstreamCode ?? null, headers });
}
