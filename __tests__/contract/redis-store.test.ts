// Runs the store contract against the Redis store, plus what only Redis has: hash slots,
// key expiry, the script cache, pub/sub between instances, and a server that goes away.

import { createClient } from '@redis/client';
import { responseKeys, controlChannel } from '../../lib/store/keys';
import { createRedisStore, RedisStoreUnavailableError, type RedisStore } from '../../lib/store/redis-store';
import { SCRIPTS } from '../../lib/store/scripts';
import type { ControlMessage, Logger } from '../../lib/types';
import { freePort, startRedisServer } from '../helpers/redis-server';
import { randomPrefix, testRedisUrl } from '../helpers/redis';
import { sleep, waitFor } from '../helpers/flow';
import { appendInput, createInput, events } from '../helpers/store-inputs';
import { describeStoreContract } from './store-contract';

const admin = createClient({ url: testRedisUrl() });

beforeAll(async () => {
  await admin.connect();
});

afterAll(async () => {
  await admin.close();
});

async function deleteKeys(prefix: string): Promise<void> {
  for await (const keys of admin.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
    if (keys.length > 0) await admin.del(keys);
  }
}

async function keysUnder(prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const keys of admin.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) found.push(...keys);
  return found.sort();
}

/** A logger that remembers what it was told. */
function recordingLogger(): Logger & { lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) => (message: string) => void lines.push({ level, message });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Settles like `promise`, or rejects with 'hung' if it has not settled within `ms`. */
function settlesWithin<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hung: did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, hung]).finally(() => clearTimeout(timer));
}

describeStoreContract('Redis store', async () => {
  const keyPrefix = randomPrefix();
  const store = createRedisStore({ url: testRedisUrl(), keyPrefix });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await deleteKeys(keyPrefix);
    },
  };
});

describe('Redis store: Redis specifics', () => {
  let prefix: string;
  let store: RedisStore;
  const extra: RedisStore[] = [];

  beforeEach(() => {
    prefix = randomPrefix();
    store = createRedisStore({ url: testRedisUrl(), keyPrefix: prefix });
  });

  afterEach(async () => {
    await Promise.all([store, ...extra.splice(0)].map((s) => s.close()));
    await deleteKeys(prefix);
  });

  /** PTTL of the meta, snapshot and log keys of `id`. */
  async function pttls(id: string): Promise<number[]> {
    const k = responseKeys(prefix, id);
    return Promise.all([k.meta, k.snapshot, k.log].map((key) => admin.pTTL(key)));
  }

  function expectAbout(ttls: number[], expectedMs: number): void {
    for (const ttl of ttls) {
      expect(ttl).toBeGreaterThan(expectedMs - 2000);
      expect(ttl).toBeLessThanOrEqual(expectedMs);
    }
  }

  test('every key of one response carries the {id} hash tag, so each script touches one cluster slot', async () => {
    const input = createInput();
    await store.create(input);
    await store.append(input.id, appendInput({ events: events(1, 2), snapshot: { json: '{}', seq: 1 } }));
    const keys = await keysUnder(prefix);
    expect(keys).toHaveLength(3);
    for (const key of keys) {
      // Redis Cluster hashes only what is between the first '{' and the next '}'.
      const open = key.indexOf('{');
      const close = key.indexOf('}', open + 1);
      expect(key.slice(open + 1, close)).toBe(input.id);
    }
  });

  test('every key lives for retention plus lease while running, and for retention alone once terminal', async () => {
    const input = createInput({ events: [], leaseMs: 30_000, ttlSeconds: 60 });
    await store.create(input);
    const [meta, snap, log] = await pttls(input.id);
    expectAbout([meta, snap], 90_000);
    expect(log).toBe(-2); // an empty list does not exist in Redis

    await store.append(input.id, appendInput({ firstSeq: 0, events: events(0, 1), leaseMs: 45_000, ttlSeconds: 60 }));
    expectAbout(await pttls(input.id), 105_000);

    // SET of a new snapshot drops the key's expiry; the script must set it again.
    await store.append(input.id, appendInput({ firstSeq: 2, events: events(2, 2), snapshot: { json: '{"s":2}', seq: 2 } }));
    expectAbout(await pttls(input.id), 90_000);

    await store.append(input.id, appendInput({ firstSeq: 3, events: events(3, 3), status: 'completed', ttlSeconds: 60 }));
    expectAbout(await pttls(input.id), 60_000);
  });

  test('cancel and a lease sweep start retention from that moment', async () => {
    const cancelled = createInput({ ttlSeconds: 60 });
    await store.create(cancelled);
    await store.cancel(cancelled.id, 'owner-a', 120);
    expectAbout(await pttls(cancelled.id), 120_000);

    const lost = createInput({ leaseMs: 50, ttlSeconds: 30 });
    await store.create(lost);
    await store.append(lost.id, appendInput({ events: events(1, 1), leaseMs: 50, ttlSeconds: 30 }));
    await sleep(120);
    expect((await store.read(lost.id, null))!.meta.status).toBe('failed');
    expectAbout(await pttls(lost.id), 30_000);
  });

  test('the SHA computed locally for every script is the one Redis computes', async () => {
    for (const script of Object.values(SCRIPTS)) {
      expect(await admin.scriptLoad(script.source)).toBe(script.sha);
    }
  });

  test('after SCRIPT FLUSH every call still works (EVALSHA falls back to EVAL on NOSCRIPT)', async () => {
    await admin.scriptFlush();
    const input = createInput();
    await store.create(input);
    await admin.scriptFlush();
    expect(await store.append(input.id, appendInput({ events: events(1, 1) }))).toBe('ok');
    await admin.scriptFlush();
    expect((await store.read(input.id, null))!.tail).toEqual(events(1, 1));
    await admin.scriptFlush();
    expect((await store.readEvents(input.id, null, 0))!.events).toEqual(events(1, 1));
    await admin.scriptFlush();
    expect((await store.cancel(input.id, null, 60)).outcome).toBe('cancelled');
    await admin.scriptFlush();
    expect((await store.delete(input.id, null)).deleted).toBe(true);
    // EVAL cached the script, so the next call is an EVALSHA hit again.
    expect(await admin.scriptExists([SCRIPTS.delete.sha])).toEqual([1]);
  });

  test('a subscriber on another store instance with the same prefix hears cancel and delete', async () => {
    const other = createRedisStore({ url: testRedisUrl(), keyPrefix: prefix });
    extra.push(other);
    const received: ControlMessage[] = [];
    await other.subscribe((m) => received.push(m));
    const a = createInput();
    const b = createInput();
    await store.create(a);
    await store.create(b);
    await store.cancel(a.id, 'owner-a', 60);
    await store.delete(b.id, 'owner-a');
    await waitFor(() => received.length === 2, 3000, 'two control messages');
    expect(received).toEqual([
      { id: a.id, action: 'cancel' },
      { id: b.id, action: 'delete' },
    ]);
  });

  test('malformed control messages are ignored and later ones still arrive', async () => {
    const logger = recordingLogger();
    const listening = createRedisStore({ url: testRedisUrl(), keyPrefix: prefix, logger });
    extra.push(listening);
    const received: ControlMessage[] = [];
    await listening.subscribe((m) => received.push(m));
    const channel = controlChannel(prefix);
    for (const bad of ['not json', 'null', '{"id":1,"action":"cancel"}', '{"id":"x","action":"explode"}', '[]']) {
      await admin.publish(channel, bad);
    }
    const input = createInput();
    await store.create(input);
    await store.cancel(input.id, null, 60);
    await waitFor(() => received.length > 0, 3000, 'the valid message');
    expect(received).toEqual([{ id: input.id, action: 'cancel' }]);
    expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(5);
  });

  test('a store given a client uses it, subscribes through a duplicate, and leaves the client open on close', async () => {
    const client = createClient({ url: testRedisUrl() });
    await client.connect();
    try {
      const borrowed = createRedisStore({ client, keyPrefix: prefix });
      const received: ControlMessage[] = [];
      await borrowed.subscribe((m) => received.push(m));
      const input = createInput();
      await borrowed.create(input);
      expect((await borrowed.cancel(input.id, null, 60)).outcome).toBe('cancelled');
      await waitFor(() => received.length > 0, 3000, 'the cancel message');
      await borrowed.close();
      expect(client.isReady).toBe(true);
      expect(await client.ping()).toBe('PONG');
    } finally {
      await client.close();
    }
  });

  test('a store given a client that is not connected yet connects it', async () => {
    const client = createClient({ url: testRedisUrl() });
    const borrowed = createRedisStore({ client, keyPrefix: prefix });
    try {
      await borrowed.ping();
      const input = createInput();
      await borrowed.create(input);
      expect((await borrowed.read(input.id, null))!.meta.status).toBe('queued');
    } finally {
      await borrowed.close();
      await client.close();
    }
  });

  test('calls to a Redis that cannot be reached reject after the command timeout instead of hanging', async () => {
    const logger = recordingLogger();
    const port = await freePort();
    const nowhere = createRedisStore({ url: `redis://127.0.0.1:${port}`, keyPrefix: prefix, commandTimeoutMs: 300, logger });
    extra.push(nowhere);
    await expect(settlesWithin(nowhere.ping(), 5000)).rejects.toBeInstanceOf(RedisStoreUnavailableError);
    await expect(settlesWithin(nowhere.create(createInput()), 5000)).rejects.toBeInstanceOf(RedisStoreUnavailableError);
    await expect(settlesWithin(nowhere.subscribe(() => undefined), 5000)).rejects.toBeInstanceOf(RedisStoreUnavailableError);
    expect(logger.lines.some((l) => l.level === 'error')).toBe(true);
  });

  test('when redis-server stops, calls reject instead of hanging, and after a restart the store and its subscription work again', async () => {
    const server = await startRedisServer();
    const logger = recordingLogger();
    const own = createRedisStore({ url: server.url, keyPrefix: prefix, commandTimeoutMs: 500, logger });
    extra.push(own);
    try {
      const received: ControlMessage[] = [];
      await own.subscribe((m) => received.push(m));
      const input = createInput();
      await own.create(input);

      await server.stop();
      await expect(settlesWithin(own.read(input.id, null), 5000)).rejects.toBeInstanceOf(RedisStoreUnavailableError);
      await expect(settlesWithin(own.append(input.id, appendInput({ events: events(1, 1) })), 5000)).rejects.toBeInstanceOf(
        RedisStoreUnavailableError,
      );
      expect(logger.lines.some((l) => l.level === 'error')).toBe(true);

      await server.restart();
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          await own.ping();
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await sleep(100);
        }
      }
      // The restarted server is empty (no persistence); the store simply works again.
      expect(await own.read(input.id, null)).toBeNull();
      await own.create(input);
      expect((await own.read(input.id, null))!.meta.status).toBe('queued');

      // The subscriber reconnects on its own schedule; a message published before it has
      // resubscribed is lost (as pub/sub always is), so keep cancelling fresh ids until one arrives.
      const sent = new Set<string>();
      const until = Date.now() + 15_000;
      while (!received.some((m) => sent.has(m.id))) {
        if (Date.now() > until) throw new Error('no control message arrived after the restart');
        const probe = createInput();
        await own.create(probe);
        await own.cancel(probe.id, null, 60);
        sent.add(probe.id);
        await sleep(100);
      }
    } finally {
      await own.close();
      await server.stop();
    }
  }, 60_000);
});
