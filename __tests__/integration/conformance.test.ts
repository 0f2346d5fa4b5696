// What the package emits matches OpenAI's protocol where upstreams fall short of it.

import request from 'supertest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream';
import { functionCallEvents } from '../helpers/event-fixtures';
import { startApp, waitForStatus, type TestApp } from '../helpers/app';
import { steps } from '../helpers/flow';
import { MemoryStore } from '../../lib/store/memory-store';
import { silentLogger } from '../../lib/logger';

describe('protocol conformance', () => {
  let upstream: FakeUpstream;
  let app: TestApp;

  beforeEach(async () => {
    upstream = await startFakeUpstream();
    app = await startApp({
      auth: 'none',
      store: new MemoryStore({ logger: silentLogger }),
      models: [{ modelName: 'gpt', model: 'openai/gpt-4o-mini', apiBase: upstream.url, apiKey: 'sk-upstream-0123456789abcdef' }],
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
    const replay = await request(app.origin).get(`/llm/v1/responses/${created.id}?stream=true`).buffer(true).parse((res, done) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => done(null, text));
    });
    const done = String(replay.body)
      .split('\n\n')
      .map((frame) => frame.split('\n').find((line) => line.startsWith('data: ')))
      .filter((line): line is string => line !== undefined)
      .map((line) => JSON.parse(line.slice(6)) as Record<string, unknown>)
      .find((e) => e.type === 'response.function_call_arguments.done');
    expect(done).toMatchObject({ name: 'get_weather', arguments: '{"city":"Paris"}' });
  });
});
