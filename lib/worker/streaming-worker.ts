// The streaming worker of one background response, detached from any client request: runs its
// upstream attempts, turns their messages into our events and writes them with its log writer.

import { EventEmitter } from 'node:events';
import type { DeploymentConfig, ResponsesPollingConfig } from '../config/options';
import type { CreateResponseBody } from '../middleware/create-request';
import type { Continuation } from '../conversation/continuation-body';
import { ERROR_DETAILS, errorDetailOf, isTerminalStatus, responseError } from '../response-vocabulary';
import type { AppendInput, Logger, ResponseObject, ResponseStore } from '../types';
import { UpstreamError } from '../upstream/client';
import { LogWriter, type FlushInfo, type RestoreInfo, type WriterTuning } from './log-writer';
import { ResponseLimits, type LimitBreach, type LimitTuning } from './response-limits';
import { detailOfUpstreamError, UpstreamAttempts, type AttemptTuning } from './upstream-attempts';
import { UpstreamEvents } from './upstream-events';
import { SHUTDOWN_ERROR } from '../queue/queue-errors';

export type { FlushInfo, RestoreInfo } from './log-writer';

/** Why a worker was told to stop (`handed_back`: its claim goes back to the queue; nothing more is written). */
export type StopReason = 'cancelled' | 'deleted' | 'shutdown' | 'handed_back';

/** What a worker starts from: the record `create` wrote. */
export interface WorkerStart {
  id: string;
  /** The owner hash of the record: a record the store lost is re-created with it. */
  owner: string;
  fence: number;
  /** The Response as stored at creation (status `queued`). */
  state: ResponseObject;
  /**
   * The log's entries before `nextSeq`, when known: the worker keeps its log in memory (up to
   * `worker.recoveryLogBytes`) to re-create a record the store lost. Without them it re-creates
   * one without its log.
   */
  log?: string[];
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
  /** With `previous_response_id`: how each deployment gets the earlier turns (see `bodyForDeployment`). */
  continuation?: Continuation;
  /** The create's span as a W3C `traceparent`: the worker's spans join its trace. */
  traceParent?: string;
}

/** The worker's tuning: `ResponsesPollingConfig.worker`, or any object with these fields. */
export type WorkerTuning = AttemptTuning & WriterTuning & LimitTuning;

/** What a worker uses: its store, logger, tuning and the retention of a finished response. */
export interface WorkerDeps {
  store: ResponseStore;
  logger: Logger;
  tuning: WorkerTuning;
  /** Retention of the finished response, in seconds. */
  ttlSeconds: number;
}

/** The deps of a worker from a resolved configuration. */
export function workerDeps(config: Pick<ResponsesPollingConfig, 'store' | 'logger' | 'worker' | 'backgroundMode'>): WorkerDeps {
  return { store: config.store, logger: config.logger, tuning: config.worker, ttlSeconds: config.backgroundMode.ttl };
}

/**
 * The events of a worker, with their payloads.
 * - `flushed`: the last stored sequence number, after every successful flush with events;
 * - `flush`: a {@link FlushInfo}, after every store answer to a flush;
 * - `flushError`: the error, for every failed flush attempt (it is retried);
 * - `renewed`: after every successful write (its lease was renewed);
 * - `upstreamRetry`: the {@link UpstreamError} of an attempt that is retried;
 * - `upstreamError`: the {@link UpstreamError} when the upstream request failed for good;
 * - `restored`: a {@link RestoreInfo}, each time it re-created its record, which the store had lost;
 * - `done`: once, when it has finished writing.
 */
export interface WorkerEvents {
  flushed: [lastSeq: number];
  flush: [info: FlushInfo];
  flushError: [error: unknown];
  renewed: [];
  upstreamRetry: [error: UpstreamError];
  upstreamError: [error: UpstreamError];
  restored: [info: RestoreInfo];
  done: [];
}

/**
 * Where a worker is:
 * - `connecting`: no upstream message yet (a failed attempt may be retried);
 * - `streaming`: an upstream message arrived (a failure is final);
 * - `finished`: the store took the terminal state this worker wrote;
 * - `halted`: stopped by a cancel or delete, refused by the store, or given up: it writes nothing more.
 */
export type WorkerState = 'connecting' | 'streaming' | 'finished' | 'halted';

/** Runs one background response; see {@link WorkerEvents} for what it reports. */
export class StreamingWorker extends EventEmitter<WorkerEvents> {
  readonly id: string;
  /** Resolves when the worker has stopped and written everything it will write. */
  readonly done: Promise<void>;

  private readonly deps: WorkerDeps;
  private readonly start: WorkerStart;
  private readonly controller = new AbortController();
  private phase: WorkerState = 'connecting';
  private stopReason: StopReason | undefined;
  private resolveDone!: () => void;
  private readonly attemptsRunner: UpstreamAttempts;
  private readonly events: UpstreamEvents;
  private readonly writer: LogWriter;
  private readonly limits: ResponseLimits;
  private timeLimitTimer: NodeJS.Timeout | undefined;

  constructor(deps: WorkerDeps, start: WorkerStart) {
    super();
    this.deps = deps;
    this.start = start;
    this.id = start.id;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.attemptsRunner = new UpstreamAttempts(start.deployments, start.request, start.continuation, deps.tuning, this.controller.signal, deps.logger, start.id, start.traceParent);
    this.limits = new ResponseLimits(deps.tuning);
    const maxOutputTokens = typeof start.request.max_output_tokens === 'number' ? start.request.max_output_tokens : undefined;
    this.events = new UpstreamEvents(
      start.state,
      start.nextSeq,
      (event, status, before) => this.limits.count(this.writer.write(event, status, before)),
      deps.logger,
      start.id,
      maxOutputTokens,
    );
    this.writer = new LogWriter(
      { ...start, stream: start.request.stream === true, ttlSeconds: deps.ttlSeconds },
      deps.store,
      deps.tuning,
      deps.logger,
      () => this.events.state,
      {
        closed: () => this.phase === 'halted' || this.phase === 'finished',
        shuttingDown: () => this.stopReason === 'shutdown',
        flushed: (info, input) => this.onFlushed(info, input),
        flushFailed: (err) => this.emit('flushError', err),
        gaveUp: () => this.halt('shutdown'),
        restored: (info) => this.emit('restored', info),
      },
    );
    // Every stream follower listens here; many followers of one response are normal.
    this.setMaxListeners(0);
  }

  /** Starts the work in the background; never throws and never rejects. */
  run(): void {
    this.writer.open();
    this.timeLimitTimer = setTimeout(() => this.cut(this.limits.timeLimit()), this.deps.tuning.maxResponseMs);
    // A guard only: the worker's own timers and sockets keep the process alive while it runs.
    this.timeLimitTimer.unref();
    this.work()
      .catch((err) => this.deps.logger.error('background worker crashed', { id: this.id, error: String(err) }))
      .finally(() => {
        clearTimeout(this.timeLimitTimer);
        this.writer.close();
        this.emit('done');
        this.resolveDone();
      });
  }

  /** The Response as this worker last folded it (final once `done` was emitted). */
  get state(): ResponseObject {
    return this.events.state;
  }

  /** Where the worker is (see {@link WorkerState}). */
  get workerState(): WorkerState {
    return this.phase;
  }

  /** True when this worker wrote the response's terminal state itself. */
  get finished(): boolean {
    return this.phase === 'finished';
  }

  /** The start record (deployments). */
  get startInfo(): WorkerStart {
    return this.start;
  }

  /** The deployment that served the response (the last one tried). */
  get deployment(): DeploymentConfig {
    return this.attemptsRunner.serving;
  }

  /** The upstream's own id of the response on {@link deployment}, once it named it (Responses deployments only). */
  get upstreamId(): string | undefined {
    return this.events.upstreamId;
  }

  /** Number of upstream attempts made so far. */
  get attempts(): number {
    return this.attemptsRunner.attempts;
  }

  /** Number of upstream SSE messages that were not valid JSON and were skipped. */
  get malformedEvents(): number {
    return this.events.malformedEvents;
  }

  /** True once the upstream sent its first event: from then on the response cannot be run again. */
  get upstreamStarted(): boolean {
    return this.phase !== 'connecting';
  }

  /** Stops the worker: cancel, delete and hand-back write nothing more; shutdown ends the response as failed. */
  stop(reason: StopReason): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    if (reason !== 'shutdown' && this.phase !== 'finished') this.phase = 'halted';
    this.controller.abort(new StopSignal(reason));
  }

  private async work(): Promise<void> {
    const { logger } = this.deps;
    const { events } = this;
    try {
      await this.attemptsRunner.run({
        begin: (deployment, chat) => events.begin(deployment, chat),
        message: (data) => {
          if (events.ended || this.phase === 'halted') return;
          if (this.phase === 'connecting') this.phase = 'streaming';
          events.message(data);
          this.enforceLimits();
        },
        end: () => {
          if (this.phase !== 'halted') events.end();
        },
        received: () => this.phase !== 'connecting',
        retry: (err) => this.emit('upstreamRetry', err),
      });
      if (!events.ended && this.phase !== 'halted') {
        const { error, status } = events.state;
        // An `error` event without the `response.failed` that normally follows it.
        if (status === 'failed' && error) events.fail(error);
        else events.fail(responseError(ERROR_DETAILS.streamIncomplete, 'The upstream stream ended before the response was complete'));
      }
    } catch (err) {
      if (err instanceof LimitSignal) {
        // Already ended by the cap; the upstream request was aborted on purpose.
      } else if (err instanceof StopSignal || this.stopReason) {
        if (this.stopReason === 'shutdown' && !events.ended) {
          events.fail(SHUTDOWN_ERROR);
        }
      } else if (err instanceof UpstreamError) {
        logger.warn('upstream request failed', { id: this.id, kind: err.kind, status: err.status, attempts: this.attempts });
        this.emit('upstreamError', err);
        if (!events.ended) events.fail(responseError(detailOfUpstreamError(err), err.message));
      } else {
        logger.error('unexpected error in background worker', { id: this.id, error: String(err) });
        if (!events.ended) events.fail(responseError(ERROR_DETAILS.internal, 'The server had an error while processing the response'));
      }
    }
    await this.writer.drain();
  }

  /** After each upstream message: a response past one of its caps ends, and its upstream is aborted. */
  private enforceLimits(): void {
    if (this.events.cutAtMaxOutputTokens) {
      this.controller.abort(new LimitSignal());
      return;
    }
    const breach = this.limits.breach();
    if (breach) this.cut(breach);
  }

  /** Ends a running response with `breach` and aborts its upstream request. */
  private cut(breach: LimitBreach): void {
    if (this.events.ended || this.phase === 'halted' || this.phase === 'finished') return;
    this.deps.logger.warn('response reached a limit; ending it', { id: this.id, detail: errorDetailOf(breach) });
    this.events.fail(breach);
    this.controller.abort(new LimitSignal());
  }

  /** One store answer to a flush: a refusal halts the worker; a terminal batch finishes it. */
  private onFlushed(info: FlushInfo, input: AppendInput): void {
    // For metrics and lifecycle reporting, measured by the runtime (one event per flush, not per event).
    this.emit('flush', info);
    if (info.outcome !== 'ok') {
      this.deps.logger.info('worker stopped by the store', { id: this.id, outcome: info.outcome });
      this.writer.discard();
      this.halt(info.outcome === 'cancelled' ? 'cancelled' : 'deleted');
      return;
    }
    if (input.status && isTerminalStatus(input.status)) this.phase = 'finished';
    this.emit('renewed');
    if (input.events.length) this.emit('flushed', input.firstSeq + input.events.length - 1);
  }

  /** Writes nothing more and aborts the upstream request. */
  private halt(reason: StopReason): void {
    this.phase = 'halted';
    this.controller.abort(new StopSignal(reason));
  }
}

/** The abort reason used when a response reached a cap and was ended by the worker. */
class LimitSignal extends Error {
  constructor() {
    super('response reached a limit');
  }
}

/** The abort reason used when a worker is stopped on purpose. */
class StopSignal extends Error {
  readonly reason: StopReason;
  constructor(reason: StopReason) {
    super(`worker stopped: ${reason}`);
    this.reason = reason;
  }
}
