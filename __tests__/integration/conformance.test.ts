// What the package emits matches OpenAI's protocol where upstreams fall short of it, and every
// failed Response validates against the Response schema of OpenAI's OpenAPI spec (its error-code enum).

import request from 'supertest';
import type OpenAI from 'openai';
import { startFakeUpstream, type FakeUpstream, type Script } from '../helpers/fake-upstream';
import { failedTurnEvents, functionCallEvents, textTurnEvents } from '../helpers/event-fixtures';
import { startApp, STORE_KINDS, storeOfKind, useApp, waitForStatus, type StoreHandle, type TestApp } from '../helpers/app';
import { failedWith, steps } from '../helpers/flow';
import { openapiErrors, OPENAPI_SCHEMAS } from '../helpers/openapi';
import { MemoryStore } from '../../lib/store/memory-store';
import { silentLogger } from '../../lib/logger';
import { ownerHash } from '../../lib/principal';
import { RESPONSE_ERROR_CODES } from '../../lib/response-vocabulary';
import type { ResponsesPollingOptions } from '../../lib/config/options';

const UPSTREAM_KEY = 'sk-upstream-0123456789abcdef';
const TEXT = 'Conformance keeps every client library working.';
const ANONYMOUS = ownerHash({ id: 'anonymous', admin: false });

interface Frame {
  event: string;
  data: Record<string, unknown>;
}

/** The SSE replay of a response from its first event, parsed. */
async function replay(app: TestApp, id: string): Promise<Frame[]> {
  const res = await request(app.origin)
    .get(`/llm/v1/responses/${id}?stream=true`)
    .buffer(true)
    .parse((r, done) => {
      let text = '';
      r.on('data', (c: Buffer) => (text += c.toString()));
      r.on('end', () => done(null, text));
    });
  return String(res.body)
    .split('\n\n')
    .map((frame) => {
      const lines = frame.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
      const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
      return event && data ? { event, data: JSON.parse(data) as Record<string, unknown> } : undefined;
    })
    .filter((f): f is Frame => f !== undefined);
}

/**
 * Checks a failed response the OpenAI way: the Response (as retrieved) against the spec's
 * `Response` schema, its `error` `{code, message}` with the code expected and our detail leading
 * the message; its replayed `response.failed` against `ResponseFailedEvent`, and an `error` event,
 * where there is one, against `ResponseErrorEvent`, saying what the Response says.
 */
async function expectConformantFailure(app: TestApp, failed: OpenAI.Responses.Response, detail: string, code: string): Promise<void> {
  expect(openapiErrors('Response', failed)).toEqual([]);
  expect(failed.error).toEqual(failedWith(detail, code));
  const frames = await replay(app, failed.id);
  const final = frames[frames.length - 1];
  expect(final.event).toBe('response.failed');
  expect(openapiErrors('ResponseFailedEvent', final.data)).toEqual([]);
  expect((final.data.response as { error: unknown }).error).toEqual(failed.error);
  for (const frame of frames.filter((f) => f.event === 'error')) {
    expect(openapiErrors('ResponseErrorEvent', frame.data)).toEqual([]);
    expect(frame.data).toMatchObject({ code: failed.error!.code, message: failed.error!.message });
  }
}

describe('protocol conformance', () => {
  let upstream: FakeUpstream;
  let app: TestApp;

  beforeEach(async () => {
    upstream = await startFakeUpstream();
    app = await startApp({
      auth: 'none',
      store: new MemoryStore({ logger: silentLogger }),
      models: [{ modelName: 'gpt', model: 'openai/gpt-4o-mini', apiBase: upstream.url, apiKey: UPSTREAM_KEY }],
      worker: { flushIntervalMs: 10 },
    });
  });

  afterEach(async () => {
    await app.close();
    await upstream.close();
  });

  test('function_call_arguments.done always names the function, filled from its item when the upstream left it out', async () => {
    const events = functionCallEvents({ name: 'get_weather', arguments: '{"city":"Paris"}', callId: 'call_1', itemId: 'fc_1' }).map((e) =>
      e.type === 'response.function_call_arguments.done' ? { ...e, name: undefined } : e,
    );
    upstream.respond(() => ({ kind: 'sse', steps: steps(events) }));
    const client = app.client();
    const created = await client.responses.create({ model: 'gpt', input: 'Weather?', background: true, stream: false });
    await waitForStatus(client, created.id, 'completed');
    const done = (await replay(app, created.id)).find((f) => f.event === 'response.function_call_arguments.done');
    expect(done?.data).toMatchObject({ name: 'get_weather', arguments: '{"city":"Paris"}' });
  });
});

test("the package's error codes are exactly the spec's ResponseErrorCode enum", () => {
  expect([...RESPONSE_ERROR_CODES]).toEqual((OPENAPI_SCHEMAS.ResponseErrorCode as { enum: string[] }).enum);
});

describe.each(STORE_KINDS)('failed Responses conform to the OpenAPI spec on the %s store', (kind) => {
  let upstream: FakeUpstream;
  let app: TestApp;
  let store: StoreHandle;
  let client: OpenAI;

  useApp(
    kind,
    (u, s) => ({
      auth: 'none',
      store: s,
      models: [
        { modelName: 'gpt', model: 'openai/gpt-4o-mini', apiBase: u.url, apiKey: UPSTREAM_KEY },
        { modelName: 'llama', model: 'ollama/llama3', apiBase: u.url },
      ],
      worker: { flushIntervalMs: 10, upstreamIdleTimeoutMs: 500, upstreamMaxAttempts: 1, maxResponseEvents: 30 },
    }),
    (f) => {
      ({ upstream, app, store } = f);
      client = app.client();
    },
  );

  /** Creates a background response (of `model`) against `script` and waits for it to fail. */
  async function failing(script: Script, model = 'gpt'): Promise<OpenAI.Responses.Response> {
    upstream.respond(() => script);
    const created = await client.responses.create({ model, input: 'hi', background: true });
    return waitForStatus(client, created.id, 'failed');
  }

  const cut = (events: Array<Record<string, unknown>>) => events.slice(0, events.findIndex((e) => e.type === 'response.output_text.delta') + 2);

  test.each([
    ['an upstream HTTP 500', 'upstream_error', 'server_error', { kind: 'json', status: 500, body: { error: { message: 'boom', type: 'server_error', code: 'server_error' } } }],
    ['an upstream HTTP 429', 'upstream_rate_limited', 'rate_limit_exceeded', { kind: 'json', status: 429, headers: { 'retry-after': '0' }, body: { error: { message: 'slow down', type: 'requests', code: 'rate_limit_exceeded' } } }],
    ['an upstream gone quiet past the idle timeout', 'upstream_timeout', 'server_error', { kind: 'sse', steps: [...steps(textTurnEvents(TEXT).slice(0, 4)), { hang: true }] }],
    ['a stream cut before its terminal event', 'upstream_stream_incomplete', 'server_error', { kind: 'sse', steps: steps(cut(textTurnEvents(TEXT, { chunkSize: 3 }))) }],
    ['a response over its event cap', 'response_too_large', 'server_error', { kind: 'sse', steps: steps(textTurnEvents(TEXT.repeat(4), { chunkSize: 1 })) }],
    ['an upstream error and response.failed with a code outside the enum', 'context_length_exceeded', 'server_error', { kind: 'sse', steps: steps(failedTurnEvents('context_length_exceeded', 'Too long.')) }],
  ] as Array<[string, string, string, Script]>)('%s: detail %s, code %s', async (_what, detail, code, script) => {
    const failed = await failing(script);
    await expectConformantFailure(app, failed, detail, code);
  });

  test("an upstream error with a code of OpenAI's enum keeps its code and message", async () => {
    const failed = await failing({ kind: 'sse', steps: steps(failedTurnEvents('rate_limit_exceeded', 'Rate limit reached for requests')) });
    expect(failed.error).toEqual({ code: 'rate_limit_exceeded', message: 'Rate limit reached for requests' });
    expect(openapiErrors('Response', failed)).toEqual([]);
    const frames = await replay(app, failed.id);
    const error = frames.find((f) => f.event === 'error')!;
    expect(openapiErrors('ResponseErrorEvent', error.data)).toEqual([]);
    expect(error.data).toMatchObject({ code: 'rate_limit_exceeded', message: 'Rate limit reached for requests' });
  });

  test("a Chat Completions server's error frame: its own code leads the message, code server_error, with an error event", async () => {
    const chunk = (body: Record<string, unknown>) => ({ raw: `data: ${JSON.stringify(body)}\n\n` });
    const failed = await failing(
      {
        kind: 'sse',
        steps: [
          chunk({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: 'Part' }, finish_reason: null }] }),
          chunk({ error: { message: 'The model is overloaded.', type: 'server_error', code: 'overloaded', param: null } }),
        ],
      },
      'llama',
    );
    await expectConformantFailure(app, failed, 'overloaded', 'server_error');
    expect((await replay(app, failed.id)).some((f) => f.event === 'error')).toBe(true);
  });

  test('a response whose worker was lost (lease lapsed): detail worker_lost, code server_error, with an error event', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT)) }));
    const template = await waitForStatus(client, (await client.responses.create({ model: 'gpt', input: 'hi', background: true })).id, 'completed');
    // The same Response as a record in progress whose worker is gone: nobody renews its lease.
    const id = `resp_${'cd'.repeat(24)}`;
    const running = { ...template, id, status: 'in_progress', output: [], usage: null, completed_at: null };
    await store.store.create({
      id,
      owner: ANONYMOUS,
      snapshot: JSON.stringify(running),
      events: [JSON.stringify({ type: 'response.created', sequence_number: 0, response: running })],
      stream: false,
      leaseMs: 300,
      ttlSeconds: 60,
    });
    const failed = await waitForStatus(client, id, 'failed');
    await expectConformantFailure(app, failed, 'worker_lost', 'server_error');
    const frames = await replay(app, id);
    expect(frames.map((f) => f.event)).toEqual(['response.created', 'error', 'response.failed']);
  });
});

describe.each(STORE_KINDS)('a queue timeout conforms on the %s store', (kind) => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  test('a response no worker claimed within worker.maxQueueMs: detail queue_timeout, code rate_limit_exceeded', async () => {
    const upstream = await startFakeUpstream();
    closers.push(() => upstream.close());
    const store = storeOfKind(kind);
    closers.push(() => store.close());
    // An API-only instance: nothing claims the response.
    const options: ResponsesPollingOptions = {
      auth: 'none',
      role: 'api',
      store: store.store,
      models: [{ modelName: 'gpt', model: 'openai/gpt-4o-mini', apiBase: upstream.url, apiKey: UPSTREAM_KEY }],
      worker: { maxQueueMs: 100 },
    };
    const app = await startApp(options);
    closers.push(() => app.close());
    const client = app.client();
    const created = await client.responses.create({ model: 'gpt', input: 'hi', background: true });
    const failed = await waitForStatus(client, created.id, 'failed');
    await expectConformantFailure(app, failed, 'queue_timeout', 'rate_limit_exceeded');
    expect(upstream.requests).toHaveLength(0);
  });
});
