// Hostile and stray requests under the mount point get OpenAI-shaped answers and change nothing:
// bodies nested too deep, ids with broken percent-encoding, methods and paths no route serves.

import request from 'supertest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { steps } from '../helpers/flow';
import { startApp, waitForStatus, type TestApp } from '../helpers/app';
import { MemoryStore } from '../../lib/store/memory-store';
import { silentLogger } from '../../lib/logger';

const KEY = 'sk-edges-0123456789abcdef';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

let upstream: FakeUpstream;
let app: TestApp;

async function start(options: Record<string, unknown> = {}): Promise<void> {
  app = await startApp({
    store: new MemoryStore({ logger: silentLogger }),
    masterKey: KEY,
    models: [{ modelName: 'gpt-test', model: 'openai/gpt-4o-mini', apiBase: upstream.url }],
    worker: { flushIntervalMs: 20 },
    maxBodyBytes: 4_194_304,
    ...options,
  });
}

beforeEach(async () => {
  upstream = await startFakeUpstream();
});

afterEach(async () => {
  await app?.close();
  await upstream.close();
});

const call = (method: string, path: string, body?: string) =>
  fetch(`${app.origin}/llm${path}`, {
    method,
    headers: { authorization: `Bearer ${KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body,
  });

/** `[[[…"x"…]]]`, `depth` arrays deep, as JSON text (never built as an object: that would recurse). */
const nested = (depth: number) => `${'['.repeat(depth)}"x"${']'.repeat(depth)}`;

/** Asserts an OpenAI-shaped error body and returns it. */
async function errorOf(res: Response, status: number): Promise<Json> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  const body = (await res.json()) as Json;
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof body.error.message).toBe('string');
  return body.error;
}

describe('JSON nesting', () => {
  it('refuses a body nested 100,000 levels deep with a 400 naming the field, without calling the upstream', async () => {
    await start();
    for (const field of ['input', 'extra']) {
      const res = await call('POST', '/v1/responses', `{"model":"gpt-test","background":true,"${field}":${nested(100_000)}}`);
      const error = await errorOf(res, 400);
      expect(error).toMatchObject({ type: 'invalid_request_error', param: field, code: 'nesting_too_deep' });
      expect(error.message).toContain('64');
    }
    expect(upstream.requests).toHaveLength(0);
  });

  it('names the nested path inside input', async () => {
    await start();
    const res = await call('POST', '/v1/responses', `{"model":"gpt-test","input":[{"role":"user","content":${nested(70)}}]}`);
    const error = await errorOf(res, 400);
    expect(error.param).toBe('input[0].content');
    expect(upstream.requests).toHaveLength(0);
  });

  it('accepts a body at the limit, and the limit is an option', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents('deep enough')) }));
    await start({ maxJsonDepth: 8 });
    // The body object is level 1: 7 arrays in `extra` reach the limit of 8.
    const ok = await call('POST', '/v1/responses', `{"model":"gpt-test","background":true,"input":"x","extra":${nested(7)}}`);
    expect(ok.status).toBe(200);
    const { id } = (await ok.json()) as Json;
    await waitForStatus(app.client(KEY), id, 'completed');
    const over = await call('POST', '/v1/responses', `{"model":"gpt-test","background":true,"input":"x","extra":${nested(8)}}`);
    expect((await errorOf(over, 400)).param).toBe('extra');
  });
});

describe('broken percent-encoding in an id', () => {
  it.each([
    ['GET', '/v1/responses/%ff'],
    ['GET', '/v1/responses/%E0%A4%A?stream=true'],
    ['DELETE', '/responses/%E0%A4%A'],
    ['POST', '/v1/responses/%E0%A4%A/cancel'],
  ])('%s %s answers an OpenAI-shaped 400', async (method, path) => {
    await start();
    const error = await errorOf(await call(method, path), 400);
    expect(error).toMatchObject({ type: 'invalid_request_error', param: 'response_id', code: 'invalid_value' });
  });
});

describe('methods and paths no route serves', () => {
  it.each([
    ['PUT', '/v1/responses/resp_x', 'GET, DELETE'],
    ['PATCH', '/responses/resp_x', 'GET, DELETE'],
    ['GET', '/v1/responses', 'POST'],
    ['DELETE', '/v1/responses', 'POST'],
    ['GET', '/v1/responses/resp_x/cancel', 'POST'],
    ['POST', '/v1/responses/resp_x/input_items', 'GET'],
  ])('%s %s answers 405 with allow: %s', async (method, path, allow) => {
    await start();
    const res = await call(method, path);
    expect(res.headers.get('allow')).toBe(allow);
    expect(await errorOf(res, 405)).toMatchObject({ type: 'invalid_request_error', code: 'method_not_allowed' });
  });

  it.each([
    ['GET', '/v1/responses/resp_x/input_items/more'],
    ['POST', '/v1/responses/resp_x/cancel/again'],
  ])('%s %s answers an OpenAI-shaped 404', async (method, path) => {
    await start();
    const error = await errorOf(await call(method, path), 404);
    expect(error).toMatchObject({ type: 'invalid_request_error', code: 'unknown_url' });
    expect(error.message).toBe(`Invalid URL (${method} /llm${path})`);
  });

  it('leaves paths outside the responses routes to the host app', async () => {
    await start();
    const host = await fetch(`${app.origin}/host-route`);
    expect(await host.json()).toEqual({ host: true });
    const outside = await call('GET', '/v1/models');
    expect(outside.status).toBe(404);
    expect(outside.headers.get('content-type')).not.toMatch(/application\/json/);
  });
});

describe("the host app's JSON settings", () => {
  it('apply to the answers of a create and of a poll', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents('hi')) }));
    await start();
    // The host app is the server's request listener; its settings are read per request.
    const host = app.server.listeners('request')[0] as import('express').Application;
    host.set('json spaces', 2);
    const created = await call('POST', '/v1/responses', JSON.stringify({ model: 'gpt-test', input: 'hi', background: true }));
    expect(created.status).toBe(200);
    const createdText = await created.text();
    expect(createdText).toBe(JSON.stringify(JSON.parse(createdText), null, 2));
    const id = JSON.parse(createdText).id as string;
    await waitForStatus(app.client(KEY), id, 'completed');
    const polled = await (await call('GET', `/v1/responses/${id}`)).text();
    expect(polled).toBe(JSON.stringify(JSON.parse(polled), null, 2));
    expect(JSON.parse(polled).status).toBe('completed');
  });
});

describe('conditional polls', () => {
  it('a completed response carries an ETag of its final state and answers 304 to it; none when the host app turns ETags off', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents('done deal')) }));
    await start();
    const created = (await (await call('POST', '/v1/responses', JSON.stringify({ model: 'gpt-test', input: 'hi', background: true }))).json()) as Json;
    await waitForStatus(app.client(KEY), created.id, 'completed');
    const first = await call('GET', `/v1/responses/${created.id}`);
    const body = await first.text();
    const etag = first.headers.get('etag');
    // Its last sequence number and length, not a hash of the body.
    expect(etag).toMatch(/^W\/"rp-[0-9a-f]+-[0-9a-f]+"$/);
    expect(etag).toContain(`-${body.length.toString(16)}"`);
    // Not fetch: it adds `cache-control: no-cache` to a conditional request, which forbids a 304.
    const again = await request(app.origin).get(`/llm/v1/responses/${created.id}`).set('authorization', `Bearer ${KEY}`).set('if-none-match', etag as string);
    expect(again.status).toBe(304);
    expect(again.text ?? '').toBe('');

    const host = app.server.listeners('request')[0] as import('express').Application;
    host.set('etag', false);
    const plain = await call('GET', `/v1/responses/${created.id}`);
    expect(plain.headers.get('etag')).toBeNull();
    expect(await plain.text()).toBe(body);
  });
});
