// Serving a response's event log as SSE: replay after a cursor, then follow live events until the
// response is terminal. Used by `POST` with `stream: true` and by `GET ?stream=true`.

import type { Request, Response } from 'express';
import { eventJson, eventType, ItemIdTable } from '../store/event-codec';
import type { ResponseMeta } from '../types';
import { isFinalEventType, isTerminalStatus } from '../response-vocabulary';
import { responseNotFound } from '../errors';
import type { Runtime } from '../runtime';
import { materialize } from '../worker/materialize';
import { callStore } from './http';
import { sseFrame } from '../sse';

/** How often a follower re-reads the store when the worker runs on another instance. */
const FOLLOW_POLL_MS = 200;
/** An SSE comment on idle streams keeps proxies and clients from timing out. */
const KEEPALIVE_MS = 15000;

/** Where a stream starts: after a cursor read from the store, or with events already in hand. */
export type StreamStart =
  | { afterSeq: number }
  /** The creation events (numbered from 0), sent without a store read: the record was just written. */
  | { opening: string[] };

/**
 * Streams the events of `id` after the start point, then follows live events until the response
 * is terminal. With `afterSeq`, the first store read happens before any byte is sent, so an
 * unknown id is still a plain 404. A response that ended without a final event in its log
 * (cancelled, or its worker lost) gets one closing `response.failed` event carrying the Response
 * (status `cancelled` or `failed`), so SDK stream helpers end with the right snapshot.
 */
export async function streamEvents(
  runtime: Runtime,
  req: Request,
  res: Response,
  id: string,
  owner: string | null,
  start: StreamStart,
): Promise<void> {
  const { store, logger, metrics } = runtime.config;
  let batch: { meta: ResponseMeta | undefined; events: string[] } | null;
  // `cursor`: the last entry read. Entries up to `skipThrough` are read but not sent: a stream
  // that starts mid-log reads the log from its beginning, because compact entries name their item
  // by output index, and the table of those ids is built exactly as the worker built it, entry by
  // entry (a Response's final output may list its items in another order).
  let cursor = -1;
  let skipThrough = -1;
  const items = new ItemIdTable();
  if ('opening' in start) {
    batch = { meta: undefined, events: start.opening };
  } else {
    const first = await callStore(runtime.config, () => store.readEvents(id, owner, -1));
    if (!first) throw responseNotFound(id);
    runtime.noticeRead(id, first);
    batch = first;
    skipThrough = start.afterSeq;
  }

  res.status(200);
  res.setHeader('content-type', 'text/event-stream; charset=utf-8');
  res.setHeader('cache-control', 'no-cache');
  res.setHeader('connection', 'keep-alive');
  res.setHeader('x-accel-buffering', 'no');
  res.flushHeaders();

  let closed = false;
  let wake: (() => void) | undefined;
  const onClose = () => {
    closed = true;
    wake?.();
  };
  res.on('close', onClose);
  // A client that left during the first store read fired 'close' before the listener existed;
  // without this check its follower would poll the store until the response ends.
  if (res.destroyed) closed = true;
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
  metrics.streamFollowers.inc();
  let lastType: string | undefined;

  /** Writes frames, waiting for the socket to drain so a slow client does not fill memory. */
  const write = async (frame: string) => {
    if (closed || res.write(frame)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        res.off('drain', done);
        wake = undefined;
        resolve();
      };
      wake = done;
      res.once('drain', done);
    });
  };
  const writeEvents = async (events: string[]) => {
    for (const encoded of events) {
      if (closed) return;
      const { type, json } = eventJson(encoded, items);
      lastType = type;
      cursor += 1;
      if (cursor > skipThrough) await write(sseFrame(type, json));
    }
  };

  try {
    for (;;) {
      if (closed || !batch) return; // client gone, or deleted / expired while streaming
      await writeEvents(batch.events);
      if (batch.meta && isTerminalStatus(batch.meta.status)) {
        // A terminal status may be recorded before the last events are read: read once more.
        const rest = await callStore(runtime.config, () => store.readEvents(id, owner, cursor));
        runtime.noticeRead(id, rest);
        if (rest) {
          await writeEvents(rest.events);
          await writeClosingEvent(runtime, id, owner, Math.max(cursor, skipThrough), lastType, write);
        }
        return;
      }
      await waitForNews(runtime, id, (fn) => (wake = fn));
      if (closed) return;
      try {
        const next = await store.readEvents(id, owner, cursor);
        runtime.noticeRead(id, next);
        batch = next;
      } catch (err) {
        metrics.storeError('request');
        // Headers are gone; a follower that cannot read ends, and the client may resume later.
        logger.warn('event stream ended: store unreachable', { id, error: String(err) });
        return;
      }
    }
  } finally {
    clearInterval(keepalive);
    metrics.streamFollowers.dec();
    res.off('close', onClose);
    if (!res.writableEnded) res.end();
  }
}

/** Resolves at the worker's next flush (same instance) or after the poll interval. */
function waitForNews(runtime: Runtime, id: string, setWake: (fn: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const worker = runtime.workers.get(id);
    const timer = setTimeout(done, FOLLOW_POLL_MS);
    function done() {
      clearTimeout(timer);
      worker?.off('flushed', done);
      worker?.off('done', done);
      resolve();
    }
    setWake(done);
    worker?.on('flushed', done);
    worker?.on('done', done);
  });
}

/**
 * When the log of a terminal response does not end with a final event (cancel, lease lapse),
 * sends one synthesized `response.failed` with the Response as stored, numbered after the log.
 * It is not stored, so every replay produces the same event.
 */
async function writeClosingEvent(
  runtime: Runtime,
  id: string,
  owner: string | null,
  cursor: number,
  lastType: string | undefined,
  write: (frame: string) => Promise<void>,
): Promise<void> {
  const { store } = runtime.config;
  const stored = await store.read(id, owner).catch(() => null);
  if (!stored) return;
  const lastSeq = stored.meta.lastSeq;
  if (cursor > lastSeq) return; // the client has already seen the closing event
  let last = cursor === lastSeq ? lastType : undefined;
  if (last === undefined) {
    const tail = await store.readEvents(id, owner, lastSeq - 1).catch(() => null);
    last = tail?.events.length ? eventType(tail.events[tail.events.length - 1]) : undefined;
  }
  if (isFinalEventType(last)) return;
  const event = { type: 'response.failed', sequence_number: lastSeq + 1, response: materialize(stored) };
  await write(sseFrame(event.type, JSON.stringify(event)));
}
