// Requests that polling does not cover go to the deployment as they are: JSON in, JSON out, or
// SSE relayed chunk by chunk. The client's disconnect aborts the upstream request.

import type { Response } from 'express';
import type { DeploymentConfig } from '../config/options';
import { ApiError } from '../errors';
import type { Runtime } from '../runtime';
import { openUpstream, UpstreamError, upstreamHttpError, upstreamUrl } from '../upstream/client';
import { KeyScrubber, scrubKey } from '../upstream/scrub';
import { copyUpstreamHeaders, pipeRest, upstreamUnreachable } from './relay';
import type { Admission } from '../limiter/admission';
import type { CreateCall } from './request-context';
import { ownerHash } from '../principal';
import { bodyForDeployment } from '../conversation/continuation-body';
import { rememberPassThrough } from '../conversation/turns';
import { terminalWatcher } from './native-settle';

/**
 * A non-streaming upstream sends its headers only when the whole answer is ready, so the header
 * deadline is the SDK's own default request timeout rather than `upstreamConnectTimeoutMs`.
 */
const NON_STREAM_TIMEOUT_MS = 600_000;

/**
 * Starts a pass-through request: its admission counts from now on (the request goes to the
 * provider whatever it answers) and is settled when the answer ends, with no usage (the answer
 * is relayed, not read) and no slot (pass-through holds none). Counts it in the metrics: created
 * now, and once its answer ends, `completed` (answered below 400), `failed` (an error answer) or
 * `cancelled` (the client left).
 */
export function startPassThrough(runtime: Runtime, res: Response, admission: Admission): void {
  const { metrics } = runtime.config;
  admission.commit();
  metrics.responseCreated('pass_through');
  res.once('close', () => {
    metrics.responseEnded('pass_through', !res.writableFinished ? 'cancelled' : res.statusCode < 400 ? 'completed' : 'failed');
    void admission.settle('pass-through', null);
  });
}

/**
 * Forwards the call's body to its first deployment and relays the answer. A Response the provider
 * answered is remembered (owner, deployment, turn) so it can be retrieved, deleted, listed and
 * continued through this package before the client sees its end: a JSON answer before it is
 * sent, a stream before its terminal event is.
 */
export async function passThrough(runtime: Runtime, res: Response, call: CreateCall): Promise<void> {
  const deployment = call.deployments[0];
  const body = bodyForDeployment(call.body, call.continuation, deployment);
  const remember = (response: unknown) =>
    response && typeof response === 'object' ? rememberPassThrough(runtime.config, ownerHash(call.principal), call.body, deployment, response) : Promise.resolve();
  const controller = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) controller.abort(new Error('client disconnected'));
  };
  res.on('close', onClose);
  const { metrics } = runtime.config;
  startPassThrough(runtime, res, call.admission);
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
  try {
    if (body.stream === true) {
      res.flushHeaders();
      await pipeRest(res, upstream.body.getReader(), controller.signal, terminalWatcher(remember), new KeyScrubber(deployment.apiKey));
      return;
    }
    // An upstream that echoes the deployment's key must not hand it to the client.
    const text = scrubKey(await readAll(upstream, controller), deployment.apiKey);
    if (text === undefined) {
      if (!res.writableEnded) res.end();
      return;
    }
    try {
      await remember(JSON.parse(text));
    } catch {
      // Not JSON: relayed as it is, nothing to remember.
    }
    res.end(text);
  } finally {
    res.off('close', onClose);
  }
}

/** The whole body of a JSON answer, or `undefined` when it broke off or the client left. */
async function readAll(upstream: globalThis.Response, controller: AbortController): Promise<string | undefined> {
  try {
    return await upstream.text();
  } catch {
    controller.abort(new Error('upstream body broke off'));
    return undefined;
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
  // The upstream's own error, as it sent it (scrubbed): message, type, param and code.
  const own = err.upstreamError;
  return new ApiError(upstream.status, own?.message || err.message, { type: own?.type || type, param: own?.param ?? null, code: own?.code ?? err.upstreamCode ?? null, headers });
}
