// The worker's upstream stream over node:http / node:https: one POST whose SSE body is decoded
// chunk by chunk as it arrives (no fetch, no web streams), with the timeouts, size cap and error
// kinds of lib/upstream/client.ts.

import * as http from 'node:http';
import * as https from 'node:https';
import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceParser } from 'eventsource-parser';
import { connectFailure, httpFailure, upstreamFailure, upstreamHeaders, type OpenUpstreamOptions } from './client';

/**
 * Keep-alive agents, one per protocol, with the options of Node's own global agents (LIFO reuse,
 * a free socket closed after 5 s unused, at most 256 free sockets per host, no cap on sockets in
 * use: the worker's concurrency bounds those). Node unrefs a free socket, so the pool never
 * keeps a process alive.
 */
const AGENT_OPTIONS = { keepAlive: true, scheduling: 'lifo', timeout: 5000 } as const;
const HTTP_AGENT = new http.Agent(AGENT_OPTIONS);
const HTTPS_AGENT = new https.Agent(AGENT_OPTIONS);

/** Options of {@link streamUpstream}: those of `openUpstream` (the body is sent as JSON) and the body's bounds. */
export interface StreamUpstreamOptions extends OpenUpstreamOptions {
  /** Longest silence of the body (and the longest read of an error body), in ms. */
  idleTimeoutMs: number;
  /** Largest SSE message, in bytes; default unlimited. */
  maxMessageBytes?: number;
}

/**
 * POSTs `body` and hands the data of each SSE message of the answer to `onMessage`, resolving at
 * the body's end. Rejects with an UpstreamError: `connection` when no connection could be made
 * or it broke mid-stream, `connect_timeout` when no headers arrived in time, `http` (with the
 * scrubbed error body) for a status outside 2xx, `idle_timeout` when no byte arrived for
 * `idleTimeoutMs`, `event_too_large` as soon as a message grows past `maxMessageBytes` (at most
 * one chunk more is buffered); with the abort reason when `signal` aborts, and with what
 * `onMessage` threw. The request is destroyed whenever it does not end by itself.
 */
export function streamUpstream(opts: StreamUpstreamOptions, onMessage: (data: string) => void): Promise<void> {
  if (opts.signal.aborted) return Promise.reject(opts.signal.reason);
  return new Promise((resolve, reject) => new UpstreamStream(opts, onMessage, resolve, reject).open());
}

/** One streaming request: connecting until its headers arrive, then reading, then settled once. */
class UpstreamStream {
  private request: http.ClientRequest | undefined;
  private response: http.IncomingMessage | undefined;
  private settled = false;
  private connectTimedOut = false;
  /** The connect timer until headers arrive, then the idle timer. */
  private timer: NodeJS.Timeout | undefined;
  private lastChunkAt = 0;
  private readonly decoder = new StringDecoder('utf8');
  private readonly parser: EventSourceParser;
  /** Bytes received since the last complete message (a chunk's rest after a message is not counted). */
  private sinceMessage = 0;
  /** A message completed within the current chunk. */
  private completed = false;
  private readonly maxMessageBytes: number;

  constructor(
    private readonly opts: StreamUpstreamOptions,
    onMessage: (data: string) => void,
    private readonly resolve: () => void,
    private readonly reject: (reason: unknown) => void,
  ) {
    this.maxMessageBytes = opts.maxMessageBytes ?? Infinity;
    this.parser = createParser({
      onEvent: (m) => {
        // A handler that aborted the signal ended this stream: the chunk's other messages are dropped.
        if (this.settled) return;
        if (m.data.length > this.maxMessageBytes) throw upstreamFailure.tooLarge(this.maxMessageBytes);
        this.completed = true;
        onMessage(m.data);
      },
    });
  }

  open(): void {
    const { opts } = this;
    const payload = JSON.stringify(opts.body);
    const headers = { ...upstreamHeaders(opts.deployment, opts.accept), 'content-length': String(Buffer.byteLength(payload)) };
    let request: http.ClientRequest;
    try {
      const url = new URL(opts.url);
      if (url.protocol === 'https:') request = https.request(url, { method: 'POST', headers, agent: HTTPS_AGENT });
      else if (url.protocol === 'http:') request = http.request(url, { method: 'POST', headers, agent: HTTP_AGENT });
      else throw new Error(`unsupported protocol ${url.protocol}`);
    } catch {
      // A URL or a header value (a key with a line break) that cannot be sent: as fetch refuses it.
      this.reject(upstreamFailure.connection());
      return;
    }
    this.request = request;
    opts.signal.addEventListener('abort', this.onAbort, { once: true });
    this.timer = setTimeout(this.onConnectTimeout, opts.connectTimeoutMs);
    // Kept for the request's life: a socket error may come after the answer began, or after this settled.
    request.on('error', this.onRequestError);
    request.on('response', this.onResponse);
    request.end(payload);
  }

  private readonly onResponse = (response: http.IncomingMessage): void => {
    clearTimeout(this.timer);
    this.response = response;
    if (this.settled) {
      response.destroy();
      return;
    }
    const status = response.statusCode ?? 0;
    if (status < 200 || status > 299) {
      const { deployment, idleTimeoutMs } = this.opts;
      void httpFailure(status, headerOf(response, 'retry-after'), response, deployment, idleTimeoutMs).then((err) => this.fail(err));
      return;
    }
    this.lastChunkAt = Date.now();
    this.timer = setTimeout(this.checkIdle, this.opts.idleTimeoutMs);
    // (An error body is read by httpFailure, which takes its errors: the answer is still `http`.)
    response.on('error', this.onBroken);
    response.on('data', this.onData);
    response.on('end', this.onEnd);
    // Closed before its end: the connection broke (after the end, `close` finds this settled).
    response.on('close', this.onBroken);
  };

  private readonly onData = (chunk: Buffer): void => {
    if (this.settled) return;
    this.lastChunkAt = Date.now();
    this.completed = false;
    try {
      this.parser.feed(this.decoder.write(chunk));
      this.sinceMessage = this.completed ? 0 : this.sinceMessage + chunk.length;
      if (this.sinceMessage > this.maxMessageBytes) throw upstreamFailure.tooLarge(this.maxMessageBytes);
    } catch (err) {
      this.fail(err);
    }
  };

  private readonly onEnd = (): void => {
    if (this.settled) return;
    try {
      this.parser.feed(this.decoder.end());
    } catch (err) {
      this.fail(err);
      return;
    }
    this.settle();
    this.resolve();
  };

  /**
   * One timer per stream that checks the time of the last chunk, rather than a clearTimeout and
   * setTimeout per chunk: a trickling stream delivers many small chunks.
   */
  private readonly checkIdle = (): void => {
    const quiet = Date.now() - this.lastChunkAt;
    if (quiet >= this.opts.idleTimeoutMs) this.fail(upstreamFailure.idle(this.opts.idleTimeoutMs));
    else this.timer = setTimeout(this.checkIdle, this.opts.idleTimeoutMs - quiet);
  };

  private readonly onConnectTimeout = (): void => {
    this.connectTimedOut = true;
    this.fail(connectFailure(this.opts.signal, true, this.opts.connectTimeoutMs));
  };

  private readonly onRequestError = (): void => {
    if (this.settled) return;
    this.fail(this.response ? upstreamFailure.broken() : connectFailure(this.opts.signal, this.connectTimedOut, this.opts.connectTimeoutMs));
  };

  private readonly onBroken = (): void => {
    if (!this.settled) this.fail(upstreamFailure.broken());
  };

  private readonly onAbort = (): void => {
    this.fail(this.opts.signal.reason);
  };

  private settle(): void {
    this.settled = true;
    clearTimeout(this.timer);
    this.opts.signal.removeEventListener('abort', this.onAbort);
  }

  /** Settles with `reason` (once) and destroys the request and its body: no socket is left half read. */
  private fail(reason: unknown): void {
    if (this.settled) return;
    this.settle();
    this.request?.destroy();
    this.response?.destroy();
    this.reject(reason);
  }
}

/** The value of a response header sent once, or undefined. */
function headerOf(response: http.IncomingMessage, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
