// Many instances and faults with real processes: built CLI instances sharing one redis-server,
// kill -9 of a worker, SIGTERM drain, Redis paused, frozen or restarted mid-stream, slow clients.

import net from 'node:net';
import OpenAI from 'openai';
import { assertCliBuilt, cliYaml, waitForStatusThroughFaults, startCli, type CliInstance } from '../helpers/cli-instance';
import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import { createClient } from '@redis/client';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { waitFor } from '../helpers/app';
import { randomPrefix } from '../helpers/redis';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { collect, steps, textOf, failedWith } from '../helpers/flow';

jest.setTimeout(60_000);

const MASTER_KEY = 'sk-faults-master';
const MODEL = 'gpt-faults';
/** Upstream events before the first text delta: created, in_progress, item added, part added. */
const BEFORE_FIRST_DELTA = 4;
// Multi-byte characters, so "byte for byte" means something.
const TEXT = 'Ce texte à plusieurs octets — naïve façade, 漢字とかな — must survive every fault intact.';

beforeAll(assertCliBuilt);

interface WorkerSettings {
  lease_ms?: number;
  store_retry_grace_ms?: number;
  flush_interval_ms?: number;
  shutdown_grace_ms?: number;
}

type Instance = CliInstance;

let upstream: FakeUpstream;
let redis: RedisServerHandle;
let prefix: string;
let instances: Instance[];

beforeEach(async () => {
  upstream = await startFakeUpstream();
  redis = await startRedisServer();
  prefix = randomPrefix();
  instances = [];
});

afterEach(async () => {
  for (const i of instances) i.proc.kill('SIGKILL');
  await Promise.all(instances.map((i) => i.exited));
  await upstream.close();
  await redis.stop();
});

/**
 * A CLI instance on the shared Redis; `args` are extra flags (`--role api` for an instance that only
 * observes, so the response runs on the instance the test stops, whichever worker claims first).
 */
async function startInstance(worker: WorkerSettings = {}, args: string[] = []): Promise<Instance> {
  const settings = { lease_ms: 10_000, store_retry_grace_ms: 5_000, flush_interval_ms: 50, ...worker };
  const yaml = cliYaml({
    model: MODEL,
    upstreamUrl: upstream.url,
    upstreamKey: 'sk-faults-upstream',
    redisPort: redis.port,
    masterKey: MASTER_KEY,
    keyPrefix: prefix,
    backgroundMode: { polling_via_cache: 'all', ttl: 120 },
    worker: settings,
  });
  return startCli(yaml, { apiKey: MASTER_KEY, args, track: (i) => instances.push(i) });
}

/** The text turn cut after `deltas` text deltas, and the text those deltas carry. */
function head(text: string, deltas: number): { events: Array<Record<string, unknown>>; text: string } {
  const events = textTurnEvents(text, { chunkSize: 4 }).slice(0, BEFORE_FIRST_DELTA + deltas);
  return { events, text: events.map((e) => (e.type === 'response.output_text.delta' ? String(e.delta) : '')).join('') };
}

function deltaText(events: ResponseStreamEvent[]): string {
  return events.map((e) => (e.type === 'response.output_text.delta' ? e.delta : '')).join('');
}

const waitForStatus = waitForStatusThroughFaults;

const create = (client: OpenAI, input: string) => client.responses.create({ model: MODEL, input, background: true });

describe('three instances sharing one Redis', () => {
  test('a response created on A is polled on B and resumed on C from several cursors, and the deltas join to the final text', async () => {
    const [a, b, c] = await Promise.all([startInstance(), startInstance(), startInstance()]);
    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT, { chunkSize: 4 }), 25) }));

    const created = await create(a.client, 'resume me');
    await waitForStatus(b.client, created.id, 'in_progress', 10_000);

    // Followers from several cursors while the response is still running on A.
    const cursors = [undefined, 0, 3, 8, 15];
    const resumed = await Promise.all(
      cursors.map(async (n) => collect(await c.client.responses.retrieve(created.id, n === undefined ? { stream: true } : { stream: true, starting_after: n }))),
    );
    const full = resumed[0];
    expect(full[0].type).toBe('response.created');
    expect(full.at(-1)!.type).toBe('response.completed');
    expect(deltaText(full)).toBe(TEXT);
    cursors.forEach((n, i) => {
      if (n === undefined) return;
      expect(resumed[i][0].sequence_number).toBe(n + 1);
      expect(deltaText(full.slice(0, n + 1)) + deltaText(resumed[i])).toBe(TEXT);
    });

    const done = await waitForStatus(b.client, created.id, 'completed', 10_000);
    expect(textOf(done)).toBe(TEXT);
    expect(upstream.requests).toHaveLength(1);
  });

  test('cancel on C of a response running on A aborts the upstream request within a second', async () => {
    const [a, , c] = await Promise.all([startInstance(), startInstance(), startInstance()]);
    upstream.respond(() => ({ kind: 'sse', steps: [...steps(head(TEXT, 3).events), { hang: true }] }));

    const created = await create(a.client, 'cancel me');
    const req = await upstream.waitForRequest(0);
    await waitForStatus(c.client, created.id, 'in_progress', 10_000);

    const started = Date.now();
    const cancelled = await c.client.responses.cancel(created.id);
    expect(cancelled.status).toBe('cancelled');
    await Promise.race([req.clientClosed, new Promise((_, reject) => setTimeout(() => reject(new Error('upstream not aborted within 1 s')), 1000))]);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(req.closedEarly).toBe(true);
  });
});

describe('a worker process that dies', () => {
  test('kill -9 of the instance running a response: after the lease lapses another instance reads it as failed (worker_lost) with its partial output', async () => {
    const worker = { lease_ms: 3000, store_retry_grace_ms: 250 };
    const [a, b] = await Promise.all([startInstance(worker), startInstance(worker, ['--role', 'api'])]);
    const partial = head(TEXT, 5);
    upstream.respond(() => ({ kind: 'sse', steps: [...steps(partial.events), { hang: true }] }));

    const created = await create(a.client, 'kill me');
    // The partial output has been flushed to Redis before the process dies.
    await waitFor(async () => textOf(await b.client.responses.retrieve(created.id)) === partial.text, 10_000, 'partial output');
    a.proc.kill('SIGKILL');
    await a.exited;
    const killedAt = Date.now();

    const failed = await waitForStatus(b.client, created.id, 'failed', 3000 + 3000);
    expect(Date.now() - killedAt).toBeLessThan(3000 + 2000);
    expect(failed.error).toEqual(failedWith('worker_lost'));
    expect(textOf(failed)).toBe(partial.text);
  });
});

describe('SIGTERM drain', () => {
  test('a running response that finishes within the shutdown grace completes, then the process exits 0', async () => {
    const [a, b] = await Promise.all([startInstance({ shutdown_grace_ms: 8000 }), startInstance({}, ['--role', 'api'])]);
    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT, { chunkSize: 4 }), 40) }));

    const created = await create(a.client, 'drain me');
    const req = await upstream.waitForRequest(0);
    await waitForStatus(b.client, created.id, 'in_progress', 10_000);
    a.proc.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(req.finished).toBe(true);

    const done = await b.client.responses.retrieve(created.id);
    expect(done.status).toBe('completed');
    expect(textOf(done)).toBe(TEXT);
  });

  test('a response still running when the shutdown grace ends is failed (server_shutdown), its upstream aborted, and the process exits 0', async () => {
    const [a, b] = await Promise.all([startInstance({ shutdown_grace_ms: 1500 }), startInstance({}, ['--role', 'api'])]);
    const partial = head(TEXT, 3);
    upstream.respond(() => ({ kind: 'sse', steps: [...steps(partial.events), { hang: true }] }));

    const created = await create(a.client, 'hang on');
    const req = await upstream.waitForRequest(0);
    await waitForStatus(b.client, created.id, 'in_progress', 10_000);
    const signalledAt = Date.now();
    a.proc.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(1400);
    expect(req.closedEarly).toBe(true);

    const failed = await b.client.responses.retrieve(created.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toEqual(failedWith('server_shutdown'));
    expect(textOf(failed)).toBe(partial.text);
  });
});

describe('Redis faults mid-stream', () => {
  test('Redis paused (CLIENT PAUSE): the worker carries on and the stored output is the full text, byte for byte; creates meanwhile answer promptly', async () => {
    const [a] = await Promise.all([startInstance()]);
    const events = textTurnEvents(TEXT, { chunkSize: 4 });
    let markPaused!: () => void;
    const paused = new Promise<void>((resolve) => (markPaused = resolve));
    let first = true;
    upstream.respond(() => {
      if (!first) return { kind: 'sse', steps: steps(textTurnEvents('short', { chunkSize: 4 })) };
      first = false;
      // Half the deltas, then the pause, then the rest streamed while Redis is still paused.
      const cut = BEFORE_FIRST_DELTA + 6;
      return { kind: 'sse', steps: [...steps(events.slice(0, cut), 10), { until: paused }, ...steps(events.slice(cut), 30)] };
    });

    const created = await create(a.client, 'pause me');
    await waitFor(async () => textOf(await a.client.responses.retrieve(created.id)).length > 0, 10_000, 'first flush');

    const admin = createClient({ url: redis.url });
    await admin.connect();
    try {
      await admin.sendCommand(['CLIENT', 'PAUSE', '3000', 'ALL']);
      markPaused();
      const started = Date.now();
      const during = await create(a.client, 'during the pause').then(
        (r) => ({ ok: true as const, status: r.status }),
        (err: unknown) => ({ ok: false as const, status: (err as { status?: number }).status }),
      );
      expect(Date.now() - started).toBeLessThan(6000);
      if (!during.ok) expect(during.status).toBe(503);
    } finally {
      await admin.quit().catch(() => undefined);
    }

    const done = await waitForStatus(a.client, created.id, 'completed', 20_000);
    expect(Buffer.from(textOf(done))).toEqual(Buffer.from(TEXT));
  });

  test('redis-server frozen (SIGSTOP) mid-stream for less than store_retry_grace_ms, then SIGCONT: the worker retries its flushes, the response completes with the full text, byte for byte, and its replay has no gap', async () => {
    const [a] = await Promise.all([startInstance({ lease_ms: 20_000, store_retry_grace_ms: 10_000 })]);
    const events = textTurnEvents(TEXT, { chunkSize: 4 });
    let markFrozen!: () => void;
    const frozen = new Promise<void>((resolve) => (markFrozen = resolve));
    const cut = BEFORE_FIRST_DELTA + 6;
    // The rest of the stream, its terminal event included, arrives while Redis is frozen.
    upstream.respond(() => ({ kind: 'sse', steps: [...steps(events.slice(0, cut), 10), { until: frozen }, ...steps(events.slice(cut), 10)] }));

    const created = await create(a.client, 'freeze me');
    await waitFor(async () => textOf(await a.client.responses.retrieve(created.id)).length > 0, 10_000, 'first flush');
    redis.pause();
    try {
      markFrozen();
      await waitFor(() => upstream.requests[0].finished, 10_000, 'upstream stream end');
      // Past the CLI's command deadline (2 s), well within the grace: flushes overrun and are retried.
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      redis.resume();
    }

    const done = await waitForStatus(a.client, created.id, 'completed', 20_000);
    expect(Buffer.from(textOf(done))).toEqual(Buffer.from(TEXT));
    const replay = await collect(await a.client.responses.retrieve(created.id, { stream: true }));
    expect(replay.map((e) => e.sequence_number)).toEqual(replay.map((_, i) => i));
    expect(Buffer.from(deltaText(replay))).toEqual(Buffer.from(TEXT));
    expect(replay.at(-1)?.type).toBe('response.completed');
    // The freeze was met: flushes failed and were retried.
    const metrics = await (await fetch(`${a.origin}/metrics`, { headers: { authorization: `Bearer ${MASTER_KEY}` } })).text();
    expect(metrics).toMatch(/^responses_polling_redis_errors_total\{operation="flush"\} [1-9]/m);
  });

  test('Redis restarted mid-stream within the grace (with persistence): the stored output is the full text, byte for byte', async () => {
    // With an AOF the record survives the restart and the worker's retried flush simply lands. A
    // Redis without persistence comes back empty: the worker then re-creates the record from its
    // memory (no tombstone, so not deleted); faults-redis-lost-keys.test.ts covers that case.
    await redis.stop();
    redis = await startRedisServer({ persistent: true });
    const [a] = await Promise.all([startInstance({ lease_ms: 20_000, store_retry_grace_ms: 10_000 })]);
    const events = textTurnEvents(TEXT, { chunkSize: 4 });
    let markStopped!: () => void;
    const stopped = new Promise<void>((resolve) => (markStopped = resolve));
    const cut = BEFORE_FIRST_DELTA + 6;
    // The rest of the stream, its terminal event included, arrives while Redis is down.
    upstream.respond(() => ({ kind: 'sse', steps: [...steps(events.slice(0, cut), 10), { until: stopped }, ...steps(events.slice(cut), 10)] }));

    const created = await create(a.client, 'restart me');
    await waitFor(async () => textOf(await a.client.responses.retrieve(created.id)).length > 0, 10_000, 'first flush');
    await redis.stop();
    markStopped();
    await waitFor(() => upstream.requests[0].finished, 5000, 'upstream stream end');
    await new Promise((r) => setTimeout(r, 500));
    await redis.restart();

    const done = await waitForStatus(a.client, created.id, 'completed', 20_000);
    expect(Buffer.from(textOf(done))).toEqual(Buffer.from(TEXT));
  });
});

describe('slow clients against the CLI', () => {
  /**
   * Sends headers announcing a body of `length` bytes, then one byte every `everyMs` (at most
   * `length`), until the server answers or closes; resolves with what it answered and whether it closed.
   */
  function trickle(origin: string, length: number, everyMs: number): Promise<{ answer: string; closed: boolean; sent: number }> {
    const { hostname, port } = new URL(origin);
    return new Promise((resolve) => {
      const socket = net.connect(Number(port), hostname);
      let answer = '';
      let sent = 0;
      let timer: NodeJS.Timeout | undefined;
      const done = (closed: boolean) => {
        clearInterval(timer);
        socket.destroy();
        resolve({ answer, closed, sent });
      };
      socket.on('error', () => undefined);
      socket.on('data', (chunk) => (answer += chunk.toString()));
      socket.on('close', () => done(true));
      socket.on('connect', () => {
        socket.write(
          `POST /v1/responses HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${MASTER_KEY}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`,
        );
        timer = setInterval(() => {
          // The whole body sent without the server cutting it off: the timeout did not hold.
          if (sent >= length - 1) return done(false);
          if (!socket.destroyed) socket.write(' ');
          sent++;
        }, everyMs);
      });
    });
  }

  test('a POST body trickled slower than --request-timeout-ms is cut off with 408 and the connection closed, nothing is created, and the server keeps serving others', async () => {
    const a = await startInstance({}, ['--headers-timeout-ms', '1000', '--request-timeout-ms', '2000']);
    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents('served', { chunkSize: 4 })) }));
    // 200 bytes at one per 100 ms: 20 s to send it all, ten times the timeout.
    const slow = trickle(a.origin, 200, 100);
    // Meanwhile, and once it is cut off, ordinary clients are served.
    const during = await create(a.client, 'during the trickle');
    const cut = await slow;
    expect(cut.closed).toBe(true);
    expect(cut.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(cut.sent).toBeLessThan(199);
    const after = await create(a.client, 'after the trickle');
    for (const id of [during.id, after.id]) expect(textOf(await waitForStatus(a.client, id, 'completed', 15_000))).toBe('served');
    expect(upstream.requests).toHaveLength(2);
  });
});
