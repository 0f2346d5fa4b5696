// The in-process store: the same contract as the Redis store, for a single process. It keeps
// serialised strings, answers asynchronously and expires records, so it is a faithful stand-in.

import { EventEmitter } from 'node:events';
import { QueueFullError, StoreConflictError } from '../errors';
import { silentLogger } from '../logger';
import { MemoryQueue, queueLifeMs } from '../queue/memory-queue';
import { QUEUE_TIMEOUT_ERROR } from '../queue/queue-errors';
import { parseControlMessage, WORKER_LOST_ERROR } from './records';
import { isTerminalStatus, type AppendInput, type AppendOutcome, type CancelOutcome, type ClaimResult, type ControlMessage } from '../types';
import type { CreatedRecord, CreateRecordInput, DeleteResult, EventsPage, Logger, ReadEventsOptions, ResponseErrorObject, RestoreInput, RestoreOutcome } from '../types';
import type { ResponseStore, StartQueuedOutcome, StoredResponse } from '../types';
import { MemorySideKv, SideRecordStore, turnEntry, type SideRecordsDeps } from './side-records';
import { itemIdNotes } from './event-codec';
import { pageOf } from './log-pages';
import { checkLogWhole } from './redis-replies';
import { MemoryOutbox, type OutboxPlan, type WebhookOutboxStore } from './memory-outbox';
import { endQueued, publicMeta, stored, type MemoryRecord, type MetaRecord } from './memory-record';

/** What `new MemoryStore()` accepts. */
export interface MemoryStoreOptions {
  /** Where listener failures are logged. Default: nothing is logged. */
  logger?: Logger;
  /** How often expired records are removed, in ms (they are also removed when touched). Default 60000. */
  sweepIntervalMs?: number;
}

const CONTROL_EVENT = 'control';

/** The in-memory {@link ResponseStore}: a single process only, nothing survives a restart. */
export class MemoryStore extends SideRecordStore implements ResponseStore, WebhookOutboxStore {
  readonly #records = new Map<string, MemoryRecord>();
  /** Deleted ids → epoch ms until which their tombstone lasts (as long as the record would have). */
  readonly #tombstones = new Map<string, number>();
  /** Abandoned creates' ids (see `delete`) → epoch ms until which a create of that id is refused. */
  readonly #abandoned = new Map<string, number>();
  readonly #queue = new MemoryQueue();
  readonly #sideKv = new MemorySideKv();
  protected readonly side: SideRecordsDeps = { kv: this.#sideKv, prefix: '', logger: silentLogger, assertOpen: () => this.#assertOpen() };
  readonly #control = new EventEmitter();
  readonly #logger: Logger;
  readonly #sweepTimer: NodeJS.Timeout;
  #closed = false;
  #outbox: MemoryOutbox | undefined; // set by webhookOutbox(): terminal transitions then enqueue here

  constructor(opts: MemoryStoreOptions = {}) {
    super();
    this.#logger = opts.logger ?? silentLogger;
    this.#control.setMaxListeners(0);
    this.#sweepTimer = setInterval(() => this.#sweep(), opts.sweepIntervalMs ?? 60_000);
    this.#sweepTimer.unref();
  }

  async create(input: CreateRecordInput): Promise<CreatedRecord> {
    this.#assertOpen();
    if (this.#get(input.id) || (this.#abandoned.get(input.id) ?? 0) > Date.now()) throw new StoreConflictError(input.id);
    const full = input.queue && (input.queue.maxDepth ?? 0) > 0 && this.#queue.size(input.queue.group) >= (input.queue.maxDepth ?? 0);
    if (full) throw new QueueFullError(input.queue!.group);
    const now = Date.now();
    const lastSeq = input.events.length - 1;
    const meta: MetaRecord = {
      status: 'queued',
      owner: input.owner,
      lastSeq,
      fence: 1,
      leaseExpiresAt: now + input.leaseMs,
      stream: input.stream,
      error: null,
      snapshotSeq: lastSeq,
      ttlSeconds: input.ttlSeconds,
    };
    const q = input.queue;
    if (q) {
      meta.viaQueue = true;
      meta.queueDeadline = q.maxWaitMs > 0 ? now + q.maxWaitMs : 0;
    }
    this.#records.set(input.id, {
      meta: JSON.stringify(meta),
      snapshot: input.snapshot,
      log: [...input.events],
      itemIds: itemIdNotes(input.events, 0),
      expiresAt: now + input.ttlSeconds * 1000 + input.leaseMs + (q ? queueLifeMs(q.maxWaitMs) : 0),
    });
    // The same synchronous step: no caller sees the record without its queue entry.
    if (q) this.#queue.enqueue(input.id, q, now);
    if (input.turn) {
      const turn = turnEntry(this.side.prefix, input.id, input.turn.record, input.turn.ttlSeconds);
      // MemorySideKv.set does its work before its first await: still the same synchronous step.
      void this.#sideKv.set(turn.key, turn.value, turn.ttlMs);
    }
    return input.turn ? { fence: 1, turnSaved: true } : { fence: 1 };
  }

  async read(id: string, owner: string | null): Promise<StoredResponse | null> {
    this.#assertOpen();
    const record = this.#owned(id, owner);
    if (!record) return null;
    const swept = this.#sweepLease(id, record).swept;
    const result = stored(record);
    if (swept) result.leaseSwept = true;
    // Only a restore without its log (see RestoreInput.events) leaves the log short here.
    checkLogWhole(id, result.meta, record.log.length);
    return result;
  }

  async readEvents(id: string, owner: string | null, afterSeq: number, options: ReadEventsOptions = {}): Promise<EventsPage | null> {
    this.#assertOpen();
    const record = this.#owned(id, owner);
    if (!record) return null;
    const { meta, swept } = this.#sweepLease(id, record);
    const result: EventsPage = { meta: publicMeta(meta), ...pageOf(record.log, record.itemIds, afterSeq, options) };
    if (swept) result.leaseSwept = true;
    checkLogWhole(id, result.meta, record.log.length);
    return result;
  }

  async append(id: string, input: AppendInput): Promise<AppendOutcome> {
    this.#assertOpen();
    const record = this.#get(id);
    if (!record) return 'gone';
    const meta = JSON.parse(record.meta) as MetaRecord;
    const n = input.events.length;
    // A retried flush whose first attempt was written (its reply was lost) succeeds without
    // writing twice, even when that attempt made the response terminal.
    if (n > 0 && input.fence === meta.fence && input.firstSeq + n - 1 <= meta.lastSeq) return 'ok';
    if (meta.status === 'cancelled') return 'cancelled';
    if (isTerminalStatus(meta.status)) return 'terminal';
    if (input.fence !== meta.fence) return 'fenced';
    if (n > 0) {
      if (input.firstSeq !== meta.lastSeq + 1) return 'fenced';
      record.log.push(...input.events);
      record.itemIds.push(...itemIdNotes(input.events, input.firstSeq));
      meta.lastSeq += n;
    }
    if (input.snapshot) {
      record.snapshot = input.snapshot.json;
      meta.snapshotSeq = input.snapshot.seq;
    }
    meta.ttlSeconds = input.ttlSeconds;
    if (input.status) meta.status = input.status;
    const now = Date.now();
    if (input.status && isTerminalStatus(input.status)) {
      // Retention counts from the terminal state.
      meta.leaseExpiresAt = 0;
      record.expiresAt = now + input.ttlSeconds * 1000;
      this.#outbox?.enqueue(input.status, id);
    } else {
      meta.leaseExpiresAt = now + input.leaseMs;
      record.expiresAt = now + input.ttlSeconds * 1000 + input.leaseMs;
    }
    record.meta = JSON.stringify(meta);
    return 'ok';
  }

  async restore(id: string, input: RestoreInput): Promise<RestoreOutcome> {
    this.#assertOpen();
    if (this.#get(id)) return 'exists';
    if ((this.#tombstones.get(id) ?? 0) > Date.now()) return 'deleted';
    const now = Date.now();
    const { owner, stream, fence, status, lastSeq, snapshotSeq, ttlSeconds, leaseMs } = input;
    const meta: MetaRecord = { status, owner, lastSeq, fence, leaseExpiresAt: now + leaseMs, stream, error: null, snapshotSeq, ttlSeconds };
    const log = [...input.events];
    this.#records.set(id, { meta: JSON.stringify(meta), snapshot: input.snapshot, log, itemIds: itemIdNotes(log, 0), expiresAt: now + ttlSeconds * 1000 + leaseMs });
    return 'restored';
  }

  async cancel(id: string, owner: string | null, ttlSeconds: number): Promise<CancelOutcome> {
    this.#assertOpen();
    const record = this.#owned(id, owner);
    if (!record) return { outcome: 'not_found' };
    const meta = JSON.parse(record.meta) as MetaRecord;
    if (meta.status === 'cancelled') return { outcome: 'already_cancelled', response: stored(record) };
    if (isTerminalStatus(meta.status)) return { outcome: 'terminal', response: stored(record) };
    meta.status = 'cancelled';
    meta.leaseExpiresAt = 0;
    meta.ttlSeconds = ttlSeconds;
    record.meta = JSON.stringify(meta);
    record.expiresAt = Date.now() + ttlSeconds * 1000;
    this.#outbox?.enqueue('cancelled', id);
    this.#publish({ id, action: 'cancel' });
    return { outcome: 'cancelled', response: stored(record) };
  }

  async delete(id: string, owner: string | null, options: { tombstoneMs?: number } = {}): Promise<DeleteResult> {
    this.#assertOpen();
    const record = this.#owned(id, owner);
    if (!record) {
      // An abandoned create (see the contract): should it arrive later, the tombstone refuses it.
      if (owner === null && !this.#records.has(id) && (options.tombstoneMs ?? 0) > 0) {
        const until = Date.now() + Math.trunc(options.tombstoneMs ?? 0);
        this.#tombstones.set(id, Math.max(this.#tombstones.get(id) ?? 0, until));
        this.#abandoned.set(id, until);
      }
      return { deleted: false };
    }
    // A response that was not terminal is ended by this delete; only this caller reports it.
    const running = !isTerminalStatus((JSON.parse(record.meta) as MetaRecord).status);
    const result: DeleteResult = running ? { deleted: true, ended: stored(record) } : { deleted: true };
    this.#records.delete(id);
    this.#tombstones.set(id, Math.max(record.expiresAt, Date.now() + 1000));
    this.#publish({ id, action: 'delete' });
    return result;
  }

  async claim(group: string, opts: { leaseMs: number; maxAttempts: number }): Promise<ClaimResult> {
    return this.#q().claim(group, opts, Date.now());
  }

  async renewClaim(group: string, id: string, leaseMs: number): Promise<boolean> {
    return this.#q().renewClaim(group, id, leaseMs, Date.now());
  }

  async markClaimStarted(group: string, id: string): Promise<void> {
    this.#q().markClaimStarted(group, id);
  }

  async releaseClaim(group: string, id: string): Promise<void> {
    this.#q().releaseClaim(group, id);
  }

  async handBack(group: string, id: string, opts: { deferMs?: number } = {}): Promise<void> {
    this.#q().handBack(group, id, opts.deferMs ?? 0, Date.now());
  }

  async dropQueued(group: string, id: string): Promise<string | null> {
    return this.#q().drop(group, id);
  }

  async queueDepth(group: string): Promise<number> {
    return this.#q().depth(group);
  }

  async startQueued(id: string, leaseMs: number): Promise<StartQueuedOutcome> {
    this.#assertOpen();
    const record = this.#get(id);
    if (!record) return { outcome: 'gone' };
    const { meta, swept } = this.#sweepLease(id, record);
    if (swept) return { outcome: 'expired', response: stored(record) };
    if (meta.status === 'cancelled') return { outcome: 'cancelled' };
    if (isTerminalStatus(meta.status)) return { outcome: 'terminal' };
    if (meta.status !== 'queued') return { outcome: 'started' };
    const now = Date.now();
    meta.fence += 1;
    meta.leaseExpiresAt = now + leaseMs;
    meta.queueDeadline = 0;
    record.meta = JSON.stringify(meta);
    record.expiresAt = now + meta.ttlSeconds * 1000 + leaseMs;
    return { outcome: 'claimed', fence: meta.fence, response: stored(record) };
  }

  async failQueued(id: string, error: ResponseErrorObject, ttlSeconds: number): Promise<boolean> {
    this.#assertOpen();
    const record = this.#get(id);
    if (!record) return false;
    const meta = JSON.parse(record.meta) as MetaRecord;
    if (meta.status !== 'queued') return false;
    endQueued(record, meta, error, ttlSeconds, Date.now());
    this.#outbox?.enqueue('failed', id);
    return true;
  }

  async subscribe(listener: (message: ControlMessage) => void): Promise<() => Promise<void>> {
    this.#assertOpen();
    const onMessage = (raw: string): void => {
      const message = parseControlMessage(raw);
      if (message === null) return;
      try {
        listener(message);
      } catch (err) {
        this.#logger.error('memory store: control message listener threw', { error: (err as Error).message });
      }
    };
    this.#control.on(CONTROL_EVENT, onMessage);
    return async () => {
      this.#control.off(CONTROL_EVENT, onMessage);
    };
  }

  webhookOutbox(plan: OutboxPlan): MemoryOutbox {
    if (this.#outbox) this.#outbox.plan = plan;
    return (this.#outbox ??= new MemoryOutbox(plan));
  }

  async ping(): Promise<void> {
    this.#assertOpen();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    this.#control.removeAllListeners();
    this.#records.clear();
    this.#tombstones.clear();
    this.#abandoned.clear();
    this.#queue.clear();
    this.#sideKv.clear();
  }

  /** The live record, or undefined when missing or expired (expired ones are removed here). */
  #get(id: string): MemoryRecord | undefined {
    const record = this.#records.get(id);
    if (record && record.expiresAt <= Date.now()) {
      this.#records.delete(id);
      return undefined;
    }
    return record;
  }

  /** The record when `owner` may see it; a mismatch looks exactly like a missing id. */
  #owned(id: string, owner: string | null): MemoryRecord | undefined {
    const record = this.#get(id);
    if (!record) return undefined;
    if (owner !== null && (JSON.parse(record.meta) as MetaRecord).owner !== owner) return undefined;
    return record;
  }

  /**
   * Marks a non-terminal response whose lease lapsed as failed (a queued one: only when its wait
   * ran out); returns the current meta and whether this call did.
   */
  #sweepLease(id: string, record: MemoryRecord): { meta: MetaRecord; swept: boolean } {
    const meta = JSON.parse(record.meta) as MetaRecord;
    const now = Date.now();
    if (meta.viaQueue && meta.status === 'queued') {
      if (!meta.queueDeadline || meta.queueDeadline >= now) return { meta, swept: false };
      endQueued(record, meta, QUEUE_TIMEOUT_ERROR, meta.ttlSeconds, now);
      this.#outbox?.enqueue('failed', id);
      return { meta, swept: true };
    }
    if (isTerminalStatus(meta.status) || meta.leaseExpiresAt >= now) return { meta, swept: false };
    meta.status = 'failed';
    meta.error = { ...WORKER_LOST_ERROR };
    meta.leaseExpiresAt = 0;
    record.meta = JSON.stringify(meta);
    record.expiresAt = now + meta.ttlSeconds * 1000;
    this.#outbox?.enqueue('failed', id);
    return { meta, swept: true };
  }

  /** Delivered after the current call returns, as a Redis message arrives after PUBLISH. */
  #publish(message: ControlMessage): void {
    const raw = JSON.stringify(message);
    setImmediate(() => {
      if (!this.#closed) this.#control.emit(CONTROL_EVENT, raw);
    });
  }

  #sweep(): void {
    const now = Date.now();
    for (const [id, record] of this.#records) if (record.expiresAt <= now) this.#records.delete(id);
    for (const [id, until] of this.#tombstones) if (until <= now) this.#tombstones.delete(id);
    for (const [id, until] of this.#abandoned) if (until <= now) this.#abandoned.delete(id);
    this.#sideKv.sweep(now);
  }

  /** The queue, once the store is known to be open. */
  #q(): MemoryQueue {
    this.#assertOpen();
    return this.#queue;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('The memory store is closed.');
  }
}
