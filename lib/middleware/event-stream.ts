// Serving a response's event log as SSE: replay after a cursor, read in pages as the client drains
// them, then follow live events until the response is terminal. Used by `POST` with
// `stream: true` and by `GET ?stream=true`.

import type { Request, Response } from 'express';
import { eventJson, eventType, ItemIdTable } from '../store/event-codec';
import type { EventsPage, ResponseMeta } from '../types';
import { isFinalEventType, isTerminalStatus } from '../response-vocabulary';
import { ERROR_CODES, responseDataLost, responseNotFound, StoreRecordLostError } from '../errors';
import type { Runtime } from '../runtime';
import { ownerHash, type Principal } from '../principal';
import { materialize } from '../worker/materialize';
import { callStore } from './http';
import { principalOf } from './request-context';
import { sseFrame } from '../sse';
import type { FollowerSlot } from './followers';
import { SseOutput } from './sse-output';

/** How often a follower re-reads the store when the worker runs on another instance. */
const FOLLOW_POLL_MS = 200;
/**
 * After a stream's first read, a read takes the rest of the log in one page when it is at most a
 * page of entries within this many pages' bytes (2 MiB by default): a resume near the end of a
 * long response gets its last few entries, each closing event carrying the whole text, in one
 * call instead of one per large entry. The first read stays a plain page, so the first event is
 * not held back by the tail. A tail page reaches the end, so no page is read ahead of it: a
 * follower holds a page and such a tail at most.
 */
const TAIL_PAGES = 8;

/** Why a follower's stream ended early, as the closing `error` event's `code`. */
export const STREAM_END_CODES = {
  /** The response was deleted, expired, or its record lost while the stream followed it. */
  gone: 'not_found',
  /** The store could not be read; the client may resume later from its last sequence number. */
  storeUnavailable: ERROR_CODES.storeUnavailable,
  /** Redis evicted or lost part of the record (its log cut short) while the stream followed it. */
  dataLost: ERROR_CODES.responseDataLost,
} as const;

/** Where a stream starts: after a cursor read from the store, or with events already in hand. */
export type StreamStart =
  | { afterSeq: number }
  /**
   * The creation events (numbered from 0), sent without a store read: the record was just
   * written. The follower's slot was taken before the record was (see {@link acquireFollower}).
   */
  | { opening: string[]; slot: FollowerSlot };

/** Takes a follower slot for `principal` on response `id`; throws 429 beyond a cap. */
export function acquireFollower(runtime: Runtime, principal: Principal, id: string): FollowerSlot {
  return runtime.followers.acquire(ownerHash(principal), id);
}

/**
 * Streams the events of `id` after the start point, then follows live events until the response
 * is terminal. With `afterSeq`, the first store read happens before any byte is sent, so an
 * unknown id is still a plain 404 (and a follower over a cap a 429). The log is read a page at a
 * time, one page ahead of what the client has taken, so a slow client holds two pages at most
 * (or a page and the tail read ahead of it whole, see {@link TAIL_PAGES}). A
 * response that ended without a final event in its log (cancelled, or its worker lost) gets a
 * closing `response.failed` event carrying the Response (status `cancelled` or `failed`, the
 * latter after an `error` event), so SDK stream helpers end with the right snapshot; a response
 * deleted or lost meanwhile, or a store that cannot be read, ends the stream with an `error` event.
 */
export async function streamEvents(
  runtime: Runtime,
  req: Request,
  res: Response,
  id: string,
  owner: string | null,
  start: StreamStart,
): Promise<void> {
  const slot = 'slot' in start ? start.slot : acquireFollower(runtime, principalOf(req), id);
  try {
    await follow(runtime, res, id, owner, start);
  } finally {
    slot.release();
  }
}

async function follow(runtime: Runtime, res: Response, id: string, owner: string | null, start: StreamStart): Promise<void> {
  const { store, logger, metrics, streamFollowers } = runtime.config;
  const page = { limit: streamFollowers.pageEvents, maxBytes: streamFollowers.pageBytes };
  const afterFirst = { ...page, tailBytes: TAIL_PAGES * page.maxBytes };
  // `cursor`: the last entry read. Entries up to `skipThrough` are read but not sent. Compact
  // entries may name their item by output index; the table of those ids starts from the store's
  // item-id notes up to the cursor and takes in every entry read after it (from the notes read
  // with the first page, as far as they go), so it is exactly the table the worker had when it
  // wrote each entry.
  let cursor = -1;
  let skipThrough = -1;
  let items = new ItemIdTable();
  let meta: ResponseMeta | undefined;
  let events: string[];
  if ('opening' in start) {
    events = start.opening;
  } else {
    const first = await callStore(runtime.config, () => store.readEvents(id, owner, start.afterSeq, { ...page, itemIds: true }));
    if (!first) throw responseNotFound(id);
    runtime.noticeRead(id, first);
    // A cursor past the stored end reads on from the end, noting the entries up to the cursor
    // without sending them (they may announce an item the client already saw).
    cursor = Math.min(start.afterSeq, first.meta.lastSeq);
    skipThrough = start.afterSeq;
    items = ItemIdTable.fromNotes(first.itemIds ?? [], cursor, first.meta.lastSeq);
    meta = first.meta;
    events = first.events;
  }

  const out = new SseOutput(res, streamFollowers.stallTimeoutMs, logger);
  metrics.streamFollowers.inc();
  let lastType: string | undefined;
  const sentThrough = () => Math.max(cursor, skipThrough);

  try {
    for (;;) {
      // While this page is written, the next one (already in the store) is read: a follower holds
      // at most two pages, and a long replay does not wait a round trip per page.
      const pageEnd = cursor + events.length;
      let ahead: Promise<EventsPage | null> | undefined;
      if (meta && pageEnd < meta.lastSeq) {
        ahead = store.readEvents(id, owner, pageEnd, afterFirst);
        ahead.catch(() => undefined); // awaited below, unless the client left first
      }
      for (const encoded of events) {
        if (out.closed) return;
        const { type, json } = eventJson(encoded, items);
        lastType = type;
        cursor += 1;
        if (cursor <= skipThrough) continue;
        // Frames go out in batches: an await per batch written, not per frame.
        const wrote = out.add(sseFrame(type, json));
        if (wrote) await wrote;
      }
      await out.flush();
      if (out.closed) return;
      const caughtUp = meta === undefined || cursor >= meta.lastSeq;
      if (caughtUp && meta && isTerminalStatus(meta.status)) {
        await writeClosingEvents(runtime, id, owner, meta, sentThrough(), cursor === meta.lastSeq ? lastType : undefined, out);
        return;
      }
      if (caughtUp) await waitForNews(runtime, id, out);
      if (out.closed) return;
      let next: EventsPage | null;
      try {
        next = await (ahead ?? store.readEvents(id, owner, cursor, afterFirst));
      } catch (err) {
        if (err instanceof StoreRecordLostError) {
          logger.warn('event stream ended: part of the record is gone from the store', { id });
          await writeError(out, sentThrough() + 1, STREAM_END_CODES.dataLost, responseDataLost(id, err.terminal).message);
          return;
        }
        metrics.storeError('request');
        // Headers are gone: the stream ends with an error event, and the client may resume later.
        logger.warn('event stream ended: store unreachable', { id, error: String(err) });
        await writeError(out, sentThrough() + 1, STREAM_END_CODES.storeUnavailable, `The response store could not be read. Resume this stream later with starting_after=${sentThrough()}.`);
        return;
      }
      runtime.noticeRead(id, next);
      if (!next) {
        await writeError(out, sentThrough() + 1, STREAM_END_CODES.gone, `Response with id '${id}' was deleted or has expired while this stream followed it.`);
        return;
      }
      meta = next.meta;
      events = next.events;
    }
  } finally {
    metrics.streamFollowers.dec();
    out.end();
  }
}

/** Resolves at the worker's next flush (same instance), after the poll interval, or when the client leaves. */
function waitForNews(runtime: Runtime, id: string, out: SseOutput): Promise<void> {
  return new Promise<void>((resolve) => {
    const worker = runtime.workers.get(id);
    const timer = setTimeout(done, FOLLOW_POLL_MS);
    function done() {
      clearTimeout(timer);
      worker?.off('flushed', done);
      worker?.off('done', done);
      out.onGone(undefined);
      resolve();
    }
    out.onGone(done);
    worker?.on('flushed', done);
    worker?.on('done', done);
  });
}

/** Writes the closing `error` event: both the flat fields of the API schema and the nested `error` real streams carry. */
async function writeError(out: SseOutput, seq: number, code: string, message: string): Promise<void> {
  const error = { type: 'server_error', code, message, param: null };
  await out.write(sseFrame('error', JSON.stringify({ type: 'error', sequence_number: seq, code, message, param: null, error })));
}

/**
 * When the log of a terminal response does not end with a final event (cancel, lease lapse),
 * sends a synthesized `response.failed` with the Response as stored, numbered after the log (a
 * lapsed lease, whose error the store set, first gets an `error` event). Nothing is stored, so
 * every replay produces the same events; only those after `sentThrough` are sent. The Response
 * is read only when such an event is due.
 */
async function writeClosingEvents(
  runtime: Runtime,
  id: string,
  owner: string | null,
  meta: ResponseMeta,
  sentThrough: number,
  lastType: string | undefined,
  out: SseOutput,
): Promise<void> {
  const { store } = runtime.config;
  const lastSeq = meta.lastSeq;
  const closing = meta.error ? 2 : 1;
  if (sentThrough >= lastSeq + closing) return; // the client has seen every closing event
  let last = lastType;
  if (last === undefined) {
    const tail = await store.readEvents(id, owner, lastSeq - 1, { limit: 1 }).catch(() => null);
    last = tail?.events.length ? eventType(tail.events[0]) : undefined;
  }
  if (isFinalEventType(last)) return;
  let stored;
  try {
    stored = await store.read(id, owner);
  } catch {
    await writeError(out, sentThrough + 1, STREAM_END_CODES.storeUnavailable, `The response store could not be read. Resume this stream later with starting_after=${sentThrough}.`);
    return;
  }
  if (!stored) {
    await writeError(out, sentThrough + 1, STREAM_END_CODES.gone, `Response with id '${id}' was deleted or has expired while this stream followed it.`);
    return;
  }
  let seq = lastSeq + 1;
  if (meta.error) {
    if (seq > sentThrough) await writeError(out, seq, meta.error.code, meta.error.message);
    seq += 1;
  }
  const event = { type: 'response.failed', sequence_number: seq, response: materialize(stored) };
  if (seq > sentThrough) await out.write(sseFrame(event.type, JSON.stringify(event)));
}
