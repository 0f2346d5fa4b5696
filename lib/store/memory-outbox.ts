// The webhook outbox of the memory store: the same semantics as the Redis one, in one process.

import { randomBytes } from 'node:crypto';
import type { ClaimedDelivery, DeliverySettlement, OutboxPlan, WebhookOutbox } from '../webhooks/types';
import { terminalEvent } from '../webhooks/outbox-plan';

export type { OutboxPlan, WebhookOutboxStore } from '../webhooks/types';

interface EventRecord {
  body: string;
  queuedAt: number;
  /** Deliveries of this event not settled as done yet. */
  left: number;
  expiresAt: number;
  attempts: Map<number, number>;
  tokens: Map<number, string>;
  endpointIds: Map<number, string>;
}

/** The in-process {@link WebhookOutbox}; the memory store enqueues into it in its terminal transitions. */
export class MemoryOutbox implements WebhookOutbox {
  /** The plan of the last router that turned webhooks on (its pending deliveries are kept). */
  plan: OutboxPlan;
  /** Due time (epoch ms) by member `<endpoint index>:<event id>`. */
  readonly #queue = new Map<string, number>();
  readonly #events = new Map<string, EventRecord>();
  #dropped = 0;

  constructor(plan: OutboxPlan) {
    this.plan = plan;
  }

  /** Enqueues the event of response `id` ending with `status`; called inside the store's terminal transition. */
  enqueue(status: string, id: string): void {
    const event = terminalEvent(this.plan, status, id);
    if (!event) return;
    if (this.#queue.size + event.hooks.length > this.plan.maxPending) {
      this.#dropped += event.hooks.length;
      return;
    }
    const now = Date.now();
    this.#events.set(event.eventId, {
      body: event.body,
      queuedAt: now,
      left: event.hooks.length,
      expiresAt: now + this.plan.keepMs,
      attempts: new Map(),
      tokens: new Map(),
      endpointIds: new Map(event.hooks.map((hook, i) => [hook, event.endpointIds[i] ?? ''])),
    });
    for (const hook of event.hooks) this.#queue.set(`${hook}:${event.eventId}`, now);
  }

  async claim(limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    const now = Date.now();
    const claimed: ClaimedDelivery[] = [];
    const due = [...this.#queue].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1]);
    for (const [member] of due) {
      if (claimed.length >= limit) break;
      const colon = member.indexOf(':');
      const hook = Number(member.slice(0, colon));
      const eventId = member.slice(colon + 1);
      const record = this.#events.get(eventId);
      if (!record || record.expiresAt <= now) {
        this.#events.delete(eventId);
        this.#queue.delete(member);
        continue;
      }
      const token = randomBytes(8).toString('hex');
      const attempts = (record.attempts.get(hook) ?? 0) + 1;
      record.attempts.set(hook, attempts);
      record.tokens.set(hook, token);
      this.#queue.set(member, now + leaseMs);
      claimed.push({ eventId, hook, body: record.body, queuedAt: record.queuedAt, attempts, endpointId: record.endpointIds.get(hook) ?? '', token, shard: '' });
    }
    return claimed;
  }

  async settle(delivery: ClaimedDelivery, settlement: DeliverySettlement): Promise<boolean> {
    const member = `${delivery.hook}:${delivery.eventId}`;
    const record = this.#events.get(delivery.eventId);
    if (!record || record.tokens.get(delivery.hook) !== delivery.token) return false;
    if ('retryInMs' in settlement) {
      this.#queue.set(member, Date.now() + Math.max(0, settlement.retryInMs));
      record.tokens.delete(delivery.hook);
      return true;
    }
    this.#queue.delete(member);
    record.tokens.delete(delivery.hook);
    record.attempts.delete(delivery.hook);
    record.left -= 1;
    if (record.left <= 0) this.#events.delete(delivery.eventId);
    return true;
  }

  async pending(): Promise<number> {
    return this.#queue.size;
  }

  async takeDropped(): Promise<number> {
    const dropped = this.#dropped;
    this.#dropped = 0;
    return dropped;
  }
}
