// What a store keeps beside its response records, as plain keys with a time to live: native and
// pass-through ids with their end marks, turn records, the schedule of native ids to reconcile,
// and named leases. One implementation over a few key-value operations, shared by both stores.

import type { Logger, NativeResponseRecord, TurnRecord, TurnUpstream } from '../types';
import { leaseKey, nativeEndKey, nativeKey, nativeScheduleKey, turnKey, turnUpstreamKey } from './keys';
import { parseNativeRecord } from './records';
import { parseTurn } from './turns';

/** The key-value operations side records need (each on keys of one Redis Cluster slot). */
export interface SideKv {
  get(key: string): Promise<string | null>;
  /** Sets `key` for `ttlMs`; with `onlyIfAbsent`, only when it does not exist. True when it was set. */
  set(key: string, value: string, ttlMs: number, onlyIfAbsent?: boolean): Promise<boolean>;
  /** Sets the time to live of an existing key (nothing when it is gone). */
  expire(key: string, ttlMs: number): Promise<void>;
  /** Deletes `key`; true when it existed. */
  del(key: string): Promise<boolean>;
  /** Adds `member` to the sorted set `key` with `score` (replacing its score). */
  zadd(key: string, member: string, score: number): Promise<void>;
  /** Members of the sorted set `key` with a score of at most `max`, lowest first, at most `limit`. */
  dueMembers(key: string, max: number, limit: number): Promise<string[]>;
  /** Removes `member` from the sorted set `key`. */
  zrem(key: string, member: string): Promise<void>;
}

/** A store's side of things: its key-value operations, key prefix, logger and open check. */
export interface SideRecordsDeps {
  kv: SideKv;
  prefix: string;
  logger: Logger;
  assertOpen(): void;
}

const seconds = (ttlSeconds: number) => Math.max(1, Math.ceil(ttlSeconds)) * 1000;

/**
 * The key, value and time to live (ms) of turn `id` as stored: what `saveTurn` writes, and what a
 * store's `create` writes with the record when given its turn.
 */
export function turnEntry(prefix: string, id: string, turn: TurnRecord, ttlSeconds: number): { key: string; value: string; ttlMs: number } {
  return { key: turnKey(prefix, id), value: JSON.stringify(turn), ttlMs: seconds(ttlSeconds) };
}

/** The side-record methods of the store contract; a store extends this and provides `side`. */
export abstract class SideRecordStore {
  protected abstract readonly side: SideRecordsDeps;

  async rememberNative(id: string, record: NativeResponseRecord, ttlSeconds: number): Promise<void> {
    this.side.assertOpen();
    await this.side.kv.set(nativeKey(this.side.prefix, id), JSON.stringify(record), seconds(ttlSeconds));
  }

  async lookupNative(id: string, owner: string | null): Promise<NativeResponseRecord | null> {
    this.side.assertOpen();
    const raw = await this.side.kv.get(nativeKey(this.side.prefix, id));
    if (raw === null) return null;
    const record = parseNativeRecord(raw);
    if (record === null) {
      this.side.logger.warn('store: ignored a malformed native response record', { id });
      return null;
    }
    return owner !== null && record.owner !== owner ? null : record;
  }

  async forgetNative(id: string): Promise<boolean> {
    this.side.assertOpen();
    const { kv, prefix } = this.side;
    // The answer counts the record only: its end mark and schedule entry go with it.
    const [removed] = await Promise.all([kv.del(nativeKey(prefix, id)), kv.del(nativeEndKey(prefix, id)), kv.zrem(nativeScheduleKey(prefix), id)]);
    return removed;
  }

  async claimNativeEnd(id: string, ttlSeconds: number): Promise<boolean> {
    this.side.assertOpen();
    return this.side.kv.set(nativeEndKey(this.side.prefix, id), '1', seconds(ttlSeconds), true);
  }

  async scheduleNative(id: string, dueAt: number): Promise<void> {
    this.side.assertOpen();
    await this.side.kv.zadd(nativeScheduleKey(this.side.prefix), id, dueAt);
  }

  async dueNatives(now: number, limit: number): Promise<string[]> {
    this.side.assertOpen();
    return this.side.kv.dueMembers(nativeScheduleKey(this.side.prefix), now, limit);
  }

  async unscheduleNative(id: string): Promise<void> {
    this.side.assertOpen();
    await this.side.kv.zrem(nativeScheduleKey(this.side.prefix), id);
  }

  async holdLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    this.side.assertOpen();
    const { kv, prefix } = this.side;
    const key = leaseKey(prefix, name);
    if (await kv.set(key, holder, ttlMs, true)) return true;
    // Renewed by its holder. Not atomic: a lease that lapses in between may be taken twice for a
    // moment, which a lease here only has to make rare (the work it guards is idempotent).
    if ((await kv.get(key)) !== holder) return false;
    await kv.expire(key, ttlMs);
    return true;
  }

  async saveTurn(id: string, turn: TurnRecord, ttlSeconds: number): Promise<void> {
    this.side.assertOpen();
    const { key, value, ttlMs } = turnEntry(this.side.prefix, id, turn, ttlSeconds);
    await this.side.kv.set(key, value, ttlMs);
  }

  async setTurnUpstream(id: string, upstream: TurnUpstream, ttlSeconds: number): Promise<void> {
    this.side.assertOpen();
    const { kv, prefix } = this.side;
    // Both keys are kept for `ttlSeconds` from now.
    await Promise.all([kv.set(turnUpstreamKey(prefix, id), JSON.stringify(upstream), seconds(ttlSeconds)), kv.expire(turnKey(prefix, id), seconds(ttlSeconds))]);
  }

  async keepTurn(id: string, ttlSeconds: number): Promise<void> {
    this.side.assertOpen();
    const { kv, prefix } = this.side;
    await Promise.all([kv.expire(turnKey(prefix, id), seconds(ttlSeconds)), kv.expire(turnUpstreamKey(prefix, id), seconds(ttlSeconds))]);
  }

  async readTurn(id: string, owner: string | null): Promise<TurnRecord | null> {
    this.side.assertOpen();
    const { kv, prefix } = this.side;
    const [raw, upstream] = await Promise.all([kv.get(turnKey(prefix, id)), kv.get(turnUpstreamKey(prefix, id))]);
    const turn = parseTurn(raw, upstream);
    return turn && (owner === null || turn.owner === owner) ? turn : null;
  }

  async forgetTurn(id: string): Promise<void> {
    this.side.assertOpen();
    const { kv, prefix } = this.side;
    await Promise.all([kv.del(turnKey(prefix, id)), kv.del(turnUpstreamKey(prefix, id))]);
  }
}

/** Side records in process memory, with the expiry semantics of Redis keys. */
export class MemorySideKv implements SideKv {
  readonly #values = new Map<string, { value: string; expiresAt: number }>();
  readonly #sets = new Map<string, Map<string, number>>();

  async get(key: string): Promise<string | null> {
    return this.#live(key);
  }

  async set(key: string, value: string, ttlMs: number, onlyIfAbsent = false): Promise<boolean> {
    // Checked and set in one synchronous step, as SET NX is one command.
    if (onlyIfAbsent && this.#live(key) !== null) return false;
    this.#values.set(key, { value, expiresAt: Date.now() + ttlMs });
    return true;
  }

  async expire(key: string, ttlMs: number): Promise<void> {
    const entry = this.#values.get(key);
    if (entry && entry.expiresAt > Date.now()) entry.expiresAt = Date.now() + ttlMs;
  }

  async del(key: string): Promise<boolean> {
    const existed = this.#live(key) !== null;
    this.#values.delete(key);
    return existed;
  }

  async zadd(key: string, member: string, score: number): Promise<void> {
    let set = this.#sets.get(key);
    if (!set) this.#sets.set(key, (set = new Map()));
    set.set(member, score);
  }

  async dueMembers(key: string, max: number, limit: number): Promise<string[]> {
    const set = this.#sets.get(key);
    if (!set) return [];
    return [...set].filter(([, score]) => score <= max).sort((a, b) => a[1] - b[1]).slice(0, limit).map(([member]) => member);
  }

  async zrem(key: string, member: string): Promise<void> {
    this.#sets.get(key)?.delete(member);
  }

  #live(key: string): string | null {
    const entry = this.#values.get(key);
    return entry && entry.expiresAt > Date.now() ? entry.value : null;
  }

  /** Drops what Redis would have expired. */
  sweep(now: number): void {
    for (const [key, entry] of this.#values) if (entry.expiresAt <= now) this.#values.delete(key);
  }

  clear(): void {
    this.#values.clear();
    this.#sets.clear();
  }
}

/** Side records in Redis, through the store's deadline-bound command function. */
export function redisSideKv(command: (args: string[]) => Promise<unknown>): SideKv {
  return {
    get: async (key) => {
      const raw = await command(['GET', key]);
      return typeof raw === 'string' ? raw : null;
    },
    set: async (key, value, ttlMs, onlyIfAbsent) => (await command(['SET', key, value, 'PX', String(Math.max(1, Math.ceil(ttlMs))), ...(onlyIfAbsent ? ['NX'] : [])])) === 'OK',
    expire: async (key, ttlMs) => void (await command(['PEXPIRE', key, String(Math.max(1, Math.ceil(ttlMs)))])),
    del: async (key) => Number(await command(['DEL', key])) === 1,
    zadd: async (key, member, score) => void (await command(['ZADD', key, String(Math.floor(score)), member])),
    dueMembers: async (key, max, limit) => {
      const reply = await command(['ZRANGEBYSCORE', key, '-inf', String(Math.floor(max)), 'LIMIT', '0', String(limit)]);
      return Array.isArray(reply) ? reply.map(String) : [];
    },
    zrem: async (key, member) => void (await command(['ZREM', key, member])),
  };
}
