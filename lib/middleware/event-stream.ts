// Serving a response's event log as SSE: replay after a cursor, then follow live events until the
// response is terminal. Used by `POST` with `stream: true` and by `GET ?stream=true`.

import type { Request, Response } from 'express';
import { decodeEvent } from '../store/event-codec';
import { isTerminalStatus } from '../types';
import { responseNotFound } from '../errors';
import type { Runtime } from '../runtime';
import { callStore } from './http';
import { sseFrame } from '../sse';

/** How often a follower re-reads the store when the worker runs on another instance. */
const FOLLOW_POLL_MS = 200;
/** An SSE comment on idle streams keeps proxies and clients from timing out. */
const KEEPALIVE_MS = 15000;

/**
 * Streams the events of `id` with a sequence number above `afterSeq`. The first store read
 * happens before any byte is sent, so an unknown id is still a plain 404.
 */
export async function streamEvents(
  runtime: Runtime,
  req: Request,
  res: Response,
  id: string,
  owner: string | null,
  afterSeq: number,
): Promise<void> {
  const { store, logger } = runtime.config;
  let first = await callStore(logger, () => store.readEvents(id, owner, afterSeq));
  if (!first) throw responseNotFound(id);

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
  let cursor = afterSeq;
  try {
    let batch: typeof first | null = first;
    for (;;) {
      if (closed) return;
      if (!batch) return; // deleted or expired while streaming
      for (const encoded of batch.events) {
        res.write(sseFrame(decodeEvent(encoded).type, encoded));
      }
      cursor += batch.events.length;
      if (isTerminalStatus(batch.meta.status)) {
        // A terminal status may be recorded before the last events are read: read once more.
        const rest = await callStore(logger, () => store.readEvents(id, owner, cursor));
        for (const encoded of rest?.events ?? []) res.write(sseFrame(decodeEvent(encoded).type, encoded));
        return;
      }
      await new Promise<void>((resolve) => {
        const worker = runtime.workers.get(id);
        const timer = setTimeout(done, FOLLOW_POLL_MS);
        function done() {
          clearTimeout(timer);
          worker?.off('flushed', done);
          worker?.off('done', done);
          wake = undefined;
          resolve();
        }
        wake = done;
        worker?.on('flushed', done);
        worker?.on('done', done);
      });
      if (closed) return;
      try {
        batch = await store.readEvents(id, owner, cursor);
      } catch (err) {
        // Headers are gone; a follower that cannot read ends, and the client may resume later.
        logger.warn('event stream ended: store unreachable', { id, error: String(err) });
        return;
      }
    }
  } finally {
    clearInterval(keepalive);
    res.off('close', onClose);
    if (!res.writableEnded) res.end();
    first = null;
  }
}
