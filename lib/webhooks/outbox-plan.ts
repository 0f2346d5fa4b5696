// What a store enqueues for one terminal transition: the event, its body and the endpoints that want it.

import { createHash } from 'node:crypto';
import { newEventId, webhookEventBody } from './event';
import { WEBHOOK_STATUSES, type OutboxPlan, type WebhookEndpointConfig, type WebhookStatus } from './types';

/** One event of a terminal transition, with the endpoint indices it goes to. */
export interface TerminalEvent {
  eventId: string;
  body: string;
  hooks: number[];
  /** The fingerprint of each endpoint of `hooks`, in the same order. */
  endpointIds: string[];
}

/** The fingerprint of an endpoint: a truncated SHA-256 of its URL (never the URL itself, which may hold a token). */
export function endpointId(url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 16);
}

/** True for a status a webhook event is sent for. */
export function isWebhookStatus(status: string | undefined): status is WebhookStatus {
  return (WEBHOOK_STATUSES as readonly string[]).includes(status ?? '');
}

/** The plan for `endpoints`: for each status, the endpoints whose `events` include its type. */
export function outboxPlan(endpoints: WebhookEndpointConfig[], keepMs: number, maxPending: number): OutboxPlan {
  const routes = Object.fromEntries(
    WEBHOOK_STATUSES.map((status) => [status, endpoints.flatMap((e, i) => (e.events.includes(`response.${status}`) ? [i] : []))]),
  ) as OutboxPlan['routes'];
  return { routes, endpointIds: endpoints.map((e) => endpointId(e.url)), keepMs, maxPending };
}

/**
 * The event to enqueue if this transition to `status` happens, or `undefined` when no endpoint
 * wants it. Built before the store step (which may not make the transition); its `created_at` is
 * this instance's clock.
 */
export function terminalEvent(plan: OutboxPlan | undefined, status: string | undefined, responseId: string): TerminalEvent | undefined {
  if (!plan || !isWebhookStatus(status)) return undefined;
  const hooks = plan.routes[status];
  if (hooks.length === 0) return undefined;
  const eventId = newEventId();
  const body = webhookEventBody(status, responseId, eventId, Math.floor(Date.now() / 1000));
  return { eventId, body, hooks, endpointIds: hooks.map((i) => plan.endpointIds[i] ?? '') };
}
