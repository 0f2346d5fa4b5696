// The worker's flush window: events that arrive while an append is in flight wait for the next
// window like any other (a steady stream would otherwise pay an extra append per flight), and
// still reach the log, in order. The append's flight is held by the test (the real Redis store
// behind a wrapper that only delays `append`), so nothing here depends on how fast Redis is.

import { startFakeUpstream, type FakeUpstream, type Step } from '../helpers/fake-upstream';
import { openingBodies } from '../helpers/event-fixtures';
import { redisStoreForTest, startApp, waitFor, waitForStatus, type TestApp } from '../helpers/app';
import { gate, sleep, steps, textOf } from '../helpers/flow';
import type { AppendInput, ResponseStore } from '../../lib/types';

jest.setTimeout(30_000);

const FLUSH_MS = 300;
const AT = { item_id: 'msg_window', output_index: 0, content_index: 0 };
const delta = (text: string): Step => ({ event: { type: 'response.output_text.delta', ...AT, delta: text, logprobs: [] } });

/** The store with its `append` calls counted and, while `hold` is set, held until released. */
function holdingAppends(store: ResponseStore) {
  const calls: AppendInput[] = [];
  let held: { started: () => void; release: Promise<void> } | undefined;
  const wrapped = new Proxy(store, {
    get(target, name, receiver) {
      if (name === 'append') {
        return async (id: string, input: AppendInput) => {
          calls.push(input);
          const h = held;
          held = undefined;
          if (h) {
            h.started();
            await h.release;
          }
          return target.append(id, input);
        };
      }
      const value = Reflect.get(target, name, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    store: wrapped,
    calls,
    /** Holds the next append until `release` opens; resolves once that append is in flight. */
    holdNext(release: Promise<void>): Promise<void> {
      return new Promise<void>((started) => (held = { started, release }));
    },
  };
}

describe('flush window', () => {
  let upstream: FakeUpstream;
  let app: TestApp | undefined;
  let redis: ReturnType<typeof redisStoreForTest>;

  beforeEach(async () => {
    upstream = await startFakeUpstream();
    redis = redisStoreForTest();
  });
  afterEach(async () => {
    await app?.close();
    await redis.close();
    await upstream.close();
  });

  test('events that arrive during an append wait for the next window, then all reach the log in order', async () => {
    const afterFirst = gate();
    const duringFlight = gate();
    const end = gate();
    upstream.respond(() => ({
      kind: 'sse',
      steps: [
        ...steps([
          ...openingBodies(),
          { type: 'response.output_item.added', output_index: 0, item: { id: AT.item_id, type: 'message', status: 'in_progress', content: [], role: 'assistant' } },
          { type: 'response.content_part.added', ...AT, part: { type: 'output_text', annotations: [], logprobs: [], text: '' } },
        ]),
        delta('a'),
        { until: afterFirst.promise },
        delta('b'),
        { until: duringFlight.promise },
        delta('c'),
        delta('d'),
        { until: end.promise },
        { event: { type: 'response.completed', response: { id: 'resp_up', object: 'response', status: 'completed', output: [] } } },
      ],
    }));
    const appends = holdingAppends(redis.store);
    app = await startApp({
      store: appends.store,
      models: [{ modelName: 'gpt-test', model: 'openai/gpt-4o-mini', apiBase: upstream.url, apiKey: 'sk-up' }],
      worker: { flushIntervalMs: FLUSH_MS },
    });
    const client = app.client();
    const created = await client.responses.create({ model: 'gpt-test', input: 'x', background: true });
    await waitFor(async () => textOf(await client.responses.retrieve(created.id)) === 'a', 10_000, 'the first delta stored');

    // 'b' arrives; its window's append is held in flight.
    const release = gate();
    const inFlight = appends.holdNext(release.promise);
    afterFirst.open();
    await inFlight;
    const heldAt = appends.calls.length;
    // 'c' and 'd' arrive while it is in flight (a third of a window).
    duringFlight.open();
    await sleep(FLUSH_MS / 3);
    expect(appends.calls.length).toBe(heldAt);
    release.open();
    // Right after the flight no other append goes: 'c' and 'd' wait for the window they opened
    // (its tick is at least two thirds of a window away).
    await sleep(FLUSH_MS / 5);
    expect(appends.calls.length).toBe(heldAt);
    expect(textOf(await client.responses.retrieve(created.id))).toBe('ab');
    // ... which writes them, in one append.
    await waitFor(() => appends.calls.length > heldAt, 5_000, 'the next window');
    expect(appends.calls[heldAt].events).toHaveLength(2);
    await waitFor(async () => textOf(await client.responses.retrieve(created.id)) === 'abcd', 5_000, 'the later deltas stored');
    end.open();
    expect(textOf(await waitForStatus(client, created.id, 'completed'))).toBe('abcd');
  });
});
