// A fake upstream provider: a real HTTP server on 127.0.0.1 whose answers each test scripts.
// It records every request (body and headers) and notices when a client closes a stream early.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readJsonBody } from '../../lib/demo-upstream';

/** One step of a scripted SSE answer. */
export type Step =
  | { event: Record<string, unknown> } // sent as `event: <type>` + `data: <json>`
  | { raw: string } // written as it is (for malformed lines)
  | { wait: number } // pause, in ms
  | { until: Promise<unknown> } // pause until the promise settles
  | { hang: true } // never end: keep the connection open until the client closes it
  | { each: Iterable<Step> }; // the steps of an iterable, taken one at a time (an endless generator is fine)

/** How the fake upstream answers one request. */
export type Script =
  | { kind: 'sse'; steps: Step[] }
  | { kind: 'json'; status: number; body: unknown; headers?: Record<string, string> }
  | { kind: 'destroy' }; // close the socket without answering

/** One request the fake upstream received. */
export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
  /** Resolves when the client closed the connection before the answer ended. */
  clientClosed: Promise<void>;
  /** True once the client closed early. */
  closedEarly: boolean;
  /** True once the answer was written completely. */
  finished: boolean;
  /** Bytes of SSE body written so far (writes wait while the client does not read). */
  bytesWritten: number;
}

/** A running fake upstream. */
export interface FakeUpstream {
  /** Base URL for a deployment's `apiBase` (ends with `/v1`). */
  url: string;
  requests: RecordedRequest[];
  /** Sets how the next requests are answered. */
  respond(script: (req: RecordedRequest) => Script): void;
  /** Resolves with the n-th request (0-based) once it has arrived. */
  waitForRequest(n?: number): Promise<RecordedRequest>;
  close(): Promise<void>;
}

/** An SSE step for `event`. */
export const ev = (event: Record<string, unknown>): Step => ({ event });

/** Writes `text`, waiting while the client does not read it (or until it closes). */
async function write(res: ServerResponse, rec: RecordedRequest, text: string): Promise<void> {
  rec.bytesWritten += Buffer.byteLength(text);
  if (!res.write(text)) await Promise.race([new Promise((r) => res.once('drain', r)), rec.clientClosed]);
}

/** Plays `steps`; false when the answer must not go on (the client left, or it hangs). */
async function playSteps(res: ServerResponse, rec: RecordedRequest, steps: Iterable<Step>): Promise<boolean> {
  for (const step of steps) {
    if (rec.closedEarly) return false;
    if ('event' in step) await write(res, rec, `event: ${String(step.event.type)}\ndata: ${JSON.stringify(step.event)}\n\n`);
    else if ('raw' in step) await write(res, rec, step.raw);
    else if ('wait' in step) await new Promise((r) => setTimeout(r, step.wait));
    else if ('until' in step) await Promise.race([step.until.catch(() => undefined), rec.clientClosed]);
    else if ('each' in step) {
      if (!(await playSteps(res, rec, step.each))) return false;
    } else if ('hang' in step) {
      await rec.clientClosed;
      return false;
    }
  }
  return !rec.closedEarly;
}

async function play(res: ServerResponse, rec: RecordedRequest, steps: Step[]): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  if (!(await playSteps(res, rec, steps))) return;
  rec.finished = true;
  res.end();
}

/** Starts a fake upstream. By default every request gets a 500 until `respond` is called. */
export async function startFakeUpstream(): Promise<FakeUpstream> {
  const requests: RecordedRequest[] = [];
  const waiters: Array<{ n: number; resolve: (r: RecordedRequest) => void }> = [];
  let script: (req: RecordedRequest) => Script = () => ({ kind: 'json', status: 500, body: { error: { message: 'not scripted' } } });

  const server: Server = createServer(async (req, res) => {
    let markClosed!: () => void;
    const rec: RecordedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: {},
      clientClosed: new Promise<void>((r) => (markClosed = r)),
      closedEarly: false,
      finished: false,
      bytesWritten: 0,
    };
    res.on('close', () => {
      if (!rec.finished) {
        rec.closedEarly = true;
        markClosed();
      }
    });
    rec.body = await readJsonBody(req);
    requests.push(rec);
    for (const w of waiters.filter((w) => w.n < requests.length)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(requests[w.n]);
    }
    const answer = script(rec);
    if (answer.kind === 'destroy') {
      req.socket.destroy();
      return;
    }
    if (answer.kind === 'json') {
      res.writeHead(answer.status, { 'content-type': 'application/json', ...(answer.headers ?? {}) });
      rec.finished = true;
      res.end(JSON.stringify(answer.body));
      return;
    }
    await play(res, rec, answer.steps).catch(() => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    respond(next) {
      script = next;
    },
    waitForRequest(n = 0) {
      if (requests.length > n) return Promise.resolve(requests[n]);
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A Chat Completions server's SSE answer saying `text`: one content delta, the stop, the usage, `[DONE]`. */
export function chatAnswer(text: string): Script {
  const chunk = (c: Record<string, unknown>): Step => ({ raw: `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', ...c })}\n\n` });
  return {
    kind: 'sse',
    steps: [
      chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: text }, finish_reason: null }] }),
      chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }),
      chunk({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } }),
      { raw: 'data: [DONE]\n\n' },
    ],
  };
}
