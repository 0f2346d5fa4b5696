// The turn-record part of the store contract: what the next turn of a conversation needs of a
// response, kept under its owner with an expiry.

import type { ResponseStore, TurnRecord } from '../../lib/types';
import { sleep } from '../helpers/flow';
import { newId } from '../helpers/store-inputs';

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
  });
}
