// The queue part of the Redis store: one script call per transition on the keys of one group.

import { queueKeys, type QueueKeys } from '../store/keys';
import { defineScript, type LuaScript } from '../store/scripts';
import type { ClaimResult, QueueEnqueue } from '../types';
import { PRINCIPALS_PER_CLAIM } from './memory-queue';
import { CLAIM_SCRIPT, DEPTH_SCRIPT, DROP_SCRIPT, ENQUEUE_SCRIPT, RENEW_CLAIM_SCRIPT, SETTLE_CLAIM_SCRIPT } from './redis-scripts';

/** The queue scripts, with their SHA1 digests. */
export const QUEUE_SCRIPTS = {
  enqueue: defineScript('queueEnqueue', ENQUEUE_SCRIPT),
  claim: defineScript('queueClaim', CLAIM_SCRIPT),
  renew: defineScript('queueRenew', RENEW_CLAIM_SCRIPT),
  settle: defineScript('queueSettle', SETTLE_CLAIM_SCRIPT),
  drop: defineScript('queueDrop', DROP_SCRIPT),
  depth: defineScript('queueDepth', DEPTH_SCRIPT),
} as const;

/** Runs `script` with `keys` and `args` (EVALSHA, EVAL on NOSCRIPT, within the store's deadline). */
export type RunScript = (script: LuaScript, keys: string[], args: string[]) => Promise<unknown>;

/** The queue of the Redis store. */
export class RedisQueue {
  constructor(
    private readonly prefix: string,
    private readonly run: RunScript,
  ) {}

  /** The keys of `group`. */
  keys(group: string): QueueKeys {
    return queueKeys(this.prefix, group);
  }

  /** Arguments after the key base that the create script and the enqueue script share. */
  static enqueueArgs(id: string, q: QueueEnqueue): string[] {
    return [id, q.principal, q.job, q.slot, String(Math.max(0, Math.trunc(q.slotLimit)))];
  }

  /** Enqueues `id`; `false` when the queue is full (`q.maxDepth`) and nothing was written. */
  async enqueue(id: string, q: QueueEnqueue): Promise<boolean> {
    const k = this.keys(q.group);
    const args = [k.base, ...RedisQueue.enqueueArgs(id, q), String(Math.max(0, Math.trunc(q.maxDepth ?? 0)))];
    return Number(await this.run(QUEUE_SCRIPTS.enqueue, [k.ring, k.jobs, k.running], args)) === 1;
  }

  async claim(group: string, opts: { leaseMs: number; maxAttempts: number }): Promise<ClaimResult> {
    const k = this.keys(group);
    const args = [k.base, String(opts.leaseMs), String(opts.maxAttempts), String(PRINCIPALS_PER_CLAIM)];
    const reply = await this.run(QUEUE_SCRIPTS.claim, [k.ring, k.jobs, k.running, k.deferred], args);
    if (!Array.isArray(reply)) throw new Error('redis store: unexpected claim reply');
    const [code, id, job, attempts, enqueuedAt, exhausted, requeued] = reply as [number, string, string, number, number, unknown, unknown];
    return {
      claim: Number(code) === 1 ? { id: String(id), job: String(job), attempts: Number(attempts), enqueuedAt: Number(enqueuedAt) } : null,
      exhausted: strings(exhausted),
      requeued: strings(requeued),
    };
  }

  async renewClaim(group: string, id: string, leaseMs: number): Promise<boolean> {
    const k = this.keys(group);
    return Number(await this.run(QUEUE_SCRIPTS.renew, [k.ring, k.jobs, k.running], [k.base, id, String(leaseMs)])) === 1;
  }

  /** One change to a claim; `deferMs` (hand_back only) makes claims skip its principal for so long. */
  async settle(group: string, id: string, change: 'started' | 'release' | 'hand_back', deferMs = 0): Promise<void> {
    const k = this.keys(group);
    await this.run(QUEUE_SCRIPTS.settle, [k.ring, k.jobs, k.running, k.deferred], [k.base, id, change, String(Math.max(0, Math.trunc(deferMs)))]);
  }

  /** Removes the waiting entry `id` and returns its job; null when it is claimed or not there. */
  async drop(group: string, id: string): Promise<string | null> {
    const k = this.keys(group);
    const reply = await this.run(QUEUE_SCRIPTS.drop, [k.ring, k.jobs, k.running], [id]);
    return typeof reply === 'string' ? reply : null;
  }

  async depth(group: string): Promise<number> {
    const k = this.keys(group);
    return Math.max(0, Number(await this.run(QUEUE_SCRIPTS.depth, [k.ring, k.jobs, k.running], [])));
  }
}

function strings(reply: unknown): string[] {
  return Array.isArray(reply) ? reply.map(String) : [];
}
