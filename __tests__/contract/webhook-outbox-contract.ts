// The webhook outbox contract: a terminal transition enqueues its event in the same step, once;
// claims are leases; settles are fenced. Run against every store (see the *.test.ts files).

import { outboxPlan } from '../../lib/webhooks/outbox-plan';
import type { WebhookEndpointConfig, WebhookOutbox, WebhookOutboxStore } from '../../lib/webhooks/types';
import type { ResponseStore } from '../../lib/types';
import { sleep } from '../helpers/flow';
import { appendInput, createInput, events } from '../helpers/store-inputs';

const SECRET = 'whsec_' + Buffer.from('contract-secret-0123456789abcdef').toString('base64');
const ALL: WebhookEndpointConfig = { url: 'http://127.0.0.1:1/all', secret: SECRET, events: ['response.completed', 'response.failed', 'response.cancelled', 'response.incomplete'] };
const CANCELLED_ONLY: WebhookEndpointConfig = { url: 'http://127.0.0.1:1/cancelled', secret: SECRET, events: ['response.cancelled'] };

/**
 * Registers the outbox contract for the store `make` builds (a fresh one per test, own key
 * prefix). `perSlotQueues`: a Redis Cluster store, whose bound applies to each slot's queue.
 */
export function describeOutboxContract(name: string, make: () => ResponseStore & WebhookOutboxStore, opts: { perSlotQueues?: boolean } = {}): void {
  describe(`webhook outbox contract: ${name}`, () => {
    let store: ResponseStore & WebhookOutboxStore;
    let outbox: WebhookOutbox;

    const start = (maxPending = 100) => {
      outbox = store.webhookOutbox(outboxPlan([ALL, CANCELLED_ONLY], 60_000, maxPending));
    };

    beforeEach(() => {
      store = make();
    });
    afterEach(async () => {
      await store.close();
    });

    test('a terminal append enqueues one delivery per endpoint that wants its event; a non-terminal one enqueues nothing', async () => {
      start();
      const input = createInput();
      await store.create(input);
      await store.append(input.id, appendInput({ events: events(1, 1), status: 'in_progress' }));
      expect(await outbox.pending()).toBe(0);
      await store.append(input.id, appendInput({ firstSeq: 2, events: events(2, 3), status: 'completed' }));
      expect(await outbox.pending()).toBe(1);
      const [claimed, ...more] = await outbox.claim(10, 30_000);
      expect(more).toEqual([]);
      expect(claimed!.hook).toBe(0);
      expect(claimed!.attempts).toBe(1);
      expect(claimed!.eventId).toMatch(/^evt_[0-9a-f]{32}$/);
      const body = JSON.parse(claimed!.body) as Record<string, unknown>;
      expect(body).toEqual({ id: claimed!.eventId, object: 'event', type: 'response.completed', created_at: expect.any(Number), data: { id: input.id } });
      // Claimed under a lease: nobody else gets it meanwhile.
      expect(await outbox.claim(10, 30_000)).toEqual([]);
      expect(await outbox.settle(claimed!, { done: true })).toBe(true);
      expect(await outbox.pending()).toBe(0);
      // A settle of a claim already settled changes nothing.
      expect(await outbox.settle(claimed!, { done: true })).toBe(false);
    });

    test('a cancel enqueues the cancelled event for every endpoint that wants it', async () => {
      start();
      const input = createInput();
      await store.create(input);
      expect((await store.cancel(input.id, null, 60)).outcome).toBe('cancelled');
      expect((await store.cancel(input.id, null, 60)).outcome).toBe('already_cancelled');
      const claimed = await outbox.claim(10, 30_000);
      expect(claimed.map((c) => c.hook).sort()).toEqual([0, 1]);
      expect(new Set(claimed.map((c) => c.eventId)).size).toBe(1);
      expect(JSON.parse(claimed[0]!.body)).toMatchObject({ type: 'response.cancelled', data: { id: input.id } });
    });

    test('the read that sweeps a lapsed lease enqueues the failed event, once', async () => {
      start();
      const input = createInput({ leaseMs: 50 });
      await store.create(input);
      await sleep(1200);
      const reads = await Promise.all([store.read(input.id, null), store.readEvents(input.id, null, -1), store.read(input.id, null)]);
      expect(reads.filter((r) => r?.leaseSwept)).toHaveLength(1);
      const claimed = await outbox.claim(10, 30_000);
      expect(claimed).toHaveLength(1);
      expect(JSON.parse(claimed[0]!.body)).toMatchObject({ type: 'response.failed', data: { id: input.id } });
    });

    test('cancel racing the worker’s completion enqueues exactly one event, in every trial', async () => {
      start();
      for (let trial = 0; trial < 20; trial++) {
        const input = createInput();
        await store.create(input);
        await Promise.all([
          store.cancel(input.id, null, 60),
          store.append(input.id, appendInput({ events: events(1, 2), status: 'completed' })),
        ]);
      }
      const claimed = await outbox.claim(100, 30_000);
      // One event per response: completed (endpoint 0), or cancelled (endpoints 0 and 1).
      const byResponse = new Map<string, Set<string>>();
      for (const c of claimed) {
        const body = JSON.parse(c.body) as { data: { id: string } };
        byResponse.set(body.data.id, (byResponse.get(body.data.id) ?? new Set()).add(c.eventId));
      }
      expect(byResponse.size).toBe(20);
      for (const ids of byResponse.values()) expect(ids.size).toBe(1);
    });

    test('an append retried after its reply was lost enqueues nothing more', async () => {
      start();
      const input = createInput();
      await store.create(input);
      const finish = appendInput({ events: events(1, 2), status: 'completed' });
      expect(await store.append(input.id, finish)).toBe('ok');
      expect(await store.append(input.id, finish)).toBe('ok');
      expect(await outbox.pending()).toBe(1);
    });

    test('a retried delivery comes back with the same event id and one more attempt; an old claim can no longer settle it', async () => {
      start();
      const input = createInput();
      await store.create(input);
      await store.append(input.id, appendInput({ events: events(1, 2), status: 'incomplete' }));
      const [first] = await outbox.claim(1, 30_000);
      expect(await outbox.settle(first!, { retryInMs: 0 })).toBe(true);
      await sleep(5);
      const [second] = await outbox.claim(1, 30_000);
      expect(second).toMatchObject({ eventId: first!.eventId, hook: 0, attempts: 2, body: first!.body });
      expect(await outbox.settle(first!, { done: true })).toBe(false);
      expect(await outbox.pending()).toBe(1);
      expect(await outbox.settle(second!, { done: true })).toBe(true);
      expect(await outbox.pending()).toBe(0);
    });

    test('a claim whose lease lapsed is claimed again (its instance died)', async () => {
      start();
      const input = createInput();
      await store.create(input);
      await store.append(input.id, appendInput({ events: events(1, 2), status: 'completed' }));
      const [first] = await outbox.claim(1, 100);
      await sleep(1200);
      const [again] = await outbox.claim(1, 30_000);
      expect(again).toMatchObject({ eventId: first!.eventId, attempts: 2 });
      expect(await outbox.settle(first!, { done: true })).toBe(false);
    });

    (opts.perSlotQueues ? test.skip : test)('a full queue drops new events and counts them once', async () => {
      start(2);
      for (let i = 0; i < 3; i++) {
        const input = createInput();
        await store.create(input);
        await store.cancel(input.id, null, 60);
      }
      // Each cancel wants two deliveries: the first fits, the next two do not.
      expect(await outbox.pending()).toBe(2);
      expect(await outbox.takeDropped()).toBe(4);
      expect(await outbox.takeDropped()).toBe(0);
    });

    test('a queued response whose wait ran out: the startQueued that ends it says expired and enqueues the failed event, once', async () => {
      start();
      const input = createInput();
      const queue = { group: 'g-expiry', principal: 'owner-a', job: '{}', slot: '', slotLimit: 0, maxWaitMs: 100 };
      await store.create({ ...input, queue });
      await sleep(1300);
      const first = await store.startQueued(input.id, 30_000);
      expect(first.outcome).toBe('expired');
      expect(first.outcome === 'expired' && first.response.meta).toMatchObject({ status: 'failed', error: { code: expect.any(String) } });
      expect(await store.startQueued(input.id, 30_000)).toEqual({ outcome: 'terminal' });
      expect((await store.read(input.id, null))!.leaseSwept).toBeUndefined();
      const claimed = await outbox.claim(10, 30_000);
      expect(claimed).toHaveLength(1);
      expect(JSON.parse(claimed[0]!.body)).toMatchObject({ type: 'response.failed', data: { id: input.id } });
    });

    test('failQueued enqueues the failed event only for the call that ended the response', async () => {
      start();
      const input = createInput();
      await store.create({ ...input, queue: { group: 'g-fail', principal: 'owner-a', job: '{}', slot: '', slotLimit: 0, maxWaitMs: 0 } });
      const error = { code: 'server_error' as const, message: 'claim_attempts_exhausted: no worker could start it' };
      expect(await Promise.all([store.failQueued(input.id, error, 60), store.failQueued(input.id, error, 60)])).toEqual(expect.arrayContaining([true, false]));
      expect(await outbox.pending()).toBe(1);
    });

    test('without webhookOutbox(plan), terminal transitions enqueue nothing', async () => {
      const input = createInput();
      await store.create(input);
      await store.cancel(input.id, null, 60);
      start();
      expect(await outbox.pending()).toBe(0);
    });
  });
}
