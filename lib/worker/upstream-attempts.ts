// Upstream attempts and failover for one background response: each attempt opens the stream on a
// deployment and hands its messages on; a failure before any message is retried on the next one.

import type { DeploymentConfig, ResponsesPollingConfig } from '../config/options';
import { ApiError } from '../errors';
import type { CreateResponseBody } from '../middleware/create-request';
import { bodyForDeployment, type Continuation } from '../conversation/continuation-body';
import { ERROR_DETAILS, type ErrorDetail } from '../response-vocabulary';
import type { Logger } from '../types';
import { toChatCompletionsRequest } from '../upstream/chat-request';
import { deploymentAttributes, SPAN_ATTRIBUTES, SPAN_NAMES, traceIds, TraceSpan } from '../observability/tracing';
import { UNSERVABLE_CODE, upstreamFailure, UpstreamError, upstreamUrl } from '../upstream/client';
import { streamUpstream } from '../upstream/sse-stream';

/** The worker tuning the attempts use. */
export type AttemptTuning = Pick<
  ResponsesPollingConfig['worker'],
  'upstreamMaxAttempts' | 'upstreamRetryBaseMs' | 'upstreamConnectTimeoutMs' | 'upstreamIdleTimeoutMs' | 'maxEventBytes'
>;

/** What the attempts tell the worker. */
export interface AttemptHandlers {
  /** An attempt starts on `deployment`; `chat` when it speaks Chat Completions. */
  begin(deployment: DeploymentConfig, chat: boolean): void;
  /** The data of one upstream SSE message. */
  message(data: string): void;
  /** The attempt's stream ended without an error. */
  end(): void;
  /** True once any upstream message arrived: from then on a failure is final (its events are visible). */
  received(): boolean;
  /** An attempt failed and another follows after `delayMs`. */
  retry(error: UpstreamError, delayMs: number): void;
}

/** Longest backoff between attempts, in ms. */
const MAX_RETRY_DELAY_MS = 8000;

/** Runs the upstream attempts of one response, in deployment order, with backoff between them. */
export class UpstreamAttempts {
  /** Number of upstream attempts made so far. */
  attempts = 0;
  /** The deployment of the current (or last) attempt. */
  serving: DeploymentConfig;

  constructor(
    private readonly deployments: DeploymentConfig[],
    private readonly request: CreateResponseBody,
    private readonly continuation: Continuation | undefined,
    private readonly tuning: AttemptTuning,
    private readonly signal: AbortSignal,
    private readonly logger: Logger,
    private readonly id: string,
    /** The create's span (a W3C `traceparent`) the attempt spans hang below. */
    private readonly traceParent?: string,
  ) {
    this.serving = deployments[0];
  }

  /**
   * Streams from the deployments in order. An attempt that fails before any upstream message
   * arrived (no connection, no headers in time, 429, 5xx, a stream that ends empty) is retried on
   * the next deployment after a backoff; once a message has arrived, a failure is final, since
   * its events are already stored and visible. Rejects with the last {@link UpstreamError}, or
   * with the abort reason.
   */
  async run(handlers: AttemptHandlers): Promise<void> {
    const { deployments } = this;
    const { upstreamMaxAttempts, upstreamRetryBaseMs } = this.tuning;
    for (;;) {
      const deployment = deployments[this.attempts % deployments.length];
      this.attempts += 1;
      const span = TraceSpan.start(
        SPAN_NAMES.upstreamAttempt,
        { ...traceIds(this.id), [SPAN_ATTRIBUTES.model]: this.request.model, [SPAN_ATTRIBUTES.attempt]: this.attempts, ...deploymentAttributes(deployment) },
        this.traceParent,
      );
      try {
        await this.streamFrom(deployment, handlers);
        span.end();
        return;
      } catch (err) {
        // An attempt aborted on purpose (cancel, delete, shutdown, a cap reached) is not its failure.
        if (!this.signal.aborted) span.fail(err, err instanceof UpstreamError ? detailOfUpstreamError(err) : undefined);
        span.end();
        const retryable = err instanceof UpstreamError && (isRetryable(err) || err.upstreamCode === UNSERVABLE_CODE);
        if (!retryable || handlers.received() || this.signal.aborted || this.attempts >= upstreamMaxAttempts) throw err;
        const delay = retryDelay(this.attempts, upstreamRetryBaseMs, err.retryAfterMs);
        this.logger.warn('upstream attempt failed; retrying', {
          id: this.id,
          kind: err.kind,
          status: err.status,
          attempt: this.attempts,
          retryInMs: delay,
          nextDeployment: deployments[this.attempts % deployments.length].modelName,
        });
        handlers.retry(err, delay);
        await abortableSleep(delay, this.signal);
      }
    }
  }

  /** One attempt against `deployment`: opens the stream and hands on its messages to its end. */
  private async streamFrom(deployment: DeploymentConfig, handlers: AttemptHandlers): Promise<void> {
    const t = this.tuning;
    this.serving = deployment;
    const chat = deployment.upstreamApi === 'chat_completions';
    let body: Record<string, unknown>;
    const request = bodyForDeployment(this.request, this.continuation, deployment);
    if (chat) {
      const mapped = toChatCompletionsRequest(request, deployment.upstreamModel);
      // The create path keeps only deployments that can take the request; should one not, it is
      // a failure of this attempt (retried on the next deployment), not of the response's input.
      if (mapped instanceof ApiError) {
        throw new UpstreamError('http', `The request cannot be sent to a Chat Completions deployment: ${mapped.message}`, 400, UNSERVABLE_CODE);
      }
      body = mapped.body;
    } else {
      const { background: _background, ...rest } = request;
      body = { ...rest, model: deployment.upstreamModel, stream: true };
    }
    handlers.begin(deployment, chat);
    await streamUpstream(
      {
        url: upstreamUrl(deployment, chat ? 'chat/completions' : 'responses'),
        deployment,
        body,
        accept: 'text/event-stream',
        signal: this.signal,
        connectTimeoutMs: t.upstreamConnectTimeoutMs,
        idleTimeoutMs: t.upstreamIdleTimeoutMs,
        maxMessageBytes: t.maxEventBytes,
      },
      (data) => handlers.message(data),
    );
    handlers.end();
    if (!handlers.received() && !this.signal.aborted) {
      throw upstreamFailure.emptyStream();
    }
  }
}

/** The detail of the error a response gets when its upstream request failed for good. */
export function detailOfUpstreamError(err: UpstreamError): ErrorDetail {
  if (err.kind === 'http') return err.status === 429 ? ERROR_DETAILS.upstreamRateLimited : ERROR_DETAILS.upstreamHttp;
  if (err.kind === 'connection') return ERROR_DETAILS.upstreamConnection;
  if (err.kind === 'event_too_large') return ERROR_DETAILS.upstreamEventTooLarge;
  return ERROR_DETAILS.upstreamTimeout;
}

/** Failures worth another attempt: nothing was received and another try (or deployment) may succeed. */
function isRetryable(err: UpstreamError): boolean {
  // A provider that sends an oversized event would send it again.
  if (err.kind === 'event_too_large') return false;
  if (err.kind !== 'http') return true;
  const status = err.status ?? 0;
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** Exponential backoff with full jitter, at least the upstream's `retry-after`, capped at 8 s. */
function retryDelay(attempt: number, baseMs: number, retryAfterMs: number | undefined): number {
  const exp = Math.min(baseMs * 2 ** (attempt - 1), MAX_RETRY_DELAY_MS);
  const jittered = exp / 2 + Math.random() * (exp / 2);
  return Math.min(Math.max(jittered, retryAfterMs ?? 0), MAX_RETRY_DELAY_MS);
}

/** Waits `ms`, or rejects with the abort reason as soon as `signal` aborts. */
function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
