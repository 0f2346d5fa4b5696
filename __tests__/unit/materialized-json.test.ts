import { encodeEvent } from '../../lib/store/event-codec';
import type { ResponseMeta, StoredResponse } from '../../lib/types';
import { materialize, materializedJson } from '../../lib/worker/materialize';
import { foldEvents } from '../../lib/worker/reducer';
import { proxyResponse, textTurnEvents } from '../helpers/event-fixtures';

function meta(overrides: Partial<ResponseMeta> = {}): ResponseMeta {
  return { status: 'completed', owner: 'owner-hash', lastSeq: 10, fence: 1, leaseExpiresAt: 0, stream: false, error: null, ...overrides };
}

describe('the JSON a poll answers', () => {
  const events = textTurnEvents('Hello there, how are you?', { chunkSize: 4 });
  const final = foldEvents(proxyResponse({ id: 'resp_abc' }), events);
  const partial = foldEvents(proxyResponse({ id: 'resp_abc' }), events.slice(0, 6));

  it('is the stored snapshot itself for a completed response with nothing after it', () => {
    const stored: StoredResponse = { meta: meta({ lastSeq: events.length - 1 }), snapshot: JSON.stringify(final), snapshotSeq: events.length - 1, tail: [] };
    expect(materializedJson(stored)).toBe(stored.snapshot);
    expect(materializedJson(stored)).toBe(JSON.stringify(materialize(stored)));
  });

  it('equals the materialized Response when a tail, a cancel or an error changes it', () => {
    const withTail: StoredResponse = { meta: meta({ status: 'in_progress' }), snapshot: JSON.stringify(partial), snapshotSeq: 5, tail: events.slice(6, 9).map((e) => encodeEvent(e)) };
    const cancelled: StoredResponse = { meta: meta({ status: 'cancelled' }), snapshot: JSON.stringify(partial), snapshotSeq: 5, tail: [] };
    const lost: StoredResponse = { meta: meta({ status: 'completed', error: { code: 'server_error', message: 'worker_lost: lost' } }), snapshot: JSON.stringify(final), snapshotSeq: events.length - 1, tail: [] };
    for (const stored of [withTail, cancelled, lost]) expect(materializedJson(stored)).toBe(JSON.stringify(materialize(stored)));
    expect(JSON.parse(materializedJson(cancelled)).status).toBe('cancelled');
  });
});
