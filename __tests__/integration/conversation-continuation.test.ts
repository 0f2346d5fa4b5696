// Continuing conversations at their edges, on the Redis and the memory store: the inline-expansion
// caps, a chain over a cap kept on the deployment that holds it, a previous turn still running, a
// pass-through turn the upstream did not store, a native turn continued by a polled one,
// input_items (under `/responses`, the master key, a native id) and a streamed pass-through id
// retrieved and continued.

import request from 'supertest';
import { startFakeUpstream, type FakeUpstream, type RecordedRequest, type Script, chatAnswer } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { STORE_KINDS, redisStoreForTest, startApp, storeOfKind, waitForStatus, type StoreHandle, type TestApp } from '../helpers/app';
import { collect, gate, steps } from '../helpers/flow';
import { NATIVE_TEXT, serveNativeProvider } from '../helpers/native-provider';
import type { DeploymentOptions, ResponsesPollingOptions } from '../../lib/config/options';
import { nativeKey } from '../../lib/store/keys';

const MASTER_KEY = 'sk-master-conv-0123456789abcdef';
const KEY_A = 'sk-team-a-conv-0123456789';
const KEY_B = 'sk-team-b-conv-0123456789';
const UPSTREAM_KEY = 'sk-upstream-conv-secret-0123456789';
const PROVIDER_KEY = 'sk-provider-conv-native-0123456789';

/** A completed upstream Response `id` saying `text`. */
function upstreamResponse(id: string, text: string): Record<string, unknown> {
  return {
    id,
    object: 'response',
    status: 'completed',
    model: 'gpt-4o-mini',
    output: [{ type: 'message', id: `msg_${id}`, role: 'assistant', status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] }],
  };
}

describe.each(STORE_KINDS)('continuing conversations on the %s store', (kind) => {
  const upstreams: FakeUpstream[] = [];
  const apps: TestApp[] = [];
  const stores: StoreHandle[] = [];

  async function upstream(): Promise<FakeUpstream> {
    const u = await startFakeUpstream();
    upstreams.push(u);
    return u;
  }

  /** One app over a fresh store of this block's kind; `keys()` lists the store's Redis keys (empty for memory). */
  async function instance(models: DeploymentOptions[], extra: ResponsesPollingOptions = {}): Promise<{ app: TestApp; keys(): Promise<string[]> }> {
    const handle = kind === 'redis' ? redisStoreForTest() : storeOfKind(kind);
    stores.push(handle);
    const app = await startApp({
      store: handle.store,
      models,
      masterKey: MASTER_KEY,
      virtualKeys: [
        { key: KEY_A, id: 'team-a' },
        { key: KEY_B, id: 'team-b' },
      ],
      worker: { flushIntervalMs: 10, upstreamRetryBaseMs: 10, upstreamIdleTimeoutMs: 3000 },
      ...extra,
    });
    apps.push(app);
    const keys = async () => ('keys' in handle ? (await (handle as ReturnType<typeof redisStoreForTest>).keys()).sort() : []);
    return { app, keys };
  }

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    await Promise.all(upstreams.splice(0).map((u) => u.close()));
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  const chat = (u: FakeUpstream): DeploymentOptions => ({ modelName: 'llama', model: 'hosted_vllm/llama-3', apiBase: u.url, apiKey: UPSTREAM_KEY });
  const responsesDeployment = (u: FakeUpstream): DeploymentOptions => ({ modelName: 'gpt', model: 'openai/gpt-4o-mini', apiBase: u.url, apiKey: UPSTREAM_KEY });

  test.each([
    ['maxTurns', { maxTurns: 1 }],
    ['maxBytes', { maxBytes: 1000 }],
  ])('a chain over conversation.%s where no deployment holds it is a 400 previous_response_not_continuable, with nothing created', async (_cap, conversation) => {
    const u = await upstream();
    u.respond((req) => chatAnswer(`reply ${u.requests.indexOf(req)}`));
    const { app, keys } = await instance([chat(u)], { conversation });
    const ca = app.client(KEY_A);
    const first = await ca.responses.create({ model: 'llama', input: 'One', background: true });
    await waitForStatus(ca, first.id, 'completed');
    // One short earlier turn fits both caps; with the second (over 1000 bytes of input) the chain does not.
    const second = await ca.responses.create({ model: 'llama', input: `Two ${'x'.repeat(1000)}`, previous_response_id: first.id, background: true });
    await waitForStatus(ca, second.id, 'completed');
    expect(u.requests).toHaveLength(2);
    const before = await keys();

    const res = await request(app.origin)
      .post('/llm/v1/responses')
      .set('authorization', `Bearer ${KEY_A}`)
      .send({ model: 'llama', input: 'Three', previous_response_id: second.id, background: true });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param: 'previous_response_id', code: 'previous_response_not_continuable' });
    expect(u.requests).toHaveLength(2);
    expect(await keys()).toEqual(before);
  });

  test('a chain over a cap that its deployment holds is sent there only: no failover to a deployment that would need it inline', async () => {
    const holder = await upstream();
    const other = await upstream();
    holder.respond((req) => ({ kind: 'sse', steps: steps(textTurnEvents('held', { responseId: `up_held_${holder.requests.indexOf(req)}` })) }));
    other.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents('other', { responseId: 'up_other' })) }));
    const { app } = await instance(
      [
        responsesDeployment(holder),
        { modelName: 'gpt', model: 'openai/gpt-4o-mini', apiBase: other.url, apiKey: 'sk-other-conv-deployment-key' },
      ],
      { routingStrategy: 'round-robin', conversation: { maxTurns: 1 } },
    );
    const ca = app.client(KEY_A);
    // Round-robin starts with the first deployment; each later turn is pinned to it (it holds the chain).
    const first = await ca.responses.create({ model: 'gpt', input: 'One', background: true });
    await waitForStatus(ca, first.id, 'completed');
    const second = await ca.responses.create({ model: 'gpt', input: 'Two', previous_response_id: first.id, background: true });
    await waitForStatus(ca, second.id, 'completed');
    holder.respond(() => ({ kind: 'json', status: 503, body: { error: { message: 'overloaded', type: 'server_error' } } }));

    const third = await ca.responses.create({ model: 'gpt', input: 'Three', previous_response_id: second.id, background: true });
    const failed = await waitForStatus(ca, third.id, 'failed');
    expect(failed.error).toMatchObject({ code: expect.any(String) });
    expect(holder.requests.slice(1).map((r) => r.body.previous_response_id)).toEqual(expect.arrayContaining(['up_held_0', 'up_held_1']));
    expect(other.requests).toHaveLength(0);
  });

  test('a previous turn still running is a 400 previous_response_in_progress, and the upstream is not asked', async () => {
    const u = await upstream();
    const hold = gate();
    u.respond(() => ({ kind: 'sse', steps: [...steps(textTurnEvents('slow', { responseId: 'up_slow' })).slice(0, 2), { until: hold.promise }, ...steps(textTurnEvents('slow', { responseId: 'up_slow' })).slice(2)] }));
    const { app } = await instance([responsesDeployment(u)]);
    const ca = app.client(KEY_A);
    const first = await ca.responses.create({ model: 'gpt', input: 'Hello', background: true });
    await waitForStatus(ca, first.id, 'in_progress');

    const res = await request(app.origin)
      .post('/llm/v1/responses')
      .set('authorization', `Bearer ${KEY_A}`)
      .send({ model: 'gpt', input: 'Next', previous_response_id: first.id, background: true });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param: 'previous_response_id', code: 'previous_response_in_progress' });
    expect(u.requests).toHaveLength(1);
    hold.open();
    await waitForStatus(ca, first.id, 'completed');
    // Once it has finished it can be continued.
    const next = await ca.responses.create({ model: 'gpt', input: 'Next', previous_response_id: first.id, background: true });
    await waitForStatus(ca, next.id, 'completed');
    expect(u.requests[1].body.previous_response_id).toBe('up_slow');
  });

  test('a pass-through turn the upstream was told not to store is expanded inline for the next turn', async () => {
    const u = await upstream();
    u.respond((req: RecordedRequest) =>
      req.body.background === undefined && req.body.stream !== true
        ? { kind: 'json', status: 200, body: upstreamResponse('up_unstored', 'kept nowhere') }
        : { kind: 'sse', steps: steps(textTurnEvents('polled', { responseId: 'up_polled' })) },
    );
    const { app } = await instance([responsesDeployment(u)]);
    const ca = app.client(KEY_A);
    const first = await ca.responses.create({ model: 'gpt', input: 'Remember nothing', store: false });
    expect(first.id).toBe('up_unstored');
    const second = await ca.responses.create({ model: 'gpt', input: 'Go on', previous_response_id: first.id, background: true });
    await waitForStatus(ca, second.id, 'completed');

    const sent = u.requests[1].body;
    expect(sent.previous_response_id).toBeUndefined();
    expect(sent.input).toEqual([
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Remember nothing' }] },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'kept nowhere', annotations: [] }] },
      { role: 'user', content: 'Go on' },
    ]);
  });

  test('a native background turn continued by a polled turn: refused while it runs, then the polled upstream gets it expanded, read from its provider', async () => {
    const native = await upstream();
    const polled = await upstream();
    const provider = serveNativeProvider(native, PROVIDER_KEY);
    polled.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents('polled after native', { responseId: 'up_after_native' })) }));
    const { app } = await instance(
      [
        { modelName: 'deep-research', model: 'openai/o4-mini-deep-research', apiBase: native.url, apiKey: PROVIDER_KEY },
        responsesDeployment(polled),
      ],
      { backgroundMode: { pollingViaCache: 'all', nativeBackgroundMode: ['deep-research'] } },
    );
    const ca = app.client(KEY_A);
    const first = await ca.responses.create({ model: 'deep-research', input: 'research this', background: true });
    expect(first.id).toMatch(/^resp_native_/);
    // Still running at its provider (the fake moves it on one step per read): not continued yet.
    const early = await request(app.origin)
      .post('/llm/v1/responses')
      .set('authorization', `Bearer ${KEY_A}`)
      .send({ model: 'gpt', input: 'too soon', previous_response_id: first.id, background: true });
    expect(early.status).toBe(400);
    expect(early.body.error).toMatchObject({ param: 'previous_response_id', code: 'previous_response_in_progress' });
    expect(polled.requests).toHaveLength(0);
    await waitForStatus(ca, first.id, 'completed');
    const readsBefore = provider.requests().filter((r) => r.method === 'GET').length;

    const second = await ca.responses.create({ model: 'gpt', input: 'summarise it', previous_response_id: first.id, background: true });
    const done = await waitForStatus(ca, second.id, 'completed');
    expect(done.previous_response_id).toBe(first.id);
    const sent = polled.requests[0].body;
    expect(sent.previous_response_id).toBeUndefined();
    expect(sent.input).toEqual([
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'research this' }] },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: NATIVE_TEXT, annotations: [] }] },
      { role: 'user', content: 'summarise it' },
    ]);
    // The native turn's output came from its provider, with that deployment's key.
    const reads = provider.requests().filter((r) => r.method === 'GET');
    expect(reads.length).toBe(readsBefore + 1);
    expect(reads.at(-1)).toMatchObject({ url: `/v1/responses/${first.id}`, headers: expect.objectContaining({ authorization: `Bearer ${PROVIDER_KEY}` }) });
  });

  test('input_items under /responses (no /v1): the master key reads anyone’s, another key gets 404, a native id is forwarded', async () => {
    const native = await upstream();
    const polledUpstream = await upstream();
    serveNativeProvider(native, PROVIDER_KEY);
    polledUpstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents('ok', { responseId: 'up_ok' })) }));
    const { app } = await instance(
      [
        { modelName: 'deep-research', model: 'openai/o4-mini-deep-research', apiBase: native.url, apiKey: PROVIDER_KEY },
        responsesDeployment(polledUpstream),
      ],
      { backgroundMode: { pollingViaCache: 'all', nativeBackgroundMode: ['deep-research'] } },
    );
    const ca = app.client(KEY_A);
    const polled = await ca.responses.create({ model: 'gpt', input: 'polled input', background: true });
    await waitForStatus(ca, polled.id, 'completed');
    const nativeOne = await ca.responses.create({ model: 'deep-research', input: 'native input', background: true });

    const get = (id: string, key: string) => request(app.origin).get(`/llm/responses/${id}/input_items?limit=5&order=asc`).set('authorization', `Bearer ${key}`);
    const textOfPage = (body: { data: Array<{ content: Array<{ text: string }> }> }) => body.data.map((i) => i.content[0].text);

    for (const key of [KEY_A, MASTER_KEY]) {
      const page = await get(polled.id, key);
      expect(page.status).toBe(200);
      expect(page.body).toMatchObject({ object: 'list', has_more: false });
      expect(textOfPage(page.body)).toEqual(['polled input']);
    }
    const theirs = await get(polled.id, KEY_B);
    expect(theirs.status).toBe(404);
    expect(theirs.body.error).toMatchObject({ type: 'invalid_request_error' });

    for (const key of [KEY_A, MASTER_KEY]) {
      const page = await get(nativeOne.id, key);
      expect(page.status).toBe(200);
      expect(textOfPage(page.body)).toEqual(['native input']);
    }
    const forwarded = native.requests.filter((r) => r.url.includes('/input_items'));
    expect(forwarded).toHaveLength(2);
    for (const r of forwarded) {
      expect(r.url).toBe(`/v1/responses/${nativeOne.id}/input_items?limit=5&order=asc`);
      expect(r.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    }
    expect((await get(nativeOne.id, KEY_B)).status).toBe(404);
    expect(native.requests.filter((r) => r.url.includes('/input_items'))).toHaveLength(2);
  });

  test('a streamed pass-through response is remembered once its stream ends: retrieved and continued through its deployment', async () => {
    const u = await upstream();
    u.respond((req: RecordedRequest) => {
      if (req.method === 'GET' && req.url === '/v1/responses/up_streamed') return { kind: 'json', status: 200, body: upstreamResponse('up_streamed', 'streamed text') };
      if (req.body.stream === true && req.body.background === undefined) return { kind: 'sse', steps: steps(textTurnEvents('streamed text', { responseId: 'up_streamed' })) };
      return { kind: 'sse', steps: steps(textTurnEvents('polled', { responseId: 'up_polled_next' })) };
    });
    const { app } = await instance([responsesDeployment(u)]);
    const ca = app.client(KEY_A);
    const events = await collect(await ca.responses.create({ model: 'gpt', input: 'stream it', stream: true }));
    const completed = events.find((e) => e.type === 'response.completed');
    expect(completed && 'response' in completed ? completed.response.id : undefined).toBe('up_streamed');

    const again = await ca.responses.retrieve('up_streamed');
    expect(again).toMatchObject({ id: 'up_streamed', status: 'completed' });
    expect((await request(app.origin).get('/llm/v1/responses/up_streamed').set('authorization', `Bearer ${KEY_B}`)).status).toBe(404);

    const next = await ca.responses.create({ model: 'gpt', input: 'and more', previous_response_id: 'up_streamed', background: true });
    const done = await waitForStatus(ca, next.id, 'completed');
    expect(done.previous_response_id).toBe('up_streamed');
    const continued = u.requests.find((r) => r.method === 'POST' && r.body.input === 'and more');
    expect(continued?.body.previous_response_id).toBe('up_streamed');
  });
});

describe('a streamed pass-through response on Redis', () => {
  let u: FakeUpstream | undefined;
  let app: TestApp | undefined;
  let handle: ReturnType<typeof redisStoreForTest> | undefined;

  afterEach(async () => {
    await app?.close();
    await u?.close();
    await handle?.close();
  });

  test('is remembered before the client sees its terminal event, even while Redis holds writes back', async () => {
    u = await startFakeUpstream();
    const release = gate();
    const events = steps(textTurnEvents('streamed text', { responseId: 'up_held' }));
    // Everything up to the terminal event, then the terminal event once the test froze Redis's writes.
    u.respond(() => ({ kind: 'sse', steps: [...events.slice(0, -1), { until: release.promise }, ...events.slice(-1), { hang: true }] }));
    handle = redisStoreForTest();
    app = await startApp({
      store: handle.store,
      models: [{ modelName: 'gpt', model: 'openai/gpt-4o-mini', apiBase: u.url, apiKey: UPSTREAM_KEY }],
      virtualKeys: [{ key: KEY_A, id: 'team-a' }],
    });
    const stream = await app.client(KEY_A).responses.create({ model: 'gpt', input: 'stream it', stream: true });
    await handle.keys(); // connects the inspecting client
    const seen: string[] = [];
    let remembered: string | null = 'not read';
    for await (const event of stream) {
      seen.push(event.type);
      if (event.type === 'response.created') {
        // Writes wait in Redis for a while; reads (this test's GET below) do not.
        await handle.inspect.sendCommand(['CLIENT', 'PAUSE', '1500', 'WRITE']);
        release.open();
      }
      if (event.type === 'response.completed') {
        remembered = await handle.inspect.get(nativeKey(handle.prefix, 'up_held'));
        break;
      }
    }
    expect(seen).toContain('response.completed');
    expect(remembered).not.toBeNull();
    expect(JSON.parse(remembered as string)).toMatchObject({ path: 'pass_through' });
  });
});
