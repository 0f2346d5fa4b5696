// The turn-record part of the store contract: what the next turn of a conversation needs of a
// response, kept under its owner with an expiry.

import { randomBytes } from 'node:crypto';
import { QueueFullError, StoreConflictError } from '../../lib/errors';
import type { ResponseStore, TurnRecord } from '../../lib/types';
import { sleep } from '../helpers/flow';
import { createInput, newId } from '../helpers/store-inputs';

function turn(overrides: Partial<TurnRecord> = {}): TurnRecord {
  return {
    owner: 'owner-a',
    path: 'polling',
    previousResponseId: null,
    instructions: 'Be brief.',
    inputItems: [{ type: 'message', id: 'msg_1', role: 'user', content: [{ type: 'input_text', text: 'héllo 👋' }] }],
    ...overrides,
  };
}

/** Registers the turn-record tests; `store` gives the current test's store. */
export function describeTurnRecords(store: () => ResponseStore): void {
  describe('turn records', () => {
    test('a saved turn reads back as it was, for its owner and an administrator only', async () => {
      const id = newId();
      const saved = turn({ previousResponseId: 'resp_prev', output: [{ type: 'message', id: 'msg_o', role: 'assistant' }] });
      await store().saveTurn(id, saved, 60);
      expect(await store().readTurn(id, 'owner-a')).toEqual(saved);
      expect(await store().readTurn(id, null)).toEqual(saved);
      expect(await store().readTurn(id, 'owner-b')).toBeNull();
      expect(await store().readTurn(newId(), null)).toBeNull();
    });

    test('where the upstream holds a turn is added to it, and forgetting removes both', async () => {
      const id = newId();
      await store().saveTurn(id, turn(), 60);
      const upstream = { id: 'up_1', deployment: { index: 2, modelName: 'gpt', apiBase: 'http://127.0.0.1:1/v1' }, stored: true };
      await store().setTurnUpstream(id, upstream, 60);
      expect((await store().readTurn(id, 'owner-a'))!.upstream).toEqual(upstream);
      await store().forgetTurn(id);
      expect(await store().readTurn(id, null)).toBeNull();
    });

    test('a turn expires with its time to live, which setting its upstream restarts', async () => {
      const id = newId();
      await store().saveTurn(id, turn(), 1);
      await store().setTurnUpstream(id, { id: 'up', deployment: { index: 0, modelName: 'm', apiBase: 'b' }, stored: false }, 3);
      await sleep(1300);
      expect((await store().readTurn(id, null))?.upstream?.stored).toBe(false);
      const short = newId();
      await store().saveTurn(short, turn(), 1);
      await sleep(1300);
      expect(await store().readTurn(short, null)).toBeNull();
    });

    test('a create given its turn writes it with the record and says so; one without a turn answers as before', async () => {
      const saved = turn({ previousResponseId: 'resp_prev' });
      const input = createInput({ turn: { record: saved, ttlSeconds: 60 } });
      expect(await store().create(input)).toEqual({ fence: 1, turnSaved: true });
      expect(await store().readTurn(input.id, 'owner-a')).toEqual(saved);
      expect(await store().readTurn(input.id, 'owner-b')).toBeNull();
      const plain = createInput();
      expect(await store().create(plain)).toEqual({ fence: 1 });
      expect(await store().readTurn(plain.id, null)).toBeNull();
    });

    test('the turn a create writes expires with its own time to live, and goes with forgetTurn', async () => {
      const input = createInput({ turn: { record: turn(), ttlSeconds: 1 } });
      await store().create(input);
      const kept = createInput({ turn: { record: turn(), ttlSeconds: 60 } });
      await store().create(kept);
      await sleep(1300);
      expect(await store().readTurn(input.id, null)).toBeNull();
      expect((await store().read(input.id, null))!.meta.status).toBe('queued');
      await store().forgetTurn(kept.id);
      expect(await store().readTurn(kept.id, null)).toBeNull();
    });

    test('a refused create (the id exists, or its queue is full) writes no turn', async () => {
      const first = createInput();
      await store().create(first);
      await expect(store().create({ ...first, turn: { record: turn({ owner: 'owner-b' }), ttlSeconds: 60 } })).rejects.toBeInstanceOf(StoreConflictError);
      expect(await store().readTurn(first.id, null)).toBeNull();

      const group = `gpt-{${randomBytes(4).toString('hex')}}`;
      const queued = (principal: string) => {
        const input = createInput({ owner: principal, turn: { record: turn({ owner: principal }), ttlSeconds: 60 } });
        return { ...input, queue: { group, principal, job: '{}', slot: '', slotLimit: 0, maxWaitMs: 0, maxDepth: 1 } };
      };
      const admitted = queued('owner-a');
      await store().create(admitted);
      const refused = queued('owner-b');
      await expect(store().create(refused)).rejects.toBeInstanceOf(QueueFullError);
      expect(await store().readTurn(refused.id, null)).toBeNull();
      expect(await store().read(refused.id, null)).toBeNull();
      expect((await store().readTurn(admitted.id, 'owner-a'))!.owner).toBe('owner-a');
    });
  });
}
