// The writing side of one event-stream follower: SSE headers, writes that wait for the socket to
// drain (so a slow client costs a small window of memory), keepalives, and closing a client that
// stalls.

import type { Response } from 'express';
import type { Logger } from '../types';

/** An SSE comment on idle streams keeps proxies and clients from timing out. */
const KEEPALIVE_MS = 15000;
/**
 * Frames longer than this many characters are written in pieces, each once the socket took the
 * one before: a multi-MiB final event then never sits whole in the socket's buffer as well. Frames
 * added with {@link SseOutput.add} are batched up to this size, one socket write for many.
 */
const PIECE_CHARS = 65536;

/** Writes one follower's SSE stream, honouring backpressure; see {@link SseOutput.write}. */
export class SseOutput {
  #closed = false;
  #stalled = false;
  /** Frames added and not yet written: under {@link PIECE_CHARS} plus the last frame. */
  #pending = '';
  #wake: (() => void) | undefined;
  readonly #res: Response;
  readonly #stallTimeoutMs: number;
  readonly #logger: Logger;
  readonly #keepalive: NodeJS.Timeout;
  readonly #onClose = () => {
    this.#closed = true;
    this.#wake?.();
  };

  /** Sends the SSE headers. `stallTimeoutMs`: how long a write may wait for the client to read. */
  constructor(res: Response, stallTimeoutMs: number, logger: Logger) {
    this.#res = res;
    this.#stallTimeoutMs = stallTimeoutMs;
    this.#logger = logger;
    res.status(200);
    res.setHeader('content-type', 'text/event-stream; charset=utf-8');
    res.setHeader('cache-control', 'no-cache');
    res.setHeader('connection', 'keep-alive');
    res.setHeader('x-accel-buffering', 'no');
    res.flushHeaders();
    res.on('close', this.#onClose);
    // A client that left before the listener existed fired 'close' already.
    if (res.destroyed) this.#closed = true;
    // A keepalive is skipped while the socket is full: it would only add to the buffer.
    this.#keepalive = setInterval(() => {
      if (!this.#closed && !res.writableNeedDrain) res.write(': keepalive\n\n');
    }, KEEPALIVE_MS);
  }

  /** True once the client is gone or was closed for stalling. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True when this output closed the client because it stopped reading. */
  get stalled(): boolean {
    return this.#stalled;
  }

  /** Registers the function called when the client goes away: a follower waiting for news wakes up. */
  onGone(wake: (() => void) | undefined): void {
    this.#wake = wake;
  }

  /**
   * Writes an SSE frame, after any added before it. Resolves once the socket took it (or at once
   * while it has room); a client that reads nothing for `stallTimeoutMs` meanwhile is closed, and
   * the write resolves.
   */
  write(frame: string): Promise<void> {
    this.#pending += frame;
    return this.flush();
  }

  /**
   * Adds a frame to the batch, written once it holds {@link PIECE_CHARS} characters (then as
   * {@link write}) or at {@link flush}. Returns the write's promise when it wrote, else undefined:
   * a replay awaits once per batch, not once per frame.
   */
  add(frame: string): Promise<void> | undefined {
    this.#pending += frame;
    return this.#pending.length >= PIECE_CHARS ? this.flush() : undefined;
  }

  /** Writes the frames added so far; see {@link write}. */
  async flush(): Promise<void> {
    const frames = this.#pending;
    this.#pending = '';
    for (let at = 0; at < frames.length && !this.#closed; ) {
      let end = Math.min(frames.length, at + PIECE_CHARS);
      // Never split a surrogate pair: each piece is encoded to UTF-8 on its own.
      const code = frames.charCodeAt(end - 1);
      if (end < frames.length && code >= 0xd800 && code <= 0xdbff) end -= 1;
      const piece = at === 0 && end === frames.length ? frames : frames.slice(at, end);
      at = end;
      if (!this.#res.write(piece)) await this.#drained();
    }
  }

  /** Ends the response (if the client is still there) and stops the keepalive. */
  end(): void {
    clearInterval(this.#keepalive);
    this.#pending = '';
    this.#res.off('close', this.#onClose);
    this.#wake = undefined;
    if (!this.#res.writableEnded) this.#res.end();
  }

  #drained(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#res.off('drain', done);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(() => {
        this.#stalled = true;
        this.#closed = true;
        this.#logger.info('event stream closed: the client read nothing for too long', { stallTimeoutMs: this.#stallTimeoutMs });
        // The socket's buffered frames are dropped with it; the client may resume from its cursor.
        this.#res.destroy();
        done();
      }, this.#stallTimeoutMs);
      this.#wake = done;
      this.#res.once('drain', done);
    });
  }
}
