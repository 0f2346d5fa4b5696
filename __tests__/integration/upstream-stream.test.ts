// The worker's upstream reader (lib/upstream/sse-stream.ts) against a real HTTP server that writes
// bytes as each test scripts them: chunking, timeouts, size cap, errors, abort and keep-alive.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { DeploymentConfig } from '../../lib/config/options';
import { UpstreamError } from '../../lib/upstream/client';
import { streamUpstream, type StreamUpstreamOptions } from '../../lib/upstream/sse-stream';

const KEY = 'sk-stream-test-key-0123456789';

interface Received {
  req: IncomingMessage;
  body: string;
  socket: Socket;
  /** Resolves when the client closed the connection. */
  closed: Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, got: Received) => void | Promise<void>;

let server: Server;
let base: string;
let handler: Handler;
const received: Received[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const got: Received = { req, body, socket: req.socket, closed: new Promise((r) => res.once('close', () => r())) };
      received.push(got);
      void handler(req, res, got);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

beforeEach(() => {
  received.length = 0;
});

const deployment: DeploymentConfig = {
  modelName: 'm',
  model: 'openai/m',
  provider: 'openai',
  upstreamModel: 'm',
  apiBase: 'unused',
  apiKey: KEY,
  upstreamApi: 'responses',
  apiVersion: undefined,
  rpm: undefined,
  tpm: undefined,
  inputCostPerToken: undefined,
  outputCostPerToken: undefined,
};

function options(extra: Partial<StreamUpstreamOptions> = {}): StreamUpstreamOptions {
  return {
    url: `${base}/v1/responses`,
    deployment,
    body: { model: 'm', stream: true },
    accept: 'text/event-stream',
    signal: new AbortController().signal,
    connectTimeoutMs: 2000,
    idleTimeoutMs: 2000,
    ...extra,
  };
}

/** Streams with `opts` and resolves with the data of every message, or rejects as the reader does. */
async function collect(opts: StreamUpstreamOptions, onMessage?: (data: string) => void): Promise<string[]> {
  const out: string[] = [];
  await streamUpstream(opts, (data) => {
    out.push(data);
    onMessage?.(data);
  });
  return out;
}

const sse = (res: ServerResponse) => res.writeHead(200, { 'content-type': 'text/event-stream' });
/** Writes `bytes`, then waits a little so that the next write arrives as a chunk of its own. */
const send = async (res: ServerResponse, bytes: Buffer | string) => {
  res.write(bytes);
  await new Promise((r) => setTimeout(r, 30));
};

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UpstreamError);
  return err as UpstreamError;
}

test('each message is handed on whole, a character split across chunks included', async () => {
  const frame = Buffer.from(`data: {"text":"héllo €uro 😀"}\n\n`);
  // Cut inside the two-byte é, the three-byte € and the four-byte emoji.
  const cuts = [frame.indexOf('é') + 1, frame.indexOf('€') + 2, frame.indexOf(Buffer.from('😀')) + 3];
  handler = async (_req, res) => {
    sse(res);
    let from = 0;
    for (const at of cuts) {
      await send(res, frame.subarray(from, at));
      from = at;
    }
    await send(res, frame.subarray(from));
    await send(res, 'event: x\ndata: second\n\n');
    res.end();
  };
  expect(await collect(options())).toEqual(['{"text":"héllo €uro 😀"}', 'second']);
});

test('the request carries the deployment key, the accept header and the JSON body', async () => {
  handler = (_req, res) => {
    sse(res);
    res.end('data: ok\n\n');
  };
  await collect(options({ body: { model: 'm', input: 'ünïcode' } }));
  const [got] = received;
  expect(got.req.method).toBe('POST');
  expect(got.req.url).toBe('/v1/responses');
  expect(got.req.headers.authorization).toBe(`Bearer ${KEY}`);
  expect(got.req.headers.accept).toBe('text/event-stream');
  expect(got.req.headers['content-type']).toBe('application/json');
  expect(JSON.parse(got.body)).toEqual({ model: 'm', input: 'ünïcode' });
});

test('a socket destroyed mid-stream is a connection failure, after the messages before it', async () => {
  handler = async (_req, res, got) => {
    sse(res);
    await send(res, 'data: one\n\n');
    got.socket.destroy();
  };
  const seen: string[] = [];
  const err = await failure(collect(options(), (d) => seen.push(d)));
  expect(err.kind).toBe('connection');
  expect(err.message).toBe('The connection to the upstream provider broke mid-stream');
  expect(seen).toEqual(['one']);
});

test('a connection that cannot be made is a connection failure', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const err = await failure(collect(options({ url: `http://127.0.0.1:${port}/v1/responses` })));
  expect(err.kind).toBe('connection');
  expect(err.message).toBe('Could not connect to the upstream provider');
});

test('no headers within the connect timeout is connect_timeout, and the request is closed', async () => {
  handler = () => undefined;
  const err = await failure(collect(options({ connectTimeoutMs: 150 })));
  expect(err.kind).toBe('connect_timeout');
  expect(err.message).toBe('The upstream provider did not answer within 150 ms');
  await received[0].closed;
});

test('a body quiet for the idle timeout is idle_timeout, and the request is closed', async () => {
  handler = async (_req, res) => {
    sse(res);
    await send(res, 'data: one\n\n');
  };
  const err = await failure(collect(options({ idleTimeoutMs: 200 })));
  expect(err.kind).toBe('idle_timeout');
  expect(err.message).toBe('The upstream provider sent nothing for 200 ms');
  await received[0].closed;
});

test('a message past maxMessageBytes is event_too_large, whole in one chunk or growing over many', async () => {
  handler = (_req, res) => {
    sse(res);
    res.end(`data: ${'x'.repeat(500)}\n\n`);
  };
  const whole = await failure(collect(options({ maxMessageBytes: 100 })));
  expect(whole.kind).toBe('event_too_large');
  expect(whole.message).toBe('The upstream provider sent an event larger than 100 bytes');

  // A message that never completes is refused once its bytes pass the cap, not at the end.
  handler = async (_req, res) => {
    sse(res);
    await send(res, 'data: ok\n\n');
    await send(res, `data: ${'y'.repeat(60)}`);
    await send(res, 'y'.repeat(60));
  };
  const seen: string[] = [];
  const growing = await failure(collect(options({ maxMessageBytes: 100 }), (d) => seen.push(d)));
  expect(growing.kind).toBe('event_too_large');
  expect(seen).toEqual(['ok']);
  await received[0].closed;
});

test('an HTTP error is an http failure with its status, code, retry-after and a scrubbed message', async () => {
  handler = (_req, res) => {
    res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '2' });
    res.end(JSON.stringify({ error: { message: `slow down, ${KEY}`, type: 'rate_limit_error', code: 'rate_limit_exceeded' } }));
  };
  const err = await failure(collect(options()));
  expect(err.kind).toBe('http');
  expect(err.status).toBe(429);
  expect(err.upstreamCode).toBe('rate_limit_exceeded');
  expect(err.retryAfterMs).toBe(2000);
  expect(err.message).toBe('The upstream provider answered HTTP 429: slow down, [redacted]');
  expect(err.upstreamError).toEqual({ message: 'slow down, [redacted]', type: 'rate_limit_error', code: 'rate_limit_exceeded' });
});

test('an HTTP error whose body stalls is answered after the idle timeout with what arrived', async () => {
  handler = (_req, res) => {
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.write('overloaded');
  };
  const err = await failure(collect(options({ idleTimeoutMs: 200 })));
  expect(err.kind).toBe('http');
  expect(err.message).toBe('The upstream provider answered HTTP 503: overloaded');
  await received[0].closed;
});

test('an abort rejects with its reason and closes the request, before or after the headers', async () => {
  handler = async (_req, res) => {
    sse(res);
    await send(res, 'data: one\n\n');
  };
  const controller = new AbortController();
  const reason = new Error('cancelled');
  const streaming = collect(options({ signal: controller.signal }), () => setImmediate(() => controller.abort(reason)));
  await expect(streaming).rejects.toBe(reason);
  await received[0].closed;

  handler = () => undefined;
  const early = new AbortController();
  const connecting = collect(options({ signal: early.signal }));
  await new Promise((r) => setTimeout(r, 50));
  early.abort(reason);
  await expect(connecting).rejects.toBe(reason);
  await received[1].closed;
});

test('what a handler throws ends the stream with that error, and the request is closed', async () => {
  handler = async (_req, res) => {
    sse(res);
    await send(res, 'data: one\n\ndata: two\n\n');
  };
  const boom = new Error('handler failed');
  const seen: string[] = [];
  await expect(
    collect(options(), (d) => {
      seen.push(d);
      throw boom;
    }),
  ).rejects.toBe(boom);
  expect(seen).toEqual(['one']);
  await received[0].closed;
});

test('streams that end are read over one kept-alive connection', async () => {
  handler = (_req, res) => {
    sse(res);
    res.end('data: ok\n\n');
  };
  await collect(options());
  await collect(options());
  expect(received).toHaveLength(2);
  expect(received[1].socket).toBe(received[0].socket);
});
