// Creates whose outcome is unknown (the store's answer missed its deadline) are abandoned: a
// tombstone is left so that a create still in flight is refused when it reaches the store.

import type { Logger, ResponseStore } from '../types';

/** At most this many abandoned ids are retried at once; beyond, the oldest is given up (logged). */
const MAX_PENDING = 1000;
/** Time between tries while the store is unreachable. */
const RETRY_MS = 1000;
/** Tries per id: a store unreachable for longer than this many seconds loses the protection. */
const MAX_ATTEMPTS = 120;

/**
 * Deletes, as an administrator, the records of creates this process answered 503 while their
 * write may still reach the store (a frozen path that comes back, a Redis paused then resumed),
 * leaving a tombstone for as long as such a record would live. A record that already landed is
 * deleted before, or while, a worker runs it; one that lands later is refused. Retried while the
 * store is unreachable, bounded in ids and tries; stopped by `close()`.
 */
export class AbandonedCreates {
  readonly #store: ResponseStore;
  readonly #logger: Logger;
  readonly #pending = new Map<string, { tombstoneMs: number; attempts: number; timer?: NodeJS.Timeout }>();
  #closed = false;

  constructor(store: ResponseStore, logger: Logger) {
    this.#store = store;
    this.#logger = logger;
  }

  /** Abandons the create of `id`; `tombstoneMs` is how long its record would have lived. */
  abandon(id: string, tombstoneMs: number): void {
    if (this.#closed || this.#pending.has(id)) return;
    if (this.#pending.size >= MAX_PENDING) {
      const [oldest, entry] = this.#pending.entries().next().value as [string, { timer?: NodeJS.Timeout }];
      clearTimeout(entry.timer);
      this.#pending.delete(oldest);
      this.#logger.warn('gave up abandoning a create whose outcome is unknown: too many pending', { id: oldest });
    }
    this.#pending.set(id, { tombstoneMs, attempts: 0 });
    void this.#try(id);
  }

  async #try(id: string): Promise<void> {
    const entry = this.#pending.get(id);
    if (!entry || this.#closed) return;
    entry.attempts += 1;
    try {
      const result = await this.#store.delete(id, null, { tombstoneMs: entry.tombstoneMs });
      this.#pending.delete(id);
      if (result.deleted) {
        this.#logger.warn('deleted the record of a create answered 503 that reached the store late', { id });
        // Its turn came with it (see the create route); it would expire unread anyway.
        void this.#store.forgetTurn(id).catch(() => undefined);
      }
    } catch {
      if (this.#closed || entry.attempts >= MAX_ATTEMPTS) {
        this.#pending.delete(id);
        if (!this.#closed) this.#logger.warn('gave up abandoning a create whose outcome is unknown: the store stayed unreachable', { id });
        return;
      }
      entry.timer = setTimeout(() => void this.#try(id), RETRY_MS);
      entry.timer.unref();
    }
  }

  /** Stops retrying. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const entry of this.#pending.values()) clearTimeout(entry.timer);
    this.#pending.clear();
  }
}
