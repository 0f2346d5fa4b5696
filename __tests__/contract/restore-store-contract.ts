// The restore part of the store contract: a running response's worker re-creates a record the
// store lost, and a delete's tombstone keeps a deleted one deleted.

import { StoreRecordLostError } from '../../lib/errors';
import type { RestoreInput, ResponseStore } from '../../lib/types';
import { appendInput, createInput, events, newId } from '../helpers/store-inputs';

/** What a worker holds of a response that logged events 0..lastSeq (event 0 from its create). */
function restoreInput(id: string, lastSeq: number, overrides: Partial<RestoreInput> = {}): RestoreInput {
  const snapshot = JSON.stringify({ id, object: 'response', status: 'in_progress', output: [] });
  return {
    owner: 'owner-a',
    stream: true,
    fence: 3,
    status: 'in_progress',
    snapshot,
    snapshotSeq: 0,
    lastSeq,
    events: [createInput({ id }).events[0], ...events(1, lastSeq)],
    leaseMs: 30_000,
    ttlSeconds: 60,
    ...overrides,
  };
}

/** Registers the restore tests; `store` gives the current test's store. */
export function describeRestore(store: () => ResponseStore): void {
  describe('restore', () => {
    test('a record the store does not hold (and no delete removed) is written again whole, and its worker appends on under its fence', async () => {
      const id = newId();
      const input = restoreInput(id, 4);
      expect(await store().restore(id, input)).toBe('restored');
      const read = await store().read(id, 'owner-a');
      expect(read).toMatchObject({ snapshot: input.snapshot, snapshotSeq: 0, tail: events(1, 4) });
      expect(read!.meta).toMatchObject({ status: 'in_progress', owner: 'owner-a', lastSeq: 4, fence: 3, stream: true, error: null });
      expect(read!.meta.leaseExpiresAt).toBeGreaterThan(Date.now());
      expect((await store().readEvents(id, 'owner-a', -1))!.events).toEqual(input.events);
      expect(await store().append(id, appendInput({ fence: 2, firstSeq: 5, events: events(5, 5) }))).toBe('fenced');
      expect(await store().append(id, appendInput({ fence: 3, firstSeq: 5, events: events(5, 6), status: 'completed' }))).toBe('ok');
      expect((await store().readEvents(id, null, 4))!).toMatchObject({ meta: { status: 'completed', lastSeq: 6 }, events: events(5, 6) });
      expect(await store().read(id, 'owner-b')).toBeNull();
    });

    test('a restore when the record exists changes nothing', async () => {
      const created = createInput();
      await store().create(created);
      expect(await store().restore(created.id, restoreInput(created.id, 4))).toBe('exists');
      expect((await store().readEvents(created.id, null, -1))!).toMatchObject({ meta: { status: 'queued', lastSeq: 0, fence: 1 }, events: created.events });
    });

    test('a deleted response is never restored: running or ended, it stays deleted', async () => {
      const running = createInput();
      await store().create(running);
      await store().append(running.id, appendInput({ events: events(1, 2), status: 'in_progress' }));
      await store().delete(running.id, null);
      expect(await store().append(running.id, appendInput({ firstSeq: 3, events: events(3, 3) }))).toBe('gone');
      expect(await store().restore(running.id, restoreInput(running.id, 2, { fence: 1 }))).toBe('deleted');
      expect(await store().read(running.id, null)).toBeNull();

      // A retried terminal flush whose first attempt was written, its reply lost, then deleted.
      const ended = createInput();
      await store().create(ended);
      await store().append(ended.id, appendInput({ events: events(1, 2), status: 'completed' }));
      await store().delete(ended.id, null);
      expect(await store().restore(ended.id, restoreInput(ended.id, 0, { fence: 1 }))).toBe('deleted');
      expect(await store().readEvents(ended.id, null, -1)).toBeNull();
    });

    test('a record restored without its log reads as response_data_lost, before and after it ends, never as a shorter Response', async () => {
      const id = newId();
      expect(await store().restore(id, restoreInput(id, 4, { events: [] }))).toBe('restored');
      await expect(store().read(id, null)).rejects.toBeInstanceOf(StoreRecordLostError);
      await expect(store().readEvents(id, null, 2)).rejects.toMatchObject({ code: 'response_data_lost', terminal: false });
      expect(await store().append(id, appendInput({ fence: 3, firstSeq: 5, events: events(5, 5), status: 'completed', snapshot: { json: '{}', seq: 5 } }))).toBe('ok');
      await expect(store().read(id, null)).rejects.toMatchObject({ code: 'response_data_lost', terminal: true });
    });
  });
}
