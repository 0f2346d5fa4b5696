// A Redis Cluster with replicas loses the master holding a running response: after the replica
// takes over, the response completes and nothing a client was already shown is lost.

import OpenAI from 'openai';
import { silentLogger } from '../../lib/logger';
import { responseKeys } from '../../lib/store/keys';
import { createRedisStore, type RedisStore } from '../../lib/store/redis-store';
import { startApp, waitFor, type TestApp } from '../helpers/app';
import { textTurnEvents } from '../helpers/event-fixtures';
import { ev, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream';
import { collect, gate, textOf } from '../helpers/flow';
import { randomPrefix } from '../helpers/redis';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster';

// Starting six nodes, a failover (cluster-node-timeout plus an election) and a loaded machine.
jest.setTimeout(180_000);

const MASTER_KEY = 'sk-failover-master';
const TEXT = 'A replica takes over the slot of a master that died, and the response goes on to its end.';
/** Short, so the failover comes within a test; Redis's default is 15 s. */
const NODE_TIMEOUT_MS = 2000;

let cluster: RedisClusterHandle | undefined;
let upstream: FakeUpstream | undefined;
let store: RedisStore | undefined;
let app: TestApp | undefined;

afterEach(async () => {
  await app?.close();
  await store?.close();
  await upstream?.close();
  await cluster?.stop();
});

test('the master holding a running response is killed mid-stream: after failover the response completes, its log holding every entry stored before the kill', async () => {
  cluster = await startRedisCluster({ replicas: true, nodeTimeoutMs: NODE_TIMEOUT_MS });
  upstream = await startFakeUpstream();
  const turn = textTurnEvents(TEXT, { chunkSize: 4 });
  const half = Math.floor(turn.length / 2);
  const hold = gate();
  upstream.respond(() => ({ kind: 'sse', steps: [...turn.slice(0, half).map((e) => ev(e)), { until: hold.promise }, ...turn.slice(half).map((e) => ev(e))] }));
  const prefix = randomPrefix();
  const rootNodes = [...cluster.ports, ...cluster.replicaPorts].map((port) => ({ url: `redis://127.0.0.1:${port}` }));
  store = createRedisStore({ cluster: { rootNodes }, keyPrefix: prefix, logger: silentLogger });
  app = await startApp({
    store,
    masterKey: MASTER_KEY,
    models: [{ modelName: 'gpt-test', model: 'openai/gpt-4o-mini', apiBase: upstream.url, apiKey: 'sk-up' }],
    // The worker keeps retrying its flushes through the failover (the lease leaves room for it).
    worker: { flushIntervalMs: 20, leaseMs: 60_000, storeRetryGraceMs: 40_000 },
  });
  const client = new OpenAI({ baseURL: app.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 20_000 });

  const created = await client.responses.create({ model: 'gpt-test', input: 'x', background: true });
  const seen = await waitFor(async () => {
    const r = await client.responses.retrieve(created.id);
    return textOf(r).length > 0 ? r : undefined;
  }, 20_000, 'the first half served');
  // What the store had acknowledged (and served) before the kill.
  const logBefore = (await store.readEvents(created.id, null, -1))!.events;

  const master = await cluster.masterOf(responseKeys(prefix, created.id).meta);
  await cluster.kill(master);
  hold.open();
  await cluster.waitForFailover(master, 60_000);

  // Reads during the failover may answer 503; once the replica serves the slot the response ends.
  const done = await waitFor(async () => {
    const r = await client.responses.retrieve(created.id).catch(() => undefined);
    return r && r.status !== 'in_progress' && r.status !== 'queued' ? r : undefined;
  }, 90_000, 'the response ended after the failover');
  expect(done.status).toBe('completed');
  expect(textOf(done)).toBe(TEXT);
  expect(TEXT.startsWith(textOf(seen))).toBe(true);

  const replay = await collect(await client.responses.retrieve(created.id, { stream: true }), 20_000);
  expect(replay.map((e) => e.sequence_number)).toEqual(replay.map((_, i) => i));
  expect(replay.at(-1)?.type).toBe('response.completed');
  // Every entry the store had acknowledged before the kill is still there, unchanged.
  const logAfter = (await store.readEvents(created.id, null, -1))!.events;
  expect(logAfter.slice(0, logBefore.length)).toEqual(logBefore);
  expect(logAfter.length).toBeGreaterThan(logBefore.length);
});
