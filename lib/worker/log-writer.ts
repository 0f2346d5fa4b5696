// The log writer of one background response: encodes its events, batches them, flushes them to the
// store (retrying while it is unreachable), rewrites the snapshot now and then, renews the lease,
// and re-creates the record from its memory when the store lost it.

import type { ResponsesPollingConfig } from '../config/options';
import { isTerminalStatus } from '../response-vocabulary';
import { encodeEvent, ItemIdTable } from '../store/event-codec';
import type { AppendInput, AppendOutcome, Logger, ResponseObject, ResponseStatus, ResponseStore, ResponseStreamEvent } from '../types';
import { flushTick, type FlushTick } from './flush-tick';
import { RecordRecovery, type RecoveryStart, type RestoreInfo } from './record-recovery';

export type { RestoreInfo } from './record-recovery';

/** The worker tuning the log writer uses. */
export type WriterTuning = Pick<
  ResponsesPollingConfig['worker'],
  'flushIntervalMs' | 'flushMaxEvents' | 'flushMaxBytes' | 'leaseMs' | 'storeRetryGraceMs' | 'recoveryLogBytes'
>;

/** What the `flush` event carries: one store answer to a flush. */
export interface FlushInfo {
  /** Time of the append, retries included, in ms. */
  ms: number;
  events: number;
  /** Length of the encoded events. */
  bytes: number;
  outcome: AppendOutcome;
}

/** What the writer reports to, and asks of, the worker that owns it. */
export interface WriterHost {
  /** True once nothing more may be written (stopped, refused, or the terminal state written). */
  closed(): boolean;
  /** True while the worker stops for a shutdown: the store gets a shorter grace. */
  shuttingDown(): boolean;
  /** The store answered a flush (any outcome). */
  flushed(info: FlushInfo, input: AppendInput): void;
  /** One flush attempt failed; it is retried. */
  flushFailed(error: unknown): void;
  /** The store stayed unreachable past the grace: the response is given up. */
  gaveUp(): void;
  /** The record was missing (not deleted) or had lost the end of its log, and the writer repaired it. */
  restored(info: RestoreInfo): void;
}

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
/** Repairs of a lost record for one flush before the writer takes the refusal as final (it keeps vanishing). */
const MAX_REPAIRS_PER_FLUSH = 3;

/** Where a writer starts: the record `create` wrote. */
export interface WriterStart extends RecoveryStart {
  /** Size of the snapshot written at creation, in bytes. */
  snapshotBytes: number;
}

/** Batches one response's events and writes them to the store. */
export class LogWriter {
  private pending: string[] = [];
  private pendingFirstSeq: number;
  private pendingBytes = 0;
  /** When the oldest pending event was queued (performance.now()). */
  private pendingSince = 0;
  private pendingStatus: ResponseStatus | undefined;
  private bytesSinceSnapshot = 0;
  private snapshotBytes: number;
  private nextSeq: number;
  private flushing: Promise<void> | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private lastWriteAt = Date.now();
  private readonly tick: FlushTick;
  private readonly onFlushTick = (): void => this.requestFlush();
  /** Item ids by output index as a reader of the log learns them (see ItemIdTable). */
  private readonly announced = new ItemIdTable();
  private readonly recovery: RecordRecovery;
  /** The next batch rewrites the snapshot (a repaired record's may be old). */
  private snapshotDue = false;
  /** The Response before the event {@link write} encodes (read by knownItemId, which is made once). */
  private before: ResponseObject | undefined;

  constructor(
    private readonly start: WriterStart,
    private readonly store: ResponseStore,
    private readonly tuning: WriterTuning,
    private readonly logger: Logger,
    /** The Response as folded so far (its snapshot). */
    private readonly state: () => ResponseObject,
    private readonly host: WriterHost,
  ) {
    this.nextSeq = start.nextSeq;
    this.pendingFirstSeq = start.nextSeq;
    this.snapshotBytes = start.snapshotBytes;
    this.tick = flushTick(tuning.flushIntervalMs);
    this.recovery = new RecordRecovery(start, store, tuning, logger, (info) => {
      this.snapshotDue = true;
      host.restored(info);
    });
  }

  /** Starts renewing the lease while no event is written. */
  open(): void {
    const { leaseMs } = this.tuning;
    this.heartbeatTimer = setInterval(() => this.heartbeat(), Math.max(50, Math.floor(leaseMs / 8)));
  }

  /** Stops the timers; pending events are no longer flushed on their own. */
  close(): void {
    clearInterval(this.heartbeatTimer);
    this.tick.delete(this.onFlushTick);
  }

  /**
   * Queues `event` (numbered, already folded into the state) for the log; `status` is written
   * with it when the event moves the response to a new status. `before` is the Response before
   * the fold: an item id is left out only when every reader resolves it from what precedes the
   * entry (see ItemIds). Returns the length of the encoded entry.
   */
  write(event: ResponseStreamEvent, status: ResponseStatus | undefined, before: ResponseObject): number {
    this.before = before;
    const encoded = encodeEvent(event, this.knownItemId);
    this.announced.note(event);
    this.recovery.keepOne(encoded);
    this.nextSeq = event.sequence_number + 1;
    if (this.pending.length === 0) this.pendingSince = performance.now();
    this.pending.push(encoded);
    this.pendingBytes += encoded.length;
    this.bytesSinceSnapshot += encoded.length;
    if (status) this.pendingStatus = status;
    if (this.flushDue()) this.requestFlush();
    else this.tick.add(this.onFlushTick);
    return encoded.length;
  }

  /** Whether what is pending must be written now rather than at the next flush tick. */
  private flushDue(): boolean {
    const t = this.tuning;
    const status = this.pendingStatus;
    return (status !== undefined && isTerminalStatus(status)) || this.pending.length >= t.flushMaxEvents || this.pendingBytes >= t.flushMaxBytes;
  }

  /** After a write: what is pending goes now when due or when it has waited a whole window, else at the next tick. */
  private flushAfterWrite(): void {
    if (this.flushDue() || performance.now() - this.pendingSince >= this.tuning.flushIntervalMs) this.requestFlush();
    else this.tick.add(this.onFlushTick);
  }

  /** Waits for every pending event to be written (or dropped because the worker closed). */
  async drain(): Promise<void> {
    while (this.flushing || (this.pending.length && !this.host.closed())) {
      if (!this.flushing) this.requestFlush();
      await this.flushing;
    }
  }

  /** Drops what is pending: the store refused the response. */
  discard(): void {
    this.pending = [];
  }

  /**
   * The id an entry may leave out: the one a log reader knows for the output index and a
   * snapshot reader finds at that position of the Response, when both agree.
   */
  private readonly knownItemId = (outputIndex: number): string | undefined => {
    const id = this.announced.get(outputIndex);
    const output = Array.isArray(this.before?.output) ? this.before.output : [];
    return id !== undefined && output[outputIndex]?.id === id ? id : undefined;
  };

  private heartbeat(): void {
    if (this.host.closed() || this.flushing) return;
    // Renewed at least every quarter lease, so a worker that waits out a store outage still holds
    // its lease when the store returns (resolve() checks storeRetryGraceMs against leaseMs).
    if (Date.now() - this.lastWriteAt < this.tuning.leaseMs / 8) return;
    this.requestFlush(true);
  }

  private requestFlush(heartbeat = false): void {
    this.tick.delete(this.onFlushTick);
    if (this.flushing) return;
    this.flushing = this.flushLoop(heartbeat).finally(() => {
      this.flushing = undefined;
      // Events that arrived while the last write was in flight wait for the window they opened,
      // like any other (a write per flight would double the appends of a steady stream).
      if (this.pending.length && !this.host.closed()) this.flushAfterWrite();
    });
  }

  /** Writes what is pending (or renews the lease), then again only while more is due at once (see flushAfterWrite). */
  private async flushLoop(heartbeat: boolean): Promise<void> {
    for (let first = true; !this.host.closed() && (first ? this.pending.length > 0 || heartbeat : this.flushDue()); first = false) {
      heartbeat = false;
      const bytes = this.pendingBytes;
      const flushStarted = performance.now();
      const { outcome, input } = await this.appendRepairing(this.takeBatch());
      if (outcome === undefined) return;
      if (outcome === 'ok') this.recovery.acknowledged(input);
      this.lastWriteAt = Date.now();
      this.host.flushed({ ms: performance.now() - flushStarted, events: input.events.length, bytes, outcome }, input);
      if (outcome !== 'ok') return;
    }
  }

  private takeBatch(): AppendInput {
    const input: AppendInput = {
      fence: this.start.fence,
      firstSeq: this.pendingFirstSeq,
      events: this.pending,
      leaseMs: this.tuning.leaseMs,
      ttlSeconds: this.start.ttlSeconds,
    };
    if (this.pendingStatus) input.status = this.pendingStatus;
    const finalBatch = this.pendingStatus !== undefined && isTerminalStatus(this.pendingStatus);
    // The snapshot is rewritten only when the tail outgrows it, so total bytes stay O(n).
    if (this.pending.length && (finalBatch || this.snapshotDue || this.bytesSinceSnapshot >= Math.max(SNAPSHOT_TAIL_FACTOR * this.snapshotBytes, MIN_SNAPSHOT_TAIL_BYTES))) {
      const json = JSON.stringify(this.state());
      input.snapshot = { json, seq: this.nextSeq - 1 };
      this.snapshotBytes = json.length;
      this.bytesSinceSnapshot = 0;
      this.snapshotDue = false;
    }
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingFirstSeq = this.nextSeq;
    this.pendingStatus = undefined;
    return input;
  }

  /**
   * Appends one batch, repairing the record when the store lost it: on `gone` without a delete's
   * tombstone the record is written again and the batch appended once more; on `fenced` while the
   * record is still this worker's, the entries the store lost are sent again with the batch. The
   * input that was last sent comes back with the outcome.
   */
  private async appendRepairing(batch: AppendInput): Promise<{ outcome: AppendOutcome | undefined; input: AppendInput }> {
    let input = batch;
    for (let repairs = 0; ; repairs++) {
      const outcome = await this.withRetry(() => this.store.append(this.start.id, input));
      if (repairs === MAX_REPAIRS_PER_FLUSH || (outcome !== 'gone' && outcome !== 'fenced')) return { outcome, input };
      if (outcome === 'fenced') {
        const caughtUp = await this.recovery.catchUp(input);
        if (caughtUp === undefined) return { outcome, input };
        input = caughtUp;
        continue;
      }
      const restored = await this.withRetry(() => this.recovery.restore());
      if (restored === undefined) return { outcome: undefined, input };
      if (restored === 'deleted') return { outcome, input };
    }
  }

  /**
   * Runs one store call, retrying with backoff while the store is unreachable. A batch is
   * retried as it was (the store ignores an already-applied one), so nothing is lost or doubled.
   * Gives up after `storeRetryGraceMs`; the lease then lapses and readers see `worker_lost`.
   */
  private async withRetry<T>(call: () => Promise<T>): Promise<T | undefined> {
    const started = Date.now();
    let delay = 50;
    for (;;) {
      try {
        return await call();
      } catch (err) {
        if (this.host.closed()) return undefined;
        // During shutdown the grace is short: close() must stay bounded when the store is down.
        const grace = this.host.shuttingDown() ? Math.min(SHUTDOWN_FLUSH_GRACE_MS, this.tuning.storeRetryGraceMs) : this.tuning.storeRetryGraceMs;
        if (Date.now() - started > grace) {
          this.logger.error('store unreachable for too long; giving up on this response', { id: this.start.id, error: String(err) });
          this.host.gaveUp();
          return undefined;
        }
        this.host.flushFailed(err);
        this.logger.warn('flush failed; retrying', { id: this.start.id, error: String(err), retryInMs: delay });
        await sleep(delay);
        delay = Math.min(delay * 2, 2000);
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
