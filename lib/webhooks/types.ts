// The webhook vocabulary, stated once: event types, options and their resolved form, and the
// outbox contract a store implements to enqueue deliveries in its terminal transitions.

import type { ResponseStatus } from '../response-vocabulary';

/** The terminal statuses a webhook event is sent for. */
export const WEBHOOK_STATUSES = ['completed', 'failed', 'cancelled', 'incomplete'] as const satisfies readonly ResponseStatus[];

/** A terminal status a webhook event is sent for. */
export type WebhookStatus = (typeof WEBHOOK_STATUSES)[number];

/** The event types, as OpenAI names them for background responses (`response.<status>`). */
export const WEBHOOK_EVENT_TYPES = WEBHOOK_STATUSES.map((s) => `response.${s}` as const);

/** One of {@link WEBHOOK_EVENT_TYPES}. */
export type WebhookEventType = `response.${WebhookStatus}`;

/** One webhook endpoint, as the operator configures it (`responses_polling.webhooks[]` in YAML). */
export interface WebhookOptions {
  /**
   * Where events are POSTed (http or https). It comes from the operator's configuration, never
   * from a client.
   */
  url: string;
  /**
   * The signing secret, `whsec_` followed by base64 (as OpenAI's dashboard shows it; generate one
   * with `echo whsec_$(openssl rand -base64 32)`). In YAML it may be `os.environ/NAME`.
   */
  secret: string;
  /** The event types sent to this endpoint. Default: all four of {@link WEBHOOK_EVENT_TYPES}. */
  events?: WebhookEventType[];
}

/** How webhook deliveries are made (`responses_polling.webhook_delivery` in YAML). */
export interface WebhookDeliveryOptions {
  /** How long one delivery attempt may take, in ms, before it counts as failed. Default 10000. */
  timeoutMs?: number;
  /** How long a delivery is retried after its event, in ms; then it is dropped. Default 86400000 (24 h). */
  retryForMs?: number;
  /** First retry delay in ms; each further retry doubles it (with jitter). Default 5000. */
  backoffBaseMs?: number;
  /** Longest retry delay in ms. Default 3600000 (1 h). */
  backoffMaxMs?: number;
  /**
   * Most deliveries waiting in the store's queue; events beyond it are dropped (counted in
   * `webhook_failures_total{reason="queue_full"}`, logged). Default 10000.
   */
  maxPending?: number;
  /** Deliveries this instance makes at once. Default 8. */
  concurrency?: number;
  /** How often this instance looks for due deliveries (retries, and events of other instances), in ms. Default 1000. */
  pollIntervalMs?: number;
}

/** A webhook endpoint after resolution. */
export interface WebhookEndpointConfig {
  url: string;
  secret: string;
  events: WebhookEventType[];
}

/** Webhooks after resolution: the endpoints (empty: webhooks off) and the delivery settings. */
export interface WebhooksConfig {
  endpoints: WebhookEndpointConfig[];
  delivery: Required<WebhookDeliveryOptions>;
}

/**
 * What a store needs to enqueue deliveries in its terminal transitions: for each status, the
 * indices (in the configured endpoint list) of the endpoints that want its event.
 */
export interface OutboxPlan {
  routes: Record<WebhookStatus, number[]>;
  /** A fingerprint of each endpoint's URL, by index: a delivery goes to the endpoint it was enqueued for, even after the list changed. */
  endpointIds: string[];
  /** How long a delivery record is kept, in ms (the retry window, plus a margin). */
  keepMs: number;
  /** Most deliveries in the queue; see {@link WebhookDeliveryOptions.maxPending}. */
  maxPending: number;
}

/** A delivery claimed under a lease: nobody else sends it until the lease lapses or it is settled. */
export interface ClaimedDelivery {
  /** The event id (`evt_…`); the `webhook-id` header is derived from it, the same on every attempt. */
  eventId: string;
  /** Index of the endpoint in the configured list when the event was enqueued. */
  hook: number;
  /** Fingerprint of that endpoint's URL (see {@link OutboxPlan.endpointIds}); `''` when unknown. */
  endpointId: string;
  /** The event JSON, exactly as signed and sent. */
  body: string;
  /** Epoch ms at which the event was enqueued (the terminal transition). */
  queuedAt: number;
  /** Attempts so far, this one included. */
  attempts: number;
  /** The claim's token; a settle with another token (the lease lapsed and someone else claimed) does nothing. */
  token: string;
  /** Which of the store's queues holds it (opaque to callers; `''` for a store with one queue). */
  shard: string;
}

/** How a claimed delivery ended: delivered (or given up), or to be retried after `retryInMs`. */
export type DeliverySettlement = { done: true } | { retryInMs: number };

/** The durable queue of deliveries in a store (Redis, or memory), shared by every instance on it. */
export interface WebhookOutbox {
  /** Claims up to `limit` due deliveries for `leaseMs`. */
  claim(limit: number, leaseMs: number): Promise<ClaimedDelivery[]>;
  /** Settles a claim; `false` when the claim was no longer this caller's (nothing changed). */
  settle(delivery: ClaimedDelivery, settlement: DeliverySettlement): Promise<boolean>;
  /** Deliveries in the queue (due or not). */
  pending(): Promise<number>;
  /** Events dropped because the queue was full since the last call (counted once across instances). */
  takeDropped(): Promise<number>;
}

/** A store that can hold a {@link WebhookOutbox}: both stores of this package. */
export interface WebhookOutboxStore {
  /**
   * Turns on enqueueing: from now on, each terminal transition this store makes enqueues its
   * deliveries in the same atomic step. Returns the outbox.
   */
  webhookOutbox(plan: OutboxPlan): WebhookOutbox;
}

/** True when `store` implements {@link WebhookOutboxStore}. */
export function hasWebhookOutbox(store: object): store is WebhookOutboxStore {
  return typeof (store as Partial<WebhookOutboxStore>).webhookOutbox === 'function';
}
