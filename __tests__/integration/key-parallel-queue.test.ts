// A key's max_parallel_requests through real HTTP, the official client, a fake upstream and each
// store (memory, Redis, Redis Cluster): with keyParallelLimit 'queue' a create over the cap waits
// `queued` and runs once the key has a free slot; 'refuse' answers 429; a queued response keeps
// its slot however long it waits; a cancelled waiting one frees nothing twice.

import OpenAI from 'openai';
import { ownerHash, type ResponsesPollingOptions } from '../../lib';
import type { DeploymentOptions } from '../../lib/config/options';
import { MemoryLimiter } from '../../lib/limiter/memory-limiter';
import { createRedisLimiter } from '../../lib/limiter/redis-limiter';
import type { LimiterStore } from '../../lib/limiter/types';
import { silentLogger } from '../../lib/logger';
import { MemoryStore } from '../../lib/store/memory-store';
import { createRedisStore } from '../../lib/store/redis-store';
import type { ResponseStore } from '../../lib/types';
import { textTurnEvents } from '../helpers/event-fixtures';
import { startFakeUpstream, type FakeUpstream, type RecordedRequest, type Script } from '../helpers/fake-upstream';
import { gate, sleep, steps, textOf } from '../helpers/flow';
import { startApp, waitForStatus, type TestApp } from '../helpers/app';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster';
import { randomPrefix, testRedisUrl } from '../helpers/redis';
import { counting, type CountingLimiter } from '../helpers/counting-limiter';

const KEY = 'sk-parallel-0123456789abcdef';
const KEY_ID = 'team-parallel';
/** A key without limits of its own. */
const FREE_KEY = 'sk-parallel-free-fedcba98765';
const SUBJECT = `key:${ownerHash({ id: KEY_ID, admin: false })}`;
const TEXT = 'One at a time for this key.';

/** Backends: how to build a store and a limiter that share one place. */
type Backend = 'memory' | 'redis' | 'cluster';

let cluster: RedisClusterHandle | undefined;
let upstream: FakeUpstream;
let cleanups: Array<() => Promise<void>> = [];
/** The most upstream requests open at once in this test. */
let maxOpen = 0;

beforeEach(async () => {
  upstream = await startFakeUpstream();
  maxOpen = 0;
});

afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
  await upstream.close();
});

afterAll(async () => {
  await cluster?.stop();
}, 30_000);

function parts(backend: Backend): { store: ResponseStore; limiter: LimiterStore } {
  if (backend === 'memory') return { store: new MemoryStore({ logger: silentLogger }), limiter: new MemoryLimiter() };
  const keyPrefix = randomPrefix();
  const where = backend === 'redis' ? { url: testRedisUrl() } : { cluster: { rootNodes: cluster!.urls.map((url) => ({ url })) } };
  return { store: createRedisStore({ ...where, keyPrefix, logger: silentLogger }), limiter: createRedisLimiter({ ...where, keyPrefix }) };
}

interface Setup {
  backend?: Backend;
  keyParallelLimit?: ResponsesPollingOptions['keyParallelLimit'];
  deployment?: Partial<DeploymentOptions>;
  worker?: ResponsesPollingOptions['worker'];
}

async function start(setup: Setup = {}): Promise<{ app: TestApp; limiter: CountingLimiter; client: OpenAI; free: OpenAI }> {
  const { store, limiter: inner } = parts(setup.backend ?? 'memory');
  const limiter = counting(inner);
  const app = await startApp({
    store,
    limiter,
    ...(setup.keyParallelLimit ? { keyParallelLimit: setup.keyParallelLimit } : {}),
    virtualKeys: [
      { key: KEY, id: KEY_ID, maxParallelRequests: 1 },
      { key: FREE_KEY, id: 'team-parallel-free' },
    ],
    models: [{ modelName: 'gpt-test', model: 'openai/gpt-4o-mini', apiBase: upstream.url, apiKey: 'sk-upstream', ...setup.deployment }],
    worker: { flushIntervalMs: 20, claimIntervalMs: 50, ...setup.worker },
  });
  cleanups.push(async () => {
    await app.router.close(0);
    await app.close();
    await limiter.close();
    await store.close();
  });
  return { app, limiter, client: app.client(KEY), free: app.client(FREE_KEY) };
}

/**
 * Answers every request with the text turn; the ones whose input is in `held` stop after the
 * opening events (the response is `in_progress`) until their gate opens. Counts open requests.
 */
function answer(held: Record<string, Promise<void>> = {}): void {
  upstream.respond((req: RecordedRequest): Script => {
    const open = upstream.requests.filter((r) => r !== req && !r.finished && !r.closedEarly).length + 1;
    maxOpen = Math.max(maxOpen, open);
    const events = steps(textTurnEvents(TEXT));
    const wait = held[String(req.body.input)];
    return { kind: 'sse', steps: wait ? [...events.slice(0, 3), { until: wait }, ...events.slice(3)] : events };
  });
}

const create = (client: OpenAI, input: string) => client.responses.create({ model: 'gpt-test', input, background: true });

/** The rejection of `promise` (failing when it resolves). */
async function refusal(promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  const outcome = await promise.then(
    () => new Error('expected a refusal'),
    (e: unknown) => e,
  );
  if (!(outcome instanceof OpenAI.APIError)) throw outcome;
  return outcome;
}

describe.each<Backend>(['memory', 'redis', 'cluster'])('keyParallelLimit queue on the %s store', (backend) => {
  beforeAll(async () => {
    if (backend === 'cluster') cluster ??= await startRedisCluster();
  }, 60_000);

  test('a second create over the key\'s max_parallel_requests answers queued and runs after the first ends; the upstream never sees two at once', async () => {
    const { client } = await start({ backend, keyParallelLimit: 'queue' });
    const first = gate();
    answer({ one: first.promise });
    const one = await create(client, 'one');
    await waitForStatus(client, one.id, 'in_progress');
    const two = await create(client, 'two');
    expect(two.status).toBe('queued');
    // Claims come and go (every 50 ms) while the key is full: the second stays queued, untouched.
    await sleep(1500);
    expect((await client.responses.retrieve(two.id)).status).toBe('queued');
    expect(upstream.requests.map((r) => r.body.input)).toEqual(['one']);

    first.open();
    expect(textOf(await waitForStatus(client, one.id, 'completed'))).toBe(TEXT);
    expect(textOf(await waitForStatus(client, two.id, 'completed', 15_000))).toBe(TEXT);
    expect(upstream.requests.map((r) => r.body.input)).toEqual(['one', 'two']);
    expect(maxOpen).toBe(1);
  });
});

describe('keyParallelLimit', () => {
  test('refuse (the default) answers a create over max_parallel_requests with 429 rate_limit_exceeded and stores nothing', async () => {
    const { client, limiter } = await start();
    const first = gate();
    answer({ one: first.promise });
    const one = await create(client, 'one');
    await waitForStatus(client, one.id, 'in_progress');
    const err = await refusal(create(client, 'two'));
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.code).toBe('rate_limit_exceeded');
    expect(err.headers?.get('retry-after')).toBe('1');
    first.open();
    await waitForStatus(client, one.id, 'completed');
    expect(upstream.requests).toHaveLength(1);
    expect((await limiter.usage(SUBJECT)).running).toBe(0);
  });

  test('queue lets another key\'s work run while one key waits for its slot', async () => {
    const { client, free } = await start({ keyParallelLimit: 'queue' });
    const first = gate();
    answer({ one: first.promise });
    const one = await create(client, 'one');
    await waitForStatus(client, one.id, 'in_progress');
    const waiting = await create(client, 'two');
    const other = await create(free, 'other');
    // The waiting response sits ahead of the other key's in the queue, and does not block it.
    expect(textOf(await waitForStatus(free, other.id, 'completed'))).toBe(TEXT);
    expect((await client.responses.retrieve(waiting.id)).status).toBe('queued');
    first.open();
    await waitForStatus(client, waiting.id, 'completed', 15_000);
  });

  test.each<Backend>(['memory', 'redis'])(
    'a queued response that waits longer than the lease still holds its key\'s slot, so a third create is refused (%s)',
    async (backend) => {
      // The deployment runs one response at a time: the key's response waits for it, past its lease.
      const { client, free, limiter } = await start({
        backend,
        deployment: { maxParallelRequests: 1 },
        worker: { leaseMs: 3000, storeRetryGraceMs: 0 },
      });
      const first = gate();
      answer({ blocker: first.promise });
      const blocker = await create(free, 'blocker');
      await waitForStatus(free, blocker.id, 'in_progress');
      const queued = await create(client, 'queued');
      expect(queued.status).toBe('queued');
      await sleep(3500);
      expect((await limiter.usage(SUBJECT)).running).toBe(1);
      const err = await refusal(create(client, 'third'));
      expect(err).toBeInstanceOf(OpenAI.RateLimitError);

      first.open();
      await waitForStatus(client, queued.id, 'completed', 15_000);
      await waitForStatus(client, (await create(client, 'after')).id, 'completed', 15_000);
      expect(upstream.requests.map((r) => r.body.input)).toEqual(['blocker', 'queued', 'after']);
      expect((await limiter.usage(SUBJECT)).running).toBe(0);
    },
    30_000,
  );

  test.each(['cancelled', 'deleted'] as const)(
    'a response %s while it waits for its deployment gives its key\'s slot back at once, once',
    async (how) => {
      const { client, free, limiter } = await start({ deployment: { maxParallelRequests: 1 } });
      const first = gate();
      answer({ blocker: first.promise });
      const blocker = await create(free, 'blocker');
      await waitForStatus(free, blocker.id, 'in_progress');
      const waiting = await create(client, 'waiting');
      expect(waiting.status).toBe('queued');
      expect((await limiter.usage(SUBJECT)).running).toBe(1);
      if (how === 'cancelled') expect((await client.responses.cancel(waiting.id)).status).toBe('cancelled');
      else await client.responses.delete(waiting.id);
      // The deployment is still busy, but the key's slot is free: another create of the key is admitted.
      expect((await limiter.usage(SUBJECT)).running).toBe(0);
      const next = await create(client, 'next');
      expect(next.status).toBe('queued');
      first.open();
      await waitForStatus(client, next.id, 'completed', 15_000);
      expect(upstream.requests.map((r) => r.body.input)).toEqual(['blocker', 'next']);
      const releases = [...limiter.releases.values()];
      expect(releases).toHaveLength(2);
      for (const calls of releases) expect(calls).toEqual([true]);
    },
  );

  test('a waiting response that is cancelled frees nothing twice: the next one still waits for the running one, and every slot is released once', async () => {
    const { client, limiter } = await start({ keyParallelLimit: 'queue' });
    const first = gate();
    answer({ one: first.promise });
    const one = await create(client, 'one');
    await waitForStatus(client, one.id, 'in_progress');
    const cancelled = await create(client, 'cancelled');
    expect((await client.responses.cancel(cancelled.id)).status).toBe('cancelled');
    const next = await create(client, 'next');
    expect(next.status).toBe('queued');
    await sleep(1500);
    expect((await client.responses.retrieve(next.id)).status).toBe('queued');
    expect((await limiter.usage(SUBJECT)).running).toBe(1);

    first.open();
    await waitForStatus(client, next.id, 'completed', 15_000);
    expect(upstream.requests.map((r) => r.body.input)).toEqual(['one', 'next']);
    expect(maxOpen).toBe(1);
    expect((await client.responses.retrieve(cancelled.id)).status).toBe('cancelled');
    expect((await limiter.usage(SUBJECT)).running).toBe(0);
    // One admission per create, each released once (the cancelled one's too), never twice.
    await waitForStatus(client, next.id, 'completed');
    const releases = [...limiter.releases.values()];
    expect(releases).toHaveLength(3);
    for (const calls of releases) expect(calls[0]).toBe(true);
    expect(releases.flat().filter((r) => r)).toHaveLength(3);
  });
});
