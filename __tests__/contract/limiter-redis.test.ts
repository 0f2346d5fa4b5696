// Runs the limiter contract against the Redis limiter, plus what only Redis has: limits shared
// between instances, one hash slot, key expiry, the script cache, and a server that goes away.

import { createClient } from '@redis/client';
import { limiterKeys } from '../../lib/limiter/keys';
import { createRedisLimiter, type RedisLimiter } from '../../lib/limiter/redis-limiter';
import { LIMITER_SCRIPTS } from '../../lib/limiter/scripts';
import { RedisStoreUnavailableError } from '../../lib/store/redis-store';
import { freePort, startRedisServer } from '../helpers/redis-server';
import { randomPrefix, testRedisUrl } from '../helpers/redis';
import { sleep } from '../helpers/flow';
import { admission, awayFromWindowEnd, refusal, subject } from '../helpers/limiter-inputs';
import { describeLimiterContract } from './limiter-contract';

const admin = createClient({ url: testRedisUrl() });

beforeAll(async () => {
  await admin.connect();
});

afterAll(async () => {
  await admin.close();
});

async function keysUnder(prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const keys of admin.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) found.push(...keys);
  return found.sort();
}

async function deleteKeys(prefix: string): Promise<void> {
  const keys = await keysUnder(prefix);
  if (keys.length > 0) await admin.del(keys);
}

/** Settles like `promise`, or rejects with 'hung' if it has not settled within `ms`. */
function settlesWithin<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hung: did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, hung]).finally(() => clearTimeout(timer));
}

describeLimiterContract('Redis limiter', async (options) => {
  const keyPrefix = randomPrefix();
  const limiter = createRedisLimiter({ url: testRedisUrl(), keyPrefix, ...options });
  return {
    limiter,
    cleanup: async () => {
      await limiter.close();
      await deleteKeys(keyPrefix);
    },
  };
});

describe('Redis limiter: Redis specifics', () => {
  let prefix: string;
  let limiter: RedisLimiter;
  const extra: RedisLimiter[] = [];

  beforeEach(async () => {
    prefix = randomPrefix();
    limiter = createRedisLimiter({ url: testRedisUrl(), keyPrefix: prefix });
    await awayFromWindowEnd();
  });

  afterEach(async () => {
    await Promise.all([limiter, ...extra.splice(0)].map((l) => l.close()));
    await deleteKeys(prefix);
  });

  test('two limiter instances on one Redis share the limits, the slots and the budget', async () => {
    const other = createRedisLimiter({ url: testRedisUrl(), keyPrefix: prefix });
    extra.push(other);
    const key = subject('key', { rpm: 3, maxParallel: 2, maxBudget: 1 });

    const held = admission([key]);
    expect((await limiter.admit(held)).admitted).toBe(true);
    expect(await other.admit(admission([key]))).toMatchObject({ admitted: true, state: { remainingRequests: 1 } });
    expect(refusal(await limiter.admit(admission([key]))).reason).toBe('parallel');

    // A slot taken through one instance is released, exactly once, through the other.
    expect(await other.release(held.id, [key.key])).toBe(true);
    expect(await limiter.release(held.id, [key.key])).toBe(false);
    expect((await limiter.admit(admission([key]))).admitted).toBe(true);
    expect(refusal(await other.admit(admission([key]))).reason).toBe('rpm');

    expect(await other.record(held.id, [key.key], { tokens: 5, spend: 1 })).toBe(true);
    expect(await limiter.record(held.id, [key.key], { tokens: 5, spend: 1 })).toBe(false);
    expect(await limiter.usage(key.key)).toEqual({ requestsThisWindow: 3, tokensThisWindow: 5, running: 2, spend: 1 });
  });

  test('every limiter key carries the one {limits} hash tag, so each script touches one cluster slot', async () => {
    const key = subject('key', { rpm: 5, maxParallel: 5, maxBudget: 10 });
    const deployment = subject('deployment', { rpm: 5 });
    const input = admission([key, deployment]);
    await limiter.admit(input);
    await limiter.record(input.id, [key.key, deployment.key], { tokens: 3, spend: 0.5 });
    const keys = await keysUnder(prefix);
    // Two window hashes, one running set, two spend strings, one admission hash.
    expect(keys).toHaveLength(6);
    for (const k of keys) {
      const open = k.indexOf('{');
      expect(k.slice(open + 1, k.indexOf('}', open + 1))).toBe('limits');
    }
  });

  test('windows expire with their window, slots with their lease, the admission marker later, and spend never', async () => {
    const key = subject('key', { rpm: 5, maxParallel: 5 });
    const input = admission([key], { leaseMs: 45_000 });
    await limiter.admit(input);
    await limiter.record(input.id, [key.key], { tokens: 1, spend: 0.01 });
    const k = limiterKeys(prefix).subject(key.key);
    const windowTtl = await admin.pTTL(k.window);
    expect(windowTtl).toBeGreaterThan(0);
    expect(windowTtl).toBeLessThanOrEqual(61_000);
    const runningTtl = await admin.pTTL(k.running);
    expect(runningTtl).toBeGreaterThan(40_000);
    expect(runningTtl).toBeLessThanOrEqual(45_000);
    expect(await admin.pTTL(k.spend)).toBe(-1);
    expect(await admin.pTTL(limiterKeys(prefix).admission(input.id))).toBeGreaterThan(60 * 60 * 1000);
  });

  test('the SHA computed locally for every limiter script is the one Redis computes', async () => {
    for (const script of Object.values(LIMITER_SCRIPTS)) {
      expect(await admin.scriptLoad(script.source)).toBe(script.sha);
    }
  });

  test('after SCRIPT FLUSH every call still works (EVALSHA falls back to EVAL on NOSCRIPT)', async () => {
    const key = subject('key', { rpm: 5, maxParallel: 5 });
    const input = admission([key]);
    await admin.scriptFlush();
    expect((await limiter.admit(input)).admitted).toBe(true);
    await admin.scriptFlush();
    await limiter.renew(input.id, [key.key], 60_000);
    await admin.scriptFlush();
    expect(await limiter.record(input.id, [key.key], { tokens: 2, spend: 0 })).toBe(true);
    await admin.scriptFlush();
    expect(await limiter.release(input.id, [key.key])).toBe(true);
    await admin.scriptFlush();
    await limiter.rollback(input);
    await admin.scriptFlush();
    expect(await limiter.usage(key.key)).toMatchObject({ requestsThisWindow: 0, tokensThisWindow: 2, running: 0 });
    expect(await admin.scriptExists([LIMITER_SCRIPTS.usage.sha])).toEqual([1]);
  });

  test('a limiter given a client uses it and leaves it open on close', async () => {
    const client = createClient({ url: testRedisUrl() });
    try {
      const borrowed = createRedisLimiter({ client, keyPrefix: prefix });
      const key = subject('key', { rpm: 1 });
      expect((await borrowed.admit(admission([key]))).admitted).toBe(true);
      expect(refusal(await limiter.admit(admission([key]))).reason).toBe('rpm');
      await borrowed.close();
      expect(client.isReady).toBe(true);
      expect(await client.ping()).toBe('PONG');
    } finally {
      await client.close();
    }
  });

  test('admit to a Redis that cannot be reached rejects after the command timeout instead of hanging', async () => {
    const port = await freePort();
    const nowhere = createRedisLimiter({ url: `redis://127.0.0.1:${port}`, keyPrefix: prefix, commandTimeoutMs: 300 });
    extra.push(nowhere);
    await expect(settlesWithin(nowhere.admit(admission([subject('key', { rpm: 1 })])), 5000)).rejects.toBeInstanceOf(RedisStoreUnavailableError);
  });

  test('when redis-server stops, admit and release reject promptly, and after a restart the limiter works again', async () => {
    const server = await startRedisServer();
    const own = createRedisLimiter({ url: server.url, keyPrefix: prefix, commandTimeoutMs: 500 });
    extra.push(own);
    try {
      const key = subject('key', { rpm: 5, maxParallel: 5 });
      const input = admission([key]);
      expect((await own.admit(input)).admitted).toBe(true);

      await server.stop();
      await expect(settlesWithin(own.admit(admission([key])), 5000)).rejects.toBeInstanceOf(RedisStoreUnavailableError);
      await expect(settlesWithin(own.release(input.id, [key.key]), 5000)).rejects.toBeInstanceOf(RedisStoreUnavailableError);

      await server.restart();
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          // The restarted server is empty (no persistence): the limits start afresh.
          expect(await own.admit(admission([key]))).toMatchObject({ admitted: true, state: { remainingRequests: 4 } });
          break;
        } catch (err) {
          if (!(err instanceof RedisStoreUnavailableError) || Date.now() > deadline) throw err;
          await sleep(100);
        }
      }
    } finally {
      await own.close();
      await server.stop();
    }
  }, 60_000);
});
