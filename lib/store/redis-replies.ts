// Parsing the replies of the store scripts (meta values, stored responses), telling a record that
// Redis lost part of from a whole one, and building owner arguments.

import { StoreRecordLostError } from '../errors';
import { isTerminalStatus } from '../response-vocabulary';
import type { EventsPage, ResponseMeta, StoredResponse } from '../types';
import { decodeEvent } from './event-codec';

/** Script arguments that check `owner`, or skip the check for an administrator (`null`). */
export function ownerArgs(owner: string | null): [string, string] {
  return owner === null ? ['0', ''] : ['1', owner];
}

/** A script's array reply; throws on anything else. */
export function asArray(reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw new Error('redis store: unexpected script reply');
  return reply;
}

/** An array reply as strings. */
export function asStrings(reply: unknown): string[] {
  return asArray(reply).map((v) => (typeof v === 'string' ? v : String(v)));
}

/**
 * The meta hash fields a script returns, in this order (`HMGET`): what {@link parseMeta} reads,
 * and no more (the hash also holds retention and queue fields that no reader needs).
 */
export const STORED_META_FIELDS = ['status', 'owner', 'lastSeq', 'fence', 'leaseExpiresAt', 'stream', 'error', 'snapshotSeq'] as const;

/** A `storedReply` (code, meta values, snapshot, tail) as a {@link StoredResponse}. */
export function storedFromReply(reply: unknown[]): StoredResponse {
  const { meta, snapshotSeq } = parseMeta(reply[1]);
  // A missing snapshot key comes back as null (evicted or removed): see rebuiltFromLog.
  const snapshot = typeof reply[2] === 'string' ? reply[2] : '';
  return { meta, snapshot, snapshotSeq, tail: asStrings(reply[3]) };
}

/** Meta hash values in the order of {@link STORED_META_FIELDS} (null for a field not set) to {@link ResponseMeta}. */
export function parseMeta(reply: unknown): { meta: ResponseMeta; snapshotSeq: number } {
  const [status, owner, lastSeq, fence, leaseExpiresAt, stream, error, snapshotSeq] = asArray(reply).map((v) => (v === null || v === undefined ? undefined : String(v)));
  return {
    meta: {
      status: status as ResponseMeta['status'],
      owner: owner ?? '',
      lastSeq: Number(lastSeq),
      fence: Number(fence),
      leaseExpiresAt: Number(leaseExpiresAt),
      stream: stream === '1',
      error: error ? (JSON.parse(error) as ResponseMeta['error']) : null,
    },
    snapshotSeq: Number(snapshotSeq),
  };
}

/**
 * Throws {@link StoreRecordLostError} unless the log holds every entry the meta counts: a log
 * that Redis evicted, or that restarted empty under a live meta, must never be served as data.
 */
export function checkLogWhole(id: string, meta: ResponseMeta, logLength: unknown): void {
  if (Number(logLength) !== meta.lastSeq + 1) throw new StoreRecordLostError(id, 'log', isTerminalStatus(meta.status));
}

/**
 * `stored`, whose snapshot key is gone, rebuilt from `whole` (its whole log): the Response of
 * its first event (`response.created`) with every later event as the tail, folded as a full
 * replay would. Throws {@link StoreRecordLostError} when the log does not open that way.
 */
export function rebuiltFromLog(id: string, stored: StoredResponse, whole: EventsPage): StoredResponse {
  const created = whole.events[0] === undefined ? undefined : decodeEvent(whole.events[0]);
  if (created?.type !== 'response.created') throw new StoreRecordLostError(id, 'snapshot', isTerminalStatus(whole.meta.status));
  return { ...stored, meta: whole.meta, snapshot: JSON.stringify(created.response), snapshotSeq: 0, tail: whole.events.slice(1) };
}
