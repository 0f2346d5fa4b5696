// The claim loop of one process: takes queued responses from the store (round-robin over the
// deployment groups, up to `worker.concurrency` at once), runs each in a streaming worker, keeps
// its claim alive, and releases it, or hands it back when the process stops before it started.

import type { ResponsesPollingConfig } from '../config/options';
import { Admission } from '../limiter/admission';
import type { EndedInput } from '../observability/lifecycle';
import { ERROR_DETAILS, responseError } from '../response-vocabulary';
import { runWithLogContext } from '../observability/request-id';
import type { QueueClaim, ResponseErrorObject } from '../types';
import { openingEntries } from '../store/event-codec';
import { materialize } from '../worker/materialize';
import type { StreamingWorker, WorkerStart } from '../worker/streaming-worker';
import { PARALLEL_RETRY_HINT_MS } from '../limiter/limits';
import { queueGroups, readJob, type QueuedJob } from './job';
import { QUEUE_TIMEOUT_ERROR, requeueExhaustedError } from './queue-errors';

/** What the pool needs of the runtime it belongs to. */
export interface PoolHost {
  readonly config: ResponsesPollingConfig;
  /** Starts (and tracks) a worker detached from any request. */
  startWorker(start: WorkerStart, info: { owner?: string; admission?: Admission; claimed?: boolean }): StreamingWorker;
  /** Reports a terminal transition this process made, once. */
  responseEnded(input: EndedInput): void;
  /** Listens for cancel and delete messages, so a cancel elsewhere stops a worker here. */
  ensureSubscribed(): Promise<unknown>;
}

/** One claim this process holds. */
interface Held {
  group: string;
  worker?: StreamingWorker;
  /** Set when the claim goes back to the queue instead of being released. */
  handBack: boolean;
  /** Resolves once the claim was released or handed back. */
  settled: Promise<void>;
}

/** A claimed response's job read back, and its admission (which passed the gate). */
interface Ready {
  /** Undefined when this process cannot read the job (it is ended `failed`). */
  job: QueuedJob | null | undefined;
  admission: Admission | undefined;
}

/** How often the depth of each group is read for the `queue_depth` gauge, in claim intervals. */
const DEPTH_EVERY = 5;
/** How long `close()` waits for handed-back workers to stop and their claims to be returned. */
const HAND_BACK_WAIT_MS = 5000;

/** The error of a queued response whose job this process cannot read (another version, or its deployments removed). */
const UNREADABLE_JOB_ERROR: ResponseErrorObject = responseError(
  ERROR_DETAILS.unreadableJob,
  'The queued response cannot be run: none of its deployments is configured on the worker that claimed it.',
);

/** Claims and runs queued responses for one runtime; see the file comment. */
export class WorkerPool {
  readonly #host: PoolHost;
  readonly #config: ResponsesPollingConfig;
  readonly #groups: string[];
  readonly #held = new Map<string, Held>();
  readonly #timer: NodeJS.Timeout;
  #cursor = 0;
  #ticks = 0;
  #passing: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #lastErrorLog = 0;

  constructor(host: PoolHost) {
    this.#host = host;
    this.#config = host.config;
    this.#groups = queueGroups(host.config);
    this.#timer = setInterval(() => this.#tick(), host.config.worker.claimIntervalMs);
    this.#timer.unref();
    if (this.#groups.length) void host.ensureSubscribed();
    this.kick();
  }

  /** Responses this process has claimed and not yet released. */
  get size(): number {
    return this.#held.size;
  }

  /** Looks at the queue now (a create in this process just enqueued, or a claim was released). */
  kick(): void {
    if (this.#closed) return;
    if (this.#passing) {
      this.#again = true;
      return;
    }
    this.#passing = this.#pass().finally(() => {
      this.#passing = undefined;
      if (this.#again) {
        this.#again = false;
        this.kick();
      }
    });
  }

  /**
   * Stops claiming and hands back, at once, every claimed response whose upstream has not sent
   * anything yet (its worker stops without writing). Started responses are left to the runtime's
   * shutdown (finish within the grace, then `server_shutdown`).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#passing;
    const returning: Promise<void>[] = [];
    for (const held of this.#held.values()) {
      if (held.worker && held.worker.upstreamStarted) continue;
      held.handBack = true;
      held.worker?.stop('handed_back');
      returning.push(held.settled);
    }
    await withTimeout(Promise.all(returning), HAND_BACK_WAIT_MS);
  }

  #tick(): void {
    this.#ticks += 1;
    if (this.#ticks % DEPTH_EVERY === 0) void this.#readDepths();
    this.kick();
  }

  /** Claims until this process is at its concurrency or every group came back empty in a row. */
  async #pass(): Promise<void> {
    const { store, worker } = this.#config;
    const groups = this.#groups;
    let empty = 0;
    while (!this.#closed && this.#held.size < worker.concurrency && empty < groups.length) {
      const group = groups[this.#cursor++ % groups.length];
      let result;
      try {
        result = await store.claim(group, { leaseMs: worker.leaseMs, maxAttempts: worker.maxClaimAttempts });
      } catch (err) {
        this.#storeError('could not claim from the queue', err);
        return;
      }
      if (result.requeued.length) this.#config.metrics.queueRequeues.inc({ group, outcome: 'requeued' }, result.requeued.length);
      for (const id of result.exhausted) {
        this.#config.metrics.queueRequeues.inc({ group, outcome: 'exhausted' });
        void this.#fail(id, requeueExhaustedError(worker.maxClaimAttempts), 'claims_exhausted');
      }
      if (!result.claim) {
        empty += 1;
        continue;
      }
      empty = 0;
      if (this.#closed) {
        await store.handBack(group, result.claim.id).catch((err) => this.#storeError('could not hand back a claim', err));
        return;
      }
      // Awaited before the next claim: a principal whose key has no free slot is deferred before
      // the next claim could pick its next response.
      const ready = await this.#gate(group, result.claim);
      if (ready) this.#take(group, result.claim, ready);
    }
  }

  /**
   * The key's parallel slot of a claimed response: taken (or, when it holds it since admission,
   * renewed for one lease) before the response may run. A key at its cap defers the response (its
   * principal is skipped for a while, so other keys' work goes first); one whose wait ran out is
   * ended. Undefined when the claim was dealt with here.
   */
  async #gate(group: string, claim: QueueClaim): Promise<Ready | undefined> {
    const { store, limiter, logger, limiterFailOpen, worker } = this.#config;
    const job = readJob(this.#config, claim.job);
    const admission = job?.admission ? Admission.fromJob(limiter, logger, job.admission) : undefined;
    if (!job || !admission) return { job, admission };
    let outcome;
    try {
      outcome = await admission.acquire();
    } catch (err) {
      this.#storeError('could not take the parallel slot of a queued response', err, 'limiter');
      if (limiterFailOpen) return { job, admission };
      outcome = 'full' as const;
    }
    if (outcome !== 'full') return { job, admission };
    if (worker.maxQueueMs > 0 && Date.now() - claim.enqueuedAt >= worker.maxQueueMs) {
      // Its wait ran out while its key stayed full: ended here (a cancelled one is just dropped).
      await this.#fail(claim.id, QUEUE_TIMEOUT_ERROR, ERROR_DETAILS.queueTimeout);
      await admission.settle(claim.id, null);
      await store.releaseClaim(group, claim.id).catch((err) => this.#storeError('could not release a claim', err));
      return undefined;
    }
    await store.handBack(group, claim.id, { deferMs: PARALLEL_RETRY_HINT_MS }).catch((err) => this.#storeError('could not hand back a claim', err));
    return undefined;
  }

  /** Holds `claim` until its worker is done; the slot in `#held` is taken at once, so the concurrency holds. */
  #take(group: string, claim: QueueClaim, ready: Ready): void {
    let settle!: () => void;
    const held: Held = { group, handBack: false, settled: new Promise<void>((resolve) => (settle = resolve)) };
    this.#held.set(claim.id, held);
    this.#config.metrics.queueClaimed(group, Date.now() - claim.enqueuedAt);
    const finish = async () => {
      const { store } = this.#config;
      try {
        if (held.handBack) await store.handBack(group, claim.id);
        else await store.releaseClaim(group, claim.id);
      } catch (err) {
        // The claim lapses instead: put back (not started) or dropped (started) by the next claim.
        this.#storeError('could not release a claim', err);
      }
      this.#held.delete(claim.id);
      settle();
      this.kick();
    };
    this.#run(group, claim, held, ready).then(
      // `done` is a promise: no race with a worker that ends before this callback runs.
      (worker) => (worker ? worker.done.then(finish) : finish()),
      (err) => {
        this.#storeError('could not start a claimed response', err);
        held.handBack = true;
        void finish();
      },
    );
  }

  /** Takes the claimed record and starts its worker; undefined when there is nothing to run. */
  async #run(group: string, claim: QueueClaim, held: Held, { job, admission }: Ready): Promise<StreamingWorker | undefined> {
    const { store, worker: w, logger } = this.#config;
    if (!job) {
      logger.error('a queued response has a job this process cannot run; ending it failed', { id: claim.id });
      await this.#fail(claim.id, UNREADABLE_JOB_ERROR, ERROR_DETAILS.unreadableJob);
      return undefined;
    }
    const taken = await store.startQueued(claim.id, w.leaseMs);
    if (taken.outcome !== 'claimed') {
      // Cancelled, deleted or ended while queued (reported by whoever did it): the upstream is
      // never called, and its admission (its slot, taken at admission or by the gate) is given
      // back here, once. Only one started by another claim keeps it: that claim's worker settles it.
      if (taken.outcome !== 'started') await admission?.settle(claim.id, null);
      if (taken.outcome === 'expired') {
        // Its wait ran out and this claim's step ended it: reported here, once.
        const response = taken.response;
        this.#host.responseEnded({ id: claim.id, path: 'polling', status: 'failed', response: materialize(response), owner: response.meta.owner, detail: { reason: ERROR_DETAILS.queueTimeout } });
      }
      return undefined;
    }
    if (this.#closed) {
      held.handBack = true;
      return undefined;
    }
    const stored = taken.response;
    const state = materialize(stored);
    const start: WorkerStart = {
      id: claim.id,
      owner: stored.meta.owner,
      fence: taken.fence,
      state,
      // A log still as its create wrote it is known here without reading it (see WorkerStart.log).
      ...(stored.meta.lastSeq === 1 && stored.snapshotSeq === 1 && { log: openingEntries(stored.snapshot) }),
      nextSeq: stored.meta.lastSeq + 1,
      snapshotBytes: stored.snapshot.length,
      deployments: job.deployments,
      request: job.request,
      continuation: job.continuation,
      traceParent: job.traceParent,
    };
    const worker = runWithLogContext({ requestId: job.requestId, responseId: claim.id }, () =>
      this.#host.startWorker(start, { owner: stored.meta.owner, admission, claimed: true }),
    );
    held.worker = worker;
    this.#keepClaim(group, claim.id, worker);
    return worker;
  }

  /** Renews the claim with the worker's lease and marks it started at its first stored event. */
  #keepClaim(group: string, id: string, worker: StreamingWorker): void {
    const { store, worker: w } = this.#config;
    let lastRenew = Date.now();
    // Once: stream followers are counted as the worker's `flushed` listeners.
    const onFlushed = () => {
      store.markClaimStarted(group, id).catch((err) => this.#storeError('could not mark a claim started', err));
    };
    const onRenewed = () => {
      if (Date.now() - lastRenew < w.leaseMs / 4) return;
      lastRenew = Date.now();
      store.renewClaim(group, id, w.leaseMs).catch((err) => this.#storeError('could not renew a claim', err));
    };
    worker.once('flushed', onFlushed);
    worker.on('renewed', onRenewed);
    worker.once('done', () => {
      worker.off('flushed', onFlushed);
      worker.off('renewed', onRenewed);
    });
  }

  /** Ends a queued response `failed`; the call that made the transition reports it. */
  fail(id: string, error: ResponseErrorObject, reason: string): Promise<void> {
    return this.#fail(id, error, reason);
  }

  async #fail(id: string, error: ResponseErrorObject, reason: string): Promise<void> {
    const { store, backgroundMode, logger } = this.#config;
    try {
      if (!(await store.failQueued(id, error, backgroundMode.ttl))) return;
      logger.warn('a queued response was ended failed', { id, reason });
      const stored = await store.read(id, null);
      if (stored) this.#host.responseEnded({ id, path: 'polling', status: 'failed', response: materialize(stored), owner: stored.meta.owner, detail: { reason } });
    } catch (err) {
      this.#storeError('could not end a queued response', err);
    }
  }

  async #readDepths(): Promise<void> {
    for (const group of this.#groups) {
      try {
        this.#config.metrics.queueDepth.set({ group }, await this.#config.store.queueDepth(group));
      } catch {
        return;
      }
    }
  }

  /** Counts a failed queue (or limiter) call; logs at most one line per claim interval x 50, so an outage does not flood the log. */
  #storeError(what: string, err: unknown, store: 'queue' | 'limiter' = 'queue'): void {
    this.#config.metrics.storeError(store);
    const now = Date.now();
    if (now - this.#lastErrorLog < this.#config.worker.claimIntervalMs * 50) return;
    this.#lastErrorLog = now;
    this.#config.logger.warn(what, { error: String(err) });
  }
}

/** Resolves when `work` settles or after `ms`. */
function withTimeout(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return Promise.race([work.then(() => undefined, () => undefined), deadline]).finally(() => clearTimeout(timer));
}
