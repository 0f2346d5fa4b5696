// Delivers webhook events from the store's outbox: claims due deliveries under a lease, POSTs
// them signed, and settles each as delivered or to retry (jittered exponential backoff).

import { ConfigError } from '../errors';
import type { Logger, ResponseStore } from '../types';
import type { ResponsesMetrics } from '../observability/metrics';
import { signatureHeaders, webhookMessageId } from './event';
import { endpointId, outboxPlan } from './outbox-plan';
import { hasWebhookOutbox, type ClaimedDelivery, type WebhookEndpointConfig, type WebhookOutbox, type WebhooksConfig } from './types';

/** Why a delivery attempt failed, or why an event was given up (the `reason` label of `webhook_failures_total`). */
export type WebhookFailureReason = 'http_status' | 'timeout' | 'network' | 'expired' | 'queue_full' | 'unknown_endpoint';

/** The `user-agent` of deliveries. */
const USER_AGENT = 'express-responses-polling-webhooks';

/** How often (in polls) the queue depth and the dropped count are read. */
const STATS_EVERY_POLLS = 5;

/** How long `close()` lets attempts in flight finish before aborting them (their claims then lapse). */
const CLOSE_GRACE_MS = 1_000;

/** What a deliverer uses. */
export interface WebhookDelivererDeps {
  outbox: WebhookOutbox;
  config: WebhooksConfig;
  logger: Logger;
  metrics: ResponsesMetrics;
}

/** The retry delay after attempt `attempts` (1-based): exponential from `baseMs`, capped, with jitter in [50%, 100%]. */
export function backoffMs(attempts: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(30, Math.max(0, attempts - 1)));
  return Math.round(exp * (0.5 + random() * 0.5));
}

/** The scheme and host of `url`: what is logged of an endpoint (its path or query may hold a token). */
function endpointOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid url)';
  }
}

/** The `type` of an event body, for the metric label. */
function eventType(body: string): string {
  try {
    const type = (JSON.parse(body) as { type?: unknown }).type;
    return typeof type === 'string' ? type : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * One instance's deliverer. Any number of instances may run one on the same store: a claim is a
 * lease, so two never send the same delivery at once, and a delivery whose instance died is
 * claimed again once its lease lapses (same `webhook-id`: delivery is at least once).
 */
export class WebhookDeliverer {
  readonly #deps: WebhookDelivererDeps;
  readonly #inflight = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #again = false;
  #polls = 0;
  #closed = false;
  /** Set while the outbox is unreachable: only the first failure of an outage is a warning. */
  #outage = false;
  readonly #closing = new AbortController();

  constructor(deps: WebhookDelivererDeps) {
    this.#deps = deps;
  }

  /** A claim lasts longer than one attempt can, so a live deliverer always settles its own claims. */
  get leaseMs(): number {
    return this.#deps.config.delivery.timeoutMs * 2 + 5_000;
  }

  /** Starts polling the outbox. */
  start(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => this.wake(), this.#deps.config.delivery.pollIntervalMs);
    this.#timer.unref();
    this.wake();
  }

  /** Looks for due deliveries now (a terminal transition on this instance just enqueued some). */
  wake(): void {
    if (this.#closed) return;
    if (this.#polling) {
      this.#again = true;
      return;
    }
    this.#polling = this.#poll().finally(() => {
      this.#polling = undefined;
      if (this.#again) {
        this.#again = false;
        this.wake();
      }
    });
  }

  /**
   * Stops claiming; lets attempts in flight finish for up to a second, then aborts them. An
   * aborted or unsettled claim lapses and is delivered again later, by any instance.
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#polling;
    const grace = setTimeout(() => this.#closing.abort(), CLOSE_GRACE_MS);
    await Promise.allSettled([...this.#inflight]);
    clearTimeout(grace);
  }

  async #poll(): Promise<void> {
    const { outbox, config, logger, metrics } = this.#deps;
    try {
      const free = config.delivery.concurrency - this.#inflight.size;
      if (free > 0) {
        const claimed = await outbox.claim(free, this.leaseMs);
        for (const delivery of claimed) {
          const attempt = this.#deliver(delivery).finally(() => {
            this.#inflight.delete(attempt);
            // A full batch may have left more due: look again as soon as a slot is free, not at the next tick.
            if (claimed.length === free) this.wake();
          });
          this.#inflight.add(attempt);
        }
      }
      if (this.#outage) logger.info('webhook delivery queue reachable again');
      this.#outage = false;
      if (this.#polls++ % STATS_EVERY_POLLS === 0) {
        metrics.webhookPending.set(await outbox.pending());
        const dropped = await outbox.takeDropped();
        if (dropped > 0) {
          metrics.webhookFailures.inc({ reason: 'queue_full' }, dropped);
          logger.error('webhook events dropped: the delivery queue is full (webhookDelivery.maxPending)', {
            dropped,
            max_pending: config.delivery.maxPending,
          });
        }
      }
    } catch (err) {
      const line = 'could not read the webhook delivery queue; retrying at the next poll';
      metrics.storeError('webhooks');
      if (this.#outage) logger.debug(line, { error: String(err) });
      else logger.warn(line, { error: String(err) });
      this.#outage = true;
    }
  }

  async #deliver(delivery: ClaimedDelivery): Promise<void> {
    const { config, logger, metrics } = this.#deps;
    const { delivery: settings } = config;
    const endpoint = this.#endpointOf(delivery);
    const fields = { event_id: delivery.eventId, attempt: delivery.attempts };
    if (!endpoint) {
      metrics.webhookFailures.inc({ reason: 'unknown_endpoint' });
      logger.warn('webhook event dropped: its endpoint is no longer configured', { ...fields, endpoint_index: delivery.hook });
      return this.#settle(delivery, { done: true });
    }
    const where = { ...fields, endpoint: endpointOrigin(endpoint.url) };
    if (Date.now() - delivery.queuedAt > settings.retryForMs) {
      metrics.webhookFailures.inc({ reason: 'expired' });
      logger.error('webhook event given up: not delivered within webhookDelivery.retryForMs', where);
      return this.#settle(delivery, { done: true });
    }
    const failure = await this.#post(endpoint.url, endpoint.secret, delivery);
    // Aborted by close(): leave the claim to lapse, so another instance (or a restart) delivers it.
    if (this.#closing.signal.aborted) return;
    if (failure === undefined) {
      metrics.webhookDeliveries.inc({ type: eventType(delivery.body) });
      logger.debug('webhook event delivered', where);
      return this.#settle(delivery, { done: true });
    }
    metrics.webhookFailures.inc({ reason: failure.reason });
    const retryInMs = backoffMs(delivery.attempts, settings.backoffBaseMs, settings.backoffMaxMs);
    if (Date.now() + retryInMs - delivery.queuedAt > settings.retryForMs) {
      metrics.webhookFailures.inc({ reason: 'expired' });
      logger.error('webhook event given up: not delivered within webhookDelivery.retryForMs', { ...where, ...failure.detail });
      return this.#settle(delivery, { done: true });
    }
    logger.warn('webhook delivery failed; it will be retried', { ...where, ...failure.detail, retry_in_ms: retryInMs });
    return this.#settle(delivery, { retryInMs });
  }

  /**
   * The endpoint a delivery was enqueued for: the one at its index if its URL is unchanged, else
   * the one with that URL elsewhere in the list (it was reordered), else none (it was removed).
   */
  #endpointOf(delivery: ClaimedDelivery): WebhookEndpointConfig | undefined {
    const { endpoints } = this.#deps.config;
    const ids = endpoints.map((e) => endpointId(e.url));
    if (delivery.endpointId === '' || ids[delivery.hook] === delivery.endpointId) return endpoints[delivery.hook];
    const moved = ids.indexOf(delivery.endpointId);
    return moved >= 0 ? endpoints[moved] : undefined;
  }

  /** One signed POST; `undefined` when answered 2xx. Redirects are not followed (a 3xx is a failure). */
  async #post(url: string, secret: string, delivery: ClaimedDelivery): Promise<{ reason: WebhookFailureReason; detail: Record<string, unknown> } | undefined> {
    const { timeoutMs } = this.#deps.config.delivery;
    const signed = signatureHeaders(secret, webhookMessageId(delivery.eventId), delivery.body, Date.now() / 1000);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': USER_AGENT, ...signed },
        body: delivery.body,
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), this.#closing.signal]),
      });
      // The answer's body is not needed; not reading it must not keep the socket.
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return undefined;
      return { reason: 'http_status', detail: { status: res.status } };
    } catch (err) {
      // By name, not instanceof: fetch's DOMException may come from another realm.
      const name = typeof (err as { name?: unknown })?.name === 'string' ? (err as { name: string }).name : 'Error';
      return { reason: name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'network', detail: { error: name } };
    }
  }

  async #settle(delivery: ClaimedDelivery, settlement: { done: true } | { retryInMs: number }): Promise<void> {
    try {
      await this.#deps.outbox.settle(delivery, settlement);
    } catch (err) {
      // The claim lapses and the delivery is made again (same webhook-id): at least once.
      this.#deps.logger.warn('could not settle a webhook delivery; it will be retried when its claim lapses', {
        event_id: delivery.eventId,
        error: String(err),
      });
    }
  }
}

/**
 * The deliverer of a router's configuration, started; `undefined` without webhook endpoints.
 * Turns on enqueueing in `store`. Throws a `ConfigError` when the store cannot hold an outbox.
 */
export function startWebhooks(deps: { store: ResponseStore; webhooks: WebhooksConfig; logger: Logger; metrics: ResponsesMetrics }): WebhookDeliverer | undefined {
  const { store, webhooks, logger, metrics } = deps;
  if (webhooks.endpoints.length === 0) return undefined;
  if (!hasWebhookOutbox(store)) {
    throw new ConfigError([
      'webhooks: the configured store has no webhook outbox (webhookOutbox(plan)); use the Redis or memory store of this package, or remove webhooks',
    ]);
  }
  let outbox: WebhookOutbox;
  try {
    // Kept a day past the retry window, so a delivery's record outlives its last retry.
    outbox = store.webhookOutbox(outboxPlan(webhooks.endpoints, webhooks.delivery.retryForMs + 86_400_000, webhooks.delivery.maxPending));
  } catch (err) {
    throw new ConfigError([`webhooks: ${err instanceof Error ? err.message : String(err)}`]);
  }
  const deliverer = new WebhookDeliverer({ outbox, config: webhooks, logger, metrics });
  deliverer.start();
  return deliverer;
}
