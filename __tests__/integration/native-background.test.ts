// Native background mode through real HTTP, a real store and the official client: models in
// nativeBackgroundMode are created in the provider's own background mode, and every later call by
// the provider's id (GET, stream resume, cancel, DELETE) is forwarded to that deployment with its key.

import OpenAI from 'openai';
import { ownerHash, type ResponsesPollingOptions } from '../../lib';
import { MemoryStore } from '../../lib/store/memory-store';
import { MemoryLimiter } from '../../lib/limiter/memory-limiter';
import type { ResponseFinishedEvent } from '../../lib/observability/lifecycle';
import { createRedisStore } from '../../lib/store/redis-store';
import { nativeKey } from '../../lib/store/keys';
import { silentLogger } from '../../lib/logger';
import type { ResponseStore } from '../../lib/types';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream';
import { NATIVE_TEXT, serveNativeProvider, type NativeProvider } from '../helpers/native-provider';
import { testRedisUrl } from '../helpers/redis';
import { STORE_KINDS, redisStoreForTest, startApp, storeOfKind, useApp, waitFor, type AppFixture, type TestApp } from '../helpers/app';

const MASTER_KEY = 'sk-master-native-0123456789abcdef';
const KEY_A = 'sk-team-a-native-0123456789';
const KEY_B = 'sk-team-b-native-9876543210';
const PROVIDER_KEY = 'sk-provider-native-key-000111';
const OTHER_PROVIDER_KEY = 'sk-provider-other-key-222333';

function options(upstream: FakeUpstream, store: ResponseStore, extra: Partial<ResponsesPollingOptions> = {}): ResponsesPollingOptions {
  return {
    store,
    masterKey: MASTER_KEY,
    virtualKeys: [
      { key: KEY_A, id: 'team-a', maxParallelRequests: 1, rpmLimit: 100 },
      { key: KEY_B, id: 'team-b' },
    ],
    models: [
      // A decoy first: the native id must be followed with the key of the deployment that made it.
      { modelName: 'gpt-polled', model: 'openai/gpt-4o-mini', apiBase: upstream.url, apiKey: OTHER_PROVIDER_KEY },
      { modelName: 'deep-research', model: 'openai/o4-mini-deep-research', apiBase: upstream.url, apiKey: PROVIDER_KEY },
    ],
    backgroundMode: { pollingViaCache: 'all', nativeBackgroundMode: ['deep-research'] },
    ...extra,
  };
}

/** Status and parsed body of one raw request. */
async function call(url: string, method: string, key: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { method, headers: { authorization: `Bearer ${key}` } });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) };
}

/** Every event of an SDK stream. */
async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const e of stream) out.push(e);
  return out;
}

describe.each(STORE_KINDS)('native background mode on the %s store', (kind) => {
  let upstream: FakeUpstream;
  let provider: NativeProvider;
  let store: AppFixture['store'];
  let app: TestApp;
  let a: OpenAI;

  useApp(
    kind,
    (u, s) => {
      provider = serveNativeProvider(u, PROVIDER_KEY);
      return options(u, s);
    },
    (f) => {
      ({ upstream, app, store } = f);
      a = app.client(KEY_A);
    },
  );

  test("a native model is created at the provider with background: true and the client gets the provider's own Response", async () => {
    const created = await a.responses.create({ model: 'deep-research', input: 'research this', background: true });
    expect(created.id).toMatch(/^resp_native_/);
    expect(created.status).toBe('queued');
    expect(provider.responses.has(created.id)).toBe(true);

    const [req] = upstream.requests;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/v1/responses');
    expect(req.body).toMatchObject({ model: 'o4-mini-deep-research', input: 'research this', background: true });
    expect(req.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
  });

  test('GET by the provider id is forwarded with the deployment key and relays in_progress, then completed', async () => {
    const created = await a.responses.create({ model: 'deep-research', input: 'x', background: true });
    expect((await a.responses.retrieve(created.id)).status).toBe('in_progress');
    const done = await a.responses.retrieve(created.id);
    expect(done.status).toBe('completed');
    expect(done.output_text).toBe(NATIVE_TEXT);

    const gets = upstream.requests.filter((r) => r.method === 'GET');
    expect(gets.map((r) => r.url)).toEqual([`/v1/responses/${created.id}`, `/v1/responses/${created.id}`]);
    for (const r of upstream.requests) expect(r.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(JSON.stringify(upstream.requests.map((r) => r.headers))).not.toContain(KEY_A);
  });

  test("cancel is forwarded and relays the provider's cancelled Response; a second cancel relays the provider's 400", async () => {
    const created = await a.responses.create({ model: 'deep-research', input: 'x', background: true });
    const cancelled = await a.responses.cancel(created.id);
    expect(cancelled.status).toBe('cancelled');
    expect(upstream.requests.at(-1)).toMatchObject({ method: 'POST', url: `/v1/responses/${created.id}/cancel` });
    expect(upstream.requests.at(-1)?.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);

    const again = await a.responses.cancel(created.id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(OpenAI.BadRequestError);
    expect((again as InstanceType<typeof OpenAI.BadRequestError>).message).toContain('Cannot cancel a cancelled response');
  });

  test('a finished native response is accounted once: tokens and spend on its key, one lifecycle call, however often and wherever it is polled', async () => {
    const limiter = new MemoryLimiter();
    const finished: ResponseFinishedEvent[] = [];
    const extra: Partial<ResponsesPollingOptions> = { limiter, lifecycleHooks: { onResponseFinished: (e) => void finished.push(e) } };
    const priced = (): ResponsesPollingOptions => {
      const opts = options(upstream, store.store, extra);
      Object.assign(opts.models?.[1] ?? {}, { inputCostPerToken: 0.5, outputCostPerToken: 1 });
      return opts;
    };
    const one = await startApp(priced());
    const two = await startApp(priced());
    try {
      const created = await one.client(KEY_A).responses.create({ model: 'deep-research', input: 'x', background: true });
      expect((await one.client(KEY_A).responses.retrieve(created.id)).status).toBe('in_progress');
      for (const app_ of [one, two, one, two]) expect((await app_.client(KEY_A).responses.retrieve(created.id)).status).toBe('completed');
      await collect(await two.client(KEY_A).responses.retrieve(created.id, { stream: true }));

      const key = `key:${ownerHash({ id: 'team-a', admin: false })}`;
      await waitFor(async () => (await limiter.usage(key)).tokensThisWindow === 7, 5000, 'tokens recorded');
      expect(finished).toHaveLength(1);
      expect(finished[0]).toMatchObject({ id: created.id, path: 'native', status: 'completed', owner: ownerHash({ id: 'team-a', admin: false }) });
      expect(finished[0].usage).toEqual({ inputTokens: 3, outputTokens: 4, totalTokens: 7 });
      expect(await limiter.usage(key)).toMatchObject({ tokensThisWindow: 7, spend: 5.5 });
    } finally {
      await one.close();
      await two.close();
      await limiter.close();
    }
  });

  test('a native create streamed to its end is accounted there, once, and a later poll adds nothing', async () => {
    const limiter = new MemoryLimiter();
    const finished: ResponseFinishedEvent[] = [];
    const own = await startApp(options(upstream, store.store, { limiter, lifecycleHooks: { onResponseFinished: (e) => void finished.push(e) } }));
    try {
      const client = own.client(KEY_A);
      const events = await collect(await client.responses.create({ model: 'deep-research', input: 'x', background: true, stream: true }));
      const id = (events[0] as { response: { id: string } }).response.id;
      expect(events[events.length - 1].type).toBe('response.completed');
      const key = `key:${ownerHash({ id: 'team-a', admin: false })}`;
      await waitFor(() => finished.length === 1, 5000, 'the end reported');
      expect(finished[0]).toMatchObject({ id, path: 'native', status: 'completed' });
      expect((await limiter.usage(key)).tokensThisWindow).toBe(7);
      // The fake provider walks its own lifecycle on GETs: poll it until it says completed too.
      await waitFor(async () => (await client.responses.retrieve(id)).status === 'completed', 5000, 'completed on poll');
      expect(finished).toHaveLength(1);
      expect((await limiter.usage(key)).tokensThisWindow).toBe(7);
    } finally {
      await own.close();
      await limiter.close();
    }
  });

  test('DELETE is forwarded, forgets the id, and a later GET is a 404 without any upstream call', async () => {
    const created = await a.responses.create({ model: 'deep-research', input: 'x', background: true });
    await a.responses.delete(created.id);
    expect(upstream.requests.at(-1)).toMatchObject({ method: 'DELETE', url: `/v1/responses/${created.id}` });
    expect(provider.responses.has(created.id)).toBe(false);
    expect(await store.store.lookupNative(created.id, null)).toBeNull();

    const before = upstream.requests.length;
    await expect(a.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    expect(upstream.requests.length).toBe(before);
  });

  test("GET ?stream=true&starting_after=N is forwarded with its query and relays the provider's SSE after N", async () => {
    const created = await a.responses.create({ model: 'deep-research', input: 'x', background: true });
    const events = await collect(await a.responses.retrieve(created.id, { stream: true, starting_after: 2 }));
    expect(events.map((e) => e.sequence_number)).toEqual([3, 4, 5]);
    expect(events.at(-1)?.type).toBe('response.completed');
    const get = upstream.requests.at(-1)!;
    expect(get.method).toBe('GET');
    const url = new URL(get.url, 'http://x');
    expect(url.pathname).toBe(`/v1/responses/${created.id}`);
    expect(url.searchParams.get('stream')).toBe('true');
    expect(url.searchParams.get('starting_after')).toBe('2');
    expect(get.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
  });

  test('a native create with stream: true relays the SSE and remembers the id from response.created', async () => {
    const events = await collect(await a.responses.create({ model: 'deep-research', input: 'x', background: true, stream: true }));
    expect(events[0].type).toBe('response.created');
    expect(events.at(-1)?.type).toBe('response.completed');
    const id = (events[0] as { response: { id: string } }).response.id;
    expect(id).toMatch(/^resp_native_/);
    expect(upstream.requests[0].body).toMatchObject({ background: true, stream: true });
    expect((await a.responses.retrieve(id)).id).toBe(id);
  });

  test('another key gets the same 404 as for an unknown id on GET, stream, cancel and DELETE, and nothing reaches the provider', async () => {
    const created = await a.responses.create({ model: 'deep-research', input: 'x', background: true });
    const unknown = `resp_native_${'0'.repeat(24)}`;
    const before = upstream.requests.length;
    for (const [method, suffix] of [
      ['GET', ''],
      ['GET', '?stream=true'],
      ['POST', '/cancel'],
      ['DELETE', ''],
    ] as const) {
      const theirs = await call(`${app.baseURL}/responses/${created.id}${suffix}`, method, KEY_B);
      const none = await call(`${app.baseURL}/responses/${unknown}${suffix}`, method, KEY_B);
      expect(theirs.status).toBe(404);
      expect(none.status).toBe(404);
      expect(JSON.stringify(theirs.body)).toBe(JSON.stringify(none.body).split(unknown).join(created.id));
    }
    expect(upstream.requests.length).toBe(before);
    expect(provider.responses.get(created.id)?.status).toBe('queued');
  });

  test("the master key can read and cancel any key's native response", async () => {
    const created = await a.responses.create({ model: 'deep-research', input: 'x', background: true });
    const master = app.client(MASTER_KEY);
    expect((await master.responses.retrieve(created.id)).id).toBe(created.id);
    expect((await master.responses.cancel(created.id)).status).toBe('cancelled');
    expect(upstream.requests.at(-1)?.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
  });

  test('a native create counts against rpm but holds no parallel slot', async () => {
    // KEY_A may run one background response at a time; native ones do not take that slot.
    await a.responses.create({ model: 'deep-research', input: 'x', background: true });
    await a.responses.create({ model: 'deep-research', input: 'y', background: true });
    const usage = await app.router.runtime.config.limiter.usage(`key:${ownerHash({ id: 'team-a', admin: false })}`);
    expect(usage.requestsThisWindow).toBe(2);
    expect(usage.running).toBe(0);
  });

  test("the provider's errors are relayed with their status and never show the deployment key", async () => {
    const created = await a.responses.create({ model: 'deep-research', input: 'x', background: true });
    provider.responses.delete(created.id);
    const gone = await call(`${app.baseURL}/responses/${created.id}`, 'GET', KEY_A);
    expect(gone.status).toBe(404);
    expect(gone.body).toMatchObject({ error: { type: 'invalid_request_error' } });

    // A provider that refuses the deployment key: a 502, its quoted key not shown.
    serveNativeProvider(upstream, 'sk-some-other-key-000');
    const refused = await call(`${app.baseURL}/responses/${created.id}`, 'GET', KEY_A);
    expect(refused.status).toBe(502);
    expect(JSON.stringify(refused.body)).not.toContain(PROVIDER_KEY);
    expect(refused.body).toMatchObject({ error: { code: 'upstream_error' } });
  });

  test('a native model requested without background is passed through and remembered as a pass-through response', async () => {
    upstream.respond(() => ({ kind: 'json', status: 200, body: { id: 'resp_plain_1', object: 'response', status: 'completed', output: [] } }));
    const plain = await a.responses.create({ model: 'deep-research', input: 'x' });
    expect(plain.id).toBe('resp_plain_1');
    expect(upstream.requests[0].body.background).toBeUndefined();
    // Remembered so GET, DELETE and input_items reach its deployment; never settled as native.
    expect((await store.store.lookupNative('resp_plain_1', null))?.path).toBe('pass_through');
  });
});

describe('native background mode across instances and store failures', () => {
  let upstream: FakeUpstream;
  let provider: NativeProvider;

  beforeEach(async () => {
    upstream = await startFakeUpstream();
    provider = serveNativeProvider(upstream, PROVIDER_KEY);
  });

  afterEach(async () => {
    await upstream.close();
  });

  test('two instances sharing Redis both forward by the same id, and the record holds no key', async () => {
    const s1 = redisStoreForTest();
    const s2 = createSecondStore(s1.prefix);
    const one = await startApp(options(upstream, s1.store));
    const two = await startApp(options(upstream, s2.store));
    try {
      const created = await one.client(KEY_A).responses.create({ model: 'deep-research', input: 'x', background: true });
      expect((await two.client(KEY_A).responses.retrieve(created.id)).status).toBe('in_progress');
      expect((await two.client(KEY_A).responses.cancel(created.id)).status).toBe('cancelled');
      await expect(two.client(KEY_B).responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);

      if (!s1.inspect.isOpen) await s1.inspect.connect();
      const raw = await s1.inspect.get(nativeKey(s1.prefix, created.id));
      expect(raw).not.toBeNull();
      expect(JSON.parse(raw!)).toMatchObject({
        owner: ownerHash({ id: 'team-a', admin: false }),
        model: 'deep-research',
        deployment: { index: 1, modelName: 'deep-research', apiBase: upstream.url },
      });
      expect(raw).not.toContain(PROVIDER_KEY);
      expect(raw).not.toContain(KEY_A);
      expect(await s1.inspect.ttl(nativeKey(s1.prefix, created.id))).toBeGreaterThan(29 * 24 * 3600);
    } finally {
      await one.close();
      await two.close();
      await s1.close();
      await s2.close();
    }
  });

  test('a native response nobody polls is accounted once by the reconciler, whichever instance holds its lease', async () => {
    const s1 = redisStoreForTest();
    const s2 = createSecondStore(s1.prefix);
    const limiter = new MemoryLimiter();
    const finished: ResponseFinishedEvent[] = [];
    const extra: Partial<ResponsesPollingOptions> = {
      limiter,
      nativeReconcileIntervalMs: 100,
      lifecycleHooks: { onResponseFinished: (e) => void finished.push(e) },
    };
    const one = await startApp(options(upstream, s1.store, extra));
    const two = await startApp(options(upstream, s2.store, extra));
    try {
      const created = await one.client(KEY_A).responses.create({ model: 'deep-research', input: 'x', background: true });
      // No client polls: the reconcilers ask the provider until it has finished.
      await waitFor(() => finished.length > 0, 10_000, 'the reconciler to account the response');
      await waitFor(async () => (await s1.store.dueNatives(Date.now() + 3_600_000, 10)).length === 0, 5000, 'the id to leave the schedule');
      await new Promise((r) => setTimeout(r, 400));
      expect(finished).toHaveLength(1);
      expect(finished[0]).toMatchObject({ id: created.id, path: 'native', status: 'completed' });
      expect(provider.responses.get(created.id)?.status).toBe('completed');
      const key = `key:${ownerHash({ id: 'team-a', admin: false })}`;
      expect((await limiter.usage(key)).tokensThisWindow).toBe(7);
      // A later poll adds nothing.
      await one.client(KEY_A).responses.retrieve(created.id);
      expect(finished).toHaveLength(1);
    } finally {
      await one.close();
      await two.close();
      await s1.close();
      await s2.close();
      await limiter.close();
    }
  });

  test('a client that leaves a streamed native create before the id reached it gets the response cancelled at the provider', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    provider = serveNativeProvider(upstream, PROVIDER_KEY, { holdStreamedCreate: held });
    const s = storeOfKind('memory');
    const app = await startApp(options(upstream, s.store));
    try {
      const leaving = new AbortController();
      const creating = fetch(`${app.baseURL}/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'deep-research', input: 'x', background: true, stream: true }),
        signal: leaving.signal,
      }).catch(() => undefined);
      await upstream.waitForRequest(0);
      leaving.abort();
      await creating;
      await waitFor(() => new Promise<boolean>((resolve) => app.server.getConnections((_e, n) => resolve(n === 0))), 5000, 'the client to be gone');
      release();
      const [id] = [...provider.responses.keys()];
      await waitFor(() => provider.responses.get(id)?.status === 'cancelled', 5000, 'the cancel at the provider');
      expect(upstream.requests.at(-1)).toMatchObject({ method: 'POST', url: `/v1/responses/${id}/cancel` });
    } finally {
      release();
      await app.close();
      await s.close();
    }
  });

  test('a provider that stalls before sending the id of a streamed create gives a 502, not a hanging request', async () => {
    provider = serveNativeProvider(upstream, PROVIDER_KEY, { holdStreamedCreate: new Promise(() => undefined) });
    const s = storeOfKind('memory');
    const app = await startApp(options(upstream, s.store, { worker: { upstreamIdleTimeoutMs: 300 } }));
    try {
      const refused = await app.client(KEY_A).responses.create({ model: 'deep-research', input: 'x', background: true, stream: true }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(OpenAI.APIError);
      expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
      expect((refused as InstanceType<typeof OpenAI.APIError>).code).toBe('upstream_unreachable');
    } finally {
      await app.close();
      await s.close();
    }
  });

  test('when the id cannot be remembered, the response is cancelled at the provider and the client gets a 503', async () => {
    const memory = new MemoryStore({ logger: silentLogger });
    const forgetful: ResponseStore = Object.assign(Object.create(memory) as ResponseStore, {
      rememberNative: async () => {
        throw new Error('store down');
      },
    });
    const app = await startApp(options(upstream, forgetful));
    try {
      const refused = await app.client(KEY_A).responses.create({ model: 'deep-research', input: 'x', background: true }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(OpenAI.APIError);
      expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
      const [id] = [...provider.responses.keys()];
      expect(provider.responses.get(id)?.status).toBe('cancelled');
      expect(upstream.requests.at(-1)).toMatchObject({ method: 'POST', url: `/v1/responses/${id}/cancel` });
    } finally {
      await app.close();
      await memory.close();
    }
  });
});

/** A second Redis store on the same prefix: another instance's own connection. */
function createSecondStore(prefix: string): { store: ResponseStore; close(): Promise<void> } {
  const store = createRedisStore({ url: testRedisUrl(), keyPrefix: prefix, logger: silentLogger });
  return { store, close: () => store.close() };
}
