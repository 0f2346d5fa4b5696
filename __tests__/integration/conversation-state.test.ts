// Stateful Responses: turns chained with previous_response_id (mapped onto the upstream's own id
// where a deployment holds the turn, expanded inline elsewhere), input_items, and pass-through ids
// that can be retrieved, deleted and continued, from any instance, for their owner only.

import request from 'supertest';
import { startFakeUpstream, type FakeUpstream, type RecordedRequest, type Script, chatAnswer } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { redisStoreForTest, startApp, waitForStatus, type TestApp } from '../helpers/app';
import { steps } from '../helpers/flow';
import type { DeploymentOptions, ResponsesPollingOptions } from '../../lib/config/options';
import type { CreateRecordInput, ResponseStore } from '../../lib/types';

const KEY_A = 'sk-team-a-0123456789';
const KEY_B = 'sk-team-b-0123456789';
const UPSTREAM_KEY = 'sk-upstream-secret-0123456789abcdef';

/** Answers every Responses request with a text turn whose upstream id is `up_<n>` and text `answer <n>`. */
function numberedTurns(upstream: FakeUpstream): void {
  upstream.respond((req) => {
    const n = upstream.requests.indexOf(req);
    return { kind: 'sse', steps: steps(textTurnEvents(`answer ${n}`, { responseId: `up_${n}`, itemId: `msg_up_${n}` })) };
  });
}

describe('stateful responses', () => {
  const upstreams: FakeUpstream[] = [];
  const apps: TestApp[] = [];
  const stores: Array<{ close(): Promise<void> }> = [];

  async function upstream(): Promise<FakeUpstream> {
    const u = await startFakeUpstream();
    upstreams.push(u);
    return u;
  }

  /** Two instances sharing one Redis store (each with its own connection). */
  async function instances(models: DeploymentOptions[], extra: ResponsesPollingOptions = {}): Promise<[TestApp, TestApp]> {
    const shared = redisStoreForTest();
    stores.push(shared);
    const second: ResponseStore = redisStoreForTestWithPrefix(shared.prefix);
    const options = (store: ResponseStore): ResponsesPollingOptions => ({
      store,
      models,
      virtualKeys: [
        { key: KEY_A, id: 'team-a' },
        { key: KEY_B, id: 'team-b' },
      ],
      worker: { flushIntervalMs: 10, upstreamRetryBaseMs: 10, upstreamIdleTimeoutMs: 3000 },
      ...extra,
    });
    const a = await startApp(options(shared.store));
    const b = await startApp(options(second));
    apps.push(a, b);
    return [a, b];
  }

  const stored: ResponseStore[] = [];
  function redisStoreForTestWithPrefix(prefix: string): ResponseStore {
    const { createRedisStore } = jest.requireActual('../../lib/store/redis-store') as typeof import('../../lib/store/redis-store');
    const { testRedisUrl } = jest.requireActual('../helpers/redis') as typeof import('../helpers/redis');
    const store = createRedisStore({ url: testRedisUrl(), keyPrefix: prefix });
    stored.push(store);
    return store;
  }

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    await Promise.all(upstreams.splice(0).map((u) => u.close()));
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await Promise.all(stored.splice(0).map((s) => s.close()));
  });

  test('a three-turn conversation of polled responses sends the upstream its own id for each previous turn, across instances', async () => {
    const u = await upstream();
    numberedTurns(u);
    const [a, b] = await instances([{ modelName: 'gpt', model: 'openai/gpt-4o-mini', apiBase: u.url, apiKey: UPSTREAM_KEY }]);
    const ca = a.client(KEY_A);
    const cb = b.client(KEY_A);

    const first = await ca.responses.create({ model: 'gpt', input: 'Hello', background: true });
    await waitForStatus(ca, first.id, 'completed');
    const second = await cb.responses.create({ model: 'gpt', input: 'And then?', previous_response_id: first.id, background: true });
    const secondDone = await waitForStatus(ca, second.id, 'completed');
    const third = await ca.responses.create({ model: 'gpt', input: 'Last one', previous_response_id: second.id, background: true });
    await waitForStatus(cb, third.id, 'completed');

    expect(u.requests.map((r) => r.body.previous_response_id)).toEqual([undefined, 'up_0', 'up_1']);
    expect(u.requests[1].body.input).toBe('And then?');
    // The client keeps seeing its own ids.
    expect(secondDone.previous_response_id).toBe(first.id);
    expect(secondDone.id).toBe(second.id);
  });

  test('on a Chat Completions deployment the upstream gets the earlier turns expanded into messages, oldest first', async () => {
    const u = await upstream();
    u.respond((req) => chatAnswer(`reply ${u.requests.indexOf(req)}`));
    const [a, b] = await instances([{ modelName: 'llama', model: 'hosted_vllm/llama-3', apiBase: u.url, apiKey: UPSTREAM_KEY }]);
    const ca = a.client(KEY_A);

    const first = await ca.responses.create({ model: 'llama', instructions: 'Be brief.', input: 'One', background: true });
    await waitForStatus(ca, first.id, 'completed');
    const second = await b.client(KEY_A).responses.create({ model: 'llama', input: 'Two', previous_response_id: first.id, background: true });
    await waitForStatus(ca, second.id, 'completed');
    const third = await ca.responses.create({ model: 'llama', input: [{ role: 'user', content: 'Three' }], previous_response_id: second.id, background: true });
    await waitForStatus(ca, third.id, 'completed');

    const messages = u.requests[2].body.messages as Array<{ role: string; content: unknown }>;
    const flat = messages.map((m) => `${m.role}:${typeof m.content === 'string' ? m.content : JSON.stringify(m.content)}`);
    // Instructions are not carried over; each turn's input, then its output.
    expect(flat.join('|')).not.toContain('Be brief.');
    expect(flat.map((line) => line.replace(/\[.*"text":"([^"]*)".*\]/, '$1'))).toEqual([
      'user:One',
      'assistant:reply 0',
      'user:Two',
      'assistant:reply 1',
      'user:Three',
    ]);
  });

  test('a store that ignores the turn of a create (one written before that field) still keeps every turn: chains expand, input_items lists', async () => {
    const u = await upstream();
    u.respond((req) => chatAnswer(`reply ${u.requests.indexOf(req)}`));
    const shared = redisStoreForTest();
    stores.push(shared);
    const creates: Array<{ turn: unknown }> = [];
    let saved = 0;
    // A custom store over the Redis store whose create knows nothing of `turn` and answers only its fence.
    const legacy = new Proxy(shared.store, {
      get(target, prop) {
        if (prop === 'create') {
          return async (input: CreateRecordInput) => {
            const { turn, ...rest } = input;
            creates.push({ turn });
            const { fence } = await target.create(rest);
            return { fence };
          };
        }
        if (prop === 'saveTurn') return (...args: Parameters<ResponseStore['saveTurn']>) => ((saved += 1), target.saveTurn(...args));
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const app = await startApp({
      store: legacy,
      models: [{ modelName: 'llama', model: 'hosted_vllm/llama-3', apiBase: u.url, apiKey: UPSTREAM_KEY }],
      virtualKeys: [{ key: KEY_A, id: 'team-a' }],
      worker: { flushIntervalMs: 10, upstreamRetryBaseMs: 10, upstreamIdleTimeoutMs: 3000 },
    });
    apps.push(app);
    const client = app.client(KEY_A);

    const first = await client.responses.create({ model: 'llama', input: 'One', background: true });
    expect(creates[0].turn).toMatchObject({ record: { owner: expect.any(String), path: 'polling', previousResponseId: null } });
    expect(saved).toBe(1);
    await waitForStatus(client, first.id, 'completed');
    const second = await client.responses.create({ model: 'llama', input: 'Two', previous_response_id: first.id, background: true });
    await waitForStatus(client, second.id, 'completed');
    const messages = u.requests[1].body.messages as Array<{ role: string; content: unknown }>;
    expect(messages.map((m) => `${m.role}:${typeof m.content === 'string' ? m.content : JSON.stringify(m.content)}`).map((line) => line.replace(/\[.*"text":"([^"]*)".*\]/, '$1'))).toEqual([
      'user:One',
      'assistant:reply 0',
      'user:Two',
    ]);
    const items = await client.responses.inputItems.list(second.id);
    expect(items.data.map((i) => ((i as unknown as { content: Array<{ text: string }> }).content[0]).text)).toEqual(['Two']);
    expect(saved).toBe(2);
  });

  test("a polled create's turn is in Redis with its record when the create answers, kept as long as the record", async () => {
    const u = await upstream();
    u.respond(() => ({ kind: 'sse', steps: [{ hang: true }] }));
    const shared = redisStoreForTest();
    stores.push(shared);
    const app = await startApp({
      store: shared.store,
      models: [{ modelName: 'gpt', model: 'openai/gpt-4o-mini', apiBase: u.url, apiKey: UPSTREAM_KEY }],
      virtualKeys: [{ key: KEY_A, id: 'team-a' }],
      backgroundMode: { ttl: 600 },
    });
    apps.push(app);
    const created = await app.client(KEY_A).responses.create({ model: 'gpt', input: 'Hello', instructions: 'Be brief.', background: true });
    if (!shared.inspect.isOpen) await shared.inspect.connect();
    const raw = await shared.inspect.get(`${shared.prefix}{${created.id}}:turn`);
    expect(JSON.parse(raw as string)).toMatchObject({ path: 'polling', instructions: 'Be brief.', inputItems: [{ role: 'user' }] });
    const ttl = await shared.inspect.pTTL(`${shared.prefix}{${created.id}}:turn`);
    // The retention plus a lease (runningTurnSeconds), as the record's own keys.
    expect(ttl).toBeGreaterThan(590_000);
    expect(await shared.inspect.exists(`${shared.prefix}{${created.id}}:meta`)).toBe(1);
  });

  test("someone else's previous_response_id is refused exactly like an unknown one, on either instance", async () => {
    const u = await upstream();
    numberedTurns(u);
    const [a, b] = await instances([{ modelName: 'gpt', model: 'openai/gpt-4o-mini', apiBase: u.url, apiKey: UPSTREAM_KEY }]);
    const mine = await a.client(KEY_A).responses.create({ model: 'gpt', input: 'Hello', background: true });
    await waitForStatus(a.client(KEY_A), mine.id, 'completed');
    const before = u.requests.length;

    const ask = (instance: TestApp, id: string) =>
      request(instance.origin)
        .post('/llm/v1/responses')
        .set('authorization', `Bearer ${KEY_B}`)
        .send({ model: 'gpt', input: 'x', previous_response_id: id, background: true });
    const unknownId = 'resp_0000000000000000000000000000000000000000000000ff';
    for (const instance of [a, b]) {
      const theirs = await ask(instance, mine.id);
      const unknown = await ask(instance, unknownId);
      expect(theirs.status).toBe(400);
      expect(theirs.body.error).toMatchObject({ param: 'previous_response_id', code: 'previous_response_not_found', type: 'invalid_request_error' });
      expect(unknown.status).toBe(400);
      expect({ ...theirs.body.error, message: theirs.body.error.message.replace(mine.id, 'ID') }).toEqual({ ...unknown.body.error, message: unknown.body.error.message.replace(unknownId, 'ID') });
    }
    expect(u.requests.length).toBe(before);
  });

  test('input_items lists a polled response’s input with ids, in both orders and pages, for its owner only', async () => {
    const u = await upstream();
    numberedTurns(u);
    const [a, b] = await instances([{ modelName: 'gpt', model: 'openai/gpt-4o-mini', apiBase: u.url, apiKey: UPSTREAM_KEY }]);
    const input = [
      { role: 'user' as const, content: 'first' },
      { role: 'assistant' as const, content: 'second' },
      { type: 'message' as const, role: 'user' as const, content: [{ type: 'input_text' as const, text: 'third' }] },
    ];
    const created = await a.client(KEY_A).responses.create({ model: 'gpt', input, background: true });
    await waitForStatus(a.client(KEY_A), created.id, 'completed');
    const cb = b.client(KEY_A);

    const desc = await cb.responses.inputItems.list(created.id);
    const texts = (items: Array<Record<string, unknown>>) => items.map((i) => ((i.content as Array<{ text: string }>)[0]).text);
    expect(texts(desc.data as never)).toEqual(['third', 'second', 'first']);
    for (const item of desc.data) expect(item.id).toMatch(/^msg_[0-9a-f]{32}$/);

    const asc1 = await cb.responses.inputItems.list(created.id, { order: 'asc', limit: 2 });
    expect(texts(asc1.data as never)).toEqual(['first', 'second']);
    expect(asc1.has_more).toBe(true);
    const raw = await request(b.origin)
      .get(`/llm/v1/responses/${created.id}/input_items?order=asc&limit=2&after=${asc1.data[1].id}`)
      .set('authorization', `Bearer ${KEY_A}`);
    expect(raw.status).toBe(200);
    expect(raw.body).toMatchObject({ object: 'list', has_more: false, first_id: raw.body.data[0].id, last_id: raw.body.data[0].id });
    expect(texts(raw.body.data)).toEqual(['third']);
    // Every page through the SDK's iterator, in ascending order.
    const all: string[] = [];
    for await (const item of cb.responses.inputItems.list(created.id, { order: 'asc', limit: 1 })) all.push(texts([item as never])[0]);
    expect(all).toEqual(['first', 'second', 'third']);

    const other = await request(b.origin).get(`/llm/v1/responses/${created.id}/input_items`).set('authorization', `Bearer ${KEY_B}`);
    expect(other.status).toBe(404);
    const badLimit = await request(b.origin).get(`/llm/v1/responses/${created.id}/input_items?limit=101`).set('authorization', `Bearer ${KEY_A}`);
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.error.param).toBe('limit');
  });

  test('a pass-through response can be retrieved, listed, continued by a polled turn and deleted, through its deployment', async () => {
    const u = await upstream();
    const upstreamResponse = (id: string) => ({ id, object: 'response', status: 'completed', model: 'gpt-4o-mini', output: [{ type: 'message', id: `msg_${id}`, role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'hi', annotations: [] }] }] });
    u.respond((req: RecordedRequest) => {
      if (req.method === 'POST' && req.body.background === undefined && req.body.stream !== true) return { kind: 'json', status: 200, body: upstreamResponse('up_pass_1') };
      if (req.method === 'GET' && req.url.endsWith('/responses/up_pass_1')) return { kind: 'json', status: 200, body: upstreamResponse('up_pass_1') };
      if (req.method === 'GET' && req.url.includes('/responses/up_pass_1/input_items')) return { kind: 'json', status: 200, body: { object: 'list', data: [], first_id: null, last_id: null, has_more: false } };
      if (req.method === 'DELETE') return { kind: 'json', status: 200, body: { id: 'up_pass_1', object: 'response', deleted: true } };
      return { kind: 'sse', steps: steps(textTurnEvents('polled', { responseId: 'up_polled' })) };
    });
    const [a, b] = await instances([{ modelName: 'gpt', model: 'openai/gpt-4o-mini', apiBase: u.url, apiKey: UPSTREAM_KEY }]);
    const ca = a.client(KEY_A);
    const cb = b.client(KEY_A);

    const passed = await ca.responses.create({ model: 'gpt', input: 'no background' });
    expect(passed.id).toBe('up_pass_1');
    const again = await cb.responses.retrieve(passed.id);
    expect(again.id).toBe('up_pass_1');
    expect(u.requests.some((r) => r.method === 'GET' && r.url.endsWith('/responses/up_pass_1') && r.headers.authorization === `Bearer ${UPSTREAM_KEY}`)).toBe(true);
    const items = await cb.responses.inputItems.list(passed.id, { limit: 5 });
    expect(items.data).toEqual([]);
    expect(u.requests.some((r) => r.method === 'GET' && r.url.includes('/responses/up_pass_1/input_items?limit=5'))).toBe(true);

    const other = await request(b.origin).get(`/llm/v1/responses/${passed.id}`).set('authorization', `Bearer ${KEY_B}`);
    expect(other.status).toBe(404);

    const polled = await cb.responses.create({ model: 'gpt', input: 'continue', previous_response_id: passed.id, background: true });
    await waitForStatus(ca, polled.id, 'completed');
    const continued = u.requests.find((r) => r.method === 'POST' && r.body.input === 'continue');
    expect(continued?.body.previous_response_id).toBe('up_pass_1');

    const deleted = await ca.responses.delete(passed.id);
    expect(deleted).toMatchObject({ id: 'up_pass_1', deleted: true });
    expect(u.requests.some((r) => r.method === 'DELETE' && r.url.endsWith('/responses/up_pass_1'))).toBe(true);
    const gone = await request(a.origin).get(`/llm/v1/responses/${passed.id}`).set('authorization', `Bearer ${KEY_A}`);
    expect(gone.status).toBe(404);
  });

  test('a chain whose holder fails over is sent expanded to the other deployment, continued from the second instance', async () => {
    const holder = await upstream();
    const other = await upstream();
    numberedTurns(holder);
    other.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents('from the other', { responseId: 'up_other' })) }));
    const [a, b] = await instances(
      [
        { modelName: 'gpt', model: 'openai/gpt-4o-mini', apiBase: holder.url, apiKey: UPSTREAM_KEY },
        { modelName: 'gpt', model: 'openai/gpt-4o-mini', apiBase: other.url, apiKey: 'sk-other-deployment-key' },
      ],
      { routingStrategy: 'round-robin' },
    );
    const ca = a.client(KEY_A);
    // Round-robin starts with the first deployment: the holder serves turn one.
    const first = await ca.responses.create({ model: 'gpt', input: 'Hello', background: true });
    await waitForStatus(ca, first.id, 'completed');
    expect(holder.requests).toHaveLength(1);
    holder.respond(() => ({ kind: 'json', status: 503, body: { error: { message: 'overloaded', type: 'server_error' } } }));

    // Continued on the other instance, which never saw turn one (its round-robin starts afresh too).
    const second = await b.client(KEY_A).responses.create({ model: 'gpt', input: 'Again', previous_response_id: first.id, background: true });
    const done = await waitForStatus(ca, second.id, 'completed');
    expect(holder.requests[1].body.previous_response_id).toBe('up_0');
    const sent = other.requests[0].body;
    expect(sent.previous_response_id).toBeUndefined();
    expect(JSON.stringify(sent.input)).toContain('Hello');
    expect(JSON.stringify(sent.input)).toContain('answer 0');
    expect((sent.input as unknown[]).at(-1)).toEqual({ role: 'user', content: 'Again' });
    expect(done.previous_response_id).toBe(first.id);
  });

  test("a pass-through upstream 400 is relayed with the upstream's own message, type, param and code, scrubbed", async () => {
    const u = await upstream();
    u.respond(() => ({
      kind: 'json',
      status: 400,
      body: { error: { message: `Unsupported value: 'temperature' (key ${UPSTREAM_KEY})`, type: 'invalid_request_error', param: 'temperature', code: 'unsupported_value', extra: UPSTREAM_KEY } },
    }));
    const [a] = await instances([{ modelName: 'gpt', model: 'openai/gpt-4o-mini', apiBase: u.url, apiKey: UPSTREAM_KEY }]);
    const res = await request(a.origin).post('/llm/v1/responses').set('authorization', `Bearer ${KEY_A}`).send({ model: 'gpt', input: 'x', temperature: 1.5 });
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({ message: "Unsupported value: 'temperature' (key [redacted])", type: 'invalid_request_error', param: 'temperature', code: 'unsupported_value' });
    expect(JSON.stringify(res.body)).not.toContain(UPSTREAM_KEY);
  });

  test('conversation is refused with a 400 that names it', async () => {
    const u = await upstream();
    const [a] = await instances([{ modelName: 'gpt', model: 'openai/gpt-4o-mini', apiBase: u.url, apiKey: UPSTREAM_KEY }]);
    const res = await request(a.origin)
      .post('/llm/v1/responses')
      .set('authorization', `Bearer ${KEY_A}`)
      .send({ model: 'gpt', input: 'x', conversation: 'conv_123', background: true });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ param: 'conversation', code: 'unsupported_parameter' });
    expect(u.requests).toHaveLength(0);
  });
});
