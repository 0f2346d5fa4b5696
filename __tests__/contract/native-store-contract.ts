// The native-response part of the store contract (ids a provider created in its own background
// mode), registered inside describeStoreContract so it runs against every store.

import { randomBytes } from 'node:crypto';
import type { NativeResponseRecord, ResponseStore } from '../../lib/types';

function nativeId(): string {
  return `resp_native_${randomBytes(16).toString('hex')}`;
}

function nativeRecord(overrides: Partial<NativeResponseRecord> = {}): NativeResponseRecord {
  return {
    owner: 'owner-a',
    deployment: { index: 2, modelName: 'deep-research', apiBase: 'https://provider.example/v1' },
    model: 'deep-research',
    createdAt: 1_700_000_000_000,
    ...overrides,
  };
}

/** Registers the native-record tests; `store()` is the current test's store. */
export function describeNativeRecords(store: () => ResponseStore): void {
  describe('native responses', () => {
    test('a remembered native response reads back with its owner, deployment, model and creation time', async () => {
      const id = nativeId();
      await store().rememberNative(id, nativeRecord(), 60);
      expect(await store().lookupNative(id, 'owner-a')).toEqual(nativeRecord());
    });

    test('another owner sees nothing, an administrator (owner null) sees the record', async () => {
      const id = nativeId();
      await store().rememberNative(id, nativeRecord(), 60);
      expect(await store().lookupNative(id, 'owner-b')).toBeNull();
      expect(await store().lookupNative(id, null)).toEqual(nativeRecord());
    });

    test('an id never remembered is unknown', async () => {
      expect(await store().lookupNative(nativeId(), null)).toBeNull();
    });

    test('forgetting removes the record once; a second forget reports nothing removed', async () => {
      const id = nativeId();
      await store().rememberNative(id, nativeRecord(), 60);
      expect(await store().forgetNative(id)).toBe(true);
      expect(await store().lookupNative(id, null)).toBeNull();
      expect(await store().forgetNative(id)).toBe(false);
    });

    test('remembering the same id again replaces the record', async () => {
      const id = nativeId();
      await store().rememberNative(id, nativeRecord(), 60);
      await store().rememberNative(id, nativeRecord({ owner: 'owner-b', model: 'other' }), 60);
      expect(await store().lookupNative(id, 'owner-a')).toBeNull();
      expect(await store().lookupNative(id, 'owner-b')).toEqual(nativeRecord({ owner: 'owner-b', model: 'other' }));
    });

    test('a native record is not a response record: read, cancel and delete do not find it, and it survives them', async () => {
      const id = nativeId();
      await store().rememberNative(id, nativeRecord(), 60);
      expect(await store().read(id, null)).toBeNull();
      expect(await store().readEvents(id, null, -1)).toBeNull();
      expect((await store().cancel(id, null, 60)).outcome).toBe('not_found');
      expect((await store().delete(id, null)).deleted).toBe(false);
      expect(await store().lookupNative(id, 'owner-a')).toEqual(nativeRecord());
    });

    test('a native record expires after its TTL', async () => {
      const id = nativeId();
      await store().rememberNative(id, nativeRecord(), 1);
      const deadline = Date.now() + 5000;
      while ((await store().lookupNative(id, null)) !== null) {
        if (Date.now() > deadline) throw new Error('the native record did not expire');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await store().forgetNative(id)).toBe(false);
    });

    test('the admission a native response was counted under reads back with it', async () => {
      const id = nativeId();
      const record = nativeRecord({ admission: { id: 'adm_1', subjects: ['key:abc', 'deployment:def'] } });
      await store().rememberNative(id, record, 60);
      expect(await store().lookupNative(id, null)).toEqual(record);
    });

    test('only the first claim of a native end wins, among concurrent claims too, and forgetting clears it', async () => {
      const id = nativeId();
      await store().rememberNative(id, nativeRecord(), 60);
      const claims = await Promise.all([1, 2, 3, 4, 5].map(() => store().claimNativeEnd(id, 60)));
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(await store().claimNativeEnd(id, 60)).toBe(false);
      await store().forgetNative(id);
      expect(await store().claimNativeEnd(id, 60)).toBe(true);
    });

    test('a closed store rejects native calls', async () => {
      await store().close();
      await expect(store().rememberNative(nativeId(), nativeRecord(), 60)).rejects.toThrow();
      await expect(store().lookupNative(nativeId(), null)).rejects.toThrow();
      await expect(store().forgetNative(nativeId())).rejects.toThrow();
      await expect(store().claimNativeEnd(nativeId(), 60)).rejects.toThrow();
    });

    test('the reconciler schedule gives due ids earliest first, takes new times, and forgets unscheduled and forgotten ids', async () => {
      const [a, b, c] = [nativeId(), nativeId(), nativeId()];
      const now = Date.now();
      await store().scheduleNative(a, now - 1000);
      await store().scheduleNative(b, now - 2000);
      await store().scheduleNative(c, now + 60_000);
      const due = (await store().dueNatives(now, 100)).filter((id) => [a, b, c].includes(id));
      expect(due).toEqual([b, a]);
      await store().scheduleNative(b, now + 60_000);
      await store().unscheduleNative(a);
      expect((await store().dueNatives(now, 100)).filter((id) => [a, b, c].includes(id))).toEqual([]);
      await store().rememberNative(c, nativeRecord(), 60);
      await store().forgetNative(c);
      expect((await store().dueNatives(now + 120_000, 100)).filter((id) => [a, b, c].includes(id))).toEqual([b]);
      await store().unscheduleNative(b);
    });

    test('a lease is held by one holder at a time, renewed by it, and free again once it lapses', async () => {
      const name = `lease-${nativeId()}`;
      expect(await store().holdLease(name, 'one', 400)).toBe(true);
      expect(await store().holdLease(name, 'two', 400)).toBe(false);
      expect(await store().holdLease(name, 'one', 400)).toBe(true);
      await new Promise((r) => setTimeout(r, 600));
      expect(await store().holdLease(name, 'two', 400)).toBe(true);
    });
  });
}
