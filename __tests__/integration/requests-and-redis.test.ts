// Request handling around the lifecycle: validation, size limits, the master key, pass-through,
// custom mount prefixes, and what lands in Redis (key TTLs, no secrets).

import OpenAI from 'openai';
import request from 'supertest';
import { ev, type FakeUpstream, type Step } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { redisStoreForTest, useApp, waitFor, type TestApp } from '../helpers/app';

const UPSTREAM_KEY = 'sk-upstream-secret-abcdef0123456789';
const MASTER_KEY = 'sk-master-secret-9876543210fedcba';
const TEXT = 'Stored as events plus a snapshot.';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const json = async (res: Response): Promise<Json> => res.json();

const steps = (events: Array<Record<string, unknown>>): Step[] => events.map((e) => ev(e));

let upstream: FakeUpstream;
let redis: ReturnType<typeof redisStoreForTest>;
let app: TestApp;

useApp(
  redisStoreForTest,
  (u, store) => ({
    store,
    masterKey: MASTER_KEY,
    backgroundMode: { ttl: 600 },
    models: [{ modelName: 'gpt-test', model: 'openai/gpt-4o-mini', apiBase: u.url, apiKey: UPSTREAM_KEY }],
    worker: { flushIntervalMs: 20, leaseMs: 5000, storeRetryGraceMs: 1000 },
    maxBodyBytes: 4096,
  }),
  (f) => ({ upstream, store: redis, app } = f),
  '/custom/prefix',
);

const post = (path: string, body: unknown, key: string | null = MASTER_KEY) =>
  fetch(`${app.origin}/custom/prefix${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

test('the router answers under the custom prefix, on /v1/responses and /responses, beside the host routes', async () => {
  upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT)) }));
  const a = await post('/v1/responses', { model: 'gpt-test', input: 'x', background: true });
  const b = await post('/responses', { model: 'gpt-test', input: 'x', background: true });
  expect([a.status, b.status]).toEqual([200, 200]);
  const host = await fetch(`${app.origin}/host-route`);
  expect(await host.json()).toEqual({ host: true });
  const outside = await fetch(`${app.origin}/v1/responses/${(await json(a)).id}`);
  expect(outside.status).toBe(404);
});

test('errors are OpenAI-shaped JSON with the right content type, and the host app keeps its own routes', async () => {
  const unknown = await request(app.server)
    .get('/custom/prefix/v1/responses/resp_unknown')
    .set('authorization', `Bearer ${MASTER_KEY}`)
    .expect('content-type', /application\/json/)
    .expect(404);
  expect(unknown.body).toEqual({
    error: { message: "Response with id 'resp_unknown' not found.", type: 'invalid_request_error', param: 'response_id', code: 'not_found' },
  });
  const badCursor = await request(app.server)
    .get('/custom/prefix/responses/resp_unknown?stream=true&starting_after=-3')
    .set('authorization', `Bearer ${MASTER_KEY}`)
    .expect(400);
  expect(badCursor.body.error.param).toBe('starting_after');
  await request(app.server).get('/host-route').expect(200, { host: true });
});

test('a request without the master key is refused with 401 and creates nothing', async () => {
  const res = await post('/v1/responses', { model: 'gpt-test', input: 'x', background: true }, null);
  expect(res.status).toBe(401);
  const body = await json(res);
  expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key' });
  const wrong = await post('/v1/responses', { model: 'gpt-test', input: 'x', background: true }, 'sk-wrong');
  expect(wrong.status).toBe(401);
  expect(JSON.stringify(await wrong.json())).not.toContain('sk-wrong');
  expect(upstream.requests).toHaveLength(0);
  expect(await redis.keys()).toEqual([]);
});

test('the official client with a wrong key gets an AuthenticationError', async () => {
  await expect(app.client('sk-wrong').responses.create({ model: 'gpt-test', input: 'x', background: true })).rejects.toBeInstanceOf(
    OpenAI.AuthenticationError,
  );
});

test.each([
  [{ input: 'x', background: true }, 'model'],
  [{ model: 'gpt-test', input: 'x', background: true, temperature: 'hot' }, 'temperature'],
  [{ model: 'gpt-test', input: 'x', background: true, temperature: 7 }, 'temperature'],
  [{ model: 'gpt-test', input: 'x', background: 'yes' }, 'background'],
  [{ model: 'gpt-test', input: 'x', background: true, metadata: { k: 5 } }, 'metadata.k'],
  [{ model: 'gpt-test', input: 'x', background: true, store: false }, 'store'],
  [{ model: 'no-such-model', input: 'x', background: true }, 'model'],
])('an invalid body %j is a 400 naming %s and creates nothing', async (body, param) => {
  const res = await post('/v1/responses', body);
  expect(res.status).toBe(400);
  const answer = await json(res);
  expect(answer.error).toMatchObject({ type: 'invalid_request_error', param });
  expect(typeof answer.error.message).toBe('string');
  expect(upstream.requests).toHaveLength(0);
  expect(await redis.keys()).toEqual([]);
});

test('a body that is not JSON is a 400, and one over the size limit is a 413', async () => {
  const bad = await post('/v1/responses', '{"model": ');
  expect(bad.status).toBe(400);
  expect((await json(bad)).error.type).toBe('invalid_request_error');
  const big = await post('/v1/responses', { model: 'gpt-test', input: 'x'.repeat(10000), background: true });
  expect(big.status).toBe(413);
  expect((await json(big)).error).toMatchObject({ code: 'request_too_large' });
  expect(await redis.keys()).toEqual([]);
});

test('a non-background request is passed through as JSON', async () => {
  const final = textTurnEvents(TEXT).at(-1)?.response;
  upstream.respond(() => ({ kind: 'json', status: 200, body: final, headers: { 'x-request-id': 'req_upstream_1' } }));
  const r = await app.client(MASTER_KEY).responses.create({ model: 'gpt-test', input: 'x' });
  expect(r.output_text).toBe(TEXT);
  expect(upstream.requests[0].body).toMatchObject({ model: 'gpt-4o-mini', input: 'x' });
  expect(upstream.requests[0].headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
  // Remembered under the upstream's id (owner and deployment, and its turn), so it can be found again.
  expect((await redis.keys()).sort()).toEqual([`${redis.prefix}{${r.id}}:native`, `${redis.prefix}{${r.id}}:turn`]);
});

test('a non-background streaming request is relayed as SSE', async () => {
  upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT)) }));
  const stream = await app.client(MASTER_KEY).responses.create({ model: 'gpt-test', input: 'x', stream: true });
  let text = '';
  for await (const event of stream) if (event.type === 'response.output_text.delta') text += event.delta;
  expect(text).toBe(TEXT);
});

test('upstream errors on pass-through keep their status', async () => {
  upstream.respond(() => ({ kind: 'json', status: 429, body: { error: { message: 'slow down', type: 'requests', code: 'rate_limit_exceeded', param: null } } }));
  const res = await post('/v1/responses', { model: 'gpt-test', input: 'x' });
  expect(res.status).toBe(429);
});

test('a pass-through upstream 401 about the deployment key becomes a 502 that reveals nothing of the key', async () => {
  upstream.respond(() => ({
    kind: 'json',
    status: 401,
    body: { error: { message: `Incorrect API key provided: ${UPSTREAM_KEY.slice(0, 8)}****${UPSTREAM_KEY.slice(-4)}`, type: 'invalid_request_error', code: 'invalid_api_key', param: null } },
  }));
  const res = await post('/v1/responses', { model: 'gpt-test', input: 'x' });
  expect(res.status).toBe(502);
  const text = await res.text();
  expect(JSON.parse(text).error).toMatchObject({ type: 'server_error', code: 'upstream_error' });
  expect(text).not.toContain(UPSTREAM_KEY.slice(-4));
  expect(text).not.toContain(UPSTREAM_KEY.slice(0, 8));
});

test('a pass-through upstream error message is relayed with credentials removed', async () => {
  upstream.respond(() => ({ kind: 'json', status: 400, body: { error: { message: `bad input (key ${UPSTREAM_KEY})`, type: 'invalid_request_error', code: 'bad_input', param: null } } }));
  const res = await post('/v1/responses', { model: 'gpt-test', input: 'x' });
  expect(res.status).toBe(400);
  const body = await json(res);
  expect(body.error.code).toBe('bad_input');
  expect(body.error.message).toContain('bad input');
  expect(JSON.stringify(body)).not.toContain(UPSTREAM_KEY);
});

test('keys share one hash tag, live for ttl plus lease while running and ttl once finished', async () => {
  const hold = new Promise((r) => setTimeout(r, 400));
  upstream.respond(() => ({ kind: 'sse', steps: [{ until: hold }, ...steps(textTurnEvents(TEXT))] }));
  const created = await app.client(MASTER_KEY).responses.create({ model: 'gpt-test', input: 'x', background: true });
  // The response's own keys, and its queue entry under the deployment group's hash tag.
  const all = await redis.keys();
  const keys = all.filter((key) => !key.startsWith(`${redis.prefix}{q:gpt-test}:`));
  expect(keys.length).toBeGreaterThanOrEqual(2);
  for (const key of keys) {
    expect(key.startsWith(`${redis.prefix}{${created.id}}:`)).toBe(true);
    const ttl = await redis.inspect.pTTL(key);
    expect(ttl).toBeGreaterThan(600_000);
    expect(ttl).toBeLessThanOrEqual(605_000);
  }
  await waitFor(async () => (await app.client(MASTER_KEY).responses.retrieve(created.id)).status === 'completed');
  // The turn's retention is set just after the worker's end, which the read above may precede.
  await waitFor(async () => {
    for (const key of await redis.keys()) if ((await redis.inspect.pTTL(key)) > 600_000) return false;
    return true;
  }, 5000, 'every key kept for ttl');
  for (const key of await redis.keys()) {
    const ttl = await redis.inspect.pTTL(key);
    expect(ttl).toBeGreaterThan(590_000);
    expect(ttl).toBeLessThanOrEqual(600_000);
  }
});

test('no secret (client key, upstream key, auth header) is ever written to Redis', async () => {
  upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT)) }));
  const client = app.client(MASTER_KEY);
  const created = await client.responses.create({ model: 'gpt-test', input: 'x', background: true });
  await waitFor(async () => (await client.responses.retrieve(created.id)).status === 'completed');
  const dump: string[] = [];
  for (const key of await redis.keys()) {
    const type = await redis.inspect.type(key);
    if (type === 'string') dump.push(String(await redis.inspect.get(key)));
    else if (type === 'list') dump.push(...(await redis.inspect.lRange(key, 0, -1)));
    else if (type === 'hash') dump.push(JSON.stringify(await redis.inspect.hGetAll(key)));
    else dump.push(`unexpected type ${type}`);
  }
  const all = dump.join('\n');
  expect(all).toContain(TEXT);
  for (const secret of [MASTER_KEY, UPSTREAM_KEY, 'Bearer', 'authorization']) expect(all).not.toContain(secret);
});
