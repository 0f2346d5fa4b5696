// Native background mode, create: `POST /responses` for a native-background model goes to the
// provider's own background mode, and the provider's id is remembered (owner, deployment,
// admission) before the client can learn it.

import type { Response } from 'express';
import { createParser } from 'eventsource-parser';
import type { DeploymentConfig } from '../config/options';
import { ApiError } from '../errors';
import { ownerHash, type Runtime } from '../runtime';
import type { NativeResponseRecord, TurnRecord } from '../types';
import { bodyForDeployment } from '../conversation/continuation-body';
import { turnOfRequest } from '../conversation/turns';
import { openUpstream, requestUpstream } from '../upstream/client';
import { callStore } from './http';
import { relayableError } from './pass-through';
import { copyUpstreamHeaders, pipeRest, upstreamUnreachable, writeChunk } from './relay';
import { refuseWhileClosing } from './pre-call-limiter';
import type { CreateCall } from './request-context';
import { deploymentRef, idleTimer, nativeRetentionSeconds, nativeUrl } from './native-background';
import { settleNative, terminalWatcher } from './native-settle';
import { nextCheckAt } from './native-reconcile';

/** Buffered SSE bytes after which a stream without a response id is relayed without remembering one. */
const MAX_ID_SCAN_BYTES = 1 << 20;

/** Best-effort cancel at the provider of a response nobody can reach through us; failures are logged. */
async function cancelOrphan(runtime: Runtime, deployment: DeploymentConfig, id: string, why: string): Promise<void> {
  const { logger, worker } = runtime.config;
  try {
    const answer = await requestUpstream({
      url: nativeUrl(deployment, id, 'cancel'),
      deployment,
      method: 'POST',
      accept: 'application/json',
      signal: new AbortController().signal,
      connectTimeoutMs: worker.upstreamConnectTimeoutMs,
    });
    await answer.body?.cancel().catch(() => undefined);
    logger.warn('native background response cancelled at the provider', { id, reason: why, status: answer.status });
  } catch (err) {
    logger.error('could not cancel an unreachable native background response at the provider', { id, reason: why, error: String(err) });
  }
}

/**
 * Remembers provider id `id` for the caller. When the store fails, the id would reach the client
 * with nobody able to follow it: the response is cancelled at the provider, the admission rolled
 * back, and the client gets a 503 (`store_unavailable`) to retry.
 */
async function remember(runtime: Runtime, call: CreateCall, id: string): Promise<NativeResponseRecord> {
  const { config } = runtime;
  const { body, admission } = call;
  const deployment = call.deployments[0];
  const record: NativeResponseRecord = {
    owner: ownerHash(call.principal),
    deployment: deploymentRef(config, deployment),
    model: body.model,
    createdAt: Date.now(),
  };
  if (admission.record) record.admission = admission.record;
  const turn: TurnRecord = { ...turnOfRequest(record.owner, 'native', body), upstream: { id, deployment: record.deployment, stored: body.store !== false } };
  try {
    await callStore(config, () => config.store.rememberNative(id, record, nativeRetentionSeconds(config)));
    await callStore(config, () => config.store.saveTurn(id, turn, nativeRetentionSeconds(config)));
    // Accounted even if nobody polls it after it finishes: the reconciler asks its provider.
    const interval = config.nativeReconcileIntervalMs;
    if (interval > 0) await callStore(config, () => config.store.scheduleNative(id, nextCheckAt(Date.now(), record.createdAt, interval)));
  } catch (err) {
    await cancelOrphan(runtime, deployment, id, 'store_unavailable');
    // Committed (the provider was asked), yet the client is told to retry: the count is given back.
    await admission.rollback();
    throw err;
  }
  config.metrics.responseCreated('native');
  config.logger.info('native background response created', { id, model: body.model });
  return record;
}

/**
 * `POST /responses` for a native-background model: sends the request to the deployment with
 * `background: true`, remembers the provider's id (owner + deployment), then answers with the
 * provider's own Response, or relays its SSE when `stream: true` (the id is taken from the first
 * event that carries the response, and remembered before any byte reaches the client, so the
 * client can never hold an id this package does not know). Provider errors are relayed scrubbed.
 */
export async function createNative(runtime: Runtime, res: Response, call: CreateCall): Promise<void> {
  const { config } = runtime;
  const { body } = call;
  const deployment = call.deployments[0];
  // A Chat Completions deployment never gets here: the create path refuses it (400
  // native_background_unsupported), since Chat Completions has no background mode.
  refuseWhileClosing(runtime);
  // Counted like a pass-through request from here, whatever the provider answers.
  call.admission.commit();
  const stream = body.stream === true;
  // Not linked to the client until the id is remembered: the provider may already have created
  // the response, and an id dropped half-way would be a running response nobody can reach.
  const controller = new AbortController();
  let upstream: globalThis.Response;
  try {
    upstream = await openUpstream({
      url: nativeUrl(deployment),
      deployment,
      body: { ...bodyForDeployment(body, call.continuation, deployment), model: deployment.upstreamModel, background: true },
      accept: stream ? 'text/event-stream' : 'application/json',
      signal: controller.signal,
      // In background mode the provider answers as soon as the response is queued.
      connectTimeoutMs: config.worker.upstreamConnectTimeoutMs,
    });
  } catch (err) {
    throw upstreamUnreachable(err);
  }
  if (!upstream.ok) throw await relayableError(upstream, deployment, config.worker.upstreamIdleTimeoutMs);

  if (!(upstream.headers.get('content-type') ?? '').includes('text/event-stream')) {
    const idle = idleTimer(controller, config.worker.upstreamIdleTimeoutMs);
    idle.arm();
    let text: string;
    try {
      text = await upstream.text();
    } catch (err) {
      throw upstreamUnreachable(controller.signal.aborted ? controller.signal.reason : err);
    } finally {
      idle.stop();
    }
    let parsed: { id?: unknown } | null = null;
    try {
      parsed = JSON.parse(text) as { id?: unknown } | null;
    } catch {
      parsed = null;
    }
    const id = parsed?.id;
    if (typeof id === 'string' && id !== '') {
      const record = await remember(runtime, call, id);
      if (res.destroyed) {
        // The client left before it could learn the id: nobody will ever follow this response.
        await cancelOrphan(runtime, deployment, id, 'client_disconnected');
        return;
      }
      // A provider may answer a create already finished (a cached or very short response).
      void settleNative(runtime, id, record, deployment, parsed);
    } else {
      config.logger.warn('native background create answered without a response id; nothing remembered', { model: body.model });
    }
    res.status(upstream.status);
    copyUpstreamHeaders(res, upstream);
    res.end(text);
    return;
  }
  await relayCreateStream(runtime, res, upstream, controller, call);
}

/** Relays a native create's SSE, holding bytes back until the response id is remembered. */
async function relayCreateStream(runtime: Runtime, res: Response, upstream: globalThis.Response, controller: AbortController, call: CreateCall): Promise<void> {
  const { body } = call;
  const deployment = call.deployments[0];
  const { logger } = runtime.config;
  if (!upstream.body) throw new ApiError(502, 'The upstream provider sent an empty stream.', { type: 'server_error', code: 'upstream_error' });
  const reader = upstream.body.getReader();
  let id: string | undefined;
  const parser = createParser({
    onEvent(message) {
      if (id !== undefined) return;
      try {
        const data = JSON.parse(message.data) as { response?: { id?: unknown } };
        if (typeof data.response?.id === 'string' && data.response.id !== '') id = data.response.id;
      } catch {
        // Not JSON: keep looking.
      }
    },
  });
  const decoder = new TextDecoder();
  const pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let ended = false;
  const idle = idleTimer(controller, runtime.config.worker.upstreamIdleTimeoutMs);
  try {
    while (id === undefined && pendingBytes < MAX_ID_SCAN_BYTES) {
      idle.arm();
      const { done, value } = await reader.read();
      if (done) {
        ended = true;
        break;
      }
      pending.push(value);
      pendingBytes += value.length;
      parser.feed(decoder.decode(value, { stream: true }));
    }
  } catch (err) {
    reader.cancel().catch(() => undefined);
    if (id === undefined) throw upstreamUnreachable(controller.signal.aborted ? controller.signal.reason : err);
    ended = true;
  } finally {
    idle.stop();
  }
  // A create streamed to its end is the one read of the finished response: account it there too.
  let watch: ((chunk: Uint8Array) => void) | undefined;
  if (id !== undefined) {
    try {
      const record = await remember(runtime, call, id);
      const nativeId = id;
      watch = terminalWatcher((response) => void settleNative(runtime, nativeId, record, deployment, response));
    } catch (err) {
      reader.cancel().catch(() => undefined);
      throw err;
    }
    if (res.destroyed) {
      reader.cancel().catch(() => undefined);
      await cancelOrphan(runtime, deployment, id, 'client_disconnected');
      return;
    }
  } else {
    logger.warn('native background stream carried no response id; nothing remembered', { model: body.model });
  }

  // From here the client may leave: the provider keeps the response, and it can be resumed by id.
  const onClose = () => controller.abort(new Error('client disconnected'));
  res.on('close', onClose);
  try {
    res.status(upstream.status);
    copyUpstreamHeaders(res, upstream);
    res.setHeader('cache-control', 'no-cache');
    res.flushHeaders();
    for (const chunk of pending) {
      await writeChunk(res, chunk);
      watch?.(chunk);
    }
    if (ended) {
      res.end();
      return;
    }
    await pipeRest(res, reader, controller.signal, watch);
  } finally {
    res.off('close', onClose);
  }
}
