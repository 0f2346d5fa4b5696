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
import { gate, steps } from '../helpers/flow';

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
      const stream: RawStream = { status: res.statusCode ?? 0, body: '', frames: [], bytes: 0, ended: Promise.resolve([]) };
      stream.ended = new Promise((done) => {
        res.on('data', (chunk: string) => {
          stream.body += chunk;
          stream.bytes += Buffer.byteLength(chunk);
          stream.frames = parseFrames(stream.body.slice(0, stream.body.lastIndexOf('\n\n') + 2));
        });
        res.on('end', () => done(parseFrames(stream.body)));
        res.on('error', () => done(parseFrames(stream.body)));
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
    socket.on('error', reject);
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
    const inspect = createClient({ url: redis.url });
    await inspect.connect();
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
    await inspect.quit();

    // The last 30 events, the ids of the deltas among them resolved, numbered without a gap.
    expect(frames.map((f) => f.data.sequence_number)).toEqual(Array.from({ length: 30 }, (_, i) => lastSeq - 29 + i));
    expect(frames.at(-1)!.event).toBe('response.completed');
    const delta = frames.find((f) => f.event === 'response.output_text.delta')!;
    expect(delta.data.item_id).toBe('msg_fixture_0');
    // What was read is of the order of what was sent (plus the INFO replies), not of the log
    // (the last entries, the item's done events and response.completed, hold the whole text).
    expect(readFromRedis).toBeLessThan(2 * resumed.bytes + 64 * 1024);
    expect(readFromRedis).toBeLessThan(logBytes / 2);
  }, 120000);
});
