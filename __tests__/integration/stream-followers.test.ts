// Event-stream followers as an unlucky operator meets them: resumes near the end of long logs,
// clients that stop reading, too many followers, and streams whose response goes away.

import http from 'node:http';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createClient } from '@redis/client';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { startApp, waitFor, waitForStatus, type TestApp } from '../helpers/app';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { randomPrefix } from '../helpers/redis';
import { createRedisStore } from '../../lib/store/redis-store';
import { MemoryStore } from '../../lib/store/memory-store';
import { silentLogger } from '../../lib/logger';
import type { ResponseStore } from '../../lib/types';
import type { ResponsesPollingOptions } from '../../lib/config/options';
import { ownerHash } from '../../lib/principal';
import { steps, failedWith } from '../helpers/flow';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const KEYS = [
  { key: 'sk-follower-a', id: 'principal-a' },
  { key: 'sk-follower-b', id: 'principal-b' },
];

/** One parsed SSE frame. */
interface Frame {
  event: string;
  data: Record<string, unknown>;
}

/** A raw SSE request: its status, the frames so far, and a promise of all of them at the end. */
interface RawStream {
  status: number;
  body: string;
  frames: Frame[];
  bytes: number;
  ended: Promise<Frame[]>;
  /** Closes the connection, as a client that goes away. */
  close(): void;
}

function parseFrames(text: string): Frame[] {
  return text
    .split('\n\n')
    .filter((block) => block.includes('data: '))
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? '';
      const data = JSON.parse(/^data: (.*)$/m.exec(block)![1]) as Record<string, unknown>;
      return { event, data };
    });
}

/** Opens `GET path` (or POSTs `body`) and reads the answer as it comes. */
function rawStream(origin: string, path: string, key: string, body?: unknown): Promise<RawStream> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(`${origin}${path}`, {
      method: payload === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${key}`, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      res.setEncoding('utf8');
      const stream: RawStream = { status: res.statusCode ?? 0, body: '', frames: [], bytes: 0, ended: Promise.resolve([]), close: () => req.destroy() };
      stream.ended = new Promise((done) => {
        res.on('data', (chunk: string) => {
          stream.body += chunk;
          stream.bytes += Buffer.byteLength(chunk);
          stream.frames = parseFrames(stream.body.slice(0, stream.body.lastIndexOf('\n\n') + 2));
        });
        res.on('end', () => done(parseFrames(stream.body)));
        res.on('error', () => done(parseFrames(stream.body)));
        res.on('close', () => done(parseFrames(stream.body)));
      });
      resolve(stream);
    });
    req.end(payload);
  });
}

/** A client that sends `GET path` and then never reads a byte. */
function stalledClient(origin: string, path: string, key: string): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${key}\r\n\r\n`);
      socket.pause();
      resolve({ socket, closed: new Promise((r) => socket.once('close', () => r())) });
    });
    socket.on('error', () => undefined);
    socket.once('error', reject);
  });
}

/** A text turn of `deltas` deltas of a few characters: a long log of small entries. */
function longTurn(deltas: number): Array<Record<string, unknown>> {
  const text = Array.from({ length: deltas }, (_, i) => `w${String(i % 1000).padStart(3, '0')}`).join('');
  return textTurnEvents(text, { chunkSize: 4, obfuscation: false });
}

describe('event-stream followers', () => {
  let upstream: FakeUpstream;
  let app: TestApp | undefined;
  let redis: RedisServerHandle;
  let store: ResponseStore | undefined;

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterAll(async () => {
    await redis.stop();
  });

  beforeEach(async () => {
    upstream = await startFakeUpstream();
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
    await store?.close();
    store = undefined;
    await upstream.close();
  });

  async function start(options: Partial<ResponsesPollingOptions> & { store: ResponseStore }): Promise<TestApp> {
    store = options.store;
    app = await startApp({
      models: [{ modelName: 'gpt-test', model: 'openai/gpt-4o-mini', apiBase: upstream.url, apiKey: 'sk-upstream' }],
      virtualKeys: KEYS.map((k) => ({ ...k })),
      worker: { flushIntervalMs: 20, upstreamIdleTimeoutMs: 20000 },
      ...options,
    });
    return app;
  }

  /** A completed background+stream response whose log holds `deltas` text deltas. */
  async function longResponse(a: TestApp, deltas: number): Promise<{ id: string; lastSeq: number }> {
    upstream.respond(() => ({ kind: 'sse', steps: steps(longTurn(deltas)) }));
    const created = await a.client(KEYS[0].key).responses.create({ model: 'gpt-test', input: 'go', background: true, stream: false });
    await waitForStatus(a.client(KEYS[0].key), created.id, 'completed', 60000);
    const page = await store!.readEvents(created.id, null, Number.MAX_SAFE_INTEGER, { limit: 1 });
    return { id: created.id, lastSeq: page!.meta.lastSeq };
  }

  test('a resume near the end of a long log reads from Redis in proportion to what it sends, and sends it right', async () => {
    // Closed whatever the test meets: an open client would keep jest from exiting.
    const inspect = createClient({ url: redis.url });
    inspect.on('error', () => undefined);
    await inspect.connect();
    try {
      const prefix = randomPrefix();
      const a = await start({ store: createRedisStore({ url: redis.url, keyPrefix: prefix, logger: silentLogger }) });
      const { id, lastSeq } = await longResponse(a, 30000);
      const logBytes = (await inspect.lRange(`${prefix}{${id}}:log`, 0, -1)).reduce((n, e) => n + Buffer.byteLength(e), 0);
      expect(logBytes).toBeGreaterThan(800_000);

      const outputBytes = async () => Number(/total_net_output_bytes:(\d+)/.exec(await inspect.info('stats'))![1]);
      const before = await outputBytes();
      const resumed = await rawStream(a.origin, `/llm/v1/responses/${id}?stream=true&starting_after=${lastSeq - 30}`, KEYS[0].key);
      const frames = await resumed.ended;
      const readFromRedis = (await outputBytes()) - before;

      // The last 30 events, the ids of the deltas among them resolved, numbered without a gap.
      expect(frames.map((f) => f.data.sequence_number)).toEqual(Array.from({ length: 30 }, (_, i) => lastSeq - 29 + i));
      expect(frames.at(-1)!.event).toBe('response.completed');
      const delta = frames.find((f) => f.event === 'response.output_text.delta')!;
      expect(delta.data.item_id).toBe('msg_fixture_0');
      // What was read is of the order of what was sent (plus the INFO replies), not of the log
      // (the last entries, the item's done events and response.completed, hold the whole text).
      expect(readFromRedis).toBeLessThan(2 * resumed.bytes + 64 * 1024);
      expect(readFromRedis).toBeLessThan(logBytes / 2);
    } finally {
      await inspect.close();
    }
  }, 120000);

  test('read three entries a page, a replay and every mid-log resume send exactly the logged events', async () => {
    const a = await start({
      store: createRedisStore({ url: redis.url, keyPrefix: randomPrefix(), logger: silentLogger }),
      streamFollowers: { pageEvents: 3 },
    });
    const { id, lastSeq } = await longResponse(a, 40);
    const full = await (await rawStream(a.origin, `/llm/v1/responses/${id}?stream=true`, KEYS[0].key)).ended;
    expect(full.map((f) => f.data.sequence_number)).toEqual(Array.from({ length: lastSeq + 1 }, (_, i) => i));
    expect(full.filter((f) => f.event === 'response.output_text.delta').every((f) => f.data.item_id === 'msg_fixture_0')).toBe(true);
    for (const after of [0, 4, 5, 17, lastSeq - 2, lastSeq]) {
      const resumed = await (await rawStream(a.origin, `/llm/v1/responses/${id}?stream=true&starting_after=${after}`, KEYS[0].key)).ended;
      expect(resumed).toEqual(full.slice(after + 1));
    }
  }, 60000);

  test('forty clients that stop reading a multi-MiB log hold a small window each, and are closed after the stall timeout', async () => {
    const a = await start({
      store: createRedisStore({ url: redis.url, keyPrefix: randomPrefix(), logger: silentLogger }),
      streamFollowers: { stallTimeoutMs: 8000 },
    });
    const { id } = await longResponse(a, 60000);
    const logBytes = (await store!.readEvents(id, null, -1))!.events.reduce((n, e) => n + e.length, 0);
    expect(logBytes).toBeGreaterThan(2 * 1024 * 1024);

    gc();
    const before = process.memoryUsage();
    const clients = await Promise.all(Array.from({ length: 40 }, () => stalledClient(a.origin, `/llm/v1/responses/${id}?stream=true`, KEYS[0].key)));
    await waitFor(() => a.router.runtime.followers.followersOf(id) === 40, 10000, '40 followers');
    // Long enough for every follower to fill its socket and block on it.
    await new Promise((r) => setTimeout(r, 1500));
    gc();
    const during = process.memoryUsage();
    expect(a.router.runtime.followers.followersOf(id)).toBe(40);
    // Each follower holding the log would add 40 x the log (and more for its frames).
    const grown = during.heapUsed + during.external - (before.heapUsed + before.external);
    expect(grown).toBeLessThan(40 * logBytes * 0.3);

    // The server closes every stalled client and gives its slot back; a client that reads again
    // finds its connection closed.
    await waitFor(() => a.router.runtime.followers.followersOf(id) === 0, 60000, 'stalled followers closed');
    for (const c of clients) c.socket.resume();
    await Promise.all(clients.map((c) => c.closed));
  }, 180000);

  test('followers beyond the per-response or per-principal cap get 429 too_many_followers, and a freed slot admits again', async () => {
    const a = await start({ store: new MemoryStore({ logger: silentLogger }), streamFollowers: { maxPerResponse: 2, maxPerPrincipal: 3 } });
    upstream.respond(() => ({ kind: 'sse', steps: [...steps(longTurn(3).slice(0, 4)), { hang: true }] }));
    const one = await a.client(KEYS[0].key).responses.create({ model: 'gpt-test', input: 'go', background: true });
    const two = await a.client(KEYS[0].key).responses.create({ model: 'gpt-test', input: 'go', background: true });
    const path = (id: string) => `/llm/v1/responses/${id}?stream=true`;
    const refusal = async (s: RawStream) => {
      await s.ended;
      return { status: s.status, body: JSON.parse(s.body) as unknown };
    };
    const tooMany = { status: 429, body: { error: expect.objectContaining({ code: 'too_many_followers', type: 'requests' }) } };

    const first = await rawStream(a.origin, path(one.id), KEYS[0].key);
    const second = await rawStream(a.origin, path(one.id), KEYS[0].key);
    expect([first.status, second.status]).toEqual([200, 200]);
    // A third follower of the same response.
    expect(await refusal(await rawStream(a.origin, path(one.id), KEYS[0].key))).toEqual(tooMany);

    // Principal A follows response two as well: three, its cap; a fourth is refused.
    const a3 = await rawStream(a.origin, path(two.id), KEYS[0].key);
    expect(a3.status).toBe(200);
    expect(await refusal(await rawStream(a.origin, path(two.id), KEYS[0].key))).toEqual(tooMany);
    // A create with stream: true is a follower too: refused before any record or upstream call.
    const requestsBefore = upstream.requests.length;
    const workersBefore = a.router.runtime.workers.size;
    const create = { model: 'gpt-test', input: 'go', background: true, stream: true };
    expect(await refusal(await rawStream(a.origin, '/llm/v1/responses', KEYS[0].key, create))).toEqual(tooMany);
    expect(upstream.requests.length).toBe(requestsBefore);
    expect(a.router.runtime.workers.size).toBe(workersBefore);
    // Principal B is not held to A's count.
    const b = await rawStream(a.origin, '/llm/v1/responses', KEYS[1].key, create);
    expect(b.status).toBe(200);

    // A follower that leaves gives its slot back.
    first.close();
    await waitFor(() => a.router.runtime.followers.followersOf(one.id) === 1, 5000, 'slot released');
    const again = await rawStream(a.origin, '/llm/v1/responses', KEYS[0].key, create);
    expect(again.status).toBe(200);
    await waitFor(() => again.frames.length > 0, 5000, 'created event');
    expect(again.frames[0].event).toBe('response.created');
    for (const stream of [second, a3, b, again]) stream.close();
  }, 60000);

  test('a create with stream: true whose record cannot be written gives its follower slot back', async () => {
    const memory = new MemoryStore({ logger: silentLogger });
    let failing = true;
    const flaky = new Proxy(memory, {
      get(target, prop) {
        if ((prop === 'create' || prop === 'saveTurn') && failing) return async () => Promise.reject(new Error('store down'));
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const a = await start({ store: flaky, streamFollowers: { maxPerPrincipal: 1 } });
    upstream.respond(() => ({ kind: 'sse', steps: [...steps(longTurn(3).slice(0, 4)), { hang: true }] }));
    const create = { model: 'gpt-test', input: 'go', background: true, stream: true };
    for (let i = 0; i < 3; i++) {
      const refused = await rawStream(a.origin, '/llm/v1/responses', KEYS[0].key, create);
      await refused.ended;
      expect(refused.status).toBe(503);
    }
    failing = false;
    const admitted = await rawStream(a.origin, '/llm/v1/responses', KEYS[0].key, create);
    expect(admitted.status).toBe(200);
    admitted.close();
  }, 60000);

  describe('a stream whose response goes away ends with an error event', () => {
    /** A running response (its upstream holds after a few events) followed by principal A. */
    async function followRunning(a: TestApp): Promise<{ id: string; stream: RawStream }> {
      upstream.respond(() => ({ kind: 'sse', steps: [...steps(longTurn(3).slice(0, 5)), { hang: true }] }));
      const created = await a.client(KEYS[0].key).responses.create({ model: 'gpt-test', input: 'go', background: true });
      const stream = await rawStream(a.origin, `/llm/v1/responses/${created.id}?stream=true`, KEYS[0].key);
      expect(stream.status).toBe(200);
      await waitFor(() => stream.frames.some((f) => f.event === 'response.output_text.delta'), 10000, 'a delta');
      return { id: created.id, stream };
    }

    function lastFrames(frames: Frame[], n: number): Frame[] {
      return frames.slice(-n);
    }

    test('deleted while followed: a closing error event not_found, numbered after what was sent', async () => {
      const a = await start({ store: new MemoryStore({ logger: silentLogger }) });
      const { id, stream } = await followRunning(a);
      await a.client(KEYS[0].key).responses.delete(id);
      const frames = await stream.ended;
      const [before, closing] = lastFrames(frames, 2);
      expect(closing.event).toBe('error');
      expect(closing.data).toMatchObject({ type: 'error', code: 'not_found', error: { code: 'not_found', type: 'server_error' } });
      expect(closing.data.sequence_number).toBe((before.data.sequence_number as number) + 1);
    });

    test('its worker lost (lease lapsed): an error event worker_lost, then response.failed with the stored Response', async () => {
      const memory = new MemoryStore({ logger: silentLogger });
      const a = await start({ store: memory });
      // A record whose worker is gone: nobody renews its lease.
      const id = `resp_${'ab'.repeat(24)}`;
      const response = { id, object: 'response', created_at: 1, status: 'queued', error: null, incomplete_details: null, model: 'gpt-test', output: [] };
      await memory.create({
        id,
        owner: ownerHash({ id: KEYS[0].id, admin: false }),
        snapshot: JSON.stringify(response),
        events: [JSON.stringify({ type: 'response.created', sequence_number: 0, response })],
        stream: true,
        leaseMs: 400,
        ttlSeconds: 60,
      });
      const stream = await rawStream(a.origin, `/llm/v1/responses/${id}?stream=true`, KEYS[0].key);
      const frames = await stream.ended;
      expect(frames.map((f) => [f.event, f.data.sequence_number])).toEqual([
        ['response.created', 0],
        ['error', 1],
        ['response.failed', 2],
      ]);
      expect(frames[1].data).toMatchObject({ ...failedWith('worker_lost'), error: failedWith('worker_lost') });
      expect(frames[2].data.response).toMatchObject({ id, status: 'failed', error: failedWith('worker_lost') });
      expect(frames[1].data.message).toBe((frames[2].data.response as { error: { message: string } }).error.message);
    });

    test('part of its record lost from Redis (its log cut short): an error event response_data_lost', async () => {
      const prefix = randomPrefix();
      const a = await start({ store: createRedisStore({ url: redis.url, keyPrefix: prefix, logger: silentLogger }) });
      const { id, stream } = await followRunning(a);
      const inspect = createClient({ url: redis.url });
      inspect.on('error', () => undefined);
      await inspect.connect();
      try {
        await inspect.del(`${prefix}{${id}}:log`);
      } finally {
        await inspect.close();
      }
      const frames = await stream.ended;
      const closing = frames.at(-1)!;
      expect(closing.event).toBe('error');
      expect(closing.data).toMatchObject({ code: 'response_data_lost', error: { code: 'response_data_lost' } });
    });

    test('the store cannot be read: an error event store_unavailable that says where to resume', async () => {
      const memory = new MemoryStore({ logger: silentLogger });
      let failing = false;
      const flaky = new Proxy(memory, {
        get(target, prop) {
          if (prop === 'readEvents' && failing) return async () => Promise.reject(new Error('store down'));
          const value = Reflect.get(target, prop, target) as unknown;
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const a = await start({ store: flaky });
      const { stream } = await followRunning(a);
      failing = true;
      const frames = await stream.ended;
      const [before, closing] = lastFrames(frames, 2);
      expect(closing.event).toBe('error');
      expect(closing.data).toMatchObject({ code: 'store_unavailable', error: { code: 'store_unavailable' } });
      expect(closing.data.sequence_number).toBe((before.data.sequence_number as number) + 1);
      expect(closing.data.message).toContain(`starting_after=${String(before.data.sequence_number)}`);
      failing = false;
    });
  });
});
