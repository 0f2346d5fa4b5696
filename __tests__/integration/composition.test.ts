// The parts mounted one by one with the host's own middleware between them, and two app
// instances sharing one Redis: any instance serves polls, and a cancel on one stops the other.

import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import OpenAI from 'openai';
import {
  auth,
  backgroundModeRouter,
  createRedisStore,
  materialize,
  MemoryLimiter,
  MemoryStore,
  ownerHash,
  pollingHandler,
  preCallLimiter,
  principalOf,
  responsesPolling,
  runtimeFor,
  silentLogger,
} from '../../lib';
import { ev, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { startApp, waitFor, type TestApp } from '../helpers/app';
import { randomPrefix, testRedisUrl } from '../helpers/redis';
import type { ResponseStore } from '../../lib/types';

const TEXT = 'Composed from parts.';
let upstream: FakeUpstream;

beforeEach(async () => {
  upstream = await startFakeUpstream();
});
afterEach(async () => {
  await upstream.close();
});

test('the parts mounted one by one share one runtime and let the host app run its own step between them', async () => {
  upstream.respond(() => ({ kind: 'sse', steps: textTurnEvents(TEXT).map((e) => ev(e)) }));
  const options = {
    masterKey: 'sk-compose-master',
    logger: silentLogger,
    models: [{ modelName: 'gpt-test', model: 'openai/gpt-4o-mini', apiBase: upstream.url }],
  };
  const runtime = runtimeFor(options);
  expect(runtimeFor(options)).toBe(runtime);
  const seen: string[] = [];
  const app = express();
  const paths = ['/llm/v1/responses', '/llm/responses'];
  app.use(paths, auth(runtime));
  app.use(paths, (req, _res, next) => {
    seen.push(`${req.method} ${principalOf(req).id}`);
    next();
  });
  app.post(paths, preCallLimiter(runtime));
  app.use('/llm', backgroundModeRouter(runtime));
  app.use('/llm', pollingHandler(runtime));
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  try {
    const { port } = server.address() as AddressInfo;
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/llm/v1`, apiKey: 'sk-compose-master', maxRetries: 0 });
    const created = await client.responses.create({ model: 'gpt-test', input: 'x', background: true });
    const done = await waitFor(async () => {
      const r = await client.responses.retrieve(created.id);
      return r.status === 'completed' ? r : undefined;
    });
    expect(done.output_text).toBe(TEXT);
    expect(seen[0]).toBe('POST master');
    expect(seen).toContain('GET master');
    const refused = await fetch(`http://127.0.0.1:${port}/llm/v1/responses/${created.id}`);
    expect(refused.status).toBe(401);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await runtime.close(1000);
  }
});

test('a limiter mounted in front of responsesPolling(), which has its own, counts each request once', async () => {
  upstream.respond(() => ({ kind: 'sse', steps: textTurnEvents(TEXT).map((e) => ev(e)) }));
  const limiter = new MemoryLimiter();
  const options = {
    masterKey: 'sk-compose-master',
    logger: silentLogger,
    limiter,
    virtualKeys: [{ key: 'sk-compose-limited', id: 'team-twice', rpmLimit: 5, maxParallelRequests: 2 }],
    models: [{ modelName: 'gpt-test', model: 'openai/gpt-4o-mini', apiBase: upstream.url }],
  };
  const runtime = runtimeFor(options);
  const app = express();
  app.post(['/llm/v1/responses', '/llm/responses'], auth(runtime), preCallLimiter(runtime));
  app.use('/llm', responsesPolling(runtime));
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  try {
    const { port } = server.address() as AddressInfo;
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/llm/v1`, apiKey: 'sk-compose-limited', maxRetries: 0 });
    const created = await client.responses.create({ model: 'gpt-test', input: 'x', background: true });
    await waitFor(async () => (await client.responses.retrieve(created.id)).status === 'completed');
    const usage = await limiter.usage(`key:${ownerHash({ id: 'team-twice', admin: false })}`);
    expect(usage).toMatchObject({ requestsThisWindow: 1, running: 0 });
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await runtime.close(1000);
  }
});

describe('two instances sharing one Redis', () => {
  let a: TestApp;
  let b: TestApp;

  beforeEach(async () => {
    const keyPrefix = randomPrefix();
    const models = [{ modelName: 'gpt-test', model: 'openai/gpt-4o-mini', apiBase: upstream.url }];
    a = await startApp({ store: createRedisStore({ url: testRedisUrl(), keyPrefix, logger: silentLogger }), models, worker: { flushIntervalMs: 20 } });
    b = await startApp({ store: createRedisStore({ url: testRedisUrl(), keyPrefix, logger: silentLogger }), models, worker: { flushIntervalMs: 20 } });
  });
  afterEach(async () => {
    await a.close();
    await b.close();
    await a.router.runtime.config.store.close();
    await b.router.runtime.config.store.close();
  });

  test('a response created on one instance is polled to completion on the other', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: textTurnEvents(TEXT, { chunkSize: 2 }).flatMap((e) => [{ wait: 5 }, ev(e)]) }));
    const created = await a.client().responses.create({ model: 'gpt-test', input: 'x', background: true });
    const done = await waitFor(async () => {
      const r = await b.client().responses.retrieve(created.id);
      return r.status === 'completed' ? r : undefined;
    });
    expect(done.output_text).toBe(TEXT);
  });

  test('a cancel on one instance aborts the upstream request of the worker on the other within a second', async () => {
    const events = textTurnEvents(TEXT);
    upstream.respond(() => ({ kind: 'sse', steps: [...events.slice(0, 5).map((e) => ev(e)), { hang: true }] }));
    const created = await a.client().responses.create({ model: 'gpt-test', input: 'x', background: true });
    const upstreamRequest = await upstream.waitForRequest(0);
    await waitFor(async () => (await b.client().responses.retrieve(created.id)).status === 'in_progress');
    // The worker is idle (no events), so only the pub/sub message can stop it this fast.
    const cancelled = await b.client().responses.cancel(created.id);
    expect(cancelled.status).toBe('cancelled');
    const started = Date.now();
    await upstreamRequest.clientClosed;
    expect(Date.now() - started).toBeLessThan(1000);
    await waitFor(() => !a.router.runtime.workers.has(created.id), 2000, 'worker on instance a to stop');
    expect((await a.client().responses.retrieve(created.id)).status).toBe('cancelled');
  });
});

describe('close()', () => {
  test('a create still writing its record when close() begins is waited for and ends as server_shutdown', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: [...textTurnEvents(TEXT).slice(0, 4).map((e) => ev(e)), { hang: true }] }));
    const memory = new MemoryStore({ logger: silentLogger });
    // A real store whose create answers late, as a slow Redis would.
    const slow: ResponseStore = {
      create: async (input) => {
        await new Promise((r) => setTimeout(r, 300));
        return memory.create(input);
      },
      read: (id, owner) => memory.read(id, owner),
      readEvents: (id, owner, after, options) => memory.readEvents(id, owner, after, options),
      restore: (id, input) => memory.restore(id, input),
      scheduleNative: (id, dueAt) => memory.scheduleNative(id, dueAt),
      dueNatives: (now, limit) => memory.dueNatives(now, limit),
      unscheduleNative: (id) => memory.unscheduleNative(id),
      holdLease: (name, holder, ttl) => memory.holdLease(name, holder, ttl),
      saveTurn: (id, turn, ttl) => memory.saveTurn(id, turn, ttl),
      setTurnUpstream: (id, upstream, ttl) => memory.setTurnUpstream(id, upstream, ttl),
      keepTurn: (id, ttl) => memory.keepTurn(id, ttl),
      readTurn: (id, owner) => memory.readTurn(id, owner),
      forgetTurn: (id) => memory.forgetTurn(id),
      append: (id, input) => memory.append(id, input),
      cancel: (id, owner, ttl) => memory.cancel(id, owner, ttl),
      delete: (id, owner) => memory.delete(id, owner),
      rememberNative: (id, record, ttl) => memory.rememberNative(id, record, ttl),
      lookupNative: (id, owner) => memory.lookupNative(id, owner),
      forgetNative: (id) => memory.forgetNative(id),
      claimNativeEnd: (id, ttl) => memory.claimNativeEnd(id, ttl),
      claim: (group, opts) => memory.claim(group, opts),
      renewClaim: (group, id, leaseMs) => memory.renewClaim(group, id, leaseMs),
      markClaimStarted: (group, id) => memory.markClaimStarted(group, id),
      releaseClaim: (group, id) => memory.releaseClaim(group, id),
      handBack: (group, id, opts) => memory.handBack(group, id, opts),
      dropQueued: (group, id) => memory.dropQueued(group, id),
      queueDepth: (group) => memory.queueDepth(group),
      startQueued: (id, leaseMs) => memory.startQueued(id, leaseMs),
      failQueued: (id, error, ttl) => memory.failQueued(id, error, ttl),
      subscribe: (listener) => memory.subscribe(listener),
      ping: () => memory.ping(),
      close: async () => undefined,
    };
    const app = await startApp({ store: slow, models: [{ modelName: 'gpt-test', model: 'openai/gpt-4o-mini', apiBase: upstream.url }] });
    try {
      const creating = app.client().responses.create({ model: 'gpt-test', input: 'x', background: true });
      await new Promise((r) => setTimeout(r, 100));
      const closing = app.router.close(200);
      const created = await creating;
      await closing;
      expect(app.router.runtime.workers.size).toBe(0);
      const stored = await memory.read(created.id, null);
      expect(stored?.meta.status).toBe('failed');
      expect(materialize(stored!).error).toEqual({ code: 'server_error', message: 'server_shutdown: The server shut down before the response was complete' });
      const refused = await app.client().responses.create({ model: 'gpt-test', input: 'x', background: true }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(OpenAI.InternalServerError);
      expect((refused as InstanceType<typeof OpenAI.InternalServerError>).status).toBe(503);
    } finally {
      await app.close();
      await memory.close();
    }
  });
});
