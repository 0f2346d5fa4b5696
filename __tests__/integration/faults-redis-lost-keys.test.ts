// Redis loses part of a record (a key removed, or evicted under maxmemory): reads rebuild what
// they can or answer a clear error, never a 500 and never wrong data. Redis loses a running
// response's record (restarted empty, keys removed): its worker re-creates it; a delete still wins.

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import OpenAI from 'openai';
import { createClient, RESP_TYPES } from '@redis/client';
import { ev, startFakeUpstream, type FakeUpstream, type Step } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { startApp, waitFor, type TestApp } from '../helpers/app';
import { collect, gate, textOf } from '../helpers/flow';
import { randomPrefix } from '../helpers/redis';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { responseKeys } from '../../lib/store/keys';
import { createRedisStore, type RedisStore } from '../../lib/store/redis-store';
import { silentLogger } from '../../lib/logger';
import type { HealthBody } from '../../lib/observability/health';
import type { WorkerOptions } from '../../lib/config/worker-options';

jest.setTimeout(60_000);

const MASTER_KEY = 'sk-lost-keys-master';
const TEXT = 'A response whose keys Redis may lose — byte for byte or not at all.';

let upstream: FakeUpstream;
let redis: RedisServerHandle;
let admin: ReturnType<typeof createClient>;
let prefix: string;
let app: TestApp;
let store: RedisStore | undefined;
let client: OpenAI;

const warnings: Array<Record<string, unknown> | undefined> = [];
const warned: string[] = [];
const recordingLogger = {
  ...silentLogger,
  warn: (message: string, fields?: Record<string, unknown>) => {
    warned.push(message);
    warnings.push(fields);
  },
};

async function setUp(args: string[] = [], worker: WorkerOptions = {}): Promise<void> {
  warned.length = 0;
  warnings.length = 0;
  upstream = await startFakeUpstream();
  upstream.respond(() => ({ kind: 'sse', steps: textTurnEvents(TEXT, { chunkSize: 4 }).map((e) => ev(e)) }));
  redis = await startRedisServer({ args });
  admin = createClient({ url: redis.url });
  admin.on('error', () => undefined);
  await admin.connect();
  prefix = randomPrefix();
  store = createRedisStore({ url: redis.url, keyPrefix: prefix, logger: recordingLogger });
  app = await startApp({
    store,
    masterKey: MASTER_KEY,
    logger: recordingLogger,
    models: [{ modelName: 'gpt-test', model: 'openai/gpt-4o-mini', apiBase: upstream.url, apiKey: 'sk-up' }],
    worker: { flushIntervalMs: 20, leaseMs: 5000, storeRetryGraceMs: 1000, ...worker },
  });
  client = new OpenAI({ baseURL: app.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 15_000 });
}

afterEach(async () => {
  await app?.close();
  // The test built this store, so the router does not close it.
  await store?.close();
  store = undefined;
  await admin?.quit().catch(() => undefined);
  await upstream?.close();
  await redis?.stop();
});

async function completed(): Promise<OpenAI.Responses.Response> {
  const created = await client.responses.create({ model: 'gpt-test', input: 'x', background: true });
  return waitFor(async () => {
    const r = await client.responses.retrieve(created.id);
    return r.status === 'completed' ? r : undefined;
  }, 10_000, 'completed');
}

/** Status and error code of a raw GET (so a 500 is seen as such). */
async function rawGet(id: string, query = ''): Promise<{ status: number; code: unknown; body: string }> {
  const res = await fetch(`${app.baseURL}/responses/${id}${query}`, { headers: { authorization: `Bearer ${MASTER_KEY}` } });
  const body = await res.text();
  let code: unknown = null;
  try {
    code = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code ?? null;
  } catch {
    // an SSE body
  }
  return { status: res.status, code, body };
}

test('the snapshot key removed: GET rebuilds the Response from the whole log and answers it unchanged', async () => {
  await setUp();
  const done = await completed();
  await admin.del(responseKeys(prefix, done.id).snapshot);
  const again = await client.responses.retrieve(done.id);
  expect(again.status).toBe('completed');
  expect(textOf(again)).toBe(TEXT);
  expect(again.output).toEqual(done.output);
});

test('the event log removed: GET and a replay answer 410 response_data_lost (not a 500, not a replay without events)', async () => {
  await setUp();
  const done = await completed();
  await admin.del(responseKeys(prefix, done.id).log);
  const get = await rawGet(done.id);
  expect(get).toMatchObject({ status: 410, code: 'response_data_lost' });
  const replay = await rawGet(done.id, '?stream=true');
  expect(replay).toMatchObject({ status: 410, code: 'response_data_lost' });
  const resume = await rawGet(done.id, '?stream=true&starting_after=3');
  expect(resume).toMatchObject({ status: 410, code: 'response_data_lost' });
});

test('the log cut short (entries lost from its end): reads answer response_data_lost, not a shorter Response', async () => {
  await setUp();
  const done = await completed();
  await admin.lTrim(responseKeys(prefix, done.id).log, 0, 4);
  expect(await rawGet(done.id)).toMatchObject({ status: 410, code: 'response_data_lost' });
});

test('the meta hash removed: the response reads as not found (404)', async () => {
  await setUp();
  const done = await completed();
  await admin.del(responseKeys(prefix, done.id).meta);
  expect(await rawGet(done.id)).toMatchObject({ status: 404, code: 'not_found' });
});

test('maxmemory with allkeys-lru evicting under pressure: every read is the full text, 404 or response_data_lost; never a 500 or other text', async () => {
  await setUp(['--maxmemory', '4mb', '--maxmemory-policy', 'allkeys-lru', '--maxmemory-samples', '10']);
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) ids.push((await completed()).id);
  // Pressure: junk keys far beyond maxmemory, so LRU evicts some of the responses' keys.
  const junk = 'j'.repeat(64 * 1024);
  for (let i = 0; i < 200; i++) await admin.set(`junk:${i}`, junk).catch(() => undefined);
  for (const id of ids) {
    const get = await rawGet(id);
    if (get.status === 200) expect(textOf(JSON.parse(get.body) as OpenAI.Responses.Response)).toBe(TEXT);
    else expect([404, 410, 503]).toContain(get.status);
    if (get.status === 410 || get.status === 503) expect(get.code).toBe('response_data_lost');
    const replay = await rawGet(id, '?stream=true');
    expect(replay.status).not.toBe(500);
    if (replay.status === 200) {
      const stream = await client.responses.retrieve(id, { stream: true });
      const events = await collect(stream);
      expect(events.at(-1)?.type).toBe('response.completed');
    }
  }
});

/** The body of the router's health check, mounted on a server of its own. */
async function health(): Promise<HealthBody> {
  const host = express().get('/healthz', app.router.healthCheck());
  const server = await new Promise<Server>((resolve) => {
    const s = host.listen(0, '127.0.0.1', () => resolve(s));
  });
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`);
    return (await res.json()) as HealthBody;
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

test('a Redis with an evicting maxmemory-policy (volatile-lru: every response key has a TTL) is warned about at start-up and named by the health check', async () => {
  await setUp(['--maxmemory-policy', 'volatile-lru']);
  await completed();
  await waitFor(() => warnings.some((w) => w?.code === 'redis_eviction_policy'), 5000, 'the eviction warning');
  expect(warnings.filter((w) => w?.code === 'redis_eviction_policy')).toEqual([{ code: 'redis_eviction_policy', policy: 'volatile-lru' }]);
  expect(await health()).toMatchObject({ status: 'ok', store: 'ok', evictionPolicy: 'volatile-lru' });
});

test('a Redis with noeviction gets no warning and a health answer without evictionPolicy', async () => {
  await setUp();
  await completed();
  expect(warnings.filter((w) => w?.code === 'redis_eviction_policy')).toEqual([]);
  const body = await health();
  expect(body).toMatchObject({ status: 'ok', store: 'ok' });
  expect(body).not.toHaveProperty('evictionPolicy');
});

describe('a running response whose record Redis lost', () => {
  const turn = textTurnEvents(TEXT, { chunkSize: 4 });
  const half = Math.floor(turn.length / 2);
  let hold: ReturnType<typeof gate>;

  /** Starts a response whose upstream stops halfway until the gate opens (then sends `rest`); resolves once that half is stored. */
  async function halfway(rest: Step[] = turn.slice(half).map((e) => ev(e))): Promise<string> {
    hold = gate();
    upstream.respond(() => ({ kind: 'sse', steps: [...turn.slice(0, half).map((e) => ev(e)), { until: hold.promise }, ...rest] }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'x', background: true });
    await waitFor(async () => textOf(await client.responses.retrieve(created.id)).length > 0, 10_000, 'the first half stored');
    return created.id;
  }

  /** The response once a GET answers it completed (a GET in the gap before the worker re-creates it may answer 404). */
  async function completedLater(id: string): Promise<OpenAI.Responses.Response> {
    return waitFor(async () => {
      const get = await rawGet(id);
      if (get.status !== 200) return undefined;
      const r = JSON.parse(get.body) as OpenAI.Responses.Response;
      return r.status === 'completed' ? r : undefined;
    }, 15_000, 'completed');
  }

  /** The replay's events are the whole log: numbered from 0 without a gap, its deltas the text, completed last. */
  async function expectWholeReplay(id: string): Promise<void> {
    const replay = await collect(await client.responses.retrieve(id, { stream: true }));
    expect(replay.map((e) => e.sequence_number)).toEqual(replay.map((_, i) => i));
    const deltas = replay.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : []));
    expect(deltas.join('')).toBe(TEXT);
    expect(replay.at(-1)?.type).toBe('response.completed');
  }

  async function restoredMetric(): Promise<string> {
    const text = await app.router.runtime.config.metrics.registry.metrics();
    return text.split('\n').filter((line) => line.startsWith('responses_polling_records_restored_total')).join('\n');
  }

  test('Redis restarted empty (FLUSHALL) mid-stream: the worker re-creates the record, the response completes, GET and a replay serve all of it', async () => {
    await setUp();
    const id = await halfway();
    await admin.flushAll();
    hold.open();
    const done = await completedLater(id);
    expect(textOf(done)).toBe(TEXT);
    await expectWholeReplay(id);
    expect(warned.filter((m) => m.includes('re-created'))).toHaveLength(1);
  });

  test('the record keys removed (DEL) mid-stream: the response completes and reads serve all of it, counted as restored with its whole log', async () => {
    await setUp();
    const id = await halfway();
    const k = responseKeys(prefix, id);
    await admin.del([k.meta, k.snapshot, k.log, k.ids]);
    hold.open();
    expect(textOf(await completedLater(id))).toBe(TEXT);
    await expectWholeReplay(id);
    expect(await restoredMetric()).toContain('responses_polling_records_restored_total{log="whole"} 1');
  });

  test('past worker.recoveryLogBytes the record is re-created without its log: it completes, and reads answer response_data_lost, never a shorter Response', async () => {
    await setUp([], { recoveryLogBytes: 0 });
    const id = await halfway();
    await admin.flushAll();
    hold.open();
    await waitFor(async () => (await restoredMetric()).includes('{log="lost"} 1'), 15_000, 'the record re-created');
    const ended = await waitFor(async () => {
      const get = await rawGet(id);
      return get.status === 410 ? get : undefined;
    }, 15_000, 'the response ended');
    expect(ended.code).toBe('response_data_lost');
    expect((await rawGet(id, '?stream=true')).code).toBe('response_data_lost');
  });

  test('Redis goes back in time (its record as it stood a flush earlier, as a replica that lagged): the worker sends the lost entries again and reads serve all of it', async () => {
    await setUp();
    const later = gate();
    const third = Math.floor((turn.length * 3) / 4);
    const id = await halfway([...turn.slice(half, third).map((e) => ev(e)), { until: later.promise }, ...turn.slice(third).map((e) => ev(e))]);
    const k = responseKeys(prefix, id);
    const keys = [k.meta, k.snapshot, k.log, k.ids];
    const binary = admin.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
    const earlier = await Promise.all(keys.map((key) => binary.dump(key)));
    const lastSeqThen = (await store!.readEvents(id, null, -1))!.meta.lastSeq;
    hold.open();
    await waitFor(async () => (await store!.readEvents(id, null, -1))!.meta.lastSeq > lastSeqThen, 10_000, 'more events stored');
    for (const [i, key] of keys.entries()) {
      const dumped = earlier[i];
      if (dumped === null) await admin.del(key);
      else await binary.restore(key, 60_000, dumped, { REPLACE: true });
    }
    expect((await store!.readEvents(id, null, -1))!.meta.lastSeq).toBe(lastSeqThen);
    later.open();
    expect(textOf(await completedLater(id))).toBe(TEXT);
    await expectWholeReplay(id);
    expect(await restoredMetric()).toContain('responses_polling_records_restored_total{log="whole"} 1');
  });

  /** The frames of a `GET ?stream=true` of `id` once it shows a text delta, and the rest when the server ends it. */
  async function follower(id: string): Promise<{ ended: Promise<Array<{ event: string; data: Record<string, unknown> }>> }> {
    const res = await fetch(`${app.baseURL}/responses/${id}?stream=true`, { headers: { authorization: `Bearer ${MASTER_KEY}` } });
    expect(res.status).toBe(200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let body = '';
    const frames = () =>
      body
        .split('\n\n')
        .filter((block) => block.includes('data: '))
        .map((block) => ({ event: /^event: (.*)$/m.exec(block)?.[1] ?? '', data: JSON.parse(/^data: (.*)$/m.exec(block)![1]) as Record<string, unknown> }));
    const read = async () => {
      const chunk = await reader.read();
      if (chunk.done) return false;
      body += chunk.value;
      return true;
    };
    while (!frames().some((f) => f.event === 'response.output_text.delta')) if (!(await read())) break;
    return {
      ended: (async () => {
        while (await read());
        return frames();
      })(),
    };
  }

  for (const [lost, drop] of [
    ['its keys removed (DEL)', (id: string) => {
      const k = responseKeys(prefix, id);
      return admin.del([k.meta, k.snapshot, k.log, k.ids]);
    }],
    ['Redis emptied (FLUSHALL)', () => admin.flushAll()],
  ] as const) {
    test(`a follower of a running response whose record is lost (${lost}) gets a closing error event not_found, numbered after what it was sent; the worker then completes the response`, async () => {
      // A long lease: the worker's heartbeat (every lease/8) does not re-create the record before the follower reads it.
      await setUp([], { leaseMs: 60_000 });
      const id = await halfway();
      const stream = await follower(id);
      await drop(id);
      const frames = await stream.ended;
      const [before, closing] = frames.slice(-2);
      expect(closing.event).toBe('error');
      expect(closing.data).toMatchObject({ type: 'error', code: 'not_found', error: { code: 'not_found', type: 'server_error' } });
      expect(closing.data.sequence_number).toBe((before.data.sequence_number as number) + 1);
      expect(frames.map((f) => f.data.sequence_number)).toEqual(frames.map((_, i) => i));
      hold.open();
      expect(textOf(await completedLater(id))).toBe(TEXT);
      await expectWholeReplay(id);
    });
  }

  test('a DELETE mid-stream still stops the worker, and the response stays deleted (404)', async () => {
    await setUp();
    // The upstream never ends on its own: only a stopped worker closes it.
    const id = await halfway([{ hang: true }]);
    await client.responses.delete(id);
    const request = await upstream.waitForRequest(0);
    hold.open();
    await request.clientClosed;
    expect(await rawGet(id)).toMatchObject({ status: 404, code: 'not_found' });
    expect(await restoredMetric()).not.toContain('records_restored_total{');
  });
});
