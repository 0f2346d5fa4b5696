// Webhooks end to end: a real receiver, real HTTP, the official openai client's webhooks.unwrap,
// on the memory store and on a real Redis (also with two instances delivering from one queue).

import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { createClient } from '@redis/client';
import { createRedisStore } from '../../lib/store/redis-store';
import { MemoryStore } from '../../lib/store/memory-store';
import type { ResponsesPollingOptions } from '../../lib/config/options';
import type { Logger, ResponseStore } from '../../lib/types';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { steps } from '../helpers/flow';
import { startApp, waitFor, waitForStatus, type TestApp } from '../helpers/app';
import { randomPrefix, testRedisUrl } from '../helpers/redis';

const SECRET = 'whsec_' + Buffer.from('integration-webhook-secret-0123456789').toString('base64');
const OTHER_SECRET = 'whsec_' + Buffer.from('another-webhook-secret-abcdefghijkl').toString('base64');

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Receiver {
  url: string;
  received: Received[];
  /** How the next requests are answered: a status, or 'hang' (never answer). */
  answer(fn: (req: Received, n: number) => number | 'hang'): void;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  let answer: (req: Received, n: number) => number | 'hang' = () => 200;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec: Received = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(rec);
      const status = answer(rec, received.length - 1);
      if (status === 'hang') return;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    answer: (fn) => (answer = fn),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Verifies a received delivery as a receiver would, with the official client. */
async function unwrap(rec: Received, secret = SECRET): Promise<{ id: string; object: string; type: string; created_at: number; data: { id: string } }> {
  const client = new OpenAI({ apiKey: 'unused' });
  return (await client.webhooks.unwrap(rec.body, rec.headers as Record<string, string>, secret)) as never;
}

const KINDS = ['memory', 'redis'] as const;

describe.each(KINDS)('webhooks (%s store)', (kind) => {
  let upstream: FakeUpstream;
  let receiver: Receiver;
  let apps: TestApp[];
  let stores: ResponseStore[];
  let prefix: string;

  beforeEach(async () => {
    upstream = await startFakeUpstream();
    upstream.respond((req) => {
      const input = String(req.body.input);
      if (input === 'hang') return { kind: 'sse', steps: [...steps(textTurnEvents('partial').slice(0, 4)), { hang: true }] };
      if (input === 'incomplete') return { kind: 'sse', steps: steps(textTurnEvents('cut short', { finish: 'incomplete' })) };
      return { kind: 'sse', steps: steps(textTurnEvents('Webhooks tell you when it is done.')) };
    });
    receiver = await startReceiver();
    apps = [];
    stores = [];
    prefix = randomPrefix();
  });

  afterEach(async () => {
    for (const app of apps) await app.close();
    for (const store of stores) await store.close();
    await receiver.close();
    await upstream.close();
  });

  const newStore = (): ResponseStore => {
    const store = kind === 'memory' ? new MemoryStore() : createRedisStore({ url: testRedisUrl(), keyPrefix: prefix });
    stores.push(store);
    return store;
  };

  const start = async (extra: Partial<ResponsesPollingOptions> = {}, store = newStore()): Promise<TestApp> => {
    const app = await startApp({
      store,
      auth: 'none',
      models: [{ modelName: 'gpt-test', model: 'openai/gpt-4o-mini', apiBase: upstream.url, apiKey: 'sk-upstream' }],
      worker: { flushIntervalMs: 10 },
      webhooks: [{ url: `${receiver.url}/hook`, secret: SECRET }],
      webhookDelivery: { backoffBaseMs: 50, backoffMaxMs: 200, pollIntervalMs: 50, timeoutMs: 2000 },
      ...extra,
    });
    apps.push(app);
    return app;
  };

  const metrics = async (app: TestApp) => app.router.runtime.config.metrics.text();

  test('a completed response sends one response.completed event that webhooks.unwrap verifies', async () => {
    const app = await start();
    const client = app.client();
    const created = await client.responses.create({ model: 'gpt-test', input: 'hello', background: true });
    await waitForStatus(client, created.id, 'completed');
    await waitFor(() => receiver.received.length >= 1, 10000, 'a delivery');
    const [rec] = receiver.received;
    expect(rec!.path).toBe('/hook');
    expect(rec!.headers['content-type']).toBe('application/json');
    const event = await unwrap(rec!);
    expect(event).toEqual({ id: expect.stringMatching(/^evt_/), object: 'event', type: 'response.completed', created_at: expect.any(Number), data: { id: created.id } });
    expect(Math.abs(event.created_at - Date.now() / 1000)).toBeLessThan(60);
    // Signed with this secret only.
    await expect(unwrap(rec!, OTHER_SECRET)).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.received).toHaveLength(1);
    expect(await metrics(app)).toContain('responses_polling_webhook_deliveries_total{type="response.completed"} 1');
  });

  test('a delivery answered 503 is retried with the same webhook-id, and both attempts verify', async () => {
    receiver.answer((_req, n) => (n === 0 ? 503 : 200));
    const app = await start();
    const client = app.client();
    const created = await client.responses.create({ model: 'gpt-test', input: 'incomplete', background: true });
    await waitForStatus(client, created.id, 'incomplete');
    await waitFor(() => receiver.received.length >= 2, 10000, 'a retry');
    const [first, second] = receiver.received;
    expect(second!.headers['webhook-id']).toBe(first!.headers['webhook-id']);
    expect(second!.body).toBe(first!.body);
    for (const rec of [first!, second!]) expect(await unwrap(rec)).toMatchObject({ type: 'response.incomplete', data: { id: created.id } });
    await new Promise((r) => setTimeout(r, 400));
    expect(receiver.received).toHaveLength(2);
    const text = await metrics(app);
    expect(text).toContain('responses_polling_webhook_failures_total{reason="http_status"} 1');
    expect(text).toContain('responses_polling_webhook_deliveries_total{type="response.incomplete"} 1');
  });

  test('an endpoint that always answers 503 is given up after retryForMs: counted expired once, and no attempt follows', async () => {
    receiver.answer(() => 503);
    const app = await start({ webhookDelivery: { retryForMs: 400, backoffBaseMs: 50, backoffMaxMs: 100, pollIntervalMs: 50 } });
    const client = app.client();
    const created = await client.responses.create({ model: 'gpt-test', input: 'hello', background: true });
    await waitForStatus(client, created.id, 'completed');
    await waitFor(async () => (await metrics(app)).includes('responses_polling_webhook_failures_total{reason="expired"} 1'), 10000, 'the event given up');
    const attempts = receiver.received.length;
    expect(attempts).toBeGreaterThanOrEqual(2);
    // Several backoff periods and polls later: not one more attempt, not one more count.
    await new Promise((r) => setTimeout(r, 600));
    expect(receiver.received).toHaveLength(attempts);
    const text = await metrics(app);
    expect(text).toContain('responses_polling_webhook_failures_total{reason="expired"} 1\n');
    expect(text).toContain(`responses_polling_webhook_failures_total{reason="http_status"} ${attempts}\n`);
    expect(text).not.toContain('responses_polling_webhook_deliveries_total{');
    expect(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
  });

  test('each endpoint gets only the event types it lists; a cancel sends response.cancelled', async () => {
    const app = await start({
      webhooks: [
        { url: `${receiver.url}/all`, secret: SECRET },
        { url: `${receiver.url}/cancelled`, secret: OTHER_SECRET, events: ['response.cancelled'] },
      ],
    });
    const client = app.client();
    const done = await client.responses.create({ model: 'gpt-test', input: 'hello', background: true });
    await waitForStatus(client, done.id, 'completed');
    const running = await client.responses.create({ model: 'gpt-test', input: 'hang', background: true });
    await waitForStatus(client, running.id, 'in_progress');
    await client.responses.cancel(running.id);
    await waitFor(() => receiver.received.length >= 3, 10000, 'three deliveries');
    await new Promise((r) => setTimeout(r, 300));
    const at = (path: string) => receiver.received.filter((r) => r.path === path);
    const all = await Promise.all(at('/all').map((r) => unwrap(r)));
    expect(all.map((e) => [e.type, e.data.id]).sort()).toEqual([
      ['response.cancelled', running.id],
      ['response.completed', done.id],
    ]);
    const cancelled = await Promise.all(at('/cancelled').map((r) => unwrap(r, OTHER_SECRET)));
    expect(cancelled.map((e) => [e.type, e.data.id])).toEqual([['response.cancelled', running.id]]);
    // One event per transition: both endpoints got the same event id for the cancel.
    expect(cancelled[0]!.id).toBe(all.find((e) => e.type === 'response.cancelled')!.id);
  });

  test('an endpoint that never answers times out and blocks neither requests nor the other endpoint', async () => {
    receiver.answer((req) => (req.path === '/never' ? 'hang' : 200));
    const app = await start({
      webhooks: [
        { url: `${receiver.url}/never`, secret: SECRET },
        { url: `${receiver.url}/ok`, secret: SECRET },
      ],
      webhookDelivery: { timeoutMs: 200, backoffBaseMs: 50, backoffMaxMs: 100, pollIntervalMs: 50, concurrency: 2 },
    });
    const client = app.client();
    const first = await client.responses.create({ model: 'gpt-test', input: 'hello', background: true });
    await waitForStatus(client, first.id, 'completed');
    const second = await client.responses.create({ model: 'gpt-test', input: 'hello', background: true });
    await waitForStatus(client, second.id, 'completed');
    await waitFor(() => receiver.received.filter((r) => r.path === '/ok').length >= 2, 10000, 'both events at the answering endpoint');
    // The silent endpoint was tried again after its timeouts, with the same ids.
    await waitFor(() => receiver.received.filter((r) => r.path === '/never').length >= 3, 10000, 'retries after timeouts');
    expect(await metrics(app)).toMatch(/responses_polling_webhook_failures_total\{reason="timeout"\} [1-9]/);
    const ids = new Set(receiver.received.filter((r) => r.path === '/never').map((r) => r.headers['webhook-id']));
    expect(ids.size).toBeLessThanOrEqual(2);
  });

  test('a backlog larger than the concurrency drains without waiting for the poll interval', async () => {
    const app = await start({ webhookDelivery: { concurrency: 1, pollIntervalMs: 600_000, backoffBaseMs: 50 } });
    const client = app.client();
    const created = await Promise.all(Array.from({ length: 8 }, () => client.responses.create({ model: 'gpt-test', input: 'hello', background: true })));
    const ids = created.map((r) => r.id);
    for (const id of ids) await waitForStatus(client, id, 'completed');
    await waitFor(() => receiver.received.length >= ids.length, 10000, 'every event of the backlog');
    const events = await Promise.all(receiver.received.map((r) => unwrap(r)));
    expect(events.map((e) => e.data.id).sort()).toEqual([...ids].sort());
  });

  test('neither the secret nor the endpoint path reaches the logs or the store', async () => {
    receiver.answer(() => 503);
    const lines: string[] = [];
    const logger: Logger = Object.fromEntries(
      ['debug', 'info', 'warn', 'error'].map((level) => [level, (msg: string, fields?: Record<string, unknown>) => lines.push(JSON.stringify({ level, msg, fields }))]),
    ) as unknown as Logger;
    const store = newStore();
    const app = await start({ logger, webhooks: [{ url: `${receiver.url}/hook/tok-path-credential?key=tok-query-credential`, secret: SECRET }] }, store);
    const client = app.client();
    const created = await client.responses.create({ model: 'gpt-test', input: 'hello', background: true });
    await waitForStatus(client, created.id, 'completed');
    await waitFor(() => receiver.received.length >= 2, 10000, 'two failed attempts');
    await waitFor(() => lines.some((l) => l.includes('webhook delivery failed')), 10000, 'a failure logged');
    const forbidden = [SECRET, SECRET.slice('whsec_'.length), 'tok-path-credential', 'tok-query-credential'];
    const logText = lines.join('\n');
    for (const secret of forbidden) expect(logText).not.toContain(secret);
    expect(logText).toContain(new URL(receiver.url).origin);
    if (kind === 'redis') {
      const inspect = createClient({ url: testRedisUrl() });
      await inspect.connect();
      try {
        let dump = '';
        for await (const batch of inspect.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
          for (const key of batch) {
            const type = await inspect.type(key);
            const value =
              type === 'hash' ? await inspect.hGetAll(key) : type === 'zset' ? await inspect.zRange(key, 0, -1) : type === 'list' ? await inspect.lRange(key, 0, -1) : await inspect.get(key);
            dump += `${key} ${JSON.stringify(value)}\n`;
          }
        }
        expect(dump).toContain('{webhooks}:queue');
        for (const secret of forbidden) expect(dump).not.toContain(secret);
      } finally {
        await inspect.quit();
      }
    }
  });

  test('a pending delivery goes to the endpoint it was enqueued for after the list is reordered, with that endpoint’s secret', async () => {
    receiver.answer(() => 503);
    const store = newStore();
    const first = await start({
      webhooks: [
        { url: `${receiver.url}/x`, secret: SECRET },
        { url: `${receiver.url}/y`, secret: OTHER_SECRET, events: ['response.failed'] },
      ],
    }, store);
    const created = await first.client().responses.create({ model: 'gpt-test', input: 'hello', background: true });
    await waitForStatus(first.client(), created.id, 'completed');
    await waitFor(() => receiver.received.length >= 1, 10000, 'a failed attempt');
    await first.close();
    apps = apps.filter((a) => a !== first);
    receiver.answer(() => 200);
    const before = receiver.received.length;
    await start({
      webhooks: [
        { url: `${receiver.url}/y`, secret: OTHER_SECRET },
        { url: `${receiver.url}/x`, secret: SECRET },
      ],
    }, store);
    await waitFor(() => receiver.received.length > before, 10000, 'the delivery after the restart');
    await new Promise((r) => setTimeout(r, 300));
    const after = receiver.received.slice(before);
    expect(after.map((r) => r.path)).toEqual(['/x']);
    expect(await unwrap(after[0]!)).toMatchObject({ type: 'response.completed', data: { id: created.id } });
  });

  if (kind === 'redis') {
    test('two instances on one Redis deliver each event once; an event enqueued by one is delivered by either', async () => {
      const a = await start();
      const b = await start();
      const client = a.client();
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) ids.push((await client.responses.create({ model: 'gpt-test', input: 'hello', background: true })).id);
      for (const id of ids) await waitForStatus(b.client(), id, 'completed');
      await waitFor(() => receiver.received.length >= ids.length, 10000, 'every event');
      await new Promise((r) => setTimeout(r, 500));
      const events = await Promise.all(receiver.received.map((r) => unwrap(r)));
      expect(events.map((e) => e.data.id).sort()).toEqual([...ids].sort());
    });

    test('an event stays in Redis until delivered: a router started later (same Redis) delivers what an earlier one could not', async () => {
      receiver.answer(() => 503);
      const a = await start({ webhookDelivery: { backoffBaseMs: 50, backoffMaxMs: 100, pollIntervalMs: 50 } });
      const client = a.client();
      const created = await client.responses.create({ model: 'gpt-test', input: 'hello', background: true });
      await waitForStatus(client, created.id, 'completed');
      await waitFor(() => receiver.received.length >= 1, 10000, 'a failed attempt');
      await a.close();
      apps = apps.filter((x) => x !== a);
      receiver.answer(() => 200);
      const before = receiver.received.length;
      await start();
      await waitFor(() => receiver.received.length > before, 10000, 'delivery by the new router');
      const last = receiver.received[receiver.received.length - 1]!;
      expect(last.headers['webhook-id']).toBe(receiver.received[0]!.headers['webhook-id']);
      expect(await unwrap(last)).toMatchObject({ type: 'response.completed', data: { id: created.id } });
    });
  }
});
