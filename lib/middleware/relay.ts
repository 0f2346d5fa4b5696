// Relaying an upstream answer to the client: the headers a client may rely on, and the body
// chunk by chunk with backpressure, ending when the upstream ends, breaks, or the client leaves.

import type { Response } from 'express';
import { ApiError } from '../errors';
import { UpstreamError } from '../upstream/client';
import type { KeyScrubber } from '../upstream/scrub';

/** The answer when the provider could not be reached (no connection, no headers in time): a 502. */
export function upstreamUnreachable(err: unknown): ApiError {
  const message = err instanceof UpstreamError ? err.message : 'Could not reach the upstream provider';
  return new ApiError(502, message, { type: 'server_error', code: 'upstream_unreachable' });
}

/** Copies the provider's headers a client may rely on. */
export function copyUpstreamHeaders(res: Response, upstream: globalThis.Response): void {
  for (const name of ['content-type', 'x-request-id', 'openai-processing-ms', 'retry-after']) {
    const value = upstream.headers.get(name);
    if (value) res.setHeader(name, value);
  }
  for (const [name, value] of upstream.headers) {
    if (name.startsWith('x-ratelimit-')) res.setHeader(name, value);
  }
}

/** Writes `chunk`, waiting for the socket to drain (or close) when its buffer is full. */
export async function writeChunk(res: Response, chunk: Uint8Array): Promise<void> {
  // A closed socket never drains (and its 'close' already fired).
  if (res.destroyed || res.writableEnded) return;
  if (res.write(chunk)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

/**
 * Relays the rest of `reader` to the client until it ends, breaks, or `signal` aborts; `observe`
 * sees each chunk (as the upstream sent it) before it is written, and the chunk waits for the
 * promise it may return. With `scrubber`, the
 * deployment's key is removed from what is sent.
 */
export async function pipeRest(
  res: Response,
  reader: ReadableStreamDefaultReader<Uint8Array>,
  signal: AbortSignal,
  observe?: (chunk: Uint8Array) => void | Promise<void>,
  scrubber?: KeyScrubber,
): Promise<void> {
  try {
    for (;;) {
      if (signal.aborted || res.destroyed) break;
      const { done, value } = await reader.read();
      // Observed before it is written: an observer that must finish first (the record of a
      // response whose end this chunk carries) holds the chunk back until it has.
      const observed = done ? undefined : observe?.(value);
      if (observed) await observed;
      const out = done ? scrubber?.end() : scrubber ? scrubber.push(value) : value;
      if (out?.length) await writeChunk(res, out);
      if (done) break;
    }
  } catch {
    // The client left (abort) or the upstream broke: the relay just ends.
  } finally {
    reader.cancel().catch(() => undefined);
    if (!res.writableEnded) res.end();
  }
}
