// Who may do what, through real HTTP, a real store and the official client: virtual keys (key and
// key_hash), the master key's override, ownership on every lifecycle route, allowed models, the
// host app's own session through authenticate(req), and auth: 'none'.

import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type Request } from 'express';
import OpenAI from 'openai';
import { responsesPolling, ownerHash, type ResponsesPollingOptions } from '../../lib';
import type { Logger } from '../../lib/types';
import { ev, startFakeUpstream, type FakeUpstream, type Step } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { STORE_KINDS, redisStoreForTest, startApp, useApp, waitForStatus, type TestApp } from '../helpers/app';

const MASTER_KEY = 'sk-master-auth-0123456789abcdef';
const KEY_A = 'sk-team-a-0123456789abcdef';
const KEY_B = 'sk-team-b-fedcba9876543210';
const KEY_C = 'sk-team-c-allowed-models-only';
const TEXT = 'Only the owner may see this text.';

const sha256Hex = (v: string) => createHash('sha256').update(v).digest('hex');
const steps = (events: Array<Record<string, unknown>>): Step[] => events.map((e) => ev(e));
/** The opening events of a text turn, then an upstream that keeps the response running. */
const running = (): Step[] => [...steps(textTurnEvents(TEXT).slice(0, 5)), { hang: true }];

function deployments(upstream: FakeUpstream): ResponsesPollingOptions['models'] {
  return [
    { modelName: 'gpt-test', model: 'openai/gpt-4o-mini', apiBase: upstream.url, apiKey: 'sk-upstream' },
    { modelName: 'gpt-allowed', model: 'openai/gpt-4o-mini', apiBase: upstream.url, apiKey: 'sk-upstream' },
  ];
}

const client = (baseURL: string, apiKey: string, headers: Record<string, string> = {}) =>
  new OpenAI({ baseURL, apiKey, defaultHeaders: headers, maxRetries: 0, timeout: 20000 });

/** Status and JSON body of one raw request. */
async function call(url: string, method: string, key?: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { method, headers: key ? { authorization: `Bearer ${key}` } : {} });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) };
}

/** The rejection of `promise` (failing when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  const outcome = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  if (!(outcome instanceof OpenAI.APIError)) throw outcome;
  return outcome;
}

function captureLogger(): { logger: Logger; text: () => string; lines: Array<{ level: string; message: string }> } {
  const lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => lines.push({ level, message, fields });
  return {
    logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
    lines,
    text: () => JSON.stringify(lines),
  };
}

describe.each(STORE_KINDS)('ownership between virtual keys on the %s store', (kind) => {
  let upstream: FakeUpstream;
  let app: TestApp;
  let a: OpenAI;
  let b: OpenAI;
  let master: OpenAI;

  useApp(
    kind,
    (u, store) => ({
      store,
      masterKey: MASTER_KEY,
      // A by its key, B by the digest of its key only.
      virtualKeys: [
        { key: KEY_A, id: 'team-a' },
        { keyHash: sha256Hex(KEY_B), id: 'team-b' },
      ],
      models: deployments(u),
      worker: { flushIntervalMs: 20, upstreamIdleTimeoutMs: 10000 },
    }),
    (f) => {
      ({ upstream, app } = f);
      a = app.client(KEY_A);
      b = app.client(KEY_B);
      master = app.client(MASTER_KEY);
    },
  );

  test("another key gets the same 404 as for an unknown id on GET, stream resume, cancel and DELETE, and changes nothing", async () => {
    upstream.respond(() => ({ kind: 'sse', steps: running() }));
    const created = await a.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    await waitForStatus(a, created.id, 'in_progress');
    const unknown = `resp_${'0'.repeat(48)}`;

    const routes = [
      ['GET', ''],
      ['GET', '?stream=true'],
      ['POST', '/cancel'],
      ['DELETE', ''],
    ] as const;
    for (const [method, suffix] of routes) {
      const theirs = await call(`${app.baseURL}/responses/${created.id}${suffix}`, method, KEY_B);
      const none = await call(`${app.baseURL}/responses/${unknown}${suffix}`, method, KEY_B);
      expect(theirs.status).toBe(404);
      expect(JSON.stringify(theirs.body)).toBe(JSON.stringify(none.body).split(unknown).join(created.id));
    }
    await expect(b.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(b.responses.retrieve(created.id, { stream: true })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(b.responses.cancel(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(b.responses.delete(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);

    // Untouched by all of that: still running, and the upstream request still open.
    expect((await a.responses.retrieve(created.id)).status).toBe('in_progress');
    expect(upstream.requests[0].closedEarly).toBe(false);
    await a.responses.cancel(created.id);
  });

  test('the owner reads, resumes the stream, cancels and deletes its own response', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: running() }));
    const created = await a.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    expect((await waitForStatus(a, created.id, 'in_progress')).id).toBe(created.id);

    const stream = await a.responses.retrieve(created.id, { stream: true, starting_after: 0 });
    for await (const event of stream) {
      expect(event.sequence_number).toBe(1);
      break;
    }
    expect((await a.responses.cancel(created.id)).status).toBe('cancelled');
    expect(await a.responses.delete(created.id)).toEqual({ id: created.id, object: 'response', deleted: true });
    await expect(a.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  test('a key_hash entry authenticates the key whose digest it holds, with its own responses', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT)) }));
    const created = await b.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    expect((await waitForStatus(b, created.id, 'completed')).output_text).toBe(TEXT);
    await expect(a.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  test("the master key reads, cancels and deletes any key's response", async () => {
    upstream.respond(() => ({ kind: 'sse', steps: running() }));
    const first = await a.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    await waitForStatus(master, first.id, 'in_progress');
    expect((await master.responses.cancel(first.id)).status).toBe('cancelled');
    expect((await a.responses.retrieve(first.id)).status).toBe('cancelled');
    await master.responses.delete(first.id);
    await expect(a.responses.retrieve(first.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  test('the Azure-style api-key header authenticates a virtual key too', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT)) }));
    const created = await a.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    const res = await fetch(`${app.baseURL}/responses/${created.id}`, { headers: { 'api-key': KEY_A } });
    expect(res.status).toBe(200);
    const other = await fetch(`${app.baseURL}/responses/${created.id}`, { headers: { 'api-key': KEY_B } });
    expect(other.status).toBe(404);
  });
});

describe('refusals on Redis leave nothing behind', () => {
  let upstream: FakeUpstream;
  let redis: ReturnType<typeof redisStoreForTest>;
  let app: TestApp;


  /** Every value stored under the prefix, as one string. */
  async function everythingStored(): Promise<string> {
    const parts: string[] = [];
    for (const key of await redis.keys()) {
      const type = await redis.inspect.type(key);
      if (type === 'hash') parts.push(JSON.stringify(await redis.inspect.hGetAll(key)));
      else if (type === 'string') parts.push(String(await redis.inspect.get(key)));
      else if (type === 'list') parts.push(...(await redis.inspect.lRange(key, 0, -1)));
      else throw new Error(`unexpected key type ${type} at ${key}`);
    }
    return parts.join('\n');
  }

  useApp(
    redisStoreForTest,
    (u, store) => ({
      store,
      masterKey: MASTER_KEY,
      virtualKeys: [
        { key: KEY_A, id: 'team-a' },
        { key: KEY_C, id: 'team-c', models: ['gpt-allowed'] },
      ],
      models: deployments(u),
      worker: { flushIntervalMs: 20 },
    }),
    (f) => ({ upstream, store: redis, app } = f),
  );

  test('a key that is not configured gets 401 invalid_api_key, is not echoed, and nothing is created', async () => {
    const err = await rejection(app.client('sk-not-in-the-list').responses.create({ model: 'gpt-test', input: 'x', background: true }));
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(err.error).toEqual({ message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' });
    const missing = await fetch(`${app.baseURL}/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-test', input: 'x', background: true }),
    });
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as { error: { message: string } }).error.message).toMatch(/^Missing API key/);
    expect(JSON.stringify(err.error)).not.toContain('sk-not-in-the-list');
    expect(upstream.requests).toHaveLength(0);
    expect(await redis.keys()).toEqual([]);
  });

  test('a model outside the key’s models is a 403 naming the model, for background and pass-through, with nothing created', async () => {
    const c = app.client(KEY_C);
    for (const background of [true, false]) {
      const err = await rejection(c.responses.create({ model: 'gpt-test', input: 'x', background }));
      expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
      expect(err.error).toEqual({
        message: "You are not allowed to use the model 'gpt-test'.",
        type: 'invalid_request_error',
        param: 'model',
        code: 'model_not_allowed',
      });
    }
    expect(upstream.requests).toHaveLength(0);
    expect(await redis.keys()).toEqual([]);

    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT)) }));
    const allowed = await c.responses.create({ model: 'gpt-allowed', input: 'x', background: true });
    expect((await waitForStatus(c, allowed.id, 'completed')).output_text).toBe(TEXT);
  });

  test('the stored owner is a hash of the principal id: neither the key nor the id is in Redis', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT)) }));
    const a = app.client(KEY_A);
    const created = await a.responses.create({ model: 'gpt-test', input: 'x', background: true });
    await waitForStatus(a, created.id, 'completed');
    const stored = await everythingStored();
    expect(stored).toContain(ownerHash({ id: 'team-a', admin: false }));
    for (const secret of [KEY_A, sha256Hex(KEY_A), MASTER_KEY, 'team-a']) expect(stored).not.toContain(secret);
  });
});

describe("authenticate(req) with the host app's own session", () => {
  const sessions = new Map([
    ['sess-alice', 'alice'],
    ['sess-bob', 'bob'],
    ['sess-ops', 'ops'],
    ['sess-broken', 'broken'],
  ]);
  /** What the host app's own session middleware found; authenticate reads it from here. */
  const users = new WeakMap<Request, string>();

  let upstream: FakeUpstream;
  let redis: ReturnType<typeof redisStoreForTest>;
  let server: Server;
  let baseURL: string;
  let router: ReturnType<typeof responsesPolling>;
  let log: ReturnType<typeof captureLogger>;

  beforeEach(async () => {
    upstream = await startFakeUpstream();
    redis = redisStoreForTest();
    log = captureLogger();
    const app = express();
    // The host app's session middleware, mounted before the router.
    app.use((req, _res, next) => {
      const sid = /(?:^|;\s*)sid=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
      const user = sid ? sessions.get(sid) : undefined;
      if (user) users.set(req, user);
      next();
    });
    router = responsesPolling({
      store: redis.store,
      logger: log.logger,
      models: deployments(upstream),
      virtualKeys: [{ key: KEY_A, id: 'team-a' }],
      worker: { flushIntervalMs: 20, upstreamIdleTimeoutMs: 10000 },
      authenticate: async (req) => {
        const user = users.get(req);
        if (user === 'broken') throw new Error(`session store lost the session ${req.headers.cookie?.split('=')[1]} (key ${req.headers.authorization})`);
        if (!user) return null;
        return { id: `user:${user}`, admin: user === 'ops', models: user === 'bob' ? ['gpt-allowed'] : undefined, limits: { rpm: 10 } };
      },
    });
    app.use('/llm', router);
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/llm/v1`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await router.close(1000);
    await upstream.close();
    await redis.close();
  });

  const asUser = (sid: string) => client(baseURL, 'no-key-needed', { cookie: `sid=${sid}` });

  test('the session principal owns its responses; another session gets 404; the key is not consulted', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT)) }));
    const alice = asUser('sess-alice');
    const created = await alice.responses.create({ model: 'gpt-test', input: 'x', background: true });
    expect((await waitForStatus(alice, created.id, 'completed')).output_text).toBe(TEXT);
    await expect(asUser('sess-bob').responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(asUser('sess-bob').responses.delete(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client(baseURL, KEY_A).responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);

    const stored = await redis.store.read(created.id, null);
    expect(stored?.meta.owner).toBe(ownerHash({ id: 'user:alice', admin: false }));
    if (!redis.inspect.isOpen) await redis.inspect.connect();
    const meta = await redis.inspect.hGetAll(`${redis.prefix}{${created.id}}:meta`);
    expect(JSON.stringify(meta)).not.toContain('alice');
  });

  test('an admin principal from the host reads and cancels anyone’s response', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: running() }));
    const alice = asUser('sess-alice');
    const created = await alice.responses.create({ model: 'gpt-test', input: 'x', background: true });
    const ops = asUser('sess-ops');
    await waitForStatus(ops, created.id, 'in_progress');
    expect((await ops.responses.cancel(created.id)).status).toBe('cancelled');
  });

  test('the models the host returns restrict its principal', async () => {
    const err = await rejection(asUser('sess-bob').responses.create({ model: 'gpt-test', input: 'x', background: true }));
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(err.error).toMatchObject({ code: 'model_not_allowed', param: 'model' });
    expect(upstream.requests).toHaveLength(0);
  });

  test('without a session the configured keys still work, and with neither the answer is 401', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT)) }));
    const byKey = client(baseURL, KEY_A);
    const created = await byKey.responses.create({ model: 'gpt-test', input: 'x', background: true });
    expect((await waitForStatus(byKey, created.id, 'completed')).id).toBe(created.id);
    const anonymous = await call(`${baseURL}/responses/${created.id}`, 'GET');
    expect(anonymous.status).toBe(401);
    const wrongKey = await rejection(client(baseURL, 'sk-wrong').responses.retrieve(created.id));
    expect(wrongKey).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  test('an authenticate that throws answers 500 without details and logs no credential', async () => {
    const err = await rejection(asUser('sess-broken').responses.create({ model: 'gpt-test', input: 'x', background: true }));
    expect(err.status).toBe(500);
    expect(err.error).toEqual({
      message: 'The server had an error while processing your request.',
      type: 'server_error',
      param: null,
      code: 'server_error',
    });
    const errors = log.lines.filter((l) => l.level === 'error');
    expect(errors).toEqual([expect.objectContaining({ message: expect.stringContaining('authenticate(req) threw') })]);
    expect(log.text()).toContain('session store lost the session');
    expect(log.text()).not.toContain('sess-broken');
    expect(log.text()).not.toContain('no-key-needed');
    expect(upstream.requests).toHaveLength(0);
  });
});

describe("auth: 'none'", () => {
  test('every caller is the one anonymous principal, and no open-routes warning is logged', async () => {
    const upstream = await startFakeUpstream();
    const redis = redisStoreForTest();
    const log = captureLogger();
    const app = await startApp({ store: redis.store, logger: log.logger, auth: 'none', models: deployments(upstream) });
    try {
      upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT)) }));
      const created = await app.client('ignored').responses.create({ model: 'gpt-test', input: 'x', background: true });
      const res = await fetch(`${app.baseURL}/responses/${created.id}`);
      expect(res.status).toBe(200);
      const stored = await redis.store.read(created.id, null);
      expect(stored?.meta.owner).toBe(ownerHash({ id: 'anonymous', admin: false }));
      expect(log.lines.filter((l) => l.message.includes('the routes are open'))).toEqual([]);
    } finally {
      await app.close();
      await upstream.close();
      await redis.close();
    }
  });
});
