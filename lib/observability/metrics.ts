// Prometheus metrics of one mounted router (prom-client): responses by path and terminal status,
// what this instance runs, flush latency and size, and the errors and refusals operators alert on.

import { Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';

/** `metrics` in the options: where the metrics are registered and how they are named. */
export interface MetricsOptions {
  /**
   * A prom-client `Registry` the host app already exposes; the metrics are registered on it.
   * Default: a private registry, served by `router.metricsHandler()`.
   */
  registry?: Registry;
  /** Prefix of every metric name (letters, digits, `_`). Default `"responses_polling_"`. */
  prefix?: string;
}

/** How a response was served: polling via the store, the provider's own background mode, or relayed. */
export type ResponsePath = 'polling' | 'native' | 'pass_through';

/** How a response ended: a terminal status, or `deleted` while it was still running. */
export type EndStatus = 'completed' | 'failed' | 'incomplete' | 'cancelled' | 'deleted';

/** Which store (Redis) call failed: a request's, a worker's flush, the health check's, or the limiter's. */
export type StoreErrorOperation = 'request' | 'flush' | 'ping' | 'limiter' | 'webhooks' | 'queue';

/** Why a create was refused before any id existed: a limit, a pre-call hook, or the limiter being unreachable. */
export type RefusalMetricReason = 'rpm' | 'tpm' | 'parallel' | 'budget' | 'hook' | 'limiter_unavailable';

/** The default metric name prefix. */
export const DEFAULT_METRICS_PREFIX = 'responses_polling_';

const FLUSH_SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const FLUSH_EVENTS_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 256, 512, 1024];
const QUEUE_WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/**
 * The metrics of one runtime. Every method is called per response, per flush or per request,
 * never per upstream event, so the cost stays negligible next to the worker's folding.
 */
export class ResponsesMetrics {
  /** The registry the metrics live on (the host's, or a private one). */
  readonly registry: Registry;
  /** False when `metrics: false`: the metrics are still counted, but `metricsHandler()` answers 404. */
  readonly exposed: boolean;
  readonly responsesCreated: Counter<'path'>;
  readonly responsesEnded: Counter<'path' | 'status'>;
  readonly running: Gauge;
  readonly queued: Gauge;
  readonly flushDuration: Histogram;
  readonly flushEvents: Histogram;
  readonly flushedBytes: Counter;
  readonly storeErrors: Counter<'operation'>;
  readonly recordsRestored: Counter<'log'>;
  readonly upstreamErrors: Counter<'path' | 'kind'>;
  readonly upstreamRetries: Counter<'kind'>;
  readonly limiterRefusals: Counter<'reason'>;
  readonly streamFollowers: Gauge;
  readonly hookErrors: Counter;
  readonly webhookDeliveries: Counter<'type'>;
  readonly webhookFailures: Counter<'reason'>;
  readonly webhookPending: Gauge;
  readonly queueDepth: Gauge<'group'>;
  readonly queueWait: Histogram<'group'>;
  readonly queueClaims: Counter<'group'>;
  readonly queueRequeues: Counter<'group' | 'outcome'>;

  constructor(options: MetricsOptions = {}, exposed = true) {
    this.registry = options.registry ?? new Registry();
    this.exposed = exposed;
    const prefix = options.prefix ?? DEFAULT_METRICS_PREFIX;
    // Two routers (or two tests) on one host registry share the series instead of throwing
    // "already registered".
    const reuse = <M extends Metric>(name: string, make: (config: { name: string; registers: Registry[] }) => M): M =>
      (this.registry.getSingleMetric(prefix + name) as M | undefined) ?? make({ name: prefix + name, registers: [this.registry] });

    this.responsesCreated = reuse('responses_created_total', (c) =>
      new Counter({ ...c, help: 'Responses created, by path (polling, native, pass_through).', labelNames: ['path'] }),
    );
    this.responsesEnded = reuse('responses_total', (c) =>
      new Counter({
        ...c,
        help: 'Responses that reached a terminal state, counted once by the instance that made the transition, by path and status.',
        labelNames: ['path', 'status'],
      }),
    );
    this.running = reuse('responses_running', (c) => new Gauge({ ...c, help: 'Background responses whose worker runs on this instance.' }));
    this.queued = reuse('responses_queued', (c) =>
      new Gauge({ ...c, help: 'Background responses on this instance still queued (created, no upstream event stored yet).' }),
    );
    this.flushDuration = reuse('flush_duration_seconds', (c) =>
      new Histogram({ ...c, help: 'Time of one worker flush (one atomic store append, retries included), in seconds.', buckets: FLUSH_SECONDS_BUCKETS }),
    );
    this.flushEvents = reuse('flush_batch_events', (c) =>
      new Histogram({ ...c, help: 'Events written by one worker flush.', buckets: FLUSH_EVENTS_BUCKETS }),
    );
    this.flushedBytes = reuse('flushed_bytes_total', (c) => new Counter({ ...c, help: 'Bytes of encoded events written by worker flushes.' }));
    this.recordsRestored = reuse('records_restored_total', (c) =>
      new Counter({
        ...c,
        help: 'Records of running responses that the store lost and their worker here re-created, by whether their log went with them (whole) or not (lost).',
        labelNames: ['log'],
      }),
    );
    this.storeErrors = reuse('redis_errors_total', (c) =>
      new Counter({ ...c, help: 'Failed store (Redis) calls, by operation (request, flush, ping, limiter, webhooks).', labelNames: ['operation'] }),
    );
    this.upstreamErrors = reuse('upstream_errors_total', (c) =>
      new Counter({
        ...c,
        help: 'Upstream requests that failed for good, by path and kind (http, connection, connect_timeout, idle_timeout).',
        labelNames: ['path', 'kind'],
      }),
    );
    this.upstreamRetries = reuse('upstream_retries_total', (c) =>
      new Counter({
        ...c,
        help: 'Upstream attempts that failed before any event and were retried (on the next deployment), by kind.',
        labelNames: ['kind'],
      }),
    );
    this.limiterRefusals = reuse('limiter_refusals_total', (c) =>
      new Counter({ ...c, help: 'Creates refused before any id existed, by reason.', labelNames: ['reason'] }),
    );
    this.streamFollowers = reuse('resume_followers', (c) =>
      new Gauge({ ...c, help: 'Clients following a response event stream on this instance (POST stream:true or GET ?stream=true).' }),
    );
    this.hookErrors = reuse('lifecycle_hook_errors_total', (c) => new Counter({ ...c, help: 'Lifecycle hook calls that threw or rejected.' }));
    this.webhookDeliveries = reuse('webhook_deliveries_total', (c) =>
      new Counter({ ...c, help: 'Webhook events delivered (answered 2xx) by this instance, by event type.', labelNames: ['type'] }),
    );
    this.webhookFailures = reuse('webhook_failures_total', (c) =>
      new Counter({
        ...c,
        help: 'Failed webhook delivery attempts (http_status, timeout, network) and events given up (expired, queue_full, unknown_endpoint), by reason.',
        labelNames: ['reason'],
      }),
    );
    this.webhookPending = reuse('webhook_queue_depth', (c) =>
      new Gauge({ ...c, help: 'Webhook deliveries waiting in the store (all instances), as this instance last saw it.' }),
    );
    this.queueDepth = reuse('queue_depth', (c) =>
      new Gauge({ ...c, help: 'Responses waiting in the queue for a claim, by deployment group, as a worker here last saw it.', labelNames: ['group'] }),
    );
    this.queueWait = reuse('queue_wait_seconds', (c) =>
      new Histogram({ ...c, help: 'Time from create to claim of the responses claimed here, by deployment group.', labelNames: ['group'], buckets: QUEUE_WAIT_BUCKETS }),
    );
    this.queueClaims = reuse('queue_claims_total', (c) =>
      new Counter({ ...c, help: 'Responses claimed from the queue by workers here, by deployment group.', labelNames: ['group'] }),
    );
    this.queueRequeues = reuse('queue_requeues_total', (c) =>
      new Counter({
        ...c,
        help: 'Lapsed claims of responses that had not started, found by workers here: put back (requeued) or ended (exhausted), by deployment group.',
        labelNames: ['group', 'outcome'],
      }),
    );
  }

  /** A worker here claimed a response of `group` that waited `waitedMs` since its create. */
  queueClaimed(group: string, waitedMs: number): void {
    this.queueClaims.inc({ group });
    this.queueWait.observe({ group }, Math.max(0, waitedMs) / 1000);
  }

  /** A response was created on `path`. */
  responseCreated(path: ResponsePath): void {
    this.responsesCreated.inc({ path });
  }

  /** A response on `path` reached `status`; call once per terminal transition. */
  responseEnded(path: ResponsePath, status: EndStatus): void {
    this.responsesEnded.inc({ path, status });
  }

  /** One worker flush of `events` events and `bytes` bytes took `ms` milliseconds. */
  flushed(ms: number, events: number, bytes: number): void {
    this.flushDuration.observe(ms / 1000);
    this.flushEvents.observe(events);
    this.flushedBytes.inc(bytes);
  }

  /** A worker here re-created its response's record, which the store had lost. */
  recordRestored(wholeLog: boolean): void {
    this.recordsRestored.inc({ log: wholeLog ? 'whole' : 'lost' });
  }

  /** A store call failed. */
  storeError(operation: StoreErrorOperation): void {
    this.storeErrors.inc({ operation });
  }

  /** An upstream request failed for good. */
  upstreamError(path: ResponsePath, kind: string): void {
    this.upstreamErrors.inc({ path, kind });
  }

  /** An upstream attempt failed before any event and another one follows. */
  upstreamRetry(kind: string): void {
    this.upstreamRetries.inc({ kind });
  }

  /** A create was refused before any id existed. */
  limiterRefusal(reason: RefusalMetricReason): void {
    this.limiterRefusals.inc({ reason });
  }

  /** A plain description, so a configuration holding these metrics can still be JSON-serialised. */
  toJSON(): { exposed: boolean } {
    return { exposed: this.exposed };
  }

  /** The metrics of the registry in the Prometheus text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
