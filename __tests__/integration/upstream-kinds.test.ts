// Upstreams of every kind behind one background API: Chat Completions servers (text, tool calls,
// length limits), Azure's URL schemes and header, and failover across a model's deployments.

import OpenAI from 'openai';
import request from 'supertest';
import { startFakeUpstream, type FakeUpstream, type Step } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { startApp, waitForStatus, type TestApp } from '../helpers/app';
import { collect, gate, steps, textOf, failedWith } from '../helpers/flow';
import { MemoryStore } from '../../lib/store/memory-store';
import { silentLogger } from '../../lib/logger';
import type { DeploymentOptions, ResponsesPollingOptions } from '../../lib/config/options';

const KEY = 'sk-upstream-secret-0123456789abcdef';

/** SSE steps of a Chat Completions stream: one `data:` line per chunk, then `[DONE]`. */
function chatSteps(chunks: Array<Record<string, unknown>>, waitMs = 0): Step[] {
  const out: Step[] = [];
  for (const chunk of chunks) {
    if (waitMs) out.push({ wait: waitMs });
    out.push({ raw: `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', ...chunk })}\n\n` });
  }
  out.push({ raw: 'data: [DONE]\n\n' });
  return out;
}

const delta = (d: Record<string, unknown>, finish: string | null = null) => ({ choices: [{ index: 0, delta: d, finish_reason: finish }] });
const usageChunk = (prompt: number, completion: number) => ({
  choices: [],
  usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
});

/** A chat stream that says `parts` joined, finishing with `finish`. */
function chatText(parts: string[], finish = 'stop'): Array<Record<string, unknown>> {
  return [delta({ role: 'assistant', content: '' }), ...parts.map((p) => delta({ content: p })), delta({}, finish), usageChunk(11, parts.length)];
}

describe('background responses from upstreams of every kind', () => {
  const upstreams: FakeUpstream[] = [];
  const apps: TestApp[] = [];

  async function upstream(): Promise<FakeUpstream> {
    const u = await startFakeUpstream();
    upstreams.push(u);
    return u;
  }

  async function app(models: DeploymentOptions[], extra: ResponsesPollingOptions = {}): Promise<{ app: TestApp; client: OpenAI }> {
    const a = await startApp({
      store: new MemoryStore({ logger: silentLogger }),
      models,
      ...extra,
      worker: { flushIntervalMs: 10, upstreamRetryBaseMs: 10, upstreamIdleTimeoutMs: 3000, ...(extra.worker ?? {}) },
    });
    apps.push(a);
    return { app: a, client: a.client() };
  }

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    await Promise.all(upstreams.splice(0).map((u) => u.close()));
  });

  describe('a Chat Completions deployment', () => {
    test('streams chat chunks into a completed Response with the text, usage and mapped request', async () => {
      const u = await upstream();
      u.respond(() => ({ kind: 'sse', steps: chatSteps(chatText(['Hel', 'lo, ', 'wörld 👋'])) }));
      const { client } = await app([{ modelName: 'llama', model: 'hosted_vllm/meta-llama/Llama-3-8B', apiBase: u.url, apiKey: KEY }]);

      const created = await client.responses.create({
        model: 'llama',
        instructions: 'Be brief.',
        input: 'Say hello',
        max_output_tokens: 64,
        temperature: 0.2,
        background: true,
      });
      expect(created.status).toBe('queued');
      const done = await waitForStatus(client, created.id, 'completed');
      expect(textOf(done)).toBe('Hello, wörld 👋');
      expect(done.output_text).toBe('Hello, wörld 👋');
      expect(done.usage).toMatchObject({ input_tokens: 11, output_tokens: 3, total_tokens: 14 });

      const sent = u.requests[0];
      expect(sent.url).toBe('/v1/chat/completions');
      expect(sent.headers.authorization).toBe(`Bearer ${KEY}`);
      expect(sent.body).toMatchObject({
        model: 'meta-llama/Llama-3-8B',
        stream: true,
        stream_options: { include_usage: true },
        temperature: 0.2,
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Say hello' },
        ],
      });
      expect(sent.body.background).toBeUndefined();
      expect(sent.body.input).toBeUndefined();
    });

    test('turns streamed tool calls into function_call items with their whole arguments', async () => {
      const u = await upstream();
      u.respond(() => ({
        kind: 'sse',
        steps: chatSteps([
          delta({ role: 'assistant', tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
          delta({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
          delta({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{"tz":"UTC"}' } }] }),
          delta({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
          delta({}, 'tool_calls'),
          usageChunk(20, 9),
        ]),
      }));
      const { client } = await app([{ modelName: 'tools', model: 'groq/llama-3.3-70b', apiBase: u.url, apiKey: KEY }]);
      const created = await client.responses.create({
        model: 'tools',
        input: 'Weather in Paris and the time?',
        tools: [
          { type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: false },
          { type: 'function', name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } }, strict: false },
        ],
        tool_choice: 'auto',
        background: true,
      });
      const done = await waitForStatus(client, created.id, 'completed');
      const calls = done.output.filter((i) => i.type === 'function_call') as OpenAI.Responses.ResponseFunctionToolCall[];
      expect(calls.map((c) => [c.call_id, c.name, c.arguments])).toEqual([
        ['call_a', 'get_weather', '{"city":"Paris"}'],
        ['call_b', 'get_time', '{"tz":"UTC"}'],
      ]);
      expect(u.requests[0].body).toMatchObject({
        tool_choice: 'auto',
        tools: [{ type: 'function', function: { name: 'get_weather' } }, { type: 'function', function: { name: 'get_time' } }],
      });
    });

    test('a length stop ends the response as incomplete with the max_output_tokens reason', async () => {
      const u = await upstream();
      u.respond(() => ({ kind: 'sse', steps: chatSteps(chatText(['cut ', 'sho'], 'length')) }));
      const { client } = await app([{ modelName: 'llama', model: 'ollama/llama3', apiBase: u.url }]);
      const created = await client.responses.create({ model: 'llama', input: 'long story', background: true });
      const done = await waitForStatus(client, created.id, 'incomplete');
      expect(done.incomplete_details).toEqual({ reason: 'max_output_tokens' });
      expect(textOf(done)).toBe('cut sho');
    });

    test('resuming the event stream replays the adapted events with their sequence numbers', async () => {
      const u = await upstream();
      u.respond(() => ({ kind: 'sse', steps: chatSteps(chatText(['a', 'b', 'c'])) }));
      const { client } = await app([{ modelName: 'llama', model: 'ollama/llama3', apiBase: u.url }]);
      const created = await client.responses.create({ model: 'llama', input: 'abc', background: true, stream: true });
      const live = await collect(created);
      const id = (live[0] as { response: { id: string } }).response.id;
      const resumed = await collect(await client.responses.retrieve(id, { stream: true, starting_after: 2 }));
      expect(resumed).toEqual(live.filter((e) => e.sequence_number > 2));
      const deltas = live.filter((e) => e.type === 'response.output_text.delta').map((e) => (e as { delta: string }).delta);
      expect(deltas).toEqual(['a', 'b', 'c']);
      expect(resumed[resumed.length - 1].type).toBe('response.completed');
    });

    test('cancel stops a running chat stream and closes the upstream connection', async () => {
      const u = await upstream();
      const hold = gate();
      u.respond(() => ({ kind: 'sse', steps: [...chatSteps([delta({ content: 'partial' })]).slice(0, 1), { until: hold.promise }, { hang: true }] }));
      const { client } = await app([{ modelName: 'llama', model: 'ollama/llama3', apiBase: u.url }]);
      const created = await client.responses.create({ model: 'llama', input: 'x', background: true });
      await waitForStatus(client, created.id, 'in_progress');
      const cancelled = await client.responses.cancel(created.id);
      expect(cancelled.status).toBe('cancelled');
      await u.requests[0].clientClosed;
      hold.open();
    });

    test('a request that Chat Completions cannot express is refused with a 400 before any id exists', async () => {
      const u = await upstream();
      const { app: a } = await app([{ modelName: 'llama', model: 'ollama/llama3', apiBase: u.url }]);
      const res = await request(a.origin)
        .post('/llm/v1/responses')
        .set('authorization', 'Bearer x')
        .send({ model: 'llama', input: 'x', background: true, tools: [{ type: 'web_search' }] });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param: 'tools[0].type' });
      expect(u.requests).toHaveLength(0);
    });

    test('a request without background is answered with the final Response, and nothing is stored', async () => {
      const u = await upstream();
      u.respond(() => ({ kind: 'sse', steps: chatSteps(chatText(['plain ', 'answer'])) }));
      const store = new MemoryStore({ logger: silentLogger });
      const a = await startApp({ store, models: [{ modelName: 'llama', model: 'ollama/llama3', apiBase: u.url }] });
      apps.push(a);
      const r = await a.client().responses.create({ model: 'llama', input: 'x' });
      expect(r).toMatchObject({ object: 'response', status: 'completed', background: false, output_text: 'plain answer' });
      expect(r.usage).toMatchObject({ input_tokens: 11, output_tokens: 2 });
      expect(await store.read(r.id, null)).toBeNull();
    });

    test('a streamed request without background gets the adapted events live, numbered from 0', async () => {
      const u = await upstream();
      u.respond(() => ({ kind: 'sse', steps: chatSteps(chatText(['x', 'y', 'z']), 5) }));
      const { client } = await app([{ modelName: 'llama', model: 'ollama/llama3', apiBase: u.url }]);
      const events = await collect(await client.responses.create({ model: 'llama', input: 'x', stream: true }));
      expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
      expect(events[0].type).toBe('response.created');
      expect(events.filter((e) => e.type === 'response.output_text.delta').map((e) => (e as { delta: string }).delta)).toEqual(['x', 'y', 'z']);
      const last = events[events.length - 1] as { type: string; response: OpenAI.Responses.Response };
      expect(last.type).toBe('response.completed');
      expect(textOf(last.response)).toBe('xyz');
    });

    test('a failing chat upstream without background is a 502 with the scrubbed upstream message', async () => {
      const u = await upstream();
      u.respond(() => ({ kind: 'json', status: 400, body: { error: { message: `bad request for key ${KEY}` } } }));
      const { app: a } = await app([{ modelName: 'llama', model: 'ollama/llama3', apiBase: u.url, apiKey: KEY }]);
      const res = await request(a.origin).post('/llm/v1/responses').send({ model: 'llama', input: 'x' });
      expect(res.status).toBe(502);
      expect(res.body.error.message).toMatch(/HTTP 400/);
      expect(JSON.stringify(res.body)).not.toContain(KEY);
    });

    test('a client that leaves a streamed request without background closes the upstream connection', async () => {
      const u = await upstream();
      u.respond(() => ({ kind: 'sse', steps: [...chatSteps([delta({ content: 'partial' })]).slice(0, 1), { hang: true }] }));
      const { client } = await app([{ modelName: 'llama', model: 'ollama/llama3', apiBase: u.url }]);
      const stream = await client.responses.create({ model: 'llama', input: 'x', stream: true });
      for await (const event of stream) {
        if (event.type === 'response.output_text.delta') break;
      }
      await u.requests[0].clientClosed;
    });

    test('a background request for a chat deployment that polling does not cover is refused with a 400', async () => {
      const u = await upstream();
      const { app: a } = await app([{ modelName: 'llama', model: 'ollama/llama3', apiBase: u.url }], { backgroundMode: { pollingViaCache: false } });
      const res = await request(a.origin).post('/llm/v1/responses').send({ model: 'llama', input: 'x', background: true });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'unsupported_for_model', param: 'background' });
      expect(u.requests).toHaveLength(0);
    });
    test('a nativeBackgroundMode model whose deployment speaks only Chat Completions is refused with a 400 that says so', async () => {
      const u = await upstream();
      const { app: a } = await app([{ modelName: 'llama', model: 'ollama/llama3', apiBase: u.url }], { backgroundMode: { nativeBackgroundMode: ['llama'] } });
      const res = await request(a.origin).post('/llm/v1/responses').send({ model: 'llama', input: 'x', background: true });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'native_background_unsupported', param: 'model' });
      expect(u.requests).toHaveLength(0);
    });
  });

  describe('Azure OpenAI deployments', () => {
    const root = (u: FakeUpstream) => u.url.replace(/\/v1$/, '');

    test('with an api_version, Responses go to /openai/responses?api-version with the api-key header', async () => {
      const u = await upstream();
      u.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents('from azure')) }));
      const { client } = await app([{ modelName: 'az', model: 'azure/my-gpt4o', apiBase: root(u), apiKey: KEY, apiVersion: '2025-04-01-preview' }]);
      const created = await client.responses.create({ model: 'az', input: 'x', background: true });
      const done = await waitForStatus(client, created.id, 'completed');
      expect(textOf(done)).toBe('from azure');
      expect(u.requests[0].url).toBe('/openai/responses?api-version=2025-04-01-preview');
      expect(u.requests[0].headers['api-key']).toBe(KEY);
      expect(u.requests[0].headers.authorization).toBeUndefined();
      expect(u.requests[0].body.model).toBe('my-gpt4o');
    });

    test('a request without background is passed through on the same Azure URL and header', async () => {
      const u = await upstream();
      u.respond(() => ({ kind: 'json', status: 200, body: { id: 'resp_az', object: 'response', status: 'completed', output: [] } }));
      const { client } = await app([{ modelName: 'az', model: 'azure/my-gpt4o', apiBase: root(u), apiKey: KEY, apiVersion: '2025-04-01-preview' }]);
      const r = await client.responses.create({ model: 'az', input: 'x' });
      expect(r.id).toBe('resp_az');
      expect(u.requests[0].url).toBe('/openai/responses?api-version=2025-04-01-preview');
      expect(u.requests[0].headers['api-key']).toBe(KEY);
    });

    test('without an api_version, the v1 API path is used', async () => {
      const u = await upstream();
      u.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents('v1')) }));
      const { client } = await app([{ modelName: 'az', model: 'azure/my-gpt4o', apiBase: `${root(u)}/`, apiKey: KEY }]);
      const created = await client.responses.create({ model: 'az', input: 'x', background: true });
      await waitForStatus(client, created.id, 'completed');
      expect(u.requests[0].url).toBe('/openai/v1/responses');
    });

    test('a Chat Completions Azure deployment goes to /openai/deployments/{name}/chat/completions', async () => {
      const u = await upstream();
      u.respond(() => ({ kind: 'sse', steps: chatSteps(chatText(['az chat'])) }));
      const { client } = await app([
        { modelName: 'az', model: 'azure/gpt-35', apiBase: root(u), apiKey: KEY, apiVersion: '2024-10-21', upstreamApi: 'chat_completions' },
      ]);
      const created = await client.responses.create({ model: 'az', input: 'x', background: true });
      const done = await waitForStatus(client, created.id, 'completed');
      expect(textOf(done)).toBe('az chat');
      expect(u.requests[0].url).toBe('/openai/deployments/gpt-35/chat/completions?api-version=2024-10-21');
      expect(u.requests[0].headers['api-key']).toBe(KEY);
    });

    test('a Chat Completions Azure deployment behind a wildcard refuses ., .. and an empty name as its deployment with 400', async () => {
      const u = await upstream();
      u.respond(() => ({ kind: 'sse', steps: chatSteps(chatText(['never'])) }));
      const { app: a } = await app([
        { modelName: 'az/*', model: 'azure/*', apiBase: root(u), apiKey: KEY, apiVersion: '2024-10-21', upstreamApi: 'chat_completions' },
      ]);
      for (const name of ['.', '..']) {
        for (const background of [true, false]) {
          const res = await request(a.origin).post('/llm/v1/responses').send({ model: `az/${name}`, input: 'x', background });
          expect(res.status).toBe(400);
          expect(res.body.error).toMatchObject({ code: 'invalid_deployment_name', param: 'model' });
        }
      }
      // An empty rest matches no deployment at all.
      const empty = await request(a.origin).post('/llm/v1/responses').send({ model: 'az/', input: 'x', background: true });
      expect(empty.status).toBe(400);
      expect(u.requests).toHaveLength(0);
      // A name that merely contains dots is a deployment like any other.
      const created = await request(a.origin).post('/llm/v1/responses').send({ model: 'az/gpt-3.5', input: 'x', background: true });
      expect(created.status).toBe(200);
      await u.waitForRequest(0);
      expect(u.requests[0].url).toBe('/openai/deployments/gpt-3.5/chat/completions?api-version=2024-10-21');
    });
  });

  describe('several deployments of one model name', () => {
    const pair = (a: FakeUpstream, b: FakeUpstream): DeploymentOptions[] => [
      { modelName: 'gpt-pool', model: 'openai/gpt-a', apiBase: a.url, apiKey: 'sk-a-0123456789' },
      { modelName: 'gpt-pool', model: 'openai/gpt-b', apiBase: b.url, apiKey: 'sk-b-0123456789' },
    ];

    test('a deployment that fails before any event is replaced by the next one', async () => {
      const [a, b] = [await upstream(), await upstream()];
      a.respond(() => ({ kind: 'json', status: 503, body: { error: { message: 'overloaded' } } }));
      b.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents('served by b')) }));
      const { client } = await app(pair(a, b), { routingStrategy: 'round-robin' });
      const created = await client.responses.create({ model: 'gpt-pool', input: 'x', background: true });
      const done = await waitForStatus(client, created.id, 'completed');
      expect(textOf(done)).toBe('served by b');
      expect(a.requests).toHaveLength(1);
      expect(b.requests).toHaveLength(1);
      expect(b.requests[0].body.model).toBe('gpt-b');
      expect(b.requests[0].headers.authorization).toBe('Bearer sk-b-0123456789');
      expect(await apps[0].router.runtime.config.metrics.registry.metrics()).toMatch(/upstream_retries_total\{kind="http"\} 1/);
    });

    test('a refused connection and a 429 are retried too, up to the attempt limit', async () => {
      const [a, b] = [await upstream(), await upstream()];
      a.respond(() => ({ kind: 'destroy' }));
      b.respond(() => ({ kind: 'json', status: 429, body: { error: { message: 'slow down' } }, headers: { 'retry-after': '0' } }));
      const { client } = await app(pair(a, b), { routingStrategy: 'round-robin', worker: { upstreamMaxAttempts: 3 } });
      const created = await client.responses.create({ model: 'gpt-pool', input: 'x', background: true });
      const failed = await waitForStatus(client, created.id, 'failed');
      expect(a.requests.length + b.requests.length).toBe(3);
      expect(a.requests).toHaveLength(2);
      expect(failed.error?.code).toBeDefined();
    });

    test('once an event has arrived, a broken stream is not retried elsewhere', async () => {
      const [a, b] = [await upstream(), await upstream()];
      const events = textTurnEvents('never finished');
      a.respond(() => ({ kind: 'sse', steps: [...steps(events.slice(0, 4)), { raw: 'data: {"type":"response.output_text.delta"' }] }));
      b.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents('should not be used')) }));
      const { client } = await app(pair(a, b), { routingStrategy: 'round-robin' });
      const created = await client.responses.create({ model: 'gpt-pool', input: 'x', background: true });
      const failed = await waitForStatus(client, created.id, 'failed');
      expect(failed.error).toEqual(failedWith('upstream_stream_incomplete'));
      expect(b.requests).toHaveLength(0);
    });

    test('a 400 from the upstream is not retried: another deployment would refuse it too', async () => {
      const [a, b] = [await upstream(), await upstream()];
      a.respond(() => ({ kind: 'json', status: 400, body: { error: { message: 'bad input', code: 'invalid_value' } } }));
      b.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents('no')) }));
      const { client } = await app(pair(a, b), { routingStrategy: 'round-robin' });
      const created = await client.responses.create({ model: 'gpt-pool', input: 'x', background: true });
      await waitForStatus(client, created.id, 'failed');
      expect(b.requests).toHaveLength(0);
    });

    test('round robin spreads requests, and a deployment over its own rpm is skipped for the next', async () => {
      const [a, b] = [await upstream(), await upstream()];
      for (const u of [a, b]) u.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents('ok')) }));
      const models = pair(a, b);
      models[0].rpm = 1;
      const { client } = await app(models, { routingStrategy: 'round-robin' });
      // Orders: [a, b] → a; [b, a] → b; [a, b] → a is over its rpm → b.
      for (let i = 0; i < 3; i += 1) {
        const created = await client.responses.create({ model: 'gpt-pool', input: `n${i}`, background: true });
        await waitForStatus(client, created.id, 'completed');
      }
      expect(a.requests.map((r) => r.body.input)).toEqual(['n0']);
      expect(b.requests.map((r) => r.body.input)).toEqual(['n1', 'n2']);
    });

    test('simple shuffle uses every deployment over many requests', async () => {
      const [a, b] = [await upstream(), await upstream()];
      for (const u of [a, b]) u.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents('ok')) }));
      const { client } = await app(pair(a, b));
      const ids = [];
      for (let i = 0; i < 24; i += 1) ids.push((await client.responses.create({ model: 'gpt-pool', input: 'x', background: true })).id);
      for (const id of ids) await waitForStatus(client, id, 'completed');
      // 24 fair coin flips all landing on one side: about 1 in 8 million.
      expect(a.requests.length).toBeGreaterThan(0);
      expect(b.requests.length).toBeGreaterThan(0);
    });
  });
});
