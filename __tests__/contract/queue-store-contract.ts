// The queue part of the store contract (create-and-enqueue, claims, capacity, fairness, requeue),
// registered inside describeStoreContract so it runs against every store.

import { randomBytes } from 'node:crypto';
import type { CreateRecordInput, QueueEnqueue, ResponseStore } from '../../lib/types';
import { QUEUE_TIMEOUT_ERROR } from '../../lib/queue/queue-errors';
import { mayStillBeQueued } from '../../lib/queue/drop';
import { QueueFullError } from '../../lib/errors';
import { sleep } from '../helpers/flow';
import { appendInput, createInput, events } from '../helpers/store-inputs';

const LEASE = { leaseMs: 30_000, maxAttempts: 3 };

/** Registers the queue tests; `store()` is the current test's store. */
export function describeQueueContract(store: () => ResponseStore): void {
  describe('queue', () => {
    let group: string;
    beforeEach(() => {
      group = `gpt-{${randomBytes(4).toString('hex')}}`;
    });

    function queued(principal = 'owner-a', q: Partial<QueueEnqueue> = {}, more: Partial<CreateRecordInput> = {}): CreateRecordInput {
      const input = createInput({ owner: principal, ...more });
      return { ...input, queue: { group, principal, job: JSON.stringify({ id: input.id, n: 'é' }), slot: '', slotLimit: 0, maxWaitMs: 0, ...q } };
    }

    async function claimIds(n: number, lease = LEASE): Promise<(string | undefined)[]> {
      const ids: (string | undefined)[] = [];
      for (let i = 0; i < n; i += 1) ids.push((await store().claim(group, lease)).claim?.id);
      return ids;
    }

    test('a queued create is readable as queued and claimable with its job, once', async () => {
      const input = queued();
      await store().create(input);
      expect((await store().read(input.id, 'owner-a'))!.meta.status).toBe('queued');
      expect(await store().queueDepth(group)).toBe(1);
      const { claim } = await store().claim(group, LEASE);
      expect(claim).toMatchObject({ id: input.id, job: input.queue!.job, attempts: 0 });
      expect(claim!.enqueuedAt).toBeGreaterThan(Date.now() - 60_000);
      expect(await store().queueDepth(group)).toBe(0);
      expect((await store().claim(group, LEASE)).claim).toBeNull();
    });

    test('a create beyond maxDepth of its group rejects with QueueFullError and stores nothing; a released claim makes room', async () => {
      const first = queued('owner-a', { maxDepth: 2 });
      const second = queued('owner-b', { maxDepth: 2 });
      const third = queued('owner-a', { maxDepth: 2 });
      await store().create(first);
      await store().create(second);
      await expect(store().create(third)).rejects.toBeInstanceOf(QueueFullError);
      expect(await store().read(third.id, null)).toBeNull();
      // Claimed responses still count; released ones do not.
      const { claim } = await store().claim(group, LEASE);
      await expect(store().create(third)).rejects.toBeInstanceOf(QueueFullError);
      await store().releaseClaim(group, claim!.id);
      await store().create(third);
      expect((await store().read(third.id, null))!.meta.status).toBe('queued');
    });

    test('an empty or unknown group claims nothing', async () => {
      expect(await store().claim(group, LEASE)).toEqual({ claim: null, exhausted: [], requeued: [] });
      expect(await store().queueDepth(group)).toBe(0);
    });

    test('claims are FIFO for one principal and round-robin between principals', async () => {
      const a = [queued('owner-a'), queued('owner-a'), queued('owner-a')];
      const b = [queued('owner-b'), queued('owner-b')];
      for (const input of [...a, ...b]) await store().create(input);
      expect(await claimIds(5)).toEqual([a[0].id, b[0].id, a[1].id, b[1].id, a[2].id]);
    });

    test('a full capacity slot holds its responses back until a claim is released', async () => {
      const inputs = [queued('owner-a', { slot: 'd0', slotLimit: 1 }), queued('owner-a', { slot: 'd0', slotLimit: 1 })];
      for (const input of inputs) await store().create(input);
      expect(await claimIds(2)).toEqual([inputs[0].id, undefined]);
      await store().releaseClaim(group, inputs[0].id);
      expect(await claimIds(1)).toEqual([inputs[1].id]);
    });

    test('a principal whose slot is full does not hold back another slot', async () => {
      const full = [queued('owner-a', { slot: 'd0', slotLimit: 1 }), queued('owner-a', { slot: 'd0', slotLimit: 1 })];
      const other = queued('owner-b', { slot: 'd1', slotLimit: 1 });
      for (const input of [...full, other]) await store().create(input);
      expect(await claimIds(3)).toEqual([full[0].id, other.id, undefined]);
    });

    test('startQueued bumps the fence so the earlier fence is refused, and returns the record', async () => {
      const input = queued();
      await store().create(input);
      await store().claim(group, LEASE);
      const started = await store().startQueued(input.id, 30_000);
      expect(started.outcome).toBe('claimed');
      if (started.outcome !== 'claimed') return;
      expect(started.fence).toBe(2);
      expect(started.response.meta.status).toBe('queued');
      expect(started.response.snapshot).toBe(input.snapshot);
      expect(await store().append(input.id, appendInput({ fence: 1, events: events(1, 1) }))).toBe('fenced');
      expect(await store().append(input.id, appendInput({ fence: 2, events: events(1, 1), status: 'in_progress' }))).toBe('ok');
      expect(await store().startQueued(input.id, 30_000)).toEqual({ outcome: 'started' });
    });

    test('the meta a cancel or delete answers tells a response still queued from one a worker took (mayStillBeQueued)', async () => {
      const waiting = queued();
      const taken = queued();
      const deletedWaiting = queued();
      for (const input of [waiting, taken, deletedWaiting]) await store().create(input);
      await store().claim(group, LEASE);
      await store().claim(group, LEASE);
      // The first two claims took waiting and taken (fair order); only taken is started.
      expect((await store().startQueued(taken.id, 30_000)).outcome).toBe('claimed');
      const cancelledWaiting = await store().cancel(waiting.id, 'owner-a', 60);
      const cancelledTaken = await store().cancel(taken.id, 'owner-a', 60);
      const deleted = await store().delete(deletedWaiting.id, 'owner-a');
      if (cancelledWaiting.outcome !== 'cancelled' || cancelledTaken.outcome !== 'cancelled' || !deleted.deleted || !deleted.ended) {
        throw new Error('expected two cancels and a delete that ended a response');
      }
      expect(mayStillBeQueued(cancelledWaiting.response.meta)).toBe(true);
      expect(mayStillBeQueued(cancelledTaken.response.meta)).toBe(false);
      expect(mayStillBeQueued(deleted.ended.meta)).toBe(true);
    });

    test('startQueued of a cancelled or deleted response says so and the upstream need not be called', async () => {
      const cancelled = queued();
      const deleted = queued();
      await store().create(cancelled);
      await store().create(deleted);
      expect((await store().cancel(cancelled.id, 'owner-a', 60)).outcome).toBe('cancelled');
      expect((await store().delete(deleted.id, 'owner-a')).deleted).toBe(true);
      expect(await store().startQueued(cancelled.id, 30_000)).toEqual({ outcome: 'cancelled' });
      expect(await store().startQueued(deleted.id, 30_000)).toEqual({ outcome: 'gone' });
    });

    test('a lapsed claim of a response that never started is put back at the head, and counted', async () => {
      const first = queued();
      const second = queued();
      await store().create(first);
      await store().create(second);
      await store().claim(group, { leaseMs: 100, maxAttempts: 3 });
      await sleep(250);
      const again = await store().claim(group, LEASE);
      expect(again.requeued).toEqual([first.id]);
      expect(again.claim).toMatchObject({ id: first.id, attempts: 1 });
      // While queued its record is not swept as worker_lost, although its lease ran out.
      expect((await store().read(first.id, null))!.meta.status).toBe('queued');
    });

    test('a claim that lapses maxAttempts times is reported exhausted, and failQueued ends it once', async () => {
      const input = queued();
      await store().create(input);
      const short = { leaseMs: 50, maxAttempts: 2 };
      await store().claim(group, short);
      await sleep(150);
      expect((await store().claim(group, short)).requeued).toEqual([input.id]);
      await sleep(150);
      const last = await store().claim(group, short);
      expect(last).toEqual({ claim: null, exhausted: [input.id], requeued: [] });
      const error = { code: 'server_error' as const, message: 'claim_attempts_exhausted: exhausted' };
      expect(await store().failQueued(input.id, error, 60)).toBe(true);
      expect(await store().failQueued(input.id, error, 60)).toBe(false);
      const read = await store().read(input.id, null);
      expect(read!.meta).toMatchObject({ status: 'failed', error });
    });

    test('a lapsed claim of a started response is dropped, not put back', async () => {
      const input = queued();
      await store().create(input);
      await store().claim(group, { leaseMs: 50, maxAttempts: 3 });
      await store().markClaimStarted(group, input.id);
      await sleep(150);
      expect(await store().claim(group, LEASE)).toEqual({ claim: null, exhausted: [], requeued: [] });
      expect(await store().queueDepth(group)).toBe(0);
    });

    test('renewClaim keeps a claim alive; a lapsed one cannot be renewed', async () => {
      const input = queued('owner-a', { slot: 'd0', slotLimit: 1 });
      await store().create(input);
      await store().create(queued('owner-a', { slot: 'd0', slotLimit: 1 }));
      await store().claim(group, { leaseMs: 300, maxAttempts: 3 });
      for (let i = 0; i < 4; i += 1) {
        await sleep(120);
        expect(await store().renewClaim(group, input.id, 300)).toBe(true);
      }
      // Still running: the slot stays full and nothing is put back.
      expect(await store().claim(group, LEASE)).toEqual({ claim: null, exhausted: [], requeued: [] });
      await sleep(450);
      expect(await store().renewClaim(group, input.id, 300)).toBe(false);
    });

    test('handBack puts a claimed response back at the head of the queue at once', async () => {
      const first = queued();
      const second = queued();
      await store().create(first);
      await store().create(second);
      await store().claim(group, LEASE);
      await store().handBack(group, first.id);
      expect(await store().queueDepth(group)).toBe(2);
      expect(await claimIds(1)).toEqual([first.id]);
    });

    test('dropQueued takes a waiting entry out at once and returns its job; a claimed or unknown one is left alone (null)', async () => {
      const waiting = queued('owner-a');
      const claimed = queued('owner-b');
      await store().create(claimed);
      expect(await claimIds(1)).toEqual([claimed.id]);
      await store().create(waiting);
      expect(await store().queueDepth(group)).toBe(1);
      expect(await store().dropQueued(group, waiting.id)).toBe(waiting.queue!.job);
      expect(await store().queueDepth(group)).toBe(0);
      expect(await store().dropQueued(group, waiting.id)).toBeNull();
      expect(await store().dropQueued(group, claimed.id)).toBeNull();
      expect(await store().dropQueued(group, 'resp_unknown')).toBeNull();
      expect(await store().renewClaim(group, claimed.id, 30_000)).toBe(true);
      expect((await store().claim(group, LEASE)).claim).toBeNull();
    });

    test('handBack with deferMs skips that principal: others are claimed first, it comes back at the head once the time passed', async () => {
      const a1 = queued('owner-a');
      const a2 = queued('owner-a');
      const b1 = queued('owner-b');
      for (const input of [a1, a2, b1]) await store().create(input);
      expect(await claimIds(1)).toEqual([a1.id]);
      await store().handBack(group, a1.id, { deferMs: 300 });
      // owner-a waits (its key has no slot): owner-b's work is not blocked behind it.
      expect(await claimIds(2)).toEqual([b1.id, undefined]);
      expect(await store().queueDepth(group)).toBe(2);
      await sleep(400);
      expect(await claimIds(3)).toEqual([a1.id, a2.id, undefined]);
    });

    test('one claim looks at a bounded number of principals, and the next claim goes on where it stopped', async () => {
      // 120 principals each waiting (deferred) ahead of one that is claimable.
      const waiting = Array.from({ length: 120 }, (_, i) => queued(`owner-${i}`));
      for (const input of waiting) await store().create(input);
      for (let i = 0; i < waiting.length; i += 1) {
        const { claim } = await store().claim(group, LEASE);
        await store().handBack(group, claim!.id, { deferMs: 60_000 });
      }
      const ready = queued('owner-ready');
      await store().create(ready);
      // The first call looks at 100 deferred principals and finds nothing; the second reaches owner-ready.
      expect((await store().claim(group, LEASE)).claim).toBeNull();
      expect((await store().claim(group, LEASE)).claim?.id).toBe(ready.id);
    });

    test('a queued response not claimed within its longest wait fails with the queue timeout error', async () => {
      const input = queued('owner-a', { maxWaitMs: 100 });
      await store().create(input);
      expect((await store().read(input.id, null))!.meta.status).toBe('queued');
      await sleep(1300);
      const read = await store().read(input.id, null);
      expect(read!.leaseSwept).toBe(true);
      expect(read!.meta).toMatchObject({ status: 'failed', error: { ...QUEUE_TIMEOUT_ERROR } });
      expect((await store().read(input.id, null))!.leaseSwept).toBeUndefined();
    });

    test('a record created without the queue is still swept when its lease lapses', async () => {
      const input = createInput({ leaseMs: 50 });
      await store().create(input);
      await sleep(1200);
      expect((await store().read(input.id, null))!.meta.error).toMatchObject({ code: 'server_error', message: expect.stringMatching(/^worker_lost: /) });
    });
  });
}
