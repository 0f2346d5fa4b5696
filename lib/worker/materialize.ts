// Rebuilds a Response from what a store returns: snapshot, log tail, and the authoritative meta.

import { decodeEvent } from '../store/event-codec';
import type { ResponseObject, StoredResponse } from '../types';
import { foldEvent } from './reducer';

/**
 * The Response as a reader sees it: the snapshot with the tail folded in, then the meta's status
 * and error applied on top, since the store (cancel, lapsed lease) has the last word on those.
 */
export function materialize(stored: StoredResponse): ResponseObject {
  let response = JSON.parse(stored.snapshot) as ResponseObject;
  // An entry stored without its item id names the item at its output index so far.
  const items = (index: number): string | undefined => {
    const id = Array.isArray(response.output) ? response.output[index]?.id : undefined;
    return typeof id === 'string' ? id : undefined;
  };
  for (const entry of stored.tail) {
    const event = decodeEvent(entry, items);
    // The snapshot already holds these; a store that returns them anyway must not double text.
    if (event.sequence_number <= stored.snapshotSeq) continue;
    // The snapshot was parsed and the events decoded just now: the fold owns them.
    response = foldEvent(response, event);
  }
  const { status, error } = stored.meta;
  const overrides: Partial<ResponseObject> = {};
  if (response.status !== status) overrides.status = status;
  if (error !== null) overrides.error = error;
  if (status !== 'completed' && response.completed_at !== null) overrides.completed_at = null;
  return Object.keys(overrides).length === 0 ? response : { ...response, ...overrides };
}

/**
 * Leading fields of a snapshot as `JSON.stringify` writes the Response the proxy creates: id,
 * object, created_at, then the top-level status, before any nested object could hold a status.
 */
const SNAPSHOT_HEAD = /^\{"id":"[^"\\]*","object":"response","created_at":\d+,"status":"([a-z_]+)"/;

/**
 * `JSON.stringify(materialize(stored))`, without the parse and the stringify when nothing would
 * change: a completed snapshot with no tail after it and no error in the meta is the answer
 * as stored. Polls of finished responses, the most frequent read, take this path.
 */
export function materializedJson(stored: StoredResponse): string {
  return finalSnapshot(stored) ?? JSON.stringify(materialize(stored));
}

/**
 * The stored snapshot when it is the answer as it is: a completed response with no tail after
 * its snapshot and no error in the meta. A terminal record takes no more events, so that answer
 * never changes again. Else `undefined`.
 */
export function finalSnapshot(stored: StoredResponse): string | undefined {
  if (stored.tail.length === 0 && stored.meta.status === 'completed' && stored.meta.error === null) {
    const head = SNAPSHOT_HEAD.exec(stored.snapshot);
    if (head && head[1] === 'completed') return stored.snapshot;
  }
  return undefined;
}
