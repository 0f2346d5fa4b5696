// Whether the Redis behind a store may evict the store's keys: its `maxmemory-policy`, read with
// CONFIG GET, and the one policy that keeps every key (every response key has a TTL, so the
// volatile-* policies evict them as surely as the allkeys-* ones).

import { ErrorReply } from '@redis/client';
import { WARNING_CODES } from '../errors';
import type { Logger } from '../types';
import type { RedisClientLike } from './redis-client';

/** The `maxmemory-policy` under which Redis never evicts a key: the one to run the store with. */
export const SAFE_EVICTION_POLICY = 'noeviction';

/**
 * The server's `maxmemory-policy` through `send`, or null when it cannot be read (managed
 * services often refuse CONFIG). Connection errors pass through.
 */
export async function readEvictionPolicy(send: (args: string[]) => Promise<unknown>): Promise<string | null> {
  let reply: unknown;
  try {
    reply = await send(['CONFIG', 'GET', 'maxmemory-policy']);
  } catch (err) {
    if (err instanceof ErrorReply) return null;
    throw err;
  }
  // RESP2: ['maxmemory-policy', value]; RESP3: { 'maxmemory-policy': value }.
  const value = Array.isArray(reply) ? reply[1] : reply !== null && typeof reply === 'object' ? (reply as Record<string, unknown>)['maxmemory-policy'] : undefined;
  return typeof value === 'string' ? value : null;
}

/** Whether `policy` lets Redis evict the store's keys (unknown policies are not reported). */
export function mayEvict(policy: string | null): policy is string {
  return policy !== null && policy !== SAFE_EVICTION_POLICY;
}

/** A store that can tell whether its server may evict its keys (the Redis store). */
export interface EvictionAware {
  /**
   * The server's `maxmemory-policy` when it may evict response keys (anything but
   * `noeviction`), else null (also when the server will not say).
   */
  evictionRisk(): Promise<string | null>;
}

/** Whether `store` is {@link EvictionAware}. */
export function isEvictionAware(store: object): store is EvictionAware {
  return typeof (store as Partial<EvictionAware>).evictionRisk === 'function';
}

/**
 * Logs one warning (code `redis_eviction_policy`) when `risk()` names an evicting policy, checked
 * on the first connection of `client` that answers. Returns the function that stops watching.
 */
export function warnOnEvictionPolicy(client: RedisClientLike, risk: () => Promise<string | null>, logger: Logger): () => void {
  let checked = false;
  const check = (): void => {
    if (checked) return;
    risk().then(
      (policy) => {
        checked = true;
        if (policy === null) return;
        logger.warn(`redis store: Redis runs maxmemory-policy ${policy}, which may evict response keys; run it with ${SAFE_EVICTION_POLICY}`, {
          code: WARNING_CODES.redisEvictionPolicy,
          policy,
        });
      },
      // Not answered: the next connection checks again.
      () => undefined,
    );
  };
  client.on('ready', check);
  if (client.isReady) check();
  return () => client.off('ready', check);
}
