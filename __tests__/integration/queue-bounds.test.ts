// The bound of a deployment group's queue (worker.maxQueued) through the HTTP layer and the
// official client: a create beyond it is a 429 that leaves nothing behind, and room comes back.

import OpenAI from 'openai';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream';
import { startApp, waitFor, type TestApp } from '../helpers/app';
import { MemoryStore } from '../../lib/store/memory-store';
import { textTurnEvents } from '../helpers/event-fixtures';
import { steps } from '../helpers/flow';

let upstream: FakeUpstream;
let store: MemoryStore;
let api: TestApp;

beforeEach(async () => {
  upstream = await startFakeUpstream();
  store = new MemoryStore();
  const models = [{ modelName: 'gpt-bound', model: 'openai/gpt-4o-mini', apiBase: upstream.url }];
  // An API-only router: nothing is claimed, so the queue fills.
  api = await startApp({ store, models, auth: 'none', role: 'api', worker: { maxQueued: 2 } });
});

afterEach(async () => {
  await api.close();
  await store.close();
  await upstream.close();
});

test('a create beyond worker.maxQueued answers 429 queue_full and stores nothing; a cancelled one leaves the queue at once', async () => {
  const client = api.client();
  const a = await client.responses.create({ model: 'gpt-bound', input: 'a', background: true });
  await client.responses.create({ model: 'gpt-bound', input: 'b', background: true });
  const refused = await client.responses.create({ model: 'gpt-bound', input: 'c', background: true }).catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
  expect((refused as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('queue_full');
  expect(await store.queueDepth('gpt-bound')).toBe(2);
  expect(upstream.requests).toHaveLength(0);

  // A worker on the same store runs them and makes room.
  upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents('done')) }));
  await client.responses.cancel(a.id);
  expect(await store.queueDepth('gpt-bound')).toBe(1);
  const worker = await startApp({ store, models: [{ modelName: 'gpt-bound', model: 'openai/gpt-4o-mini', apiBase: upstream.url }], auth: 'none', role: 'worker' });
  try {
    await waitFor(async () => (await store.queueDepth('gpt-bound')) === 0, 5000, 'the queue drained');
    await waitFor(() => worker.router.runtime.workers.size === 0, 5000, 'workers done');
    const again = await client.responses.create({ model: 'gpt-bound', input: 'd', background: true });
    expect(again.status).toBe('queued');
    // The cancelled one never reached the upstream.
    expect(upstream.requests.map((r) => r.body.input)).not.toContain('a');
    expect(upstream.requests[0].body.input).toBe('b');
  } finally {
    await worker.close();
  }
});
