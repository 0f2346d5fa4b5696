// Streaming a background response over SSE with the official client: the `background + stream`
// create, replay and resume with `starting_after`, live following, disconnects and cancel.

import net from 'node:net';
import OpenAI from 'openai';
import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import type { FakeUpstream } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { STORE_KINDS, useApp, waitFor, type AppFixture, type TestApp } from '../helpers/app';
import { collect, gate, steps, textOf } from '../helpers/flow';

const TEXT = 'A resumed stream must carry on exactly where the client left off.';
/** Upstream events before the first text delta: created, in_progress, item added, part added. */
const BEFORE_FIRST_DELTA = 4;

/** The upstream text turn cut after `deltas` text deltas: the part before the cut and the rest. */
function splitTurn(text: string, deltas: number): { head: Array<Record<string, unknown>>; tail: Array<Record<string, unknown>> } {
  const events = textTurnEvents(text, { chunkSize: 5 });
  return { head: events.slice(0, BEFORE_FIRST_DELTA + deltas), tail: events.slice(BEFORE_FIRST_DELTA + deltas) };
}

/** The concatenated text deltas of `events`. */
function deltaText(events: ResponseStreamEvent[]): string {
  return events.map((e) => (e.type === 'response.output_text.delta' ? e.delta : '')).join('');
}

function sequenceNumbers(events: ResponseStreamEvent[]): number[] {
  return events.map((e) => e.sequence_number);
}

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

/** Reads a stream in the background; `events` fills as they arrive, `ended` resolves with them all. */
function follow(stream: AsyncIterable<ResponseStreamEvent>): { events: ResponseStreamEvent[]; ended: Promise<ResponseStreamEvent[]>; isEnded(): boolean } {
  const events: ResponseStreamEvent[] = [];
  let ended = false;
  const done = (async () => {
    try {
      for await (const event of stream) events.push(event);
      return events;
    } finally {
      ended = true;
    }
  })();
  done.catch(() => undefined);
  return { events, ended: done, isEnded: () => ended };
}

/** A reasoning item then a message, whose final output lists the message first. */
function twoItemTurn(): { sse: Array<Record<string, unknown>>; rs: string; msg: string } {
  const rs = 'rs_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795a';
  const msg = 'msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b';
  const reasoning = { type: 'reasoning', id: rs, summary: [{ type: 'summary_text', text: 'think hard' }] };
  const message = { type: 'message', id: msg, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'answer', annotations: [] }] };
  const sse = [
    { type: 'response.created', response: { id: 'up', status: 'in_progress', output: [] } },
    { type: 'response.output_item.added', output_index: 0, item: { type: 'reasoning', id: rs, summary: [] } },
    { type: 'response.reasoning_summary_part.added', item_id: rs, output_index: 0, summary_index: 0, part: { type: 'summary_text', text: '' } },
    ...['think', ' hard'].map((delta) => ({ type: 'response.reasoning_summary_text.delta', item_id: rs, output_index: 0, summary_index: 0, delta })),
    { type: 'response.output_item.done', output_index: 0, item: reasoning },
    { type: 'response.output_item.added', output_index: 1, item: { type: 'message', id: msg, status: 'in_progress', role: 'assistant', content: [] } },
    { type: 'response.content_part.added', item_id: msg, output_index: 1, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } },
    ...['ans', 'wer'].map((delta) => ({ type: 'response.output_text.delta', item_id: msg, output_index: 1, content_index: 0, delta, logprobs: [] })),
    { type: 'response.output_item.done', output_index: 1, item: message },
    // The final output lists the message first.
    { type: 'response.completed', response: { id: 'up', status: 'completed', output: [message, reasoning] } },
  ].map((e, i) => ({ ...e, sequence_number: i }));
  return { sse, rs, msg };
}

describe.each(STORE_KINDS)('streaming and resuming background responses on the %s store', (kind) => {
  let upstream: FakeUpstream;
  let app: TestApp;
  let store: AppFixture['store'];
  let client: OpenAI;

  useApp(
    kind,
    (u, s) => ({
      store: s,
      models: [{ modelName: 'gpt-test', model: 'openai/gpt-4o-mini', apiBase: u.url, apiKey: 'sk-upstream' }],
      worker: { flushIntervalMs: 20, upstreamIdleTimeoutMs: 5000 },
    }),
    (f) => {
      ({ upstream, app, store } = f);
      client = app.client();
    },
  );

  async function completed(id: string): Promise<OpenAI.Responses.Response> {
    return waitFor(async () => {
      const r = await client.responses.retrieve(id);
      return r.status === 'completed' ? r : undefined;
    }, 10000, `response ${id} completed`);
  }

  /** The number of follower listeners on the worker of `id` (0 once the worker is gone). */
  function followers(id: string): number {
    return app.router.runtime.workers.get(id)?.listenerCount('flushed') ?? 0;
  }

  test('a background+stream create streams created (queued, our id) first, gapless sequence numbers, the text, and ends at completed', async () => {
    const upstreamEvents = textTurnEvents(TEXT, { chunkSize: 5 });
    upstream.respond(() => ({ kind: 'sse', steps: steps(upstreamEvents, 2) }));
    const stream = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true, stream: true });
    const events = await collect(stream);

    const first = events[0];
    expect(first.type).toBe('response.created');
    if (first.type !== 'response.created') throw new Error('unreachable');
    expect(first.response).toMatchObject({ object: 'response', status: 'queued', background: true, model: 'gpt-test', output: [] });
    const id = first.response.id;
    expect(id).toMatch(/^resp_[0-9a-f]{48}$/);

    expect(sequenceNumbers(events)).toEqual(range(0, events.length));
    // Our own opening replaces the upstream's created / in_progress; the rest is the upstream's.
    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.queued',
      'response.in_progress',
      ...upstreamEvents.slice(2).map((e) => e.type),
    ]);
    const last = events[events.length - 1];
    if (last.type !== 'response.completed') throw new Error(`stream ended with ${last.type}`);
    expect(last.response).toMatchObject({ id, status: 'completed' });
    expect(textOf(last.response)).toBe(TEXT);
    expect(deltaText(events)).toBe(TEXT);

    const stored = await client.responses.retrieve(id);
    expect(stored.status).toBe('completed');
    expect(stored.output_text).toBe(TEXT);
    // A later replay is the very same stream.
    expect(await collect(await client.responses.retrieve(id, { stream: true }))).toEqual(events);
  });

  test('a client that breaks out of the background+stream POST mid-stream does not stop the work', async () => {
    const { head, tail } = splitTurn(TEXT, 2);
    const hold = gate();
    upstream.respond(() => ({ kind: 'sse', steps: [...steps(head), { until: hold.promise }, ...steps(tail)] }));
    const stream = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true, stream: true });
    let id = '';
    for await (const event of stream) {
      if (event.type === 'response.created') id = event.response.id;
      if (event.type === 'response.output_text.delta') break;
    }
    expect(id).not.toBe('');

    // The server notices the disconnect and drops its follower; the worker carries on.
    await waitFor(() => followers(id) === 0 && app.router.runtime.workers.has(id), 5000, 'follower detached');
    hold.open();
    const done = await completed(id);
    expect(done.output_text).toBe(TEXT);
    expect((await upstream.waitForRequest(0)).closedEarly).toBe(false);
  });

  test('a client that aborts the background+stream POST with its AbortController does not stop the work', async () => {
    const { head, tail } = splitTurn(TEXT, 2);
    const hold = gate();
    upstream.respond(() => ({ kind: 'sse', steps: [...steps(head), { until: hold.promise }, ...steps(tail)] }));
    const controller = new AbortController();
    const stream = await client.responses.create(
      { model: 'gpt-test', input: 'hi', background: true, stream: true },
      { signal: controller.signal },
    );
    const reader = follow(stream);
    const created = await waitFor(() => reader.events.find((e) => e.type === 'response.created'), 5000, 'response.created');
    if (created.type !== 'response.created') throw new Error('unreachable');
    const id = created.response.id;
    await waitFor(() => reader.events.some((e) => e.type === 'response.output_text.delta'), 5000, 'first delta');
    controller.abort();
    // The SDK ends an aborted stream quietly.
    await reader.ended;

    await waitFor(() => followers(id) === 0 && app.router.runtime.workers.has(id), 5000, 'follower detached');
    hold.open();
    expect((await completed(id)).output_text).toBe(TEXT);
  });

  test('a completed response replays from response.created, and starting_after N yields exactly the events after N', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT, { chunkSize: 5 })) }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    await completed(created.id);

    const full = await collect(await client.responses.retrieve(created.id, { stream: true }));
    expect(full[0]).toMatchObject({ type: 'response.created', sequence_number: 0, response: { id: created.id, status: 'queued' } });
    expect(sequenceNumbers(full)).toEqual(range(0, full.length));
    expect(full[full.length - 1].type).toBe('response.completed');
    expect(deltaText(full)).toBe(TEXT);

    const lastSeq = full.length - 1;
    const middleDelta = full.filter((e) => e.type === 'response.output_text.delta')[4].sequence_number;
    for (const n of [0, 1, middleDelta, lastSeq - 1, lastSeq]) {
      const resumed = await collect(await client.responses.retrieve(created.id, { stream: true, starting_after: n }));
      expect(resumed).toEqual(full.filter((e) => e.sequence_number > n));
      expect(deltaText(full.slice(0, n + 1)) + deltaText(resumed)).toBe(TEXT);
    }
    // Past the end there is nothing to send, and the stream still ends.
    expect(await collect(await client.responses.retrieve(created.id, { stream: true, starting_after: lastSeq + 100 }))).toEqual([]);
  });

  test('a resume anywhere replays the right item ids, also when the final output lists the items in another order', async () => {
    const { sse, rs, msg } = twoItemTurn();
    upstream.respond(() => ({ kind: 'sse', steps: steps(sse) }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    await completed(created.id);
    const full = await collect(await client.responses.retrieve(created.id, { stream: true }));
    const ids = (events: ResponseStreamEvent[]) => events.map((e) => (e as { item_id?: string }).item_id).filter(Boolean);
    expect(ids(full)).toEqual([rs, rs, rs, msg, msg, msg]);
    for (let n = 0; n < full.length; n += 1) {
      expect(await collect(await client.responses.retrieve(created.id, { stream: true, starting_after: n }))).toEqual(full.slice(n + 1));
    }
  });

  test('a resume that starts past the stored end follows the events after its start point, items announced in between included', async () => {
    const { sse, msg } = twoItemTurn();
    const second = sse.findIndex((e) => e.type === 'response.output_item.added' && e.output_index === 1);
    const hold = gate();
    upstream.respond(() => ({ kind: 'sse', steps: [...steps(sse.slice(0, second)), { until: hold.promise }, ...steps(sse.slice(second), 2)] }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    await waitFor(async () => (await client.responses.retrieve(created.id)).output.length === 1, 10000, 'the first item');
    const stored = await store.store.read(created.id, null);
    // Past the end, and past the second item's announcement once it comes.
    const start = (stored?.meta.lastSeq ?? 0) + 2;
    const live = follow(await client.responses.retrieve(created.id, { stream: true, starting_after: start }));
    hold.open();
    await completed(created.id);
    const full = await collect(await client.responses.retrieve(created.id, { stream: true }));
    await waitFor(() => live.isEnded(), 5000, 'the resumed stream ended');
    expect(live.events).toEqual(full.filter((e) => e.sequence_number > start));
    expect(live.events.filter((e) => e.type === 'response.output_text.delta').map((e) => (e as { item_id: string }).item_id)).toEqual([msg, msg]);
  });

  test('a resume while the response runs follows live events until the terminal event, then ends', async () => {
    const { head, tail } = splitTurn(TEXT, 3);
    const hold = gate();
    upstream.respond(() => ({ kind: 'sse', steps: [...steps(head), { until: hold.promise }, ...steps(tail, 2)] }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    await waitFor(async () => (await client.responses.retrieve(created.id)).output_text.length === 15, 10000, 'partial output');

    const n = 3; // after created, queued, in_progress and the item's first event
    const live = follow(await client.responses.retrieve(created.id, { stream: true, starting_after: n }));
    await waitFor(() => deltaText(live.events) === TEXT.slice(0, 15), 5000, 'replayed deltas');
    // Everything stored so far was sent, and the stream stays open, following the worker.
    await waitFor(() => followers(created.id) === 1, 5000, 'follower attached');
    expect(live.isEnded()).toBe(false);

    hold.open();
    const events = await Promise.race([
      live.ended,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('live resume did not end')), 10000)),
    ]);
    expect(sequenceNumbers(events)).toEqual(range(n + 1, events.length));
    expect(events[events.length - 1].type).toBe('response.completed');
    expect(deltaText(events)).toBe(TEXT);

    const full = await collect(await client.responses.retrieve(created.id, { stream: true }));
    expect(events).toEqual(full.slice(n + 1));
  });

  test('the SDK stream helper resumes by response_id and its finalResponse is the completed response', async () => {
    const { head, tail } = splitTurn(TEXT, 2);
    const hold = gate();
    upstream.respond(() => ({ kind: 'sse', steps: [...steps(head), { until: hold.promise }, ...steps(tail, 2)] }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    await waitFor(async () => (await client.responses.retrieve(created.id)).output_text.length === 10, 10000, 'partial output');

    const n = 5;
    const helper = client.responses.stream({ response_id: created.id, starting_after: n });
    const seen: ResponseStreamEvent[] = [];
    helper.on('event', (event) => seen.push(event));
    await waitFor(() => seen.length > 0, 5000, 'first resumed event');
    hold.open();
    const final = await helper.finalResponse();

    expect(final).toMatchObject({ id: created.id, status: 'completed' });
    expect(textOf(final)).toBe(TEXT);
    expect(seen[0].sequence_number).toBe(n + 1);
    expect(sequenceNumbers(seen)).toEqual(range(n + 1, seen.length));
    expect(seen[seen.length - 1].type).toBe('response.completed');
  });

  test('GET ?stream=true on an unknown id is a 404, and a starting_after that is not a sequence number is a 400 naming it', async () => {
    await expect(client.responses.retrieve('resp_doesnotexist', { stream: true })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const unknown = await fetch(`${app.baseURL}/responses/resp_doesnotexist?stream=true&starting_after=3`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/^application\/json/);

    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT)) }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    for (const bad of ['abc', '1.5', '-1', '']) {
      const res = await fetch(`${app.baseURL}/responses/${created.id}?stream=true&starting_after=${bad}`);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(((await res.json()) as { error: Record<string, unknown> }).error).toMatchObject({
        type: 'invalid_request_error',
        param: 'starting_after',
      });
    }
    const err = await client.responses.retrieve(created.id, { stream: true, starting_after: -1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('starting_after');
  });

  test('a follower that disconnects mid-stream is detached from the worker, and the app and the worker carry on', async () => {
    const { head, tail } = splitTurn(TEXT, 2);
    const hold = gate();
    upstream.respond(() => ({ kind: 'sse', steps: [...steps(head), { until: hold.promise }, ...steps(tail)] }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });

    const controller = new AbortController();
    const leaving = follow(await client.responses.retrieve(created.id, { stream: true }, { signal: controller.signal }));
    const staying = follow(await client.responses.retrieve(created.id, { stream: true, starting_after: 1 }));
    await waitFor(() => deltaText(leaving.events).length === 10 && deltaText(staying.events).length === 10, 5000, 'deltas');
    await waitFor(() => followers(created.id) === 2, 5000, 'both followers attached');

    controller.abort();
    await leaving.ended;
    await waitFor(() => followers(created.id) === 1, 5000, 'the leaving follower detached');
    expect((await client.responses.retrieve(created.id)).status).toBe('in_progress');

    hold.open();
    const rest = await staying.ended;
    expect(rest[rest.length - 1].type).toBe('response.completed');
    expect(deltaText(rest)).toBe(TEXT);
    expect((await completed(created.id)).output_text).toBe(TEXT);
    await waitFor(() => !app.router.runtime.workers.has(created.id), 5000, 'worker end');
  });

  test('a follower whose client leaves before the stream opens is not kept following the worker', async () => {
    const { head, tail } = splitTurn(TEXT, 2);
    const hold = gate();
    upstream.respond(() => ({ kind: 'sse', steps: [...steps(head), { until: hold.promise }, ...steps(tail)] }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    await waitFor(async () => (await client.responses.retrieve(created.id)).output_text.length === 10, 10000, 'partial output');

    // Each client sends its GET and is gone while the server still reads the store.
    const { port, pathname } = new URL(app.baseURL);
    await Promise.all(
      [0, 1, 2, 3, 4].map(
        (delayMs) =>
          new Promise<void>((resolve) => {
            const socket = net.connect(Number(port), '127.0.0.1');
            socket.on('error', () => undefined);
            socket.on('close', () => resolve());
            socket.write(`GET ${pathname}/responses/${created.id}?stream=true HTTP/1.1\r\nHost: test\r\n\r\n`, () =>
              setTimeout(() => socket.destroy(), delayMs),
            );
          }),
      ),
    );
    // Time for the server to get through the requests (not a timing assertion).
    await new Promise((r) => setTimeout(r, 500));
    expect(followers(created.id)).toBe(0);

    hold.open();
    expect((await completed(created.id)).output_text).toBe(TEXT);
  });

  test('the streams of a cancelled response end after the cancel instead of hanging', async () => {
    const { head } = splitTurn(TEXT, 2);
    upstream.respond(() => ({ kind: 'sse', steps: [...steps(head), { hang: true }] }));
    const stream = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true, stream: true });
    const post = follow(stream);
    await waitFor(() => deltaText(post.events).length === 10, 5000, 'deltas on the POST stream');
    const first = post.events[0];
    if (first.type !== 'response.created') throw new Error(`stream opened with ${first.type}`);
    const id = first.response.id;
    const resumed = follow(await client.responses.retrieve(id, { stream: true, starting_after: 2 }));
    await waitFor(() => deltaText(resumed.events).length === 10, 5000, 'deltas on the resumed stream');

    const cancelled = await client.responses.cancel(id);
    expect(cancelled.status).toBe('cancelled');
    const deadline = (s: Promise<ResponseStreamEvent[]>) =>
      Promise.race([s, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('stream still open after cancel')), 5000))]);
    const [postEvents, resumedEvents] = await Promise.all([deadline(post.ended), deadline(resumed.ended)]);
    expect(deltaText(postEvents)).toBe(TEXT.slice(0, 10));
    expect(deltaText(resumedEvents)).toBe(TEXT.slice(0, 10));
    expect(sequenceNumbers(postEvents)).toEqual(range(0, postEvents.length));
    // Nothing claims success after a cancel; the stream ends as documented: a closing
    // `response.failed` carrying the Response with status `cancelled`.
    expect(postEvents.some((e) => e.type === 'response.completed')).toBe(false);
    const closing = postEvents.at(-1) as { type: string; response?: { status?: string } };
    expect(closing.type).toBe('response.failed');
    expect(closing.response?.status).toBe('cancelled');

    // A stream opened after the cancel replays what there is and ends at once.
    const after = await collect(await client.responses.retrieve(id, { stream: true }), 5000);
    expect(after).toEqual(postEvents);
    await waitFor(() => !app.router.runtime.workers.has(id), 5000, 'worker end');
  });
});
