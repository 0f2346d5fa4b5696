// The state shared by the parts of one mounted router: resolved config, the workers running in
// this process, the control subscription and the shutdown sequence.

import { resolveOptions } from './config/resolve';
import type { ResponsesPollingConfig, ResponsesPollingOptions } from './config/options';
import { isTerminalStatus, type ControlMessage, type ResponseObject, type StoredResponse } from './types';
import type { Admission } from './limiter/admission';
import { StreamingWorker, workerDeps, type StopReason, type WorkerStart } from './worker/streaming-worker';
import { reportEnded, usageCharge, type EndedInput } from './observability/lifecycle';
import { currentLogContext, runWithLogContext } from './observability/request-id';
import { traceEnded, traceFlush, traceIds, tracingAvailable } from './observability/tracing';
import { materialize } from './worker/materialize';
import { FollowerRegistry } from './middleware/followers';
import { registerMemoryStore } from './store/memory-store-registry';
import { startWebhooks, type WebhookDeliverer } from './webhooks/deliverer';
import { followTurn } from './conversation/turns';
import { WorkerPool } from './queue/worker-pool';
import { SHUTDOWN_ERROR } from './queue/queue-errors';

export { ownerFilter, ownerHash, type Principal, type PrincipalLimits } from './principal';

/** Shared state of one mounted `responsesPolling` (or of parts built from the same options). */
export class Runtime {
  readonly config: ResponsesPollingConfig;
  /** Workers running in this process, by response id. */
  readonly workers = new Map<string, StreamingWorker>();
  /** Event-stream followers in this process, counted against their caps. */
  readonly followers: FollowerRegistry;
  private closing = false;
  private closed: Promise<void> | undefined;
  /** Creates that passed admission and are still writing their record. */
  private readonly inflight = new Set<Promise<unknown>>();
  /** Limiter bookkeeping (usage, slot release) of workers that ended, still being written. */
  private readonly settling = new Set<Promise<void>>();
  /** Background services by name (see {@link service}). */
  private readonly services = new Map<string, { close(): Promise<void> }>();
  private subscription: Promise<(() => Promise<void>) | undefined> | undefined;
  /** Round-robin positions of this runtime, by configured model group (a deployment's `modelName`). */
  readonly rotations = new Map<string, number>();
  /** Ends this runtime's count in the registry of in-memory stores (at close). */
  private readonly releaseStore: () => void;
  /** Delivers webhook events from the store's outbox; absent without webhook endpoints. */
  readonly webhooks: WebhookDeliverer | undefined;
  /** The claim loop that runs queued responses here; absent in the `api` role. */
  readonly pool: WorkerPool | undefined;

  constructor(config: ResponsesPollingConfig) {
    this.config = config;
    this.followers = new FollowerRegistry(config.streamFollowers);
    this.releaseStore = registerMemoryStore(config.store, config.logger);
    this.webhooks = startWebhooks(config);
    this.pool = config.role === 'api' ? undefined : new WorkerPool(this);
  }

  /**
   * Called once a create wrote its record into the queue: a worker here looks at the queue at
   * once. A record written while `close()` runs is not left for later in a process that runs
   * workers: it ends `failed` (`server_shutdown`), as a started worker would.
   */
  async enqueued(id: string): Promise<void> {
    if (!this.pool) return;
    if (this.closing) await this.pool.fail(id, SHUTDOWN_ERROR, 'shutdown');
    else this.pool.kick();
  }

  /**
   * The background service `name` of this runtime (such as the native reconciler), started by
   * `start` on the first call only; closed by `close()`.
   */
  service<T extends { close(): Promise<void> }>(name: string, start: () => T): T {
    let service = this.services.get(name) as T | undefined;
    if (!service) this.services.set(name, (service = start()));
    return service;
  }

  /** True once `close()` was called: new responses are refused. */
  get isClosing(): boolean {
    return this.closing;
  }

  /**
   * Listens (once per runtime) for cancel and delete messages from every instance, so a cancel
   * on another instance stops the worker here at once. A lost message is covered by the store
   * refusing the worker's next flush.
   */
  ensureSubscribed(): Promise<unknown> {
    if (!this.subscription) {
      this.subscription = this.config.store
        .subscribe((message: ControlMessage) => this.stopWorker(message.id, message.action === 'cancel' ? 'cancelled' : 'deleted'))
        .catch((err) => {
          this.config.logger.warn('could not subscribe to control messages; cancels from other instances apply at the next flush', {
            error: String(err),
          });
          this.subscription = undefined;
          return undefined;
        });
    }
    return this.subscription;
  }

  /** Keeps `work` (a create in progress) in view of `close()`, which waits for it. */
  track<T>(work: Promise<T>): Promise<T> {
    this.inflight.add(work);
    const forget = () => this.inflight.delete(work);
    work.then(forget, forget);
    return work;
  }

  /**
   * Stops the worker of `id` if it runs here. A stopped worker reports nothing: the cancel or
   * delete that won the store's transition reports the end, on whichever instance made it.
   */
  stopWorker(id: string, reason: StopReason): void {
    this.workers.get(id)?.stop(reason);
  }

  /**
   * Starts a worker detached from any request and tracks it until it is done. A worker whose
   * record was written while `close()` ran is stopped at once and ends as `server_shutdown`.
   * `owner` (the owner hash) is handed to the lifecycle hook; `admission` (committed) is held while
   * the worker runs and settled when it ends. The worker's log lines carry its response id and the
   * request id of the create. `claimed`: a response from the queue, counted as created by its create.
   */
  startWorker(start: WorkerStart, info: { owner?: string; admission?: Admission; claimed?: boolean } = {}): StreamingWorker {
    const worker = new StreamingWorker(workerDeps(this.config), start);
    this.workers.set(start.id, worker);
    worker.once('done', () => {
      if (this.workers.get(start.id) === worker) this.workers.delete(start.id);
    });
    // Its turn is kept as long as its record, with where the upstream holds it once known.
    followTurn(this.config, worker, start.request.store !== false);
    this.observe(worker, info.owner ?? '', !info.claimed);
    if (info.admission) this.holdAdmission(worker, info.admission);
    runWithLogContext({ requestId: currentLogContext()?.requestId, responseId: start.id }, () => worker.run());
    if (this.closing) worker.stop('shutdown');
    return worker;
  }

  /**
   * Reports a terminal transition this instance made (metrics, log line, lifecycle hook). Call it
   * only where an atomic store step said this caller made the transition, so that it happens
   * once across every instance: the worker's terminal append, a cancel answered `cancelled`, a
   * delete answered with `ended`, a read answered `leaseSwept`. For the native path too: `runtime.responseEnded({ path: 'native', … })`.
   */
  responseEnded(input: EndedInput, trace?: { parent?: string; requestId?: string }): void {
    const { logger, metrics, lifecycleHooks } = this.config;
    traceEnded(input, trace?.parent, trace?.requestId);
    const pending = reportEnded(input, { logger, metrics, hooks: lifecycleHooks });
    // The store step that made this transition enqueued its webhook event: deliver it now.
    if (input.status !== 'deleted') this.webhooks?.wake();
    if (pending) {
      // close() waits (bounded) for hooks still running.
      const settle = pending.finally(() => this.settling.delete(settle));
      this.settling.add(settle);
    }
  }

  /**
   * Reports a `worker_lost` transition when `read` is the one store read that made it (its
   * `leaseSwept` flag). A readEvents answer has no snapshot: the response is read once more.
   */
  noticeRead(id: string, read: StoredResponse | { meta: StoredResponse['meta']; leaseSwept?: true } | null): void {
    if (!read?.leaseSwept) return;
    const { config } = this;
    config.logger.warn('background response lost its worker (lease lapsed); marked failed', { id });
    const report = (response: ResponseObject) =>
      this.responseEnded({ id, path: 'polling', status: 'failed', response, owner: read.meta.owner, detail: { reason: 'lease_lost' } });
    if ('snapshot' in read) {
      report(materialize(read));
      return;
    }
    config.store.read(id, null).then(
      (stored) => stored && report(materialize(stored)),
      (err) => config.logger.warn('could not read a response whose lease was lost', { id, error: String(err) }),
    );
  }

  /** Counts and logs what a worker does: queued → started → finished, flushes, store and upstream errors. */
  private observe(worker: StreamingWorker, owner: string, countCreated: boolean): void {
    const { metrics, logger } = this.config;
    if (countCreated) metrics.responseCreated('polling');
    metrics.running.inc();
    metrics.queued.inc();
    let queued = true;
    const leaveQueue = () => {
      if (!queued) return;
      queued = false;
      metrics.queued.dec();
    };
    worker.on('flush', (info) => {
      if (info.outcome !== 'ok' || !info.events) return;
      metrics.flushed(info.ms, info.events, info.bytes);
      if (queued) {
        leaveQueue();
        logger.info('background response started', { id: worker.id });
      }
    });
    // Captured here: flushes of several workers run in one timer tick, outside their own context.
    const requestId = currentLogContext()?.requestId;
    const { traceParent } = worker.startInfo;
    if (tracingAvailable()) worker.on('flush', (info) => traceFlush(info, traceIds(worker.id, requestId), traceParent));
    worker.on('flushError', () => metrics.storeError('flush'));
    worker.on('restored', (info) => metrics.recordRestored(info.wholeLog));
    worker.on('upstreamRetry', (err) => metrics.upstreamRetry(err.kind));
    worker.on('upstreamError', (err) => metrics.upstreamError('polling', err.kind));
    worker.once('done', () => {
      leaveQueue();
      metrics.running.dec();
      const response = worker.state;
      // Only a worker whose own terminal write won reports here; a cancel, delete or lease sweep
      // that ended the response was reported by whoever made that transition.
      if (worker.finished && isTerminalStatus(response.status)) {
        this.responseEnded({ id: worker.id, path: 'polling', status: response.status as EndedInput['status'], response, owner }, { parent: traceParent, requestId });
      }
    });
  }

  /**
   * Keeps the worker's admission alive while it runs (renewed with its lease) and, once it ends
   * for any reason, settles it: usage and spend when it finished the response itself (priced at
   * the deployment that served it, after a failover not the one admitted), then the slot release.
   */
  private holdAdmission(worker: StreamingWorker, admission: Admission): void {
    const onRenewed = () => admission.renew(worker.id);
    worker.on('renewed', onRenewed);
    worker.once('done', () => {
      worker.off('renewed', onRenewed);
      const charge = worker.finished ? usageCharge(worker.state.usage, worker.deployment) : null;
      const settle = admission.settle(worker.id, charge).finally(() => this.settling.delete(settle));
      this.settling.add(settle);
    });
  }

  /**
   * Stops admitting, lets running responses finish for up to `graceMs`, then ends the rest as
   * `failed` (`server_shutdown`) and aborts their upstream requests; closes a store it built.
   */
  close(graceMs = this.config.worker.shutdownGraceMs): Promise<void> {
    if (!this.closed) this.closed = this.shutdown(graceMs);
    return this.closed;
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.closing = true;
    const started = Date.now();
    const running = () => Promise.all([...this.workers.values()].map((w) => w.done));
    // Creates already past admission finish writing their record.
    await withDeadline(Promise.allSettled([...this.inflight]), Math.max(graceMs, SHUTDOWN_FINAL_WRITE_MS));
    // No more claims; claimed responses that did not start go back to the queue at once.
    await this.pool?.close();
    await withDeadline(running(), Math.max(0, graceMs - (Date.now() - started)));
    for (const worker of this.workers.values()) worker.stop('shutdown');
    // Stopped workers write their final state; bounded even when the store is unreachable.
    await withDeadline(running(), SHUTDOWN_FINAL_WRITE_MS);
    await withDeadline(Promise.allSettled([...this.settling]), SHUTDOWN_FINAL_WRITE_MS);
    await this.webhooks?.close();
    await Promise.all([...this.services.values()].map((service) => service.close().catch(() => undefined)));
    const unsubscribe = await this.subscription;
    if (unsubscribe) await unsubscribe().catch(() => undefined);
    this.releaseStore();
    if (this.config.ownsStore) await this.config.store.close();
    if (this.config.ownsLimiter) await this.config.limiter.close();
  }
}

/** How long `close()` waits for stopped workers to write their final state. */
const SHUTDOWN_FINAL_WRITE_MS = 5000;

/** Resolves when `work` settles or after `ms`, whichever comes first. */
function withDeadline(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return Promise.race([work.then(() => undefined, () => undefined), deadline]).finally(() => clearTimeout(timer));
}

const runtimes = new WeakMap<object, Runtime>();

/**
 * The runtime for `options`: parts built from the same options object (or from a runtime)
 * share one store, one worker registry and one shutdown.
 */
export function runtimeFor(options: ResponsesPollingOptions | Runtime = {}): Runtime {
  if (options instanceof Runtime) return options;
  let runtime = runtimes.get(options);
  if (!runtime) {
    runtime = new Runtime(resolveOptions(options));
    runtimes.set(options, runtime);
  }
  return runtime;
}
