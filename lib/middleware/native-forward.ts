// Native background mode, forward: GET / cancel / DELETE / stream resume of a remembered provider
// id go to the deployment that created it, with its key, for the owner only.

import type { Request, Response } from 'express';
import { ApiError } from '../errors';
import { ownerFilter, type Runtime } from '../runtime';
import { requestUpstream } from '../upstream/client';
import { callStore } from './http';
import { relayableError } from './pass-through';
import { copyUpstreamHeaders, pipeRest, upstreamUnreachable } from './relay';
import { principalOf } from './request-context';
import { deploymentOf, idleTimer, nativeUrl, type NativeAction } from './native-background';
import { settleNative, terminalWatcher } from './native-settle';

/** Query parameters passed on to the provider, per call; anything else is dropped. */
const FORWARDED_QUERY: Partial<Record<NativeAction, Set<string>>> = {
  retrieve: new Set(['stream', 'starting_after', 'include', 'include[]']),
  input_items: new Set(['after', 'limit', 'order', 'include', 'include[]']),
};
/** The query string to forward: only the parameters the Responses API defines for the call. */
function forwardedQuery(req: Request, action: NativeAction): string {
  const names = FORWARDED_QUERY[action];
  if (!names) return '';
  const raw = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
  const kept = new URLSearchParams();
  for (const [name, value] of new URLSearchParams(raw)) if (names.has(name)) kept.append(name, value);
  return kept.toString();
}

/**
 * Forwards a lifecycle call on `id` to the deployment that created it, when `id` is a native id
 * the caller owns (administrators: any), and relays the provider's answer (JSON or SSE; errors
 * scrubbed). A successful DELETE also forgets the id. Resolves `false` (nothing sent) for an id
 * that is unknown or someone else's, so the caller answers 404 exactly as for a polling id.
 */
export async function forwardNative(runtime: Runtime, req: Request, res: Response, id: string, action: NativeAction): Promise<boolean> {
  const { config } = runtime;
  const record = await callStore(config, () => config.store.lookupNative(id, ownerFilter(principalOf(req))));
  if (!record) return false;
  const deployment = deploymentOf(config, record.deployment);
  if (!deployment) {
    config.logger.warn('native background response belongs to a deployment no longer configured', { id, modelName: record.deployment.modelName });
    throw new ApiError(502, 'The deployment that created this response is no longer configured.', {
      type: 'server_error',
      code: 'deployment_not_configured',
    });
  }
  const streaming = action === 'retrieve' && req.query.stream === 'true';
  const controller = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) controller.abort(new Error('client disconnected'));
  };
  res.on('close', onClose);
  try {
    let upstream: globalThis.Response;
    try {
      upstream = await requestUpstream({
        url: nativeUrl(deployment, id, action === 'cancel' || action === 'input_items' ? action : undefined, forwardedQuery(req, action)),
        deployment,
        method: action === 'cancel' ? 'POST' : action === 'delete' ? 'DELETE' : 'GET',
        accept: streaming ? 'text/event-stream' : 'application/json',
        signal: controller.signal,
        connectTimeoutMs: config.worker.upstreamConnectTimeoutMs,
      });
    } catch (err) {
      if (controller.signal.aborted) return true;
      throw upstreamUnreachable(err);
    }
    if (!upstream.ok) throw await relayableError(upstream, deployment, config.worker.upstreamIdleTimeoutMs);
    if (action === 'delete') {
      await config.store.forgetTurn(id).catch(() => undefined);
      // A record left behind only forwards to a provider that answers 404; it expires with its TTL.
      await config.store.forgetNative(id).catch((err: unknown) => config.logger.warn('could not forget a deleted native response', { id, error: String(err) }));
    }
    res.status(upstream.status);
    copyUpstreamHeaders(res, upstream);
    if (!upstream.body) {
      res.end();
      return true;
    }
    if (streaming) {
      res.flushHeaders();
      const watch = terminalWatcher((response) => void settleNative(runtime, id, record, deployment, response));
      await pipeRest(res, upstream.body.getReader(), controller.signal, watch);
      return true;
    }
    if (action === 'delete' || action === 'input_items') {
      await pipeRest(res, upstream.body.getReader(), controller.signal);
      return true;
    }
    // A Response (retrieve, cancel): read whole, so a finished one can be accounted; a provider
    // that stalls mid-body is given up on as on create.
    let text: string;
    const idle = idleTimer(controller, config.worker.upstreamIdleTimeoutMs);
    idle.arm();
    try {
      text = await upstream.text();
    } catch {
      if (!res.writableEnded) res.end();
      return true;
    } finally {
      idle.stop();
    }
    res.end(text);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return true;
    }
    await settleNative(runtime, id, record, deployment, parsed);
    return true;
  } finally {
    res.off('close', onClose);
  }
}
