// The one contract suite every ResponseStore implementation must pass.

import { StoreConflictError } from '../../lib/errors';
import type { ControlMessage, ResponseStore } from '../../lib/types';
import { sleep, waitFor } from '../helpers/flow';
import { appendInput, createInput, event, events, newId } from '../helpers/store-inputs';
import { describeNativeRecords } from './native-store-contract';
import { describeQueueContract } from './queue-store-contract';
import { describeRestore } from './restore-store-contract';
import { encodeEvent, eventJson, ItemIdTable } from '../../lib/store/event-codec';
import { functionCallEvents, textTurnEvents } from '../helpers/event-fixtures';
import { describeTurnRecords } from './turn-store-contract';

/** A fresh store for one test (own key prefix), and how to dispose of it and its data. */
export interface StoreHarness {
  store: ResponseStore;
  cleanup: () => Promise<void>;
}

/** Clocks of the store (Redis TIME) and of the test may disagree a little. */
const CLOCK_SLACK_MS = 1000;

/**
 * Registers the contract tests for one implementation. `makeStore` is called before every
 * test and must give a store with a key space no other test uses.
 */
export function describeStoreContract(name: string, makeStore: () => Promise<StoreHarness>): void {
  describe(`${name}: the ResponseStore contract`, () => {
    let h: StoreHarness;
    let store: ResponseStore;

    beforeEach(async () => {
      h = await makeStore();
      store = h.store;
    });

    afterEach(async () => {
      await h.cleanup();
    });

    describe('create and read', () => {
      test('a created response reads back as queued with its snapshot, meta and an empty tail', async () => {
        const input = createInput();
        const before = Date.now();
        expect(await store.create(input)).toEqual({ fence: 1 });
        const after = Date.now();

        const read = await store.read(input.id, 'owner-a');
        expect(read).not.toBeNull();
        expect(read!.snapshot).toBe(input.snapshot);
        expect(read!.snapshotSeq).toBe(0);
        expect(read!.tail).toEqual([]);
        expect(read!.meta).toMatchObject({ status: 'queued', owner: 'owner-a', lastSeq: 0, fence: 1, stream: true, error: null });
        expect(read!.meta.leaseExpiresAt).toBeGreaterThanOrEqual(before + input.leaseMs - CLOCK_SLACK_MS);
        expect(read!.meta.leaseExpiresAt).toBeLessThanOrEqual(after + input.leaseMs + CLOCK_SLACK_MS);

        const fromStart = await store.readEvents(input.id, 'owner-a', -1);
        expect(fromStart).toEqual({ meta: read!.meta, events: input.events });
      });

      test('a response created without events starts its log at sequence -1', async () => {
        const input = createInput({ events: [], stream: false });
        await store.create(input);
        const read = await store.read(input.id, 'owner-a');
        expect(read!.meta.lastSeq).toBe(-1);
        expect(read!.meta.stream).toBe(false);
        expect(read!.snapshotSeq).toBe(-1);
        expect(await store.append(input.id, appendInput({ firstSeq: 0, events: events(0, 1) }))).toBe('ok');
        expect((await store.readEvents(input.id, 'owner-a', -1))!.events).toEqual(events(0, 1));
      });

      test('creating an id that exists rejects with StoreConflictError and changes nothing', async () => {
        const input = createInput();
        await store.create(input);
        await store.append(input.id, appendInput({ events: events(1, 2), status: 'in_progress' }));
        await expect(store.create({ ...input, owner: 'owner-b', snapshot: '{}' })).rejects.toBeInstanceOf(StoreConflictError);
        const read = await store.read(input.id, 'owner-a');
        expect(read!.meta).toMatchObject({ status: 'in_progress', owner: 'owner-a', lastSeq: 2 });
        expect(read!.snapshot).toBe(input.snapshot);
      });

      test("an administrator's delete with tombstoneMs of an id with no record refuses a later create of that id; an owner's does not", async () => {
        const abandoned = createInput();
        expect(await store.delete(abandoned.id, null, { tombstoneMs: 60_000 })).toEqual({ deleted: false });
        await expect(store.create(abandoned)).rejects.toBeInstanceOf(StoreConflictError);
        expect(await store.read(abandoned.id, null)).toBeNull();
        const other = createInput();
        expect(await store.delete(other.id, 'owner-a', { tombstoneMs: 60_000 })).toEqual({ deleted: false });
        await store.create(other);
        // An ordinary delete's tombstone does not refuse the id: only an abandoned create's does.
        await store.delete(other.id, null);
        await store.create(other);
        expect((await store.read(other.id, null))!.meta.status).toBe('queued');
      });

      test('a completed response whose snapshot is at its last event reads back whole with no tail; one with a tail after its snapshot, with that tail', async () => {
        const input = createInput();
        await store.create(input);
        const final = JSON.stringify({ id: input.id, object: 'response', status: 'completed', output: [{ text: 'é'.repeat(5000) }] });
        expect(await store.append(input.id, appendInput({ events: events(1, 3), status: 'completed', snapshot: { json: final, seq: 3 } }))).toBe('ok');
        const read = await store.read(input.id, 'owner-a');
        expect(read).toEqual({ meta: { status: 'completed', owner: 'owner-a', lastSeq: 3, fence: 1, leaseExpiresAt: expect.any(Number), stream: true, error: null }, snapshot: final, snapshotSeq: 3, tail: [] });
        expect(await store.read(input.id, 'owner-b')).toBeNull();
        expect(await store.read(input.id, null)).toEqual(read);

        const tailed = createInput();
        await store.create(tailed);
        expect(await store.append(tailed.id, appendInput({ events: events(1, 2), status: 'completed' }))).toBe('ok');
        const withTail = await store.read(tailed.id, 'owner-a');
        expect(withTail).toMatchObject({ snapshot: tailed.snapshot, snapshotSeq: 0, tail: events(1, 2) });
        expect(withTail!.meta).toMatchObject({ status: 'completed', lastSeq: 2 });

        await store.delete(input.id, 'owner-a');
        expect(await store.read(input.id, 'owner-a')).toBeNull();
      });

      test('read and readEvents of an unknown id return null', async () => {
        expect(await store.read(newId(), 'owner-a')).toBeNull();
        expect(await store.read(newId(), null)).toBeNull();
        expect(await store.readEvents(newId(), null, -1)).toBeNull();
      });

      test('ping resolves while the store is reachable', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
      });
    });

    describe('append', () => {
      test('appended events follow the log and readEvents returns those after a sequence number', async () => {
        const input = createInput();
        await store.create(input);
        expect(await store.append(input.id, appendInput({ firstSeq: 1, events: events(1, 3) }))).toBe('ok');
        expect(await store.append(input.id, appendInput({ firstSeq: 4, events: events(4, 4) }))).toBe('ok');

        const all = await store.readEvents(input.id, 'owner-a', -1);
        expect(all!.meta.lastSeq).toBe(4);
        expect(all!.events).toEqual([...input.events, ...events(1, 4)]);
        expect((await store.readEvents(input.id, 'owner-a', 2))!.events).toEqual(events(3, 4));
        expect((await store.readEvents(input.id, 'owner-a', 4))!.events).toEqual([]);
        expect((await store.readEvents(input.id, 'owner-a', 99))!.events).toEqual([]);
        expect((await store.read(input.id, 'owner-a'))!.tail).toEqual(events(1, 4));
      });

      test('readEvents with a limit returns one page after the cursor, with the current meta', async () => {
        const input = createInput();
        await store.create(input);
        await store.append(input.id, appendInput({ firstSeq: 1, events: events(1, 9) }));
        const page = await store.readEvents(input.id, 'owner-a', 2, { limit: 4 });
        expect(page!.events).toEqual(events(3, 6));
        expect(page!.meta.lastSeq).toBe(9);
        expect((await store.readEvents(input.id, 'owner-a', 6, { limit: 4 }))!.events).toEqual(events(7, 9));
        expect((await store.readEvents(input.id, 'owner-a', 9, { limit: 4 }))!.events).toEqual([]);
        expect((await store.readEvents(input.id, 'owner-a', -1, { limit: 1 }))!.events).toEqual(input.events);
        expect((await store.readEvents(input.id, 'owner-a', 2))!.itemIds).toBeUndefined();
        // A byte bound cuts the page short, but never below one entry.
        const size = event(3).length;
        expect((await store.readEvents(input.id, 'owner-a', 2, { limit: 4, maxBytes: size * 2 + 1 }))!.events).toEqual(events(3, 4));
        expect((await store.readEvents(input.id, 'owner-a', 2, { limit: 4, maxBytes: 1 }))!.events).toEqual(events(3, 3));
      });

      test('readEvents takes entries that reach the end of the log whole within the tail allowance, and pages anything else by bytes', async () => {
        const input = createInput();
        await store.create(input);
        await store.append(input.id, appendInput({ firstSeq: 1, events: events(1, 9) }));
        const tail = events(6, 9);
        const tailBytes = tail.reduce((sum, entry) => sum + entry.length, 0);
        const oneEntry = { maxBytes: tail[0].length + 1 };
        expect((await store.readEvents(input.id, 'owner-a', 5, { limit: 10, ...oneEntry, tailBytes }))!.events).toEqual(tail);
        expect((await store.readEvents(input.id, 'owner-a', 5, { limit: 4, ...oneEntry, tailBytes }))!.events).toEqual(tail);
        // A tail over the allowance, or entries short of the end, are paged by maxBytes as before.
        expect((await store.readEvents(input.id, 'owner-a', 5, { limit: 10, ...oneEntry, tailBytes: tailBytes - 1 }))!.events).toEqual(events(6, 6));
        expect((await store.readEvents(input.id, 'owner-a', 5, { limit: 3, ...oneEntry, tailBytes }))!.events).toEqual(events(6, 6));
        expect((await store.readEvents(input.id, 'owner-a', 1, { limit: 10, ...oneEntry, tailBytes }))!.events).toEqual(events(2, 2));
        // Without a byte bound the allowance changes nothing.
        expect((await store.readEvents(input.id, 'owner-a', 5, { limit: 2, tailBytes }))!.events).toEqual(events(6, 7));
      });

      test('the item-id notes rebuild, at any cursor, the table a reader of the whole log holds there', async () => {
        const input = createInput();
        await store.create(input);
        const turn = [...textTurnEvents('one two three four', { chunkSize: 3 }), ...functionCallEvents({ name: 'f', arguments: '{"a":1}' })]
          .slice(1)
          .map((e, i) => ({ ...e, sequence_number: i + 1 }));
        // Encoded as the worker does: an id is left out where the writer's table knows it.
        const writer = new ItemIdTable();
        const encoded = turn.map((event) => {
          const entry = encodeEvent(event, writer.get);
          writer.note(event);
          return entry;
        });
        // Two flushes, split inside the text item.
        await store.append(input.id, appendInput({ firstSeq: 1, events: encoded.slice(0, 6) }));
        await store.append(input.id, appendInput({ firstSeq: 7, events: encoded.slice(6) }));
        const all = [...input.events, ...encoded];
        for (let cursor = 0; cursor < all.length - 1; cursor++) {
          const fromStart = new ItemIdTable();
          all.slice(0, cursor + 1).forEach((entry) => eventJson(entry, fromStart));
          const page = await store.readEvents(input.id, 'owner-a', cursor, { limit: 3, itemIds: true });
          const table = ItemIdTable.fromNotes(page!.itemIds!, cursor);
          page!.events.forEach((entry) => expect(eventJson(entry, table).json).toBe(eventJson(entry, fromStart).json));
        }
        // A few notes per output item, not one per entry.
        const notes = (await store.readEvents(input.id, 'owner-a', 0, { limit: 1, itemIds: true }))!.itemIds!;
        expect(notes.length).toBeGreaterThan(0);
        expect(notes.length).toBeLessThan(all.length / 2);
      });

      test('a record created again after a delete starts without the old item-id notes', async () => {
        const input = createInput();
        await store.create(input);
        const added = JSON.stringify({ type: 'response.output_item.added', sequence_number: 1, output_index: 0, item: { type: 'message', id: 'msg_old' } });
        await store.append(input.id, appendInput({ firstSeq: 1, events: [added] }));
        expect((await store.readEvents(input.id, 'owner-a', 1, { itemIds: true }))!.itemIds).toHaveLength(1);
        expect((await store.delete(input.id, 'owner-a')).deleted).toBe(true);
        await store.create(input);
        expect((await store.readEvents(input.id, 'owner-a', 0, { itemIds: true }))!.itemIds).toEqual([]);
      });

      test('a retried flush that was already written succeeds without writing its events twice', async () => {
        const input = createInput();
        await store.create(input);
        const flush = appendInput({ firstSeq: 1, events: events(1, 3) });
        expect(await store.append(input.id, flush)).toBe('ok');
        expect(await store.append(input.id, flush)).toBe('ok');
        expect(await store.append(input.id, appendInput({ firstSeq: 2, events: events(2, 2) }))).toBe('ok');
        const read = await store.readEvents(input.id, 'owner-a', -1);
        expect(read!.meta.lastSeq).toBe(3);
        expect(read!.events).toEqual([...input.events, ...events(1, 3)]);
      });

      test('a retried final flush whose first attempt finished the response succeeds, and a stale fence does not', async () => {
        const input = createInput();
        const { fence } = await store.create(input);
        const final = appendInput({ firstSeq: 1, events: events(1, 2), status: 'completed' });
        expect(await store.append(input.id, final)).toBe('ok');
        expect(await store.append(input.id, final)).toBe('ok');
        expect(await store.append(input.id, { ...final, fence: fence + 1 })).toBe('terminal');
        const read = await store.readEvents(input.id, 'owner-a', -1);
        expect(read!.meta.status).toBe('completed');
        expect(read!.events).toEqual([...input.events, ...events(1, 2)]);
      });

      test('an append that leaves a gap or overlaps the end of the log is fenced and writes nothing', async () => {
        const input = createInput();
        await store.create(input);
        expect(await store.append(input.id, appendInput({ firstSeq: 2, events: events(2, 3) }))).toBe('fenced');
        expect(await store.append(input.id, appendInput({ firstSeq: 1, events: events(1, 2) }))).toBe('ok');
        expect(await store.append(input.id, appendInput({ firstSeq: 2, events: events(2, 4) }))).toBe('fenced');
        const read = await store.readEvents(input.id, 'owner-a', -1);
        expect(read!.meta.lastSeq).toBe(2);
        expect(read!.events).toHaveLength(3);
      });

      test('an append carrying another fencing token is fenced and writes nothing', async () => {
        const input = createInput();
        await store.create(input);
        const outcome = await store.append(input.id, appendInput({ fence: 2, events: events(1, 1), status: 'completed' }));
        expect(outcome).toBe('fenced');
        const read = await store.read(input.id, 'owner-a');
        expect(read!.meta).toMatchObject({ status: 'queued', lastSeq: 0 });
      });

      test('a new snapshot moves the split: read returns it with only the events after it as the tail', async () => {
        const input = createInput();
        await store.create(input);
        const snapshot = JSON.stringify({ id: input.id, status: 'in_progress', output: [{ type: 'message', text: 'd1d2' }] });
        const outcome = await store.append(input.id, appendInput({ firstSeq: 1, events: events(1, 4), snapshot: { json: snapshot, seq: 2 } }));
        expect(outcome).toBe('ok');
        const read = await store.read(input.id, 'owner-a');
        expect(read!.snapshot).toBe(snapshot);
        expect(read!.snapshotSeq).toBe(2);
        expect(read!.tail).toEqual(events(3, 4));
        expect((await store.readEvents(input.id, 'owner-a', -1))!.events).toHaveLength(5);
      });

      test('a heartbeat renews the lease and leaves the log as it was', async () => {
        const input = createInput({ leaseMs: 500 });
        await store.create(input);
        const first = (await store.read(input.id, 'owner-a'))!.meta.leaseExpiresAt;
        await sleep(60);
        expect(await store.append(input.id, appendInput({ firstSeq: 1, events: [], leaseMs: 5000 }))).toBe('ok');
        const read = await store.readEvents(input.id, 'owner-a', -1);
        expect(read!.meta.leaseExpiresAt).toBeGreaterThan(first + 4000);
        expect(read!.meta.lastSeq).toBe(0);
        expect(read!.events).toEqual(input.events);
      });

      test('an in_progress status is recorded and the lease keeps running', async () => {
        const input = createInput();
        await store.create(input);
        expect(await store.append(input.id, appendInput({ events: events(1, 1), status: 'in_progress' }))).toBe('ok');
        const read = await store.read(input.id, 'owner-a');
        expect(read!.meta.status).toBe('in_progress');
        expect(read!.meta.leaseExpiresAt).toBeGreaterThan(Date.now());
      });

      test('a terminal append records the status, clears the lease, and every later append is refused as terminal', async () => {
        const input = createInput();
        await store.create(input);
        expect(await store.append(input.id, appendInput({ events: events(1, 2), status: 'completed' }))).toBe('ok');
        const read = await store.read(input.id, 'owner-a');
        expect(read!.meta).toMatchObject({ status: 'completed', leaseExpiresAt: 0, lastSeq: 2 });
        expect(await store.append(input.id, appendInput({ firstSeq: 3, events: events(3, 3) }))).toBe('terminal');
        expect(await store.append(input.id, appendInput({ firstSeq: 3, events: [] }))).toBe('terminal');
        expect(await store.append(input.id, appendInput({ firstSeq: 3, events: [], status: 'failed' }))).toBe('terminal');
        expect((await store.read(input.id, 'owner-a'))!.meta).toMatchObject({ status: 'completed', lastSeq: 2 });
      });
    });

    describe('cancel: a terminal status is never overwritten', () => {
      test('cancelling a running response marks it cancelled and keeps its partial output', async () => {
        const input = createInput();
        await store.create(input);
        await store.append(input.id, appendInput({ events: events(1, 3), status: 'in_progress' }));
        const result = await store.cancel(input.id, 'owner-a', 120);
        expect(result.outcome).toBe('cancelled');
        if (result.outcome !== 'cancelled') return;
        expect(result.response.meta).toMatchObject({ status: 'cancelled', leaseExpiresAt: 0, lastSeq: 3 });
        expect(result.response.snapshot).toBe(input.snapshot);
        expect(result.response.tail).toEqual(events(1, 3));
        expect(await store.read(input.id, 'owner-a')).toEqual(result.response);
      });

      test('an append after cancel is refused as cancelled and writes nothing', async () => {
        const input = createInput();
        await store.create(input);
        await store.cancel(input.id, 'owner-a', 60);
        expect(await store.append(input.id, appendInput({ events: events(1, 1), status: 'completed' }))).toBe('cancelled');
        expect(await store.append(input.id, appendInput({ events: [] }))).toBe('cancelled');
        const read = await store.read(input.id, 'owner-a');
        expect(read!.meta).toMatchObject({ status: 'cancelled', lastSeq: 0 });
      });

      test('cancelling a cancelled response reports already_cancelled with the stored response', async () => {
        const input = createInput();
        await store.create(input);
        await store.cancel(input.id, 'owner-a', 60);
        const again = await store.cancel(input.id, 'owner-a', 60);
        expect(again.outcome).toBe('already_cancelled');
        if (again.outcome === 'already_cancelled') expect(again.response.meta.status).toBe('cancelled');
      });

      test('cancelling a completed response reports terminal and leaves it completed', async () => {
        const input = createInput();
        await store.create(input);
        await store.append(input.id, appendInput({ events: events(1, 1), status: 'completed' }));
        const result = await store.cancel(input.id, 'owner-a', 60);
        expect(result.outcome).toBe('terminal');
        if (result.outcome === 'terminal') {
          expect(result.response.meta.status).toBe('completed');
          expect(result.response.tail).toEqual(events(1, 1));
        }
        expect((await store.read(input.id, 'owner-a'))!.meta.status).toBe('completed');
      });

      test('when cancel races a completing append, exactly one wins and the stored state agrees with it', async () => {
        let cancelWins = 0;
        let completeWins = 0;
        for (let i = 0; i < 40; i++) {
          const input = createInput();
          await store.create(input);
          const cancel = () => store.cancel(input.id, 'owner-a', 60);
          const complete = () => store.append(input.id, appendInput({ events: events(1, 2), status: 'completed' }));
          // Alternate which call is issued first so both orders are exercised.
          const [c, a] =
            i % 2 === 0
              ? await Promise.all([cancel(), complete()])
              : await Promise.all([complete(), cancel()]).then(([x, y]) => [y, x] as const);
          const read = await store.read(input.id, 'owner-a');
          if (c.outcome === 'cancelled') {
            cancelWins++;
            expect(a).toBe('cancelled');
            expect(read!.meta).toMatchObject({ status: 'cancelled', lastSeq: 0 });
          } else {
            completeWins++;
            expect(c.outcome).toBe('terminal');
            expect(a).toBe('ok');
            expect(read!.meta).toMatchObject({ status: 'completed', lastSeq: 2 });
          }
        }
        expect(cancelWins + completeWins).toBe(40);
      });
    });

    describe('owners', () => {
      test('another owner is told the response does not exist by read, readEvents, cancel and delete', async () => {
        const input = createInput();
        await store.create(input);
        expect(await store.read(input.id, 'owner-b')).toBeNull();
        expect(await store.readEvents(input.id, 'owner-b', -1)).toBeNull();
        expect(await store.cancel(input.id, 'owner-b', 60)).toEqual({ outcome: 'not_found' });
        expect((await store.delete(input.id, 'owner-b')).deleted).toBe(false);
        expect((await store.read(input.id, 'owner-a'))!.meta.status).toBe('queued');
      });

      test('a null owner is an administrator who may read, cancel and delete any response', async () => {
        const input = createInput();
        await store.create(input);
        expect((await store.read(input.id, null))!.meta.owner).toBe('owner-a');
        expect((await store.readEvents(input.id, null, -1))!.events).toEqual(input.events);
        expect((await store.cancel(input.id, null, 60)).outcome).toBe('cancelled');
        expect((await store.delete(input.id, null)).deleted).toBe(true);
        expect(await store.read(input.id, null)).toBeNull();
      });
    });

    describe('delete', () => {
      test('a deleted response reads as null and its worker is told it is gone; an unknown id deletes as false', async () => {
        const input = createInput();
        await store.create(input);
        expect((await store.delete(newId(), null)).deleted).toBe(false);
        expect((await store.delete(input.id, 'owner-a')).deleted).toBe(true);
        expect(await store.read(input.id, 'owner-a')).toBeNull();
        expect(await store.readEvents(input.id, 'owner-a', -1)).toBeNull();
        expect(await store.append(input.id, appendInput({ events: events(1, 1) }))).toBe('gone');
        expect(await store.cancel(input.id, 'owner-a', 60)).toEqual({ outcome: 'not_found' });
      });

      test('a delete says it ended the response only when the response was not terminal yet, with the record as it stood', async () => {
        const running = createInput();
        await store.create(running);
        await store.append(running.id, appendInput({ events: events(1, 2), status: 'in_progress' }));
        const ended = await store.delete(running.id, null);
        expect(ended.deleted && ended.ended?.meta).toMatchObject({ status: 'in_progress', owner: 'owner-a', lastSeq: 2 });
        expect(ended.deleted && ended.ended?.tail.length).toBeGreaterThan(0);

        const finished = createInput();
        await store.create(finished);
        await store.append(finished.id, appendInput({ events: events(1, 2), status: 'completed' }));
        expect(await store.delete(finished.id, null)).toEqual({ deleted: true });

        const cancelled = createInput();
        await store.create(cancelled);
        await store.cancel(cancelled.id, null, 60);
        expect(await store.delete(cancelled.id, null)).toEqual({ deleted: true });
      });

      test('cancel and delete racing on a running response: exactly one of them reports its end, in every trial', async () => {
        for (let trial = 0; trial < 40; trial++) {
          const input = createInput();
          await store.create(input);
          await store.append(input.id, appendInput({ events: events(1, 1), status: 'in_progress' }));
          const [c, d] = await Promise.all([store.cancel(input.id, null, 60), store.delete(input.id, null)]);
          const reports = (c.outcome === 'cancelled' ? 1 : 0) + (d.deleted && d.ended ? 1 : 0);
          expect(reports).toBe(1);
          expect(d.deleted).toBe(true);
        }
      });

      test('an id can be created again after it was deleted', async () => {
        const input = createInput();
        await store.create(input);
        await store.append(input.id, appendInput({ events: events(1, 3), status: 'completed' }));
        await store.delete(input.id, null);
        await store.create(input);
        const read = await store.readEvents(input.id, 'owner-a', -1);
        expect(read!.meta).toMatchObject({ status: 'queued', lastSeq: 0 });
        expect(read!.events).toEqual(input.events);
      });
    });

    describe('leases', () => {
      test('a read or readEvents after the lease lapsed marks the response failed with worker_lost, and the worker is refused', async () => {
        const input = createInput({ leaseMs: 50 });
        const other = createInput({ leaseMs: 50 });
        await store.create(input);
        await store.create(other);
        await sleep(150);
        const viaEvents = await store.readEvents(other.id, 'owner-a', -1);
        expect(viaEvents!.meta).toMatchObject({ status: 'failed', leaseExpiresAt: 0, error: { code: 'server_error', message: expect.stringMatching(/^worker_lost: /) } });
        expect(viaEvents!.events).toEqual(other.events);
        const read = await store.read(input.id, 'owner-a');
        expect(read!.meta).toMatchObject({
          status: 'failed',
          leaseExpiresAt: 0,
          error: {
            code: 'server_error',
            message: 'worker_lost: The worker running this response stopped before it finished (its lease expired).',
          },
        });
        expect(await store.append(input.id, appendInput({ events: events(1, 1) }))).toBe('terminal');
        expect((await store.cancel(input.id, 'owner-a', 60)).outcome).toBe('terminal');
        expect((await store.read(input.id, 'owner-a'))!.meta.status).toBe('failed');
      });

      test('only the one read that swept a lapsed lease says so (leaseSwept), whichever of read and readEvents it was', async () => {
        const viaRead = createInput({ leaseMs: 50 });
        const viaEvents = createInput({ leaseMs: 50 });
        await store.create(viaRead);
        await store.create(viaEvents);
        expect((await store.read(viaRead.id, 'owner-a'))!.leaseSwept).toBeUndefined();
        await sleep(150);
        const reads = await Promise.all([1, 2, 3].map(() => store.read(viaRead.id, 'owner-a')));
        expect(reads.filter((r) => r!.leaseSwept === true)).toHaveLength(1);
        const eventReads = await Promise.all([1, 2, 3].map(() => store.readEvents(viaEvents.id, null, -1)));
        expect(eventReads.filter((r) => r!.leaseSwept === true)).toHaveLength(1);
        expect((await store.read(viaEvents.id, null))!.leaseSwept).toBeUndefined();
      });

      test('heartbeats keep a response alive well past its first lease', async () => {
        const input = createInput({ leaseMs: 150 });
        await store.create(input);
        for (let i = 0; i < 8; i++) {
          await sleep(50);
          expect(await store.append(input.id, appendInput({ events: [], leaseMs: 150 }))).toBe('ok');
          expect((await store.read(input.id, 'owner-a'))!.meta.status).toBe('queued');
        }
      });

      test('a terminal response is never swept, whatever its lease', async () => {
        const input = createInput({ leaseMs: 50 });
        await store.create(input);
        await store.append(input.id, appendInput({ events: events(1, 1), status: 'incomplete', leaseMs: 50 }));
        await sleep(120);
        const read = await store.read(input.id, 'owner-a');
        expect(read!.meta).toMatchObject({ status: 'incomplete', error: null });
      });
    });

    describe('control messages', () => {
      test('cancel publishes a cancel message to subscribers', async () => {
        const received: ControlMessage[] = [];
        const unsubscribe = await store.subscribe((m) => received.push(m));
        const input = createInput();
        await store.create(input);
        await store.cancel(input.id, 'owner-a', 60);
        await waitFor(() => received.length > 0, 3000, 'the cancel message');
        expect(received).toEqual([{ id: input.id, action: 'cancel' }]);
        await unsubscribe();
      });

      test('delete publishes a delete message to subscribers', async () => {
        const received: ControlMessage[] = [];
        await store.subscribe((m) => received.push(m));
        const input = createInput();
        await store.create(input);
        await store.delete(input.id, 'owner-a');
        await waitFor(() => received.length > 0, 3000, 'the delete message');
        expect(received).toEqual([{ id: input.id, action: 'delete' }]);
      });

      test('refused cancels and deletes publish nothing, and an unsubscribed listener hears nothing more', async () => {
        const early: ControlMessage[] = [];
        const all: ControlMessage[] = [];
        const unsubscribeEarly = await store.subscribe((m) => early.push(m));
        await store.subscribe((m) => all.push(m));

        const done = createInput();
        await store.create(done);
        await store.append(done.id, appendInput({ events: events(1, 1), status: 'completed' }));
        await store.cancel(done.id, 'owner-a', 60);
        await store.cancel(newId(), null, 60);
        await store.delete(newId(), null);
        await store.delete(done.id, 'owner-b');
        await unsubscribeEarly();

        // The last message is a barrier: once it arrives, nothing published before it is pending.
        const last = createInput();
        await store.create(last);
        await store.cancel(last.id, 'owner-a', 60);
        await waitFor(() => all.length > 0, 3000, 'the barrier message');
        expect(all).toEqual([{ id: last.id, action: 'cancel' }]);
        expect(early).toEqual([]);
      });
    });

    describe('retention', () => {
      test('a finished response expires ttlSeconds after it became terminal, not after its lease', async () => {
        const completed = createInput({ leaseMs: 10_000, ttlSeconds: 1 });
        const cancelled = createInput({ leaseMs: 10_000, ttlSeconds: 60 });
        await store.create(completed);
        await store.create(cancelled);
        await store.append(completed.id, appendInput({ events: events(1, 1), status: 'completed', ttlSeconds: 1 }));
        await store.cancel(cancelled.id, 'owner-a', 1);
        await sleep(500);
        expect(await store.read(completed.id, 'owner-a')).not.toBeNull();
        expect(await store.read(cancelled.id, 'owner-a')).not.toBeNull();
        await sleep(800);
        expect(await store.read(completed.id, 'owner-a')).toBeNull();
        expect(await store.read(cancelled.id, 'owner-a')).toBeNull();
        expect(await store.append(completed.id, appendInput({ firstSeq: 2, events: [] }))).toBe('gone');
      });

      test('a running response lives for ttl plus lease, and each append pushes that back', async () => {
        const renewed = createInput({ leaseMs: 600, ttlSeconds: 1 });
        const idle = createInput({ leaseMs: 600, ttlSeconds: 1 });
        await store.create(renewed);
        await store.create(idle);
        await sleep(500);
        expect(await store.append(renewed.id, appendInput({ events: events(1, 1), leaseMs: 600, ttlSeconds: 1 }))).toBe('ok');
        await sleep(1300);
        // idle expired at 1.6 s; renewed lives until 2.1 s (its lease lapsed, so the read fails it).
        expect(await store.read(idle.id, 'owner-a')).toBeNull();
        const read = await store.read(renewed.id, 'owner-a');
        expect(read!.meta.status).toBe('failed');
        expect(read!.tail).toEqual(events(1, 1));
      });
    });

    describe('data', () => {
      test('stored strings come back exactly as they were given', async () => {
        const big = 'x'.repeat(300_000);
        const odd = [
          '',
          '0',
          '-1',
          'nil',
          'false',
          '{"text":"ünïcødé 日本語 🚀 \\u0000"}',
          'line\r\nbreak\ttab "quoted" \\backslash\\',
          '\u0000binary\u0001',
          big,
        ];
        const input = createInput({ snapshot: `{"s":"🚀${big}"}`, events: odd });
        await store.create(input);
        const read = await store.read(input.id, 'owner-a');
        expect(read!.snapshot).toBe(input.snapshot);
        expect((await store.readEvents(input.id, 'owner-a', -1))!.events).toEqual(odd);

        const snapshot = '{"é":"\\n"} \u2028';
        const outcome = await store.append(input.id, appendInput({ firstSeq: odd.length, events: odd, snapshot: { json: snapshot, seq: odd.length - 1 } }));
        expect(outcome).toBe('ok');
        const after = await store.read(input.id, 'owner-a');
        expect(after!.snapshot).toBe(snapshot);
        expect(after!.tail).toEqual(odd);
      });

      test('a large flush of many events is written in one append', async () => {
        const input = createInput();
        await store.create(input);
        const many = events(1, 5000);
        expect(await store.append(input.id, appendInput({ firstSeq: 1, events: many }))).toBe('ok');
        const read = await store.readEvents(input.id, 'owner-a', 4990);
        expect(read!.meta.lastSeq).toBe(5000);
        expect(read!.events).toEqual(events(4991, 5000));
      });

      test('results are copies: changing one does not change what the store holds', async () => {
        const input = createInput();
        await store.create(input);
        await store.append(input.id, appendInput({ events: events(1, 2) }));
        const first = await store.read(input.id, 'owner-a');
        first!.meta.status = 'completed';
        first!.tail.push('extra');
        const evs = await store.readEvents(input.id, 'owner-a', -1);
        evs!.events.length = 0;
        const again = await store.read(input.id, 'owner-a');
        expect(again!.meta.status).toBe('queued');
        expect(again!.tail).toEqual(events(1, 2));
        expect((await store.readEvents(input.id, 'owner-a', -1))!.events).toHaveLength(3);
      });
    });

    describeNativeRecords(() => store);
    describeQueueContract(() => store);
    describeRestore(() => store);
    describeTurnRecords(() => store);

    describe('close', () => {
      test('close can be called twice, and a closed store rejects further calls', async () => {
        await store.close();
        await store.close();
        await expect(store.read(newId(), null)).rejects.toThrow();
        await expect(store.ping()).rejects.toThrow();
      });
    });
  });
}
