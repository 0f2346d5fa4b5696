// The caps on one response: stored bytes and events, running time, one SSE message's size and the
// request's max_output_tokens. A response past one ends (failed or incomplete) and its upstream
// request is aborted; memory is bounded with generous margins, never timed.

import { startFakeUpstream, type FakeUpstream, type Step } from '../helpers/fake-upstream';
import { openingBodies } from '../helpers/event-fixtures';
import { redisStoreForTest, startApp, waitFor, waitForStatus, type TestApp } from '../helpers/app';
import { steps, textOf, failedWith } from '../helpers/flow';
import { MemoryStore } from '../../lib/store/memory-store';
import { silentLogger } from '../../lib/logger';
import type { ResponsesPollingOptions, WorkerOptions } from '../../lib/config/options';
import type { ResponseStore } from '../../lib/types';

const AT = { item_id: 'msg_limits', output_index: 0, content_index: 0 };

/** The opening of a text turn: created, in_progress, the message item and its text part. */
function opening(): Step[] {
  return steps([
    ...openingBodies(),
    { type: 'response.output_item.added', output_index: 0, item: { id: AT.item_id, type: 'message', status: 'in_progress', content: [], role: 'assistant' } },
    { type: 'response.content_part.added', ...AT, part: { type: 'output_text', annotations: [], logprobs: [], text: '' } },
  ]);
}

/** Text deltas for ever (or `count` of them, then `response.completed`), each `text`. */
function* deltas(text: string, count = Infinity): Generator<Step> {
  for (let i = 0; i < count; i++) {
    yield { event: { type: 'response.output_text.delta', ...AT, delta: text, logprobs: [] } };
    // Now and then a pause, so the worker's flushes and the test's polls interleave.
    if (i % 200 === 199) yield { wait: 1 };
  }
  yield {
    event: {
      type: 'response.completed',
      response: { id: 'resp_upstream', object: 'response', status: 'completed', output: [] },
    },
  };
}

describe('response limits', () => {
  let upstream: FakeUpstream;
  const apps: TestApp[] = [];
  const closers: Array<() => Promise<void>> = [];

  beforeEach(async () => {
    upstream = await startFakeUpstream();
  });

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    await Promise.all(closers.splice(0).map((c) => c()));
    await upstream.close();
  });

  async function app(worker: WorkerOptions, store: ResponseStore = new MemoryStore({ logger: silentLogger })): Promise<TestApp> {
    const options: ResponsesPollingOptions = {
      store,
      models: [{ modelName: 'gpt-test', model: 'openai/gpt-test-upstream', apiBase: upstream.url, apiKey: 'sk-limits-0123456789' }],
      worker: { flushIntervalMs: 10, upstreamRetryBaseMs: 10, ...worker },
    };
    const a = await startApp(options);
    apps.push(a);
    return a;
  }

  test('a never-ending upstream is cut at max_response_bytes: failed, upstream aborted, Redis bounded', async () => {
    const redis = redisStoreForTest();
    closers.push(() => redis.close());
    const cap = 256 * 1024;
    const a = await app({ maxResponseBytes: cap }, redis.store);
    upstream.respond(() => ({ kind: 'sse', steps: [...opening(), { each: deltas('x'.repeat(1024)) }] }));
    const client = a.client();
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    const failed = await waitForStatus(client, created.id, 'failed', 20_000);
    expect(failed.error).toEqual(failedWith('response_too_large'));
    // The partial output is kept, and it stopped at the cap (one event past it at most).
    expect(textOf(failed).length).toBeGreaterThan(cap / 2);
    expect(textOf(failed).length).toBeLessThanOrEqual(cap + 1024);
    const rec = await upstream.waitForRequest(0);
    await waitFor(() => rec.closedEarly, 10_000, 'upstream aborted');
    // Log, snapshot and the final event each hold at most about the cap: 4x is generous.
    const keys = await redis.keys();
    let bytes = 0;
    for (const key of keys) bytes += Number((await redis.inspect.sendCommand(['MEMORY', 'USAGE', key])) ?? 0);
    expect(bytes).toBeLessThan(4 * cap);
  });

  test('a response is cut at max_response_events', async () => {
    const a = await app({ maxResponseEvents: 100 });
    upstream.respond(() => ({ kind: 'sse', steps: [...opening(), { each: deltas('y') }] }));
    const client = a.client();
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    const failed = await waitForStatus(client, created.id, 'failed', 20_000);
    expect(failed.error).toEqual(failedWith('response_too_large'));
    expect(textOf(failed).length).toBeLessThan(100);
    const rec = await upstream.waitForRequest(0);
    await waitFor(() => rec.closedEarly, 10_000, 'upstream aborted');
  });

  test('a response still running at max_response_ms is failed and its upstream aborted', async () => {
    const a = await app({ maxResponseMs: 1000 });
    upstream.respond(() => ({ kind: 'sse', steps: [...opening(), ...steps([{ type: 'response.output_text.delta', ...AT, delta: 'partial', logprobs: [] }]), { hang: true }] }));
    const client = a.client();
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    const failed = await waitForStatus(client, created.id, 'failed', 20_000);
    expect(failed.error).toEqual(failedWith('response_time_limit'));
    expect(textOf(failed)).toBe('partial');
    const rec = await upstream.waitForRequest(0);
    await waitFor(() => rec.closedEarly, 10_000, 'upstream aborted');
  });

  test('one SSE message larger than max_event_bytes is refused before it is buffered whole, and not retried', async () => {
    const cap = 64 * 1024;
    const a = await app({ maxEventBytes: cap });
    const chunk = 'z'.repeat(16 * 1024);
    // One delta event whose data never ends: 16 KiB chunks for ever, then (never) the newline.
    function* endless(): Generator<Step> {
      yield { raw: `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","item_id":"msg_limits","output_index":0,"content_index":0,"delta":"` };
      for (;;) yield { raw: chunk };
    }
    upstream.respond(() => ({ kind: 'sse', steps: [...opening(), { each: endless() }] }));
    const client = a.client();
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    const failed = await waitForStatus(client, created.id, 'failed', 20_000);
    expect(failed.error).toEqual(failedWith('upstream_event_too_large'));
    const rec = await upstream.waitForRequest(0);
    await waitFor(() => rec.closedEarly, 10_000, 'upstream aborted');
    // What the upstream could write before the worker gave up: the cap plus socket buffers.
    expect(rec.bytesWritten).toBeLessThan(16 * 1024 * 1024);
    expect(upstream.requests).toHaveLength(1);
  });

  test('max_output_tokens is enforced on the deltas: incomplete with its reason, upstream aborted', async () => {
    const a = await app({});
    upstream.respond(() => ({ kind: 'sse', steps: [...opening(), { each: deltas('t ') }] }));
    const client = a.client();
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true, max_output_tokens: 20 });
    const done = await waitForStatus(client, created.id, 'incomplete', 20_000);
    expect(done.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(textOf(done)).toBe('t '.repeat(20));
    const rec = await upstream.waitForRequest(0);
    await waitFor(() => rec.closedEarly, 10_000, 'upstream aborted');
  });

  test('an upstream that keeps to max_output_tokens completes as it says', async () => {
    const a = await app({});
    upstream.respond(() => ({ kind: 'sse', steps: [...opening(), { each: deltas('t ', 20) }] }));
    const client = a.client();
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true, max_output_tokens: 20 });
    const done = await waitForStatus(client, created.id, 'completed', 20_000);
    expect(textOf(done)).toBe('t '.repeat(20));
  });
});
