import { encodeEvent } from '../../lib/store/event-codec';
import type { ResponseMeta, ResponseObject, ResponseStreamEvent, StoredResponse } from '../../lib/types';
import { materialize } from '../../lib/worker/materialize';
import { foldEvents } from '../../lib/worker/reducer';
import { functionCallEvents, proxyResponse, textTurnEvents } from '../helpers/event-fixtures';

function meta(overrides: Partial<ResponseMeta> = {}): ResponseMeta {
  return { status: 'in_progress', owner: 'owner-hash', lastSeq: -1, fence: 1, leaseExpiresAt: Date.now() + 30_000, stream: true, error: null, ...overrides };
}

/** What a store returns when its snapshot covers `events[0..snapshotSeq]` and the rest is the tail. */
function stored(initial: ResponseObject, events: ResponseStreamEvent[], snapshotSeq: number, metaOverrides: Partial<ResponseMeta> = {}): StoredResponse {
  return {
    meta: meta({ lastSeq: events.length - 1, ...metaOverrides }),
    snapshot: JSON.stringify(foldEvents(initial, events.slice(0, snapshotSeq + 1))),
    snapshotSeq,
    tail: events.slice(snapshotSeq + 1).map((e) => encodeEvent(e)),
  };
}

describe('materialize', () => {
  const events = textTurnEvents('The quick brown fox jumps over the lazy dog.', { background: true, chunkSize: 5 });
  const partial = events.slice(0, -3);

  it('gives the same response from snapshot plus tail as folding every event from the start', () => {
    const expected = JSON.parse(JSON.stringify(foldEvents(proxyResponse(), partial)));
    for (const snapshotSeq of [-1, 0, 3, 7, partial.length - 1]) {
      expect(materialize(stored(proxyResponse(), partial, snapshotSeq))).toEqual(expected);
    }
  });

  it('gives the completed response with its completion time when the meta agrees', () => {
    const response = materialize(stored(proxyResponse(), events, 4, { status: 'completed' }));
    expect(response).toEqual(JSON.parse(JSON.stringify(foldEvents(proxyResponse(), events))));
    expect(response.completed_at).toEqual(expect.any(Number));
  });

  it('skips tail entries the snapshot already covers', () => {
    const record = stored(proxyResponse(), partial, 8);
    const overlapping = { ...record, tail: [...partial.slice(6, 9).map((e) => encodeEvent(e)), ...record.tail] };
    expect(materialize(overlapping)).toEqual(materialize(record));
  });

  it('takes a cancelled status from the meta and keeps the partial output', () => {
    const response = materialize(stored(proxyResponse(), partial, 5, { status: 'cancelled' }));
    expect(response.status).toBe('cancelled');
    expect(response.error).toBeNull();
    expect(response.completed_at).toBeNull();
    expect(response.output).toEqual(foldEvents(proxyResponse(), partial).output);
  });

  it('clears completed_at when the meta says the response is not completed', () => {
    const response = materialize(stored(proxyResponse(), events, events.length - 1, { status: 'cancelled' }));
    expect(response.status).toBe('cancelled');
    expect(response.completed_at).toBeNull();
  });

  it('reports a lapsed lease as failed with the worker_lost error from the meta', () => {
    const error = { code: 'server_error' as const, message: 'worker_lost: The worker processing this response stopped responding.' };
    const calls = functionCallEvents({ name: 'lookup', arguments: '{"q":"weather"}' });
    const response = materialize(stored(proxyResponse(), calls.slice(0, 5), 2, { status: 'failed', error }));
    expect(response.status).toBe('failed');
    expect(response.error).toEqual(error);
    expect(response.completed_at).toBeNull();
    expect(response.output[0]).toMatchObject({ type: 'function_call', name: 'lookup' });
  });
});
