// The webhook outbox on Redis: the queue terminal scripts fill, claimed and settled by scripts.

import { randomBytes } from 'node:crypto';
import type { ClaimedDelivery, DeliverySettlement, OutboxPlan, WebhookOutbox } from '../webhooks/types';
import { terminalEvent } from '../webhooks/outbox-plan';
import { webhookEventKey, webhookQueueKeys } from './keys';
import { SCRIPT_CODES, SCRIPTS, type LuaScript } from './scripts';

/** How the outbox reaches Redis: one command, or one script on the given keys. */
export interface OutboxTransport {
  command(args: string[]): Promise<unknown>;
  script(script: LuaScript, keys: string[], args: string[]): Promise<unknown>;
}

/**
 * The extra KEYS and the spec ARGV a script that may end response `id` with `status` takes to
 * enqueue its event (see `enqueueWebhook` in lua-helpers.ts); no keys and `''` when webhooks are
 * off or no endpoint wants that event.
 */
export function enqueueArgs(prefix: string, plan: OutboxPlan | undefined, status: string | undefined, id: string): { keys: string[]; spec: string } {
  const event = terminalEvent(plan, status, id);
  if (!plan || !event) return { keys: [], spec: '' };
  const { queue, dropped } = webhookQueueKeys(prefix);
  const spec = JSON.stringify({ event: event.eventId, body: event.body, hooks: event.hooks, ids: event.endpointIds, keep: plan.keepMs, max: plan.maxPending });
  return { keys: [queue, webhookEventKey(prefix, event.eventId), dropped], spec };
}

/**
 * The outbox of the Redis store with key prefix `prefix`. Throws on Redis Cluster: there the
 * queue and a response are in different slots, so a terminal script could not write both.
 */
export function openRedisOutbox(prefix: string, cluster: boolean, transport: OutboxTransport): RedisOutbox {
  if (cluster) {
    throw new Error(
      'Webhooks need a single-node Redis (or the memory store): on Redis Cluster the delivery queue and a response live in ' +
        'different slots, so they cannot be written in one atomic step. Remove webhooks, or use a single Redis for this router.',
    );
  }
  return new RedisOutbox(prefix, transport);
}

/** A queue member: `<endpoint index>:<event id>`. */
function parseMember(member: string): { hook: number; eventId: string } | null {
  const colon = member.indexOf(':');
  const hook = Number(member.slice(0, colon));
  return colon > 0 && Number.isInteger(hook) ? { hook, eventId: member.slice(colon + 1) } : null;
}

/** The Redis {@link WebhookOutbox} of the store with key prefix `prefix`. */
export class RedisOutbox implements WebhookOutbox {
  readonly #prefix: string;
  readonly #redis: OutboxTransport;

  constructor(prefix: string, transport: OutboxTransport) {
    this.#prefix = prefix;
    this.#redis = transport;
  }

  async claim(limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    const { queue } = webhookQueueKeys(this.#prefix);
    // Candidates by this instance's clock; each claim re-checks against the server's.
    const due = await this.#redis.command(['ZRANGE', queue, '-inf', String(Date.now()), 'BYSCORE', 'LIMIT', '0', String(Math.max(1, limit))]);
    const claimed: ClaimedDelivery[] = [];
    for (const member of Array.isArray(due) ? due.map(String) : []) {
      const parsed = parseMember(member);
      if (!parsed) {
        await this.#redis.command(['ZREM', queue, member]);
        continue;
      }
      const token = randomBytes(8).toString('hex');
      const keys = [queue, webhookEventKey(this.#prefix, parsed.eventId)];
      const reply = (await this.#redis.script(SCRIPTS.webhookClaim, keys, [member, String(parsed.hook), String(leaseMs), token])) as unknown[];
      if (SCRIPT_CODES.webhookClaim[reply[0] as 1 | 0 | -1] !== 'claimed') continue;
      claimed.push({ ...parsed, body: String(reply[1]), queuedAt: Number(reply[2]), attempts: Number(reply[3]), endpointId: String(reply[4] ?? ''), token });
    }
    return claimed;
  }

  async settle(delivery: ClaimedDelivery, settlement: DeliverySettlement): Promise<boolean> {
    const { queue } = webhookQueueKeys(this.#prefix);
    const member = `${delivery.hook}:${delivery.eventId}`;
    const retry = 'retryInMs' in settlement;
    const args = [member, String(delivery.hook), delivery.token, retry ? 'retry' : 'done', String(retry ? Math.max(0, Math.round(settlement.retryInMs)) : 0)];
    const code = await this.#redis.script(SCRIPTS.webhookSettle, [queue, webhookEventKey(this.#prefix, delivery.eventId)], args);
    return SCRIPT_CODES.webhookSettle[code as 1 | 0] === 'settled';
  }

  async pending(): Promise<number> {
    return Number(await this.#redis.command(['ZCARD', webhookQueueKeys(this.#prefix).queue]));
  }

  async takeDropped(): Promise<number> {
    // GETDEL (Redis 6.2): each dropped event is counted by exactly one instance.
    const raw = await this.#redis.command(['GETDEL', webhookQueueKeys(this.#prefix).dropped]);
    return raw === null || raw === undefined ? 0 : Number(raw);
  }
}
