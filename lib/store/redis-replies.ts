// Parsing the replies of the store scripts (meta pairs, stored responses), telling a record that
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

/** A `storedReply` (code, meta pairs, snapshot, tail) as a {@link StoredResponse}. */
export function storedFromReply(reply: unknown[]): StoredResponse {
  const { meta, snapshotSeq } = parseMeta(reply[1]);
  // A missing snapshot key comes back as null (evicted or removed): see rebuiltFromLog.
  const snapshot = typeof reply[2] === 'string' ? reply[2] : '';
  return { meta, snapshot, snapshotSeq, tail: asStrings(reply[3]) };
}

/** Meta hash pairs (HGETALL, flat in RESP2, an object in RESP3) to {@link ResponseMeta}. */
export function parseMeta(reply: unknown): { meta: ResponseMeta; snapshotSeq: number } {
  const fields: Record<string, string> = {};
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) fields[String(reply[i])] = String(reply[i + 1]);
  } else if (reply !== null && typeof reply === 'object') {
    for (const [k, v] of Object.entries(reply)) fields[k] = String(v);
  }
  return {
    meta: {
      status: fields.status as ResponseMeta['status'],
      owner: fields.owner ?? '',
      lastSeq: Number(fields.lastSeq),
      fence: Number(fields.fence),
      leaseExpiresAt: Number(fields.leaseExpiresAt),
      stream: fields.stream === '1',
      error: fields.error ? (JSON.parse(fields.error) as ResponseMeta['error']) : null,
    },
    snapshotSeq: Number(fields.snapshotSeq),
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
