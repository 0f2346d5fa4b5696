// Native background mode: models listed in `nativeBackgroundMode` are created in the provider's own
// background mode, and each provider id is remembered with its owner and deployment, so later
// GET / cancel / DELETE / stream resume by that id reach the right provider with the right key.

import type { Request, Response } from 'express';
import { createParser } from 'eventsource-parser';
import type { DeploymentConfig, ResponsesPollingConfig } from '../config/options';
import { ApiError } from '../errors';
import type { AdmissionInput } from '../limiter/types';
import { ownerFilter, ownerHash, type Runtime } from '../runtime';
import { CANCELLED_EVENT_TYPE, isFinalEventType } from '../response-vocabulary';
import { isTerminalStatus, type NativeDeploymentRef, type NativeResponseRecord, type ResponseObject } from '../types';
import type { EndStatus } from '../observability/metrics';
import { usageCharge } from '../observability/lifecycle';
import { openUpstream, requestUpstream, UpstreamError, upstreamUrl } from '../worker/upstream';
import type { CreateResponseBody } from './create-request';
import { callStore, principalOf } from './http';
import { relayableError } from './pass-through';
import { copyUpstreamHeaders, pipeRest, upstreamUnreachable, writeChunk } from './relay';
import { refuseWhileClosing, rollback } from './pre-call-limiter';

/**
 * The least time a native id is remembered: 30 days, OpenAI's retention of stored responses.
 * The provider's retention counts from creation, so the record is not refreshed on access.
 */
export const NATIVE_MIN_RETENTION_SECONDS = 30 * 24 * 3600;

/** Buffered SSE bytes after which a stream without a response id is relayed without remembering one. */
const MAX_ID_SCAN_BYTES = 1 << 20;


/** Lifecycle calls forwarded for a native id. */
export type NativeAction = 'retrieve' | 'cancel' | 'delete';

/** Query parameters of `GET /responses/{id}` passed on to the provider; anything else is dropped. */
const FORWARDED_QUERY = new Set(['stream', 'starting_after', 'include', 'include[]']);

/** How long a native id is remembered: `backgroundMode.ttl`, but at least {@link NATIVE_MIN_RETENTION_SECONDS}. */
export function nativeRetentionSeconds(config: Pick<ResponsesPollingConfig, 'backgroundMode'>): number {
  return Math.max(config.backgroundMode.ttl, NATIVE_MIN_RETENTION_SECONDS);
}

/**
 * The provider URL of a native call: `responses` to create, `responses/{id}[/cancel]` for the
 * lifecycle. The one place native URLs are built (through `upstreamUrl`, which knows Azure).
 */
function nativeUrl(deployment: DeploymentConfig, id?: string, cancel = false, query = ''): string {
  const path = id === undefined ? 'responses' : `responses/${encodeURIComponent(id)}${cancel ? '/cancel' : ''}`;
  return upstreamUrl(deployment, path, query);
}

/** What identifies `deployment` (a copy from `findDeployments`) in the configuration, without its key. */
export function deploymentRef(config: Pick<ResponsesPollingConfig, 'models'>, deployment: DeploymentConfig): NativeDeploymentRef {
  const index = config.models.findIndex(
    (d) => d.modelName === deployment.modelName && d.apiBase === deployment.apiBase && d.apiKey === deployment.apiKey,
  );
  return { index, modelName: deployment.modelName, apiBase: deployment.apiBase };
}

/**
 * The configured deployment `ref` names, key included: the one at its index when it still matches,
 * else the first with the same `modelName` and `apiBase` (the list was edited); undefined when gone.
 */
export function deploymentOf(config: Pick<ResponsesPollingConfig, 'models'>, ref: NativeDeploymentRef): DeploymentConfig | undefined {
  const matches = (d: DeploymentConfig | undefined) => d !== undefined && d.modelName === ref.modelName && d.apiBase === ref.apiBase;
  const at = config.models[ref.index];
  return matches(at) ? at : config.models.find(matches);
}

/** Aborts `controller` when `ms` pass without a new `arm()`: a provider that stalls before the id. */
function idleTimer(controller: AbortController, ms: number): { arm(): void; stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  const stop = () => clearTimeout(timer);
  const arm = () => {
    stop();
    timer = setTimeout(() => controller.abort(new UpstreamError('idle_timeout', `The upstream provider sent nothing for ${ms} ms`)), ms);
  };
  return { arm, stop };
}

/** Best-effort cancel at the provider of a response nobody can reach through us; failures are logged. */
async function cancelOrphan(runtime: Runtime, deployment: DeploymentConfig, id: string, why: string): Promise<void> {
  const { logger, worker } = runtime.config;
  try {
    const answer = await requestUpstream({
      url: nativeUrl(deployment, id, true),
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
async function remember(
  runtime: Runtime,
  req: Request,
  id: string,
  body: CreateResponseBody,
  deployment: DeploymentConfig,
  admission: AdmissionInput | undefined,
): Promise<NativeResponseRecord> {
  const { config } = runtime;
  const record: NativeResponseRecord = {
    owner: ownerHash(principalOf(req)),
    deployment: deploymentRef(config, deployment),
    model: body.model,
    createdAt: Date.now(),
  };
  if (admission) record.admission = { id: admission.id, subjects: admission.subjects.map((s) => s.key) };
  try {
    await callStore(config, () => config.store.rememberNative(id, record, nativeRetentionSeconds(config)));
  } catch (err) {
    await cancelOrphan(runtime, deployment, id, 'store_unavailable');
    if (admission) await rollback(runtime, admission);
    throw err;
  }
  config.metrics.responseCreated('native');
  config.logger.info('native background response created', { id, model: body.model });
  return record;
}

/**
 * Called with every Response a forwarded call relays: the first time any instance sees the
 * response finished (an atomic claim in the store), its tokens and spend are recorded against
 * the admission it was created under, and its end is reported (metrics, log, lifecycle hook).
 * So a finished native response is accounted exactly once, however often it is polled.
 */
async function settleNative(runtime: Runtime, id: string, record: NativeResponseRecord, deployment: DeploymentConfig, response: unknown): Promise<void> {
  const r = response as ResponseObject | null;
  if (!r || typeof r !== 'object' || !isTerminalStatus(r.status)) return;
  const { config } = runtime;
  const left = nativeRetentionSeconds(config) - (Date.now() - record.createdAt) / 1000;
  try {
    if (!(await config.store.claimNativeEnd(id, Math.max(60, left)))) return;
  } catch (err) {
    // Unclaimed: a later read accounts it.
    config.logger.warn('could not claim the end of a native background response', { id, error: String(err) });
    return;
  }
  const charge = usageCharge(r.usage, deployment);
  if (record.admission && charge) {
    const { id: admissionId, subjects } = record.admission;
    // The claim is held from here: a limiter blip is retried (recording is idempotent per
    // admission); a process that dies in between loses this charge (at most once, then).
    for (let attempt = 1; ; attempt += 1) {
      try {
        await config.limiter.record(admissionId, subjects, charge);
        break;
      } catch (err) {
        if (attempt >= NATIVE_RECORD_ATTEMPTS) {
          config.logger.warn('could not record the usage of a native background response', { id, error: String(err) });
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 100 * 3 ** (attempt - 1)));
      }
    }
  }
  runtime.responseEnded({ id, path: 'native', status: r.status as EndStatus, response: r, owner: record.owner });
}

/** Attempts at recording a finished native response's usage (100, 300 ms apart). */
const NATIVE_RECORD_ATTEMPTS = 3;

/** Feeds SSE chunks to a parser and settles the response at its first terminal event. */
function terminalWatcher(onResponse: (response: unknown) => void): (chunk: Uint8Array) => void {
  const decoder = new TextDecoder();
  let seen = false;
  const parser = createParser({
    onEvent(message) {
      if (seen || !(isFinalEventType(message.event) || message.event === CANCELLED_EVENT_TYPE)) return;
      try {
        const data = JSON.parse(message.data) as { response?: unknown };
        seen = true;
        onResponse(data.response);
      } catch {
        // Not JSON: nothing to account.
      }
    },
  });
  return (chunk) => parser.feed(decoder.decode(chunk, { stream: true }));
}

/**
 * `POST /responses` for a native-background model: sends the request to the deployment with
 * `background: true`, remembers the provider's id (owner + deployment), then answers with the
 * provider's own Response, or relays its SSE when `stream: true` (the id is taken from the first
 * event that carries the response, and remembered before any byte reaches the client, so the
 * client can never hold an id this package does not know). Provider errors are relayed scrubbed.
 */
export async function createNative(
  runtime: Runtime,
  req: Request,
  res: Response,
  body: CreateResponseBody,
  deployment: DeploymentConfig,
  admission: AdmissionInput | undefined,
): Promise<void> {
  const { config } = runtime;
  // A Chat Completions deployment never gets here: the create path refuses it (400
  // native_background_unsupported), since Chat Completions has no background mode.
  await refuseWhileClosing(runtime, admission);
  const stream = body.stream === true;
  // Not linked to the client until the id is remembered: the provider may already have created
  // the response, and an id dropped half-way would be a running response nobody can reach.
  const controller = new AbortController();
  let upstream: globalThis.Response;
  try {
    upstream = await openUpstream({
      url: nativeUrl(deployment),
      deployment,
      body: { ...body, model: deployment.upstreamModel, background: true },
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
      const record = await remember(runtime, req, id, body, deployment, admission);
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
  await relayCreateStream(runtime, req, res, upstream, controller, body, deployment, admission);
}

/** Relays a native create's SSE, holding bytes back until the response id is remembered. */
async function relayCreateStream(
  runtime: Runtime,
  req: Request,
  res: Response,
  upstream: globalThis.Response,
  controller: AbortController,
  body: CreateResponseBody,
  deployment: DeploymentConfig,
  admission: AdmissionInput | undefined,
): Promise<void> {
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
      const record = await remember(runtime, req, id, body, deployment, admission);
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

/** The query string to forward: only the parameters the Responses API defines for a retrieve. */
function forwardedQuery(req: Request): string {
  const raw = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
  const kept = new URLSearchParams();
  for (const [name, value] of new URLSearchParams(raw)) if (FORWARDED_QUERY.has(name)) kept.append(name, value);
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
        url: nativeUrl(deployment, id, action === 'cancel', action === 'retrieve' ? forwardedQuery(req) : ''),
        deployment,
        method: action === 'retrieve' ? 'GET' : action === 'cancel' ? 'POST' : 'DELETE',
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
    if (action === 'delete') {
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
