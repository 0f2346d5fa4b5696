// The queue of the in-memory store: per deployment group, round-robin over principals, FIFO within
// one, claims under lease with capacity slots. Synchronous, so each call is one atomic step.

import type { ClaimResult, QueueEnqueue } from '../types';

/** One queued response as the queue keeps it (from enqueue until its claim is released). */
interface Entry {
  principal: string;
  job: string;
  slot: string;
  slotLimit: number;
  attempts: number;
  enqueuedAt: number;
  started: boolean;
  /** Lease expiry (epoch ms) while claimed; undefined while waiting. */
  claimedUntil?: number;
}

/** The queue of one deployment group. */
interface Group {
  /** Principals with waiting responses, in claim order (each appears once). */
  ring: string[];
  /** Waiting ids per principal, oldest first. */
  waiting: Map<string, string[]>;
  entries: Map<string, Entry>;
  /** Principals claims skip until the time given (epoch ms): see {@link MemoryQueue.handBack}'s `deferMs`. */
  deferred: Map<string, number>;
}

/** At most this many lapsed claims are put back per claim call (as the Redis script does). */
const LAPSED_PER_CLAIM = 100;

/**
 * At most this many principals are looked at per claim call, in both stores (the Redis claim
 * script takes it as an argument): the ring rotates past those looked at, so the next call goes on
 * where this one stopped, and one call's work stays bounded however many principals wait.
 */
export const PRINCIPALS_PER_CLAIM = 100;

/** How much longer a queued record lives than one started at once: its longest wait (a day when unbounded). Both stores. */
export function queueLifeMs(maxWaitMs: number): number {
  return maxWaitMs > 0 ? maxWaitMs : 24 * 3600 * 1000;
}

/** The queue part of `MemoryStore`. */
export class MemoryQueue {
  readonly #groups = new Map<string, Group>();

  enqueue(id: string, input: QueueEnqueue, now: number): void {
    const group = this.#group(input.group);
    group.entries.set(id, {
      principal: input.principal,
      job: input.job,
      slot: input.slot,
      slotLimit: input.slotLimit,
      attempts: 0,
      enqueuedAt: now,
      started: false,
    });
    pushWaiting(group, input.principal, id, 'tail');
  }

  claim(name: string, opts: { leaseMs: number; maxAttempts: number }, now: number): ClaimResult {
    const result: ClaimResult = { claim: null, exhausted: [], requeued: [] };
    const group = this.#groups.get(name);
    if (!group) return result;
    this.#putBackLapsed(group, opts.maxAttempts, now, result);
    for (let tries = Math.min(group.ring.length, PRINCIPALS_PER_CLAIM); tries > 0; tries -= 1) {
      const principal = group.ring.shift() as string;
      const deferredUntil = group.deferred.get(principal);
      if (deferredUntil !== undefined) {
        // Waiting for something only time or another response's end brings (its key's slot).
        if (deferredUntil > now) {
          group.ring.push(principal);
          continue;
        }
        group.deferred.delete(principal);
      }
      const list = group.waiting.get(principal) ?? [];
      const id = list[0];
      const entry = id === undefined ? undefined : group.entries.get(id);
      if (!entry) {
        // An id whose entry is gone (released) is dropped; the principal keeps its turn order.
        if (id !== undefined) list.shift();
        if (list.length) group.ring.push(principal);
        else group.waiting.delete(principal);
        continue;
      }
      if (entry.slotLimit > 0 && this.#running(group, entry.slot, now) >= entry.slotLimit) {
        group.ring.push(principal);
        continue;
      }
      list.shift();
      if (list.length) group.ring.push(principal);
      else group.waiting.delete(principal);
      entry.claimedUntil = now + opts.leaseMs;
      result.claim = { id: id as string, job: entry.job, attempts: entry.attempts, enqueuedAt: entry.enqueuedAt };
      break;
    }
    if (!group.entries.size) this.#groups.delete(name);
    return result;
  }

  renewClaim(name: string, id: string, leaseMs: number, now: number): boolean {
    const entry = this.#groups.get(name)?.entries.get(id);
    if (!entry || entry.claimedUntil === undefined || entry.claimedUntil < now) return false;
    entry.claimedUntil = now + leaseMs;
    return true;
  }

  markClaimStarted(name: string, id: string): void {
    const entry = this.#groups.get(name)?.entries.get(id);
    if (entry) entry.started = true;
  }

  releaseClaim(name: string, id: string): void {
    const group = this.#groups.get(name);
    if (!group) return;
    group.entries.delete(id);
    if (!group.entries.size) this.#groups.delete(name);
  }

  handBack(name: string, id: string, deferMs: number, now: number): void {
    const group = this.#groups.get(name);
    const entry = group?.entries.get(id);
    if (!group || !entry || entry.claimedUntil === undefined) return;
    entry.claimedUntil = undefined;
    pushWaiting(group, entry.principal, id, 'head');
    if (deferMs > 0) group.deferred.set(entry.principal, now + deferMs);
  }

  /** Removes the waiting entry `id` and returns its job; null when it is claimed or not there. */
  drop(name: string, id: string): string | null {
    const group = this.#groups.get(name);
    const entry = group?.entries.get(id);
    if (!group || !entry || entry.claimedUntil !== undefined) return null;
    // Its id stays in the principal's list; the next claim that reaches it drops it.
    group.entries.delete(id);
    if (!group.entries.size) this.#groups.delete(name);
    return entry.job;
  }

  /** Responses in the queue of `name`, waiting or claimed. */
  size(name: string): number {
    return this.#groups.get(name)?.entries.size ?? 0;
  }

  depth(name: string): number {
    const group = this.#groups.get(name);
    if (!group) return 0;
    let waiting = 0;
    for (const entry of group.entries.values()) if (entry.claimedUntil === undefined) waiting += 1;
    return waiting;
  }

  clear(): void {
    this.#groups.clear();
  }

  /** Claims that lapsed: not started ones go back to the head of their principal's queue. */
  #putBackLapsed(group: Group, maxAttempts: number, now: number, result: ClaimResult): void {
    let budget = LAPSED_PER_CLAIM;
    for (const [id, entry] of group.entries) {
      if (budget === 0) break;
      if (entry.claimedUntil === undefined || entry.claimedUntil >= now) continue;
      budget -= 1;
      entry.claimedUntil = undefined;
      if (entry.started) {
        group.entries.delete(id);
        continue;
      }
      entry.attempts += 1;
      if (entry.attempts >= maxAttempts) {
        group.entries.delete(id);
        result.exhausted.push(id);
        continue;
      }
      pushWaiting(group, entry.principal, id, 'head');
      result.requeued.push(id);
    }
  }

  /** Claimed responses of `slot` whose lease has not lapsed. */
  #running(group: Group, slot: string, now: number): number {
    let n = 0;
    for (const entry of group.entries.values()) {
      if (entry.slot === slot && entry.claimedUntil !== undefined && entry.claimedUntil >= now) n += 1;
    }
    return n;
  }

  #group(name: string): Group {
    let group = this.#groups.get(name);
    if (!group) this.#groups.set(name, (group = { ring: [], waiting: new Map(), entries: new Map(), deferred: new Map() }));
    return group;
  }
}

/** Adds `id` to `principal`'s waiting list, and the principal to the ring when it had none waiting. */
function pushWaiting(group: Group, principal: string, id: string, end: 'head' | 'tail'): void {
  let list = group.waiting.get(principal);
  if (!list) {
    group.waiting.set(principal, (list = []));
    group.ring.push(principal);
  }
  if (end === 'head') list.unshift(id);
  else list.push(id);
}
