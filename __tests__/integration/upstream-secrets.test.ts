// An upstream that echoes the deployment's key (or `Bearer <key>`) in its error fields, its extra
// fields or its success bodies: nothing of it is stored, logged, served on poll or resume, or
// relayed by pass-through; unknown error fields are dropped.

import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream';
import { openingBodies } from '../helpers/event-fixtures';
import { redisStoreForTest, startApp, waitForStatus, type TestApp } from '../helpers/app';
import { steps } from '../helpers/flow';
import type { Logger } from '../../lib/types';

/** Matches none of the credential patterns: only the deployment-key scrub can find it. */
const KEY = 'plain-deploy-key-7f3a9c2e';
const AT = { item_id: 'msg_echo', output_index: 0, content_index: 0 };

function captureLogger(): { logger: Logger; text: () => string } {
  const lines: string[] = [];
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push(JSON.stringify({ level, message, fields }));
  return { logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') }, text: () => lines.join('\n') };
}

describe('secrets from the upstream', () => {
  let upstream: FakeUpstream;
  let app: TestApp;
  let redis: ReturnType<typeof redisStoreForTest>;
  let logs: ReturnType<typeof captureLogger>;

  beforeEach(async () => {
    upstream = await startFakeUpstream();
    redis = redisStoreForTest();
    logs = captureLogger();
    app = await startApp({
      store: redis.store,
      logger: logs.logger,
      models: [{ modelName: 'gpt-test', model: 'openai/gpt-test-upstream', apiBase: upstream.url, apiKey: KEY }],
      worker: { flushIntervalMs: 10, upstreamRetryBaseMs: 10 },
    });
  });

  afterEach(async () => {
    await app.close();
    await redis.close();
    await upstream.close();
  });

  /** Every value stored under the test's prefix, as text. */
  async function storedText(): Promise<string> {
    const out: string[] = [];
    for (const key of await redis.keys()) {
      const type = String(await redis.inspect.sendCommand(['TYPE', key]));
      if (type === 'string') out.push(String(await redis.inspect.sendCommand(['GET', key])));
      else if (type === 'hash') out.push(JSON.stringify(await redis.inspect.sendCommand(['HGETALL', key])));
      else if (type === 'list') out.push(JSON.stringify(await redis.inspect.sendCommand(['LRANGE', key, '0', '-1'])));
    }
    return out.join('\n');
  }

  const post = (body: Record<string, unknown>) =>
    fetch(`${app.baseURL}/responses`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer test-key' }, body: JSON.stringify(body) });

  test('an error event and response.failed echoing Bearer <key> in code, param and extra fields are scrubbed everywhere', async () => {
    upstream.respond(() => ({
      kind: 'sse',
      steps: steps([
        ...openingBodies(),
        { type: 'error', code: `Bearer ${KEY}`, message: `refused ${KEY}`, param: `Bearer ${KEY}`, leaked: KEY, [`x-${KEY}`]: 1 },
        {
          type: 'response.failed',
          response: { status: 'failed', error: { code: `Bearer ${KEY}`, message: `failed with ${KEY}`, extra: KEY } },
        },
      ]),
    }));
    const created = await post({ model: 'gpt-test', input: 'hi', background: true, stream: true });
    const streamed = await created.text();
    const id = /"id":"(resp_[^"]+)"/.exec(streamed)?.[1];
    expect(id).toBeDefined();
    const failed = await waitForStatus(app.client(), id!, 'failed');
    // A code that is no detail token (and not OpenAI's) leaves server_error and the detail upstream_error.
    expect(failed.error).toEqual({ code: 'server_error', message: 'upstream_error: failed with [redacted]' });
    const resumed = await (await fetch(`${app.baseURL}/responses/${id}?stream=true&starting_after=0`, { headers: { authorization: 'Bearer test-key' } })).text();
    const errorEvent = resumed.split('\n\n').find((frame) => frame.startsWith('event: error'));
    expect(errorEvent).toBeDefined();
    const data = JSON.parse(errorEvent!.slice(errorEvent!.indexOf('data: ') + 6)) as Record<string, unknown>;
    const fields = { code: 'server_error', message: 'upstream_error: refused [redacted]', param: 'Bearer [redacted]' };
    expect(data).toEqual({ type: 'error', sequence_number: expect.any(Number), ...fields, error: { type: 'server_error', ...fields } });
    const everything = [streamed, JSON.stringify(failed), resumed, await storedText(), logs.text()].join('\n');
    expect(everything).not.toContain(KEY);
    expect(everything).not.toContain('leaked');
  });

  test('the key echoed in a success stream (text deltas, Response fields, final output) is never stored or served', async () => {
    const text = `the key is ${KEY}.`;
    upstream.respond(() => ({
      kind: 'sse',
      steps: steps([
        { type: 'response.created', response: { status: 'in_progress', instructions: `use ${KEY}`, metadata_echo: { [KEY]: KEY } } },
        { type: 'response.output_item.added', output_index: 0, item: { id: AT.item_id, type: 'message', status: 'in_progress', content: [], role: 'assistant' } },
        { type: 'response.content_part.added', ...AT, part: { type: 'output_text', annotations: [], logprobs: [], text: '' } },
        { type: 'response.output_text.delta', ...AT, delta: text, logprobs: [] },
        { type: 'response.output_text.done', ...AT, text, logprobs: [] },
        {
          type: 'response.completed',
          response: {
            status: 'completed',
            instructions: `use ${KEY}`,
            output: [{ id: AT.item_id, type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] }],
          },
        },
      ]),
    }));
    const client = app.client();
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    const done = await waitForStatus(client, created.id, 'completed');
    expect(done.output_text).toBe('the key is [redacted].');
    const everything = [JSON.stringify(done), await storedText(), logs.text()].join('\n');
    expect(everything).not.toContain(KEY);
  });

  test('the key written with JSON escapes in a text delta is scrubbed like a plain one', async () => {
    const escaped = [...KEY].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
    const delta = { type: 'response.output_text.delta', ...AT, delta: 'KEY', logprobs: [] };
    upstream.respond(() => ({
      kind: 'sse',
      steps: [
        ...steps([
          { type: 'response.created', response: { status: 'in_progress' } },
          { type: 'response.output_item.added', output_index: 0, item: { id: AT.item_id, type: 'message', status: 'in_progress', content: [], role: 'assistant' } },
          { type: 'response.content_part.added', ...AT, part: { type: 'output_text', annotations: [], logprobs: [], text: '' } },
        ]),
        { raw: `event: response.output_text.delta\ndata: ${JSON.stringify(delta).replace('"KEY"', `"${escaped}"`)}\n\n` },
        ...steps([
          { type: 'response.output_text.done', ...AT, text: '[redacted]', logprobs: [] },
          { type: 'response.completed', response: { status: 'completed' } },
        ]),
      ],
    }));
    const client = app.client();
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    const done = await waitForStatus(client, created.id, 'completed');
    expect(done.output_text).toBe('[redacted]');
    const everything = [JSON.stringify(done), await storedText(), logs.text()].join('\n');
    expect(everything).not.toContain(KEY);
  });

  test('pass-through: an error code holding Bearer <key> and a body echoing the key (split across chunks) reach the client scrubbed', async () => {
    upstream.respond(() => ({ kind: 'json', status: 400, body: { error: { message: `bad ${KEY}`, code: `Bearer ${KEY}`, param: null, type: 'invalid_request_error' } } }));
    const refused = await post({ model: 'gpt-test', input: 'hi' });
    expect(refused.status).toBe(400);
    const refusedText = await refused.text();
    expect(refusedText).not.toContain(KEY);
    expect((JSON.parse(refusedText) as { error: { code: string } }).error.code).toBe('Bearer [redacted]');

    upstream.respond(() => ({ kind: 'json', status: 200, body: { id: 'resp_pt', object: 'response', status: 'completed', instructions: KEY, output: [] } }));
    const json = await (await post({ model: 'gpt-test', input: 'hi' })).text();
    expect(json).not.toContain(KEY);
    expect(JSON.parse(json)).toMatchObject({ id: 'resp_pt', instructions: '[redacted]' });

    const half = Math.floor(KEY.length / 2);
    upstream.respond(() => ({
      kind: 'sse',
      steps: [
        { raw: `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"a ${KEY.slice(0, half)}` },
        { wait: 20 },
        { raw: `${KEY.slice(half)} b"}\n\n` },
      ],
    }));
    const streamed = await (await post({ model: 'gpt-test', input: 'hi', stream: true })).text();
    expect(streamed).toBe('event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"a [redacted] b"}\n\n');
  });
});
