// The streaming worker: calls the upstream with `stream: true`, renumbers and folds its events,
// and flushes them to the store in batches, detached from any client request.

import { EventEmitter } from 'node:events';
import type { DeploymentConfig, ResponsesPollingConfig } from '../config/options';
import { encodeEvent, ItemIdTable } from '../store/event-codec';
import type { AppendInput, AppendOutcome, ResponseObject, ResponseStatus, ResponseStreamEvent } from '../types';
import { isFinalEventType, isStartEventType, isTerminalStatus, WORKER_ERROR_CODES } from '../response-vocabulary';
import { applyEvent, foldEvent } from './reducer';
import { ApiError } from '../errors';
import type { CreateResponseBody } from '../middleware/create-request';
import { ChatStreamAdapter } from './chat-stream-adapter';
import { toChatCompletionsRequest } from './chat-request';
import { openUpstream, readSse, redactSecrets, UpstreamError, upstreamHttpError, upstreamUrl } from './upstream';

/** Why a worker was told to stop. */
export type StopReason = 'cancelled' | 'deleted' | 'shutdown';

/** How long a worker stopped for shutdown keeps retrying a flush against an unreachable store. */
const SHUTDOWN_FLUSH_GRACE_MS = 2000;
/** Below this many bytes of tail the snapshot is never rewritten mid-stream. */
const MIN_SNAPSHOT_TAIL_BYTES = 16 * 1024;
/**
 * The snapshot is rewritten when the log since the last one reaches this many times its size:
 * snapshot writes then add at most half the log's bytes (bench scenario 3), while a read folds a
 * tail of at most two snapshots' worth of (compact) events. 4 writes a little less (0.01 to 0.02
 * of the upstream bytes) and makes polls of long running responses fold twice as much.
 */
const SNAPSHOT_TAIL_FACTOR = 2;

/** What the `flush` event carries: one store answer to a flush. */
export interface FlushInfo {
  /** Time of the append, retries included, in ms. */
  ms: number;
  events: number;
  /** Length of the encoded events. */
  bytes: number;
  outcome: AppendOutcome;
}

/** What a worker starts from: the record `create` wrote. */
export interface WorkerStart {
  id: string;
  fence: number;
  /** The Response as stored at creation (status `queued`). */
  state: ResponseObject;
  /** Sequence number of the next event (the creation events took the ones before). */
  nextSeq: number;
  /** Size of the snapshot written at creation, in bytes. */
  snapshotBytes: number;
  /**
   * The deployments to try, in order: the first is the one admitted; the others are tried when an
   * attempt fails before any event arrived (at most `worker.upstreamMaxAttempts` attempts in all).
   */
  deployments: DeploymentConfig[];
  /**
   * The client's validated create body: each attempt sends it with its deployment's model and
   * `stream: true` (without `background`), as a Responses request or mapped onto Chat Completions.
   */
  request: CreateResponseBody;
}

/**
 * Runs one background response. Emits `flushed` (last stored sequence number) after every
 * successful flush with events, `flush` ({@link FlushInfo}) after every store answer to a flush,
 * `flushError` (the error) for every failed flush attempt, `renewed` after every successful write (its lease was renewed),
 * `upstreamError` (an {@link UpstreamError}) when the upstream request failed for good, and
 * `done` once it has finished writing.
 */
export class StreamingWorker extends EventEmitter {
  readonly id: string;
  /** Resolves when the worker has stopped and written everything it will write. */
  readonly done: Promise<void>;
  /** Number of upstream SSE messages that were not valid JSON and were skipped. */
  malformedEvents = 0;

  private readonly cfg: ResponsesPollingConfig;
  private readonly start: WorkerStart;
  private readonly controller = new AbortController();
  private current: ResponseObject;
  private wroteTerminal = false;
  private nextSeq: number;
  private started = false;
  private terminal = false;
  private stopReason: StopReason | undefined;
  /** Set once the store refused a write (cancelled, deleted, fenced): nothing more is written. */
  private halted = false;
  private pending: string[] = [];
  private pendingFirstSeq: number;
  private pendingBytes = 0;
  private pendingStatus: ResponseStatus | undefined;
  private bytesSinceSnapshot = 0;
  private snapshotBytes: number;
  /** Whether this worker waits on the flush tick (see FlushTick). */
  private flushScheduled = false;
  private readonly onFlushTick = (): void => {
    this.flushScheduled = false;
    this.requestFlush();
  };
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private lastWriteAt = Date.now();
  private resolveDone!: () => void;
  /** The deployment of the current (or last) attempt. */
  private serving: DeploymentConfig;
  /** Set once the current attempt delivered an upstream message: from then on there is no retry. */
  private received = false;
  /** Turns Chat Completions chunks into Responses events, for chat deployments. */
  private chat: ChatStreamAdapter | undefined;
  /** Number of upstream attempts made so far. */
  attempts = 0;
  /** Item ids by output index as a reader of the log learns them (see ItemIdTable). */
  private readonly announced = new ItemIdTable();
  /**
   * The id an entry may leave out: the one a log reader knows for the output index and a
   * snapshot reader finds at that position of the Response, when both agree.
   */
  private readonly knownItemId = (outputIndex: number): string | undefined => {
    const id = this.announced.get(outputIndex);
    const output = Array.isArray(this.current.output) ? this.current.output : [];
    return id !== undefined && output[outputIndex]?.id === id ? id : undefined;
  };

  constructor(cfg: ResponsesPollingConfig, start: WorkerStart) {
    super();
    this.cfg = cfg;
    this.start = start;
    this.id = start.id;
    this.current = start.state;
    this.nextSeq = start.nextSeq;
    this.pendingFirstSeq = start.nextSeq;
    this.snapshotBytes = start.snapshotBytes;
    this.serving = start.deployments[0];
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    // Every stream follower listens here; many followers of one response are normal.
    this.setMaxListeners(0);
  }

  /** Starts the work in the background; never throws and never rejects. */
  run(): void {
    const { leaseMs } = this.cfg.worker;
    this.heartbeatTimer = setInterval(() => this.heartbeat(), Math.max(50, Math.floor(leaseMs / 8)));
    this.work()
      .catch((err) => this.cfg.logger.error('background worker crashed', { id: this.id, error: String(err) }))
      .finally(() => {
        clearInterval(this.heartbeatTimer);
        this.unscheduleFlush();
        this.emit('done');
        this.resolveDone();
      });
  }

  /** The Response as this worker last folded it (final once `done` was emitted). */
  get state(): ResponseObject {
    return this.current;
  }

  /** True when this worker wrote the response's terminal state itself. */
  get finished(): boolean {
    return this.wroteTerminal;
  }

  /** The start record (deployments). */
  get startInfo(): WorkerStart {
    return this.start;
  }

  /** The deployment that served the response (the last one tried). */
  get deployment(): DeploymentConfig {
    return this.serving;
  }

  /** Stops the worker: cancel and delete write nothing more; shutdown ends the response as failed. */
  stop(reason: StopReason): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    if (reason !== 'shutdown') this.halted = true;
    this.controller.abort(new StopSignal(reason));
  }

  private async work(): Promise<void> {
    const { logger } = this.cfg;
    try {
      await this.streamWithFailover();
      if (!this.terminal && !this.halted) {
        if (this.current.status === 'failed' && this.current.error) {
          // An `error` event without the `response.failed` that normally follows it.
          this.finish('failed', this.current.error.code, this.current.error.message);
        } else {
          this.finish('failed', WORKER_ERROR_CODES.streamIncomplete, 'The upstream stream ended before the response was complete');
        }
      }
    } catch (err) {
      if (err instanceof StopSignal || this.stopReason) {
        if (this.stopReason === 'shutdown' && !this.terminal) {
          this.finish('failed', WORKER_ERROR_CODES.shutdown, 'The server shut down before the response was complete');
        }
      } else if (err instanceof UpstreamError) {
        logger.warn('upstream request failed', { id: this.id, kind: err.kind, status: err.status, attempts: this.attempts });
        this.emit('upstreamError', err);
        if (!this.terminal) this.finish('failed', codeForUpstreamError(err), err.message);
      } else {
        logger.error('unexpected error in background worker', { id: this.id, error: String(err) });
        if (!this.terminal) this.finish('failed', WORKER_ERROR_CODES.internal, 'The server had an error while processing the response');
      }
    }
    await this.drain();
  }

  /**
   * Streams from the deployments in order. An attempt that fails before any upstream message
   * arrived (no connection, no headers in time, 429, 5xx, a stream that ends empty) is retried on
   * the next deployment after a backoff; once a message has arrived, a failure is final, since
   * its events are already stored and visible.
   */
  private async streamWithFailover(): Promise<void> {
    const { deployments } = this.start;
    const { upstreamMaxAttempts, upstreamRetryBaseMs } = this.cfg.worker;
    for (;;) {
      const deployment = deployments[this.attempts % deployments.length];
      this.attempts += 1;
      try {
        await this.streamFrom(deployment);
        return;
      } catch (err) {
        const retryable = err instanceof UpstreamError && (isRetryable(err) || err.upstreamCode === UNSERVABLE);
        if (!retryable || this.received || this.stopReason || this.attempts >= upstreamMaxAttempts) throw err;
        const delay = retryDelay(this.attempts, upstreamRetryBaseMs, err.retryAfterMs);
        this.cfg.logger.warn('upstream attempt failed; retrying', {
          id: this.id,
          kind: err.kind,
          status: err.status,
          attempt: this.attempts,
          retryInMs: delay,
          nextDeployment: deployments[this.attempts % deployments.length].modelName,
        });
        this.emit('upstreamRetry', err);
        await abortableSleep(delay, this.controller.signal);
      }
    }
  }

  /** One attempt against `deployment`: opens the stream and folds it to its end. */
  private async streamFrom(deployment: DeploymentConfig): Promise<void> {
    const w = this.cfg.worker;
    this.serving = deployment;
    const chat = deployment.upstreamApi === 'chat_completions';
    let body: Record<string, unknown>;
    if (chat) {
      const mapped = toChatCompletionsRequest(this.start.request, deployment.upstreamModel);
      // The create path keeps only deployments that can take the request; should one not, it is
      // a failure of this attempt (retried on the next deployment), not of the response's input.
      if (mapped instanceof ApiError) {
        throw new UpstreamError('http', `The request cannot be sent to a Chat Completions deployment: ${mapped.message}`, 400, UNSERVABLE);
      }
      body = mapped.body;
      this.chat = new ChatStreamAdapter();
    } else {
      const { background: _background, ...rest } = this.start.request;
      body = { ...rest, model: deployment.upstreamModel, stream: true };
      this.chat = undefined;
    }
    const res = await openUpstream({
      url: upstreamUrl(deployment, chat ? 'chat/completions' : 'responses'),
      deployment,
      body,
      accept: 'text/event-stream',
      signal: this.controller.signal,
      connectTimeoutMs: w.upstreamConnectTimeoutMs,
    });
    if (!res.ok) throw await upstreamHttpError(res, deployment, w.upstreamIdleTimeoutMs);
    await readSse(res, { onMessage: (m) => this.onMessage(m.data) }, {
      signal: this.controller.signal,
      idleTimeoutMs: w.upstreamIdleTimeoutMs,
    });
    if (this.chat && !this.terminal && !this.halted) {
      for (const event of this.chat.end()) this.onUpstreamEvent(event);
    }
    if (!this.received && !this.halted) {
      throw new UpstreamError('connection', 'The upstream provider ended the stream without sending any event');
    }
  }

  private onMessage(data: string): void {
    if (this.terminal || this.halted) return;
    this.received = true;
    if (data === '[DONE]') return;
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(data) as Record<string, unknown>;
      if (!event || typeof event !== 'object' || Array.isArray(event)) throw new Error('not an object');
    } catch {
      this.malformedEvents += 1;
      this.cfg.logger.warn('skipped a malformed upstream event', { id: this.id, bytes: data.length, skipped: this.malformedEvents });
      return;
    }
    if (this.chat) {
      // The adapter turns an error frame into `error` + `response.failed` itself.
      for (const adapted of this.chat.push(event)) this.onUpstreamEvent(adapted);
      return;
    }
    // A bare `{"error": {...}}` frame (as Chat Completions servers send) is an error event.
    if (typeof event.type !== 'string') {
      if (event.error && typeof event.error === 'object') event = { type: 'error', error: event.error };
      else {
        this.malformedEvents += 1;
        this.cfg.logger.warn('skipped an upstream event without a type', { id: this.id, skipped: this.malformedEvents });
        return;
      }
    }
    this.onUpstreamEvent(event as ResponseStreamEvent);
  }

  private onUpstreamEvent(event: ResponseStreamEvent): void {
    if (event.type === 'keepalive') return;
    if (isStartEventType(event.type)) {
      // The record already has its own `response.created`; the upstream's start events only
      // contribute their fields, once, to our `response.in_progress`.
      this.ensureStarted(event.response as Record<string, unknown> | undefined);
      return;
    }
    this.ensureStarted(undefined);
    if (isFinalEventType(event.type)) {
      const merged = redactResponseError(
        normalizeUsage(applyEvent(this.current, { ...event, sequence_number: this.nextSeq })),
        this.serving,
      );
      this.terminal = true;
      this.log({ type: event.type, sequence_number: this.nextSeq, response: merged });
      return;
    }
    if (event.type === 'error') {
      this.log({ ...sanitizeErrorEvent(event, this.serving), sequence_number: this.nextSeq });
      return;
    }
    this.log({ ...event, sequence_number: this.nextSeq });
  }

  private ensureStarted(upstream: Record<string, unknown> | undefined): void {
    if (this.started) return;
    this.started = true;
    const merged = applyEvent(this.current, {
      type: 'response.in_progress',
      sequence_number: this.nextSeq,
      // Only an object's fields are taken: a malformed `response` (a string, an array) adds nothing.
      response: { ...(upstream && typeof upstream === 'object' && !Array.isArray(upstream) ? upstream : {}), status: 'in_progress' },
    });
    this.pendingStatus = 'in_progress';
    this.log({ type: 'response.in_progress', sequence_number: this.nextSeq, response: merged });
  }

  /** Ends the response with a synthesized `response.failed` event. */
  private finish(status: 'failed', code: string, message: string): void {
    this.ensureStarted(undefined);
    const merged = applyEvent(this.current, {
      type: 'response.failed',
      sequence_number: this.nextSeq,
      response: { status, error: { code, message } },
    });
    this.terminal = true;
    this.log({ type: 'response.failed', sequence_number: this.nextSeq, response: merged });
  }

  /** Appends an event (already numbered) to the log and folds it into the state. */
  private log(event: ResponseStreamEvent): void {
    // Encoded before the fold: an item id is left out only when every reader resolves it from
    // what precedes the entry (see ItemIds).
    const encoded = encodeEvent(event, this.knownItemId);
    this.announced.note(event);
    // Parsed upstream events belong to this worker alone, so deltas may be folded in place; the
    // chat adapter keeps the objects it hands out, so its events are folded by copy.
    this.current = this.chat ? applyEvent(this.current, event) : foldEvent(this.current, event);
    this.nextSeq = event.sequence_number + 1;
    this.pending.push(encoded);
    this.pendingBytes += encoded.length;
    this.bytesSinceSnapshot += encoded.length;
    if (this.terminal) this.pendingStatus = this.current.status;
    const w = this.cfg.worker;
    if (this.terminal || this.pending.length >= w.flushMaxEvents || this.pendingBytes >= w.flushMaxBytes) {
      this.requestFlush();
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      flushTick(w.flushIntervalMs).add(this.onFlushTick);
    }
  }

  private unscheduleFlush(): void {
    if (!this.flushScheduled) return;
    this.flushScheduled = false;
    flushTick(this.cfg.worker.flushIntervalMs).delete(this.onFlushTick);
  }

  private heartbeat(): void {
    if (this.halted || this.flushing) return;
    // Renewed at least every quarter lease, so a worker that waits out a store outage still holds
    // its lease when the store returns (resolve() checks storeRetryGraceMs against leaseMs).
    if (Date.now() - this.lastWriteAt < this.cfg.worker.leaseMs / 8) return;
    this.requestFlush(true);
  }

  private requestFlush(heartbeat = false): void {
    this.unscheduleFlush();
    if (this.flushing) return;
    this.flushing = this.flushLoop(heartbeat).finally(() => {
      this.flushing = undefined;
      // Events that arrived while the last write was in flight.
      if (this.pending.length && !this.halted) this.requestFlush();
    });
  }

  /** Waits for every pending event to be written (or dropped because the worker halted). */
  private async drain(): Promise<void> {
    while (this.flushing || (this.pending.length && !this.halted)) {
      if (!this.flushing) this.requestFlush();
      await this.flushing;
    }
  }

  private async flushLoop(heartbeat: boolean): Promise<void> {
    while (!this.halted && (this.pending.length || heartbeat)) {
      heartbeat = false;
      const bytes = this.pendingBytes;
      const input = this.takeBatch();
      const flushStarted = performance.now();
      const outcome = await this.appendWithRetry(input);
      if (outcome === undefined) return;
      this.lastWriteAt = Date.now();
      // For metrics and lifecycle reporting, measured by the runtime (one event per flush, not per event).
      this.emit('flush', { ms: performance.now() - flushStarted, events: input.events.length, bytes, outcome });
      if (outcome !== 'ok') {
        this.cfg.logger.info('worker stopped by the store', { id: this.id, outcome });
        this.halted = true;
        this.pending = [];
        this.controller.abort(new StopSignal(outcome === 'cancelled' ? 'cancelled' : 'deleted'));
        return;
      }
      if (input.status && isTerminalStatus(input.status)) this.wroteTerminal = true;
      this.emit('renewed');
      if (input.events.length) this.emit('flushed', input.firstSeq + input.events.length - 1);
    }
  }

  private takeBatch(): AppendInput {
    const w = this.cfg.worker;
    const input: AppendInput = {
      fence: this.start.fence,
      firstSeq: this.pendingFirstSeq,
      events: this.pending,
      leaseMs: w.leaseMs,
      ttlSeconds: this.cfg.backgroundMode.ttl,
    };
    if (this.pendingStatus) input.status = this.pendingStatus;
    const finalBatch = this.pendingStatus !== undefined && isTerminalStatus(this.pendingStatus);
    // The snapshot is rewritten only when the tail outgrows it, so total bytes stay O(n).
    if (this.pending.length && (finalBatch || this.bytesSinceSnapshot >= Math.max(SNAPSHOT_TAIL_FACTOR * this.snapshotBytes, MIN_SNAPSHOT_TAIL_BYTES))) {
      const json = JSON.stringify(this.current);
      input.snapshot = { json, seq: this.nextSeq - 1 };
      this.snapshotBytes = json.length;
      this.bytesSinceSnapshot = 0;
    }
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingFirstSeq = this.nextSeq;
    this.pendingStatus = undefined;
    return input;
  }

  /**
   * Writes one batch, retrying with backoff while the store is unreachable. The same batch is
   * retried as it was (the store ignores an already-applied one), so nothing is lost or doubled.
   * Gives up after `storeRetryGraceMs`; the lease then lapses and readers see `worker_lost`.
   */
  private async appendWithRetry(input: AppendInput): Promise<AppendOutcome | undefined> {
    const started = Date.now();
    let delay = 50;
    for (;;) {
      try {
        return await this.cfg.store.append(this.id, input);
      } catch (err) {
        if (this.halted) return undefined;
        // During shutdown the grace is short: close() must stay bounded when the store is down.
        const grace = this.stopReason === 'shutdown' ? Math.min(SHUTDOWN_FLUSH_GRACE_MS, this.cfg.worker.storeRetryGraceMs) : this.cfg.worker.storeRetryGraceMs;
        if (Date.now() - started > grace) {
          this.cfg.logger.error('store unreachable for too long; giving up on this response', { id: this.id, error: String(err) });
          this.halted = true;
          this.controller.abort(new StopSignal('shutdown'));
          return undefined;
        }
        this.emit('flushError', err);
        this.cfg.logger.warn('flush failed; retrying', { id: this.id, error: String(err), retryInMs: delay });
        await sleep(delay);
        delay = Math.min(delay * 2, 2000);
      }
    }
  }
}

/**
 * One timer per flush window for all the workers of the process: those with events waiting flush
 * in the same tick, so their appends leave in one socket write, and a thousand streams cost one
 * timer instead of a thousand. An event still waits at most one window.
 */
class FlushTick {
  private readonly waiting = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly ms: number) {}

  add(flush: () => void): void {
    this.waiting.add(flush);
    this.timer ??= setTimeout(() => this.fire(), this.ms);
  }

  delete(flush: () => void): void {
    this.waiting.delete(flush);
    if (this.waiting.size === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private fire(): void {
    this.timer = undefined;
    const due = [...this.waiting];
    this.waiting.clear();
    for (const flush of due) flush();
  }
}

const flushTicks = new Map<number, FlushTick>();

function flushTick(ms: number): FlushTick {
  let tick = flushTicks.get(ms);
  if (!tick) flushTicks.set(ms, (tick = new FlushTick(ms)));
  return tick;
}

/** The abort reason used when a worker is stopped on purpose. */
class StopSignal extends Error {
  readonly reason: StopReason;
  constructor(reason: StopReason) {
    super(`worker stopped: ${reason}`);
    this.reason = reason;
  }
}

/** The code of an attempt whose deployment could not take the request (no request was sent). */
const UNSERVABLE = 'deployment_cannot_take_request';

/** Failures worth another attempt: nothing was received and another try (or deployment) may succeed. */
function isRetryable(err: UpstreamError): boolean {
  if (err.kind !== 'http') return true;
  const status = err.status ?? 0;
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** Exponential backoff with full jitter, at least the upstream's `retry-after`, capped at 8 s. */
function retryDelay(attempt: number, baseMs: number, retryAfterMs: number | undefined): number {
  const exp = Math.min(baseMs * 2 ** (attempt - 1), 8000);
  const jittered = exp / 2 + Math.random() * (exp / 2);
  return Math.min(Math.max(jittered, retryAfterMs ?? 0), 8000);
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

function codeForUpstreamError(err: UpstreamError): string {
  if (err.kind === 'http') return err.status === 429 ? WORKER_ERROR_CODES.upstreamRateLimited : WORKER_ERROR_CODES.upstreamHttp;
  if (err.kind === 'connection') return WORKER_ERROR_CODES.upstreamConnection;
  return WORKER_ERROR_CODES.upstreamTimeout;
}

/** Keeps an upstream `error` event's shape but scrubs anything credential-like from its message. */
function sanitizeErrorEvent(event: ResponseStreamEvent, deployment: DeploymentConfig): ResponseStreamEvent {
  const nested = event.error && typeof event.error === 'object' ? (event.error as Record<string, unknown>) : undefined;
  if (nested) {
    const message = typeof nested.message === 'string' ? redactSecrets(nested.message, deployment) : 'The upstream provider reported an error';
    return { ...event, error: { ...nested, message } };
  }
  const message = typeof event.message === 'string' ? redactSecrets(event.message, deployment) : 'The upstream provider reported an error';
  return { ...event, message };
}

/** Scrubs credential-like text from the `error.message` an upstream put on its Response. */
function redactResponseError(response: ResponseObject, deployment: DeploymentConfig): ResponseObject {
  if (!response.error || typeof response.error.message !== 'string') return response;
  return { ...response, error: { ...response.error, message: redactSecrets(response.error.message, deployment) } };
}

/**
 * Fills the usage detail fields the current API requires and older upstreams omit
 * (`cache_write_tokens`, `cached_tokens`, `reasoning_tokens`) with 0.
 */
function normalizeUsage(response: ResponseObject): ResponseObject {
  const usage = response.usage as Record<string, unknown> | null | undefined;
  if (!usage || typeof usage !== 'object') return response;
  const input = (usage.input_tokens_details ?? {}) as Record<string, unknown>;
  const output = (usage.output_tokens_details ?? {}) as Record<string, unknown>;
  return {
    ...response,
    usage: {
      ...usage,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0, ...input },
      output_tokens_details: { reasoning_tokens: 0, ...output },
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
