// The in-memory stores of the routers alive in this process. Two routers with separate in-memory
// stores answer 404 for each other's ids, which looks like data loss: the second one warns.

import { WARNING_CODES } from '../errors';
import type { Logger, ResponseStore } from '../types';
import { MemoryStore } from './memory-store';

/** Routers (runtimes) alive per in-memory store. */
const alive = new Map<MemoryStore, number>();

/**
 * Counts a router that serves from `store` until the returned function is called (at its
 * `close()`), and warns (code `separate_memory_stores`) when another router alive in this
 * process serves from a different in-memory store. Other stores are not counted.
 */
export function registerMemoryStore(store: ResponseStore, logger: Logger): () => void {
  if (!(store instanceof MemoryStore)) return () => undefined;
  const others = [...alive.keys()].filter((s) => s !== store).length;
  if (others > 0) {
    logger.warn(
      `Another router in this process serves from a different in-memory store (${others + 1} in-memory stores are in use): ` +
        "each answers 404 for the other's response ids. Build the parts from one options object, pass one store to every " +
        'router (store: new MemoryStore()), or use Redis.',
      { code: WARNING_CODES.separateMemoryStores },
    );
  }
  alive.set(store, (alive.get(store) ?? 0) + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (alive.get(store) ?? 1) - 1;
    if (left > 0) alive.set(store, left);
    else alive.delete(store);
  };
}
