// Redis that stops answering: a frozen redis-server (SIGSTOP), a slow one (DEBUG SLEEP) and a
// dead network path (a proxy that stops forwarding). Every request path answers 503
// store_unavailable with retry-after by its deadline, and a dead connection is replaced.

import OpenAI from 'openai';
import { createClient } from '@redis/client';
import { ev, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { startApp, waitFor, type TestApp } from '../helpers/app';
import { randomPrefix } from '../helpers/redis';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { createRedisStore, type RedisStore } from '../../lib/store/redis-store';
import { silentLogger } from '../../lib/logger';

jest.setTimeout(60_000);

const MASTER_KEY = 'sk-deadlines-master';
const COMMAND_TIMEOUT_MS = 500;
/** Far above the deadline, far below "never": the bound a late answer would break. */
const ANSWER_BOUND_MS = 5000;

let upstream: FakeUpstream;
let redis: RedisServerHandle;
let proxy: TcpProxy | undefined;
let store: RedisStore;
let app: TestApp;
let client: OpenAI;
let prefix: string;

beforeEach(async () => {
  upstream = await startFakeUpstream();
  upstream.respond(() => ({ kind: 'sse', steps: textTurnEvents('deadline held').map((e) => ev(e)) }));
  redis = await startRedisServer({ args: ['--enable-debug-command', 'yes'] });
  proxy = undefined;
});

afterEach(async () => {
  redis.resume();
  await app?.close();
  // The test built this store, so the router does not close it.
  await store?.close();
  await proxy?.close();
  await upstream.close();
  await redis.stop();
});

async function startWith(url: string, pingIntervalMs = 0): Promise<void> {
  prefix = randomPrefix();
  store = createRedisStore({ url, keyPrefix: prefix, logger: silentLogger, commandTimeoutMs: COMMAND_TIMEOUT_MS, pingIntervalMs });
  app = await startApp({
    store,
    masterKey: MASTER_KEY,
    models: [{ modelName: 'gpt-test', model: 'openai/gpt-4o-mini', apiBase: upstream.url, apiKey: 'sk-up' }],
    worker: { flushIntervalMs: 20, leaseMs: 5000, storeRetryGraceMs: 1000 },
  });
  client = new OpenAI({ baseURL: app.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 15_000 });
}

/** Status, error code, retry-after and elapsed time of one SDK call. */
async function timed(call: () => Promise<unknown>): Promise<{ status: number; code: unknown; retryAfter: string | null; ms: number }> {
  const started = Date.now();
  try {
    await call();
    return { status: 200, code: null, retryAfter: null, ms: Date.now() - started };
  } catch (err) {
    const e = err as { status?: number; code?: unknown; headers?: Headers };
    return { status: e.status ?? -1, code: e.code ?? String(err), retryAfter: e.headers?.get('retry-after') ?? null, ms: Date.now() - started };
  }
}

async function completedResponse(): Promise<string> {
  const created = await client.responses.create({ model: 'gpt-test', input: 'x', background: true });
  await waitFor(async () => (await client.responses.retrieve(created.id)).status === 'completed', 10_000, 'completed');
  return created.id;
}

function expectUnavailable(answer: Awaited<ReturnType<typeof timed>>): void {
  expect(answer).toMatchObject({ status: 503, code: 'store_unavailable', retryAfter: '1' });
  expect(answer.ms).toBeLessThan(ANSWER_BOUND_MS);
}

test('redis-server frozen (SIGSTOP): GET, create and cancel answer 503 store_unavailable with retry-after by their deadline, and all works again after SIGCONT', async () => {
  await startWith(redis.url);
  const id = await completedResponse();

  redis.pause();
  const [get, create, cancel] = await Promise.all([
    timed(() => client.responses.retrieve(id)),
    timed(() => client.responses.create({ model: 'gpt-test', input: 'frozen', background: true })),
    timed(() => client.responses.cancel(id)),
  ]);
  expectUnavailable(get);
  expectUnavailable(create);
  expectUnavailable(cancel);

  redis.resume();
  await waitFor(async () => (await timed(() => client.responses.retrieve(id))).status === 200, 10_000, 'GET answering again');
  expect((await client.responses.retrieve(id)).status).toBe('completed');
});

test('a slow Redis (DEBUG SLEEP 3): a GET answers 503 by its deadline instead of when Redis wakes up', async () => {
  await startWith(redis.url);
  const id = await completedResponse();
  const admin = createClient({ url: redis.url });
  await admin.connect();
  try {
    const sleeping = admin.sendCommand(['DEBUG', 'SLEEP', '3']);
    await new Promise((r) => setTimeout(r, 100));
    expectUnavailable(await timed(() => client.responses.retrieve(id)));
    await sleeping;
  } finally {
    await admin.quit().catch(() => undefined);
  }
  await waitFor(async () => (await timed(() => client.responses.retrieve(id))).status === 200, 10_000, 'GET answering again');
});

test('a network path that stops forwarding: requests answer 503 by their deadline, the dead connection is replaced, and the next requests succeed', async () => {
  proxy = await startTcpProxy(redis.port);
  await startWith(`redis://127.0.0.1:${proxy.port}`);
  const id = await completedResponse();
  const opened = proxy.connections;

  // Only the connections open now go dead; a new one through the proxy works.
  proxy.freezeOpen();
  const [get, cancel] = await Promise.all([timed(() => client.responses.retrieve(id)), timed(() => client.responses.cancel(id))]);
  expectUnavailable(get);
  expectUnavailable(cancel);

  await waitFor(async () => (await timed(() => client.responses.retrieve(id))).status === 200, 10_000, 'GET through a fresh connection');
  expect(proxy.connections).toBeGreaterThan(opened);
  const again = await client.responses.create({ model: 'gpt-test', input: 'after', background: true });
  await waitFor(async () => (await client.responses.retrieve(again.id)).status === 'completed', 10_000, 'a create after the fault completes');
});

test('an idle connection whose path went dead is found by the liveness PING and replaced before a request needs it', async () => {
  proxy = await startTcpProxy(redis.port);
  await startWith(`redis://127.0.0.1:${proxy.port}`, 100);
  const id = await completedResponse();
  const opened = proxy.connections;

  proxy.freezeOpen();
  await waitFor(() => proxy!.connections > opened, 10_000, 'a replacement connection');
  await new Promise((r) => setTimeout(r, 200));
  const get = await timed(() => client.responses.retrieve(id));
  expect(get.status).toBe(200);
});

test('a create through a network path that stops forwarding answers 503 by its deadline; when the path delivers it late, the tombstone the router left refuses it and the upstream never sees it', async () => {
  proxy = await startTcpProxy(redis.port);
  await startWith(`redis://127.0.0.1:${proxy.port}`);
  const first = await completedResponse();
  const admin = createClient({ url: redis.url });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    const records = async () => (await admin.keys(`${prefix}{*}:meta`)).map((k) => k.slice(prefix.length + 1, k.indexOf('}')));
    const tombstones = async () => (await admin.keys(`${prefix}{*}:deleted`)).map((k) => k.slice(prefix.length + 1, k.indexOf('}')));
    const clients = async () => new Set(((await admin.sendCommand(['CLIENT', 'LIST'])) as string).split('\n').filter(Boolean).map((l) => /id=(\d+)/.exec(l)?.[1]));
    proxy.freezeOpen();
    expectUnavailable(await timed(() => client.responses.create({ model: 'gpt-test', input: 'frozen path', background: true })));
    // Nothing reached Redis while the path held the bytes.
    expect(await records()).toEqual([first]);
    expect(upstream.requests).toHaveLength(1);
    // The router abandons the create whose outcome it does not know: through a new connection it
    // leaves a tombstone for that id.
    const [abandoned] = await waitFor(async () => {
      const ids = await tombstones();
      return ids.length > 0 ? ids : undefined;
    }, 10_000, 'the abandoned create left its tombstone');
    const before = await clients();

    // The path comes back and delivers the create's script late (then the connection the store
    // gave up closes): Redis runs it, and the tombstone refuses it.
    proxy.thaw();
    await waitFor(async () => {
      const now = await clients();
      return [...before].some((id) => !now.has(id));
    }, 10_000, 'the frozen connection was closed after its bytes were delivered');
    expect(await records()).toEqual([first]);
    expect(await tombstones()).toEqual([abandoned]);
    await expect(client.responses.retrieve(abandoned)).rejects.toMatchObject({ status: 404 });
    // A worker polls the queue meanwhile: nothing is there to run.
    await completedResponse();
    expect(upstream.requests).toHaveLength(2);
    expect(upstream.requests.map((r) => r.body.input)).not.toContain('frozen path');
  } finally {
    await admin.quit().catch(() => undefined);
  }
});
