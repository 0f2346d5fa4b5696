// Talking to a deployment: building the request, opening it with timeouts, reading SSE, and
// turning upstream failures into messages that are safe to show (no key, no stack).

import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
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


/** What each upstream failure says: one statement of every kind's message, for every way of calling an upstream. */
export const upstreamFailure = {
  connection: (): UpstreamError => new UpstreamError('connection', 'Could not connect to the upstream provider'),
  connectTimeout: (ms: number): UpstreamError => new UpstreamError('connect_timeout', `The upstream provider did not answer within ${ms} ms`),
  broken: (): UpstreamError => new UpstreamError('connection', 'The connection to the upstream provider broke mid-stream'),
  idle: (ms: number): UpstreamError => new UpstreamError('idle_timeout', `The upstream provider sent nothing for ${ms} ms`),
  tooLarge: (bytes: number): UpstreamError => new UpstreamError('event_too_large', `The upstream provider sent an event larger than ${bytes} bytes`),
  emptyStream: (): UpstreamError => new UpstreamError('connection', 'The upstream provider ended the stream without sending any event'),
};

/**
 * Why a request failed before its answer's headers arrived: the abort reason when `signal`
 * aborted, `connect_timeout` when the connect timer of `connectTimeoutMs` fired, else `connection`.
 */
export function connectFailure(signal: AbortSignal, timedOut: boolean, connectTimeoutMs: number): unknown {
  if (signal.aborted) return signal.reason;
  return timedOut ? upstreamFailure.connectTimeout(connectTimeoutMs) : upstreamFailure.connection();
}

/** Longest error body read from an upstream, in bytes. */
const MAX_ERROR_BODY_BYTES = 65536;

/**
 * Reads at most `limit` bytes of a body, giving up after `timeoutMs` (an upstream that sends
 * error headers and then stalls must not hold a response forever). Destroys the rest.
 */
function readCapped(body: Readable, limit: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    // Timed out, ended or broke: what was read is enough for an error message.
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      body.off('data', onData);
      body.destroy();
      resolve(Buffer.concat(chunks).subarray(0, limit).toString('utf8'));
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= limit) finish();
    };
    const timer = setTimeout(finish, timeoutMs);
    body.on('data', onData);
    body.once('end', finish);
    body.once('error', finish);
    body.once('close', finish);
  });
}

/**
 * Reads an error body (at most 64 KiB, for at most `timeoutMs`) and builds an UpstreamError whose
 * message is safe to show: 401/403 texts describe the deployment's own credentials and are replaced.
 */
export function upstreamHttpError(res: Response, deployment: DeploymentConfig, timeoutMs: number): Promise<UpstreamError> {
  const body = res.body ? Readable.fromWeb(res.body as WebReadableStream<Uint8Array>) : undefined;
  return httpFailure(res.status, res.headers.get('retry-after'), body, deployment, timeoutMs);
}

/**
 * The UpstreamError of an answer with HTTP `status` (not 2xx), its `retry-after` header and
 * `body` (read as {@link upstreamHttpError} says, then destroyed), for any way of calling an upstream.
 */
export async function httpFailure(
  status: number,
  retryAfter: string | null | undefined,
  body: Readable | undefined,
  deployment: DeploymentConfig,
  timeoutMs: number,
): Promise<UpstreamError> {
  let detail = '';
  let code: string | undefined;
  let own: ScrubbedError | undefined;
  const text = body ? await readCapped(body, MAX_ERROR_BODY_BYTES, timeoutMs) : '';
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown; code?: unknown } };
    if (parsed && parsed.error && typeof parsed.error.message === 'string') detail = parsed.error.message;
    // The code is sent on to clients (pass-through) and compared; scrubbed like the message.
    if (parsed && parsed.error && typeof parsed.error.code === 'string') code = redactSecrets(parsed.error.code, deployment);
    if (parsed && parsed.error && typeof parsed.error === 'object' && !Array.isArray(parsed.error) && typeof parsed.error.message === 'string') {
      own = scrubErrorFields(parsed.error as JsonObject, deployment, '');
    }
  } catch {
    detail = text;
  }
  const credentials = status === 401 || status === 403;
  const safe = credentials ? 'the deployment credentials were refused' : redactSecrets(detail, deployment);
  const message = `The upstream provider answered HTTP ${status}${safe ? `: ${safe}` : ''}`;
  // What concerns the deployment's own credentials is never handed on.
  return new UpstreamError('http', message, status, code, parseRetryAfter(retryAfter ?? null), credentials ? undefined : own);
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
  /** Sent as JSON. */
  body: unknown;
  accept: string;
  signal: AbortSignal;
  /** Longest wait for the answer's headers, in ms. */
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
    throw connectFailure(opts.signal, timedOut, opts.connectTimeoutMs);
  } finally {
    // The abort link stays: a later abort must still reach the body stream.
    clearTimeout(timer);
  }
}
