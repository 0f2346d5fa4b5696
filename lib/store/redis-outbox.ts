// The webhook outbox on Redis: the queue terminal scripts fill, claimed and settled by scripts.
// One queue on a single node; on a Redis Cluster one queue per slot, found through a set of
// active queues that a periodic walk of every slot's queue keeps complete.

import { randomBytes } from 'node:crypto';
import type { ClaimedDelivery, DeliverySettlement, OutboxPlan, WebhookOutbox } from '../webhooks/types';
import { terminalEvent } from '../webhooks/outbox-plan';
import { allQueueTags, queueTagFor } from './cluster-slots';
import { SINGLE_WEBHOOK_QUEUE, webhookActiveKey, webhookEventKey, webhookQueueKeys } from './keys';
import { SCRIPT_CODES, SCRIPTS, type LuaScript } from './scripts';

/** How the outbox reaches Redis: one command, or one script on the given keys. */
export interface OutboxTransport {
  command(args: string[]): Promise<unknown>;
  script(script: LuaScript, keys: string[], args: string[]): Promise<unknown>;
}

/** What a terminal script takes to enqueue (see `enqueueWebhook` in lua-helpers.ts), and the queue it goes to. */
export interface EnqueueArgs {
  keys: string[];
  spec: string;
  /** The queue's tag; `''` when there is nothing to enqueue. */
  tag: string;
}

/**
 * The extra KEYS and the spec ARGV a script that may end response `id` with `status` takes to
 * enqueue its event; no keys and `''` when webhooks are off or no endpoint wants that event. On
 * a cluster the queue is the one in the slot of the response's keys.
 */
export function enqueueArgs(prefix: string, plan: OutboxPlan | undefined, status: string | undefined, id: string, cluster: boolean): EnqueueArgs {
  const event = terminalEvent(plan, status, id);
  if (!plan || !event) return { keys: [], spec: '', tag: '' };
  const tag = cluster ? queueTagFor(id) : SINGLE_WEBHOOK_QUEUE;
  const { queue, dropped } = webhookQueueKeys(prefix, tag);
  const spec = JSON.stringify({ event: event.eventId, body: event.body, hooks: event.hooks, ids: event.endpointIds, keep: plan.keepMs, max: plan.maxPending });
  return { keys: [queue, webhookEventKey(prefix, event.eventId, tag), dropped], spec, tag };
}

/** How often a cluster outbox walks every slot's queue for ones missing from the active set. */
const RESCUE_INTERVAL_MS = 5 * 60_000;

/** Commands sent at once during that walk. */
const RESCUE_BATCH = 256;

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
  readonly #cluster: boolean;
  /** When the next walk of every slot's queue is due (cluster only; the first claim walks). */
  #nextRescue = 0;

  constructor(prefix: string, transport: OutboxTransport, cluster: boolean) {
    this.#prefix = prefix;
    this.#redis = transport;
    this.#cluster = cluster;
  }

  /**
   * Notes (cluster only) that the queue `enqueued` went to holds a delivery, after the terminal
   * script that made its transition; returns `true` (for `leaseSwept`). Best effort: a note lost (the process died, Redis failed) is made good by the
   * next walk of every slot's queue, at most `RESCUE_INTERVAL_MS` later.
   */
  activate(enqueued: EnqueueArgs): true {
    if (this.#cluster && enqueued.tag !== '') this.#redis.command(['SADD', webhookActiveKey(this.#prefix), enqueued.tag]).catch(() => undefined);
    return true;
  }

  async claim(limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    if (this.#cluster && Date.now() >= this.#nextRescue) {
      this.#nextRescue = Date.now() + RESCUE_INTERVAL_MS;
      await this.rescue();
    }
    const claimed: ClaimedDelivery[] = [];
    for (const tag of await this.#tags()) {
      if (claimed.length >= limit) break;
      claimed.push(...(await this.#claimFrom(tag, limit - claimed.length, leaseMs)));
    }
    return claimed;
  }

  /** Cluster only: marks active every slot's queue that holds deliveries (run by `claim` every few minutes). */
  async rescue(): Promise<void> {
    const tags = allQueueTags();
    for (let i = 0; i < tags.length; i += RESCUE_BATCH) {
      const batch = tags.slice(i, i + RESCUE_BATCH);
      const sizes = await Promise.all(batch.map((tag) => this.#redis.command(['ZCARD', webhookQueueKeys(this.#prefix, tag).queue])));
      const held = batch.filter((_, j) => Number(sizes[j]) > 0);
      if (held.length > 0) await this.#redis.command(['SADD', webhookActiveKey(this.#prefix), ...held]);
    }
  }

  async settle(delivery: ClaimedDelivery, settlement: DeliverySettlement): Promise<boolean> {
    const tag = delivery.shard || SINGLE_WEBHOOK_QUEUE;
    const { queue } = webhookQueueKeys(this.#prefix, tag);
    const member = `${delivery.hook}:${delivery.eventId}`;
    const retry = 'retryInMs' in settlement;
    const args = [member, String(delivery.hook), delivery.token, retry ? 'retry' : 'done', String(retry ? Math.max(0, Math.round(settlement.retryInMs)) : 0)];
    const code = await this.#redis.script(SCRIPTS.webhookSettle, [queue, webhookEventKey(this.#prefix, delivery.eventId, tag)], args);
    return SCRIPT_CODES.webhookSettle[code as 1 | 0] === 'settled';
  }

  async pending(): Promise<number> {
    let total = 0;
    for (const tag of await this.#tags()) total += Number(await this.#redis.command(['ZCARD', webhookQueueKeys(this.#prefix, tag).queue]));
    return total;
  }

  async takeDropped(): Promise<number> {
    let total = 0;
    for (const tag of await this.#tags()) {
      // GETDEL (Redis 6.2): each dropped event is counted by exactly one instance.
      const raw = await this.#redis.command(['GETDEL', webhookQueueKeys(this.#prefix, tag).dropped]);
      total += raw === null || raw === undefined ? 0 : Number(raw);
    }
    return total;
  }

  /** The queues to look at: the one queue, or (cluster) the active ones in a random order, so no slot is always last. */
  async #tags(): Promise<string[]> {
    if (!this.#cluster) return [SINGLE_WEBHOOK_QUEUE];
    const members = await this.#redis.command(['SMEMBERS', webhookActiveKey(this.#prefix)]);
    const tags = Array.isArray(members) ? members.map(String) : [];
    for (let i = tags.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [tags[i], tags[j]] = [tags[j]!, tags[i]!];
    }
    return tags;
  }

  async #claimFrom(tag: string, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    const { queue } = webhookQueueKeys(this.#prefix, tag);
    // Candidates by this instance's clock; each claim re-checks against the server's.
    const due = await this.#redis.command(['ZRANGE', queue, '-inf', String(Date.now()), 'BYSCORE', 'LIMIT', '0', String(Math.max(1, limit))]);
    const members = Array.isArray(due) ? due.map(String) : [];
    if (members.length === 0 && this.#cluster && Number(await this.#redis.command(['ZCARD', queue])) === 0) {
      // Empty: no longer active. A delivery enqueued meanwhile is noted again right after its script.
      await this.#redis.command(['SREM', webhookActiveKey(this.#prefix), tag]);
    }
    const claimed: ClaimedDelivery[] = [];
    for (const member of members) {
      const parsed = parseMember(member);
      if (!parsed) {
        await this.#redis.command(['ZREM', queue, member]);
        continue;
      }
      const token = randomBytes(8).toString('hex');
      const keys = [queue, webhookEventKey(this.#prefix, parsed.eventId, tag)];
      const reply = (await this.#redis.script(SCRIPTS.webhookClaim, keys, [member, String(parsed.hook), String(leaseMs), token])) as unknown[];
      if (SCRIPT_CODES.webhookClaim[reply[0] as 1 | 0 | -1] !== 'claimed') continue;
      const endpointId = String(reply[4] ?? '');
      claimed.push({ ...parsed, body: String(reply[1]), queuedAt: Number(reply[2]), attempts: Number(reply[3]), endpointId, token, shard: this.#cluster ? tag : '' });
    }
    return claimed;
  }
}
