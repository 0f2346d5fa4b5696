// Talking to a deployment: building the request, opening it with timeouts, reading SSE, and
// turning upstream failures into messages that are safe to show (no key, no stack).

import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { DeploymentConfig } from '../config/options';
import { redactSecrets, scrubErrorFields, type ScrubbedError } from './scrub';
import { ERROR_CODES, ResponsesPollingError } from '../errors';
import type { JsonObject } from '../json';

/** Why an upstream request ended without a usable answer. */
export type UpstreamFailureKind = 'http' | 'connection' | 'connect_timeout' | 'idle_timeout' | 'event_too_large';

/** An upstream failure with a message safe for clients and logs. */
export class UpstreamError extends ResponsesPollingError {
  readonly kind: UpstreamFailureKind;
  /** HTTP status of the upstream answer, for `http` failures. */
  readonly status: number | undefined;
  /** The upstream `error.code`, when it sent one. */
  readonly upstreamCode: string | undefined;
  /** The upstream's `retry-after` (seconds or an HTTP date) in ms, when it sent one. */
  readonly retryAfterMs: number | undefined;
  /** The upstream's own error object (message, type, param, code), scrubbed of secrets, for `http` failures that sent one. */
  readonly upstreamError: ScrubbedError | undefined;
  constructor(kind: UpstreamFailureKind, message: string, status?: number, upstreamCode?: string, retryAfterMs?: number, upstreamError?: ScrubbedError) {
    super(ERROR_CODES.upstreamFailed, message);
    this.name = 'UpstreamError';
    this.kind = kind;
    this.status = status;
    this.upstreamCode = upstreamCode;
    this.retryAfterMs = retryAfterMs;
    this.upstreamError = upstreamError;
  }
}

/** Headers for a request to `deployment`. The key goes only here: Azure's `api-key`, else a bearer token. */
export function upstreamHeaders(deployment: DeploymentConfig, accept: string): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept };
  if (deployment.apiKey) {
    if (deployment.provider === 'azure') headers['api-key'] = deployment.apiKey;
    else headers.authorization = `Bearer ${deployment.apiKey}`;
  }
  return headers;
}

/** The code of an attempt whose deployment could not take the request (no request was sent). */
export const UNSERVABLE_CODE = 'deployment_cannot_take_request';

/** Whether `deployment`'s upstream URL carries its model name as a path segment (Azure chat with an `apiVersion`). */
function modelInPath(deployment: DeploymentConfig, path: string): boolean {
  return deployment.provider === 'azure' && !!deployment.apiVersion && path === 'chat/completions';
}

/**
 * Why `deployment` cannot be called on `path`, or undefined: a model name that is a path segment
 * must not be empty, `.` or `..`, which a URL would normalise away (a wildcard can make one).
 */
export function upstreamPathProblem(deployment: DeploymentConfig, path: string): string | undefined {
  if (!modelInPath(deployment, path)) return undefined;
  const name = deployment.upstreamModel;
  return name === '' || name === '.' || name === '..' ? `'${name}' cannot be an Azure deployment name` : undefined;
}

/**
 * The URL of `path` (`responses`, `responses/{id}/cancel`, `chat/completions`) on `deployment`,
 * with `query` (without `?`) appended. Azure deployments with an `apiVersion` use the versioned
 * scheme: chat goes to `deployments/{name}/chat/completions`, and every path gets `api-version`.
 */
export function upstreamUrl(deployment: DeploymentConfig, path: string, query = ''): string {
  let target = path;
  const params = new URLSearchParams(query);
  if (deployment.provider === 'azure' && deployment.apiVersion) {
    if (modelInPath(deployment, path)) {
      // Refused at create already; never let a dot segment drop a part of the URL.
      const problem = upstreamPathProblem(deployment, path);
      if (problem) throw new UpstreamError('http', `The request cannot be sent: ${problem}`, 400, UNSERVABLE_CODE);
      target = `deployments/${encodeURIComponent(deployment.upstreamModel)}/chat/completions`;
    }
    params.set('api-version', deployment.apiVersion);
  }
  const qs = params.toString();
  return `${deployment.apiBase}/${target}${qs ? `?${qs}` : ''}`;
}


/**
 * Reads at most `limit` bytes of a body, giving up after `timeoutMs` (an upstream that sends
 * error headers and then stalls must not hold a response forever). Cancels the rest.
 */
async function readCapped(res: Response, limit: number, timeoutMs: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const timer = setTimeout(() => reader.cancel().catch(() => undefined), timeoutMs);
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } catch {
    // Timed out or broke: what was read is enough for an error message.
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

/**
 * Reads an error body (at most 64 KiB, for at most `timeoutMs`) and builds an UpstreamError whose
 * message is safe to show: 401/403 texts describe the deployment's own credentials and are replaced.
 */
export async function upstreamHttpError(res: Response, deployment: DeploymentConfig, timeoutMs: number): Promise<UpstreamError> {
  let detail = '';
  let code: string | undefined;
  let own: ScrubbedError | undefined;
  const text = await readCapped(res, 65536, timeoutMs);
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown; code?: unknown } };
    if (body && body.error && typeof body.error.message === 'string') detail = body.error.message;
    // The code is sent on to clients (pass-through) and compared; scrubbed like the message.
    if (body && body.error && typeof body.error.code === 'string') code = redactSecrets(body.error.code, deployment);
    if (body && body.error && typeof body.error === 'object' && !Array.isArray(body.error) && typeof body.error.message === 'string') {
      own = scrubErrorFields(body.error as JsonObject, deployment, '');
    }
  } catch {
    detail = text;
  }
  const credentials = res.status === 401 || res.status === 403;
  const safe = credentials ? 'the deployment credentials were refused' : redactSecrets(detail, deployment);
  const message = `The upstream provider answered HTTP ${res.status}${safe ? `: ${safe}` : ''}`;
  // What concerns the deployment's own credentials is never handed on.
  return new UpstreamError('http', message, res.status, code, parseRetryAfter(res.headers.get('retry-after')), credentials ? undefined : own);
}

/** A `retry-after` header (delay in seconds, or an HTTP date) in ms from now; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Options of {@link openUpstream}. */
export interface OpenUpstreamOptions {
  url: string;
  deployment: DeploymentConfig;
  body: unknown;
  accept: string;
  signal: AbortSignal;
  connectTimeoutMs: number;
}

/**
 * POSTs `body` and resolves with the upstream Response once headers arrive. Rejects with an
 * UpstreamError on a connection failure or when no headers arrive in time; an abort through
 * `signal` rejects with the signal's reason.
 */
export function openUpstream(opts: OpenUpstreamOptions): Promise<Response> {
  return requestUpstream({ ...opts, method: 'POST' });
}

/** Callbacks of {@link readSse}. */
export interface SseHandlers {
  /** One SSE message (`event` may be undefined). */
  onMessage(message: EventSourceMessage): void;
}

/**
 * Reads an SSE body to its end, feeding each message to `handlers`. Rejects with an
 * `idle_timeout` UpstreamError when no byte arrives for `idleTimeoutMs`, with a `connection`
 * UpstreamError when the socket breaks, with an `event_too_large` one as soon as a message grows
 * past `maxMessageBytes` (at most one chunk more is buffered), and with the abort reason when
 * `signal` aborts.
 */
export async function readSse(
  res: Response,
  handlers: SseHandlers,
  opts: { signal: AbortSignal; idleTimeoutMs: number; maxMessageBytes?: number },
): Promise<void> {
  if (!res.body) return;
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const maxMessageBytes = opts.maxMessageBytes ?? Infinity;
  const tooLarge = () => new UpstreamError('event_too_large', `The upstream provider sent an event larger than ${maxMessageBytes} bytes`);
  // Bytes fed since the last complete message (a chunk's rest after a message is not counted).
  let sinceMessage = 0;
  let completed = false;
  const parser = createParser({
    onEvent: (m) => {
      if (m.data.length > maxMessageBytes) throw tooLarge();
      completed = true;
      handlers.onMessage(m);
    },
  });
  let idle = false;
  // One timer per stream that checks the time of the last chunk, rather than a clearTimeout and
  // setTimeout per chunk: a trickling stream delivers many small chunks.
  let lastChunkAt = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    const quiet = Date.now() - lastChunkAt;
    if (quiet >= opts.idleTimeoutMs) {
      idle = true;
      reader.cancel().catch(() => undefined);
      return;
    }
    timer = setTimeout(check, opts.idleTimeoutMs - quiet);
  };
  const arm = () => {
    lastChunkAt = Date.now();
    if (!timer) timer = setTimeout(check, opts.idleTimeoutMs);
  };
  const onAbort = () => {
    reader.cancel().catch(() => undefined);
  };
  opts.signal.addEventListener('abort', onAbort, { once: true });
  try {
    arm();
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch {
        if (opts.signal.aborted) throw opts.signal.reason;
        if (idle) break;
        throw new UpstreamError('connection', 'The connection to the upstream provider broke mid-stream');
      }
      if (opts.signal.aborted) throw opts.signal.reason;
      if (chunk.done) break;
      arm();
      completed = false;
      parser.feed(decoder.decode(chunk.value, { stream: true }));
      sinceMessage = completed ? 0 : sinceMessage + chunk.value.length;
      if (sinceMessage > maxMessageBytes) throw tooLarge();
    }
    if (opts.signal.aborted) throw opts.signal.reason;
    if (idle) {
      throw new UpstreamError('idle_timeout', `The upstream provider sent nothing for ${opts.idleTimeoutMs} ms`);
    }
    parser.feed(decoder.decode());
  } finally {
    if (timer) clearTimeout(timer);
    opts.signal.removeEventListener('abort', onAbort);
    // Also when a handler threw: the upstream body is not left open (a no-op after its end).
    reader.cancel().catch(() => undefined);
  }
}

/** Options of {@link requestUpstream}: those of {@link openUpstream} with a method and an optional body. */
export interface RequestUpstreamOptions extends Omit<OpenUpstreamOptions, 'body'> {
  method: 'GET' | 'POST' | 'DELETE';
  /** Sent as JSON when given; a GET or DELETE sends none. */
  body?: unknown;
}

/**
 * Like {@link openUpstream}, for any method: the lifecycle calls (`GET`, `DELETE`,
 * `POST …/cancel`) forwarded to a provider's own background responses. Same timeouts, errors
 * and abort semantics.
 */
export async function requestUpstream(opts: RequestUpstreamOptions): Promise<Response> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(opts.signal.reason);
  if (opts.signal.aborted) throw opts.signal.reason;
  opts.signal.addEventListener('abort', onAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, opts.connectTimeoutMs);
  const headers = upstreamHeaders(opts.deployment, opts.accept);
  if (opts.body === undefined) delete headers['content-type'];
  try {
    return await fetch(opts.url, {
      method: opts.method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: controller.signal,
    });
  } catch {
    if (opts.signal.aborted) throw opts.signal.reason;
    if (timedOut) {
      throw new UpstreamError('connect_timeout', `The upstream provider did not answer within ${opts.connectTimeoutMs} ms`);
    }
    throw new UpstreamError('connection', 'Could not connect to the upstream provider');
  } finally {
    // The abort link stays: a later abort must still reach the body stream.
    clearTimeout(timer);
  }
}
