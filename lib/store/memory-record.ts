// The record of one response in the memory store, and the pure functions the store applies to it.

import type { ResponseErrorObject, ResponseMeta, StoredResponse } from '../types';

/** The meta as kept: the public fields plus what the store needs for itself. */
export interface MetaRecord extends ResponseMeta {
  snapshotSeq: number;
  ttlSeconds: number;
  /** Created through the queue: while `queued` its lease is never swept (a lapsed claim is requeued). */
  viaQueue?: boolean;
  /** Epoch ms after which a `queued`, unclaimed response fails; 0: none (or claimed). */
  queueDeadline?: number;
}

/** One response. Meta is kept as JSON so every read hands out a fresh copy, as Redis would. */
export interface MemoryRecord {
  meta: string;
  snapshot: string;
  log: string[];
  /** Item-id notes of the log (see `itemIdNotes`). */
  itemIds: string[];
  /** Epoch ms after which the record no longer exists (every key shares one expiry). */
  expiresAt: number;
}

/** The meta as the contract shows it (without the store's own fields). */
export function publicMeta(meta: MetaRecord): ResponseMeta {
  const { snapshotSeq: _s, ttlSeconds: _t, viaQueue: _v, queueDeadline: _d, ...rest } = meta;
  return rest;
}

/** Ends a queued response `failed` with `error` (in `meta`, written to `record`); retention starts. */
export function endQueued(record: MemoryRecord, meta: MetaRecord, error: ResponseErrorObject, ttlSeconds: number, now: number): void {
  Object.assign(meta, { status: 'failed', error: { ...error }, leaseExpiresAt: 0, queueDeadline: 0, ttlSeconds });
  record.meta = JSON.stringify(meta);
  record.expiresAt = now + ttlSeconds * 1000;
}

/** A record as a {@link StoredResponse}. */
export function stored(record: MemoryRecord): StoredResponse {
  const meta = JSON.parse(record.meta) as MetaRecord;
  return {
    meta: publicMeta(meta),
    snapshot: record.snapshot,
    snapshotSeq: meta.snapshotSeq,
    tail: record.log.slice(Math.max(0, meta.snapshotSeq + 1)),
  };
}
