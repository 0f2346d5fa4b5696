// A small local server that speaks the Responses API streaming protocol and answers with made-up
// text, word by word. It lets the example app show the whole flow with no provider account.
// It is a demo: it understands no prompt and calls no model.

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sseFrame } from './sse';

/** Options of {@link startDemoUpstream}. */
export interface DemoUpstreamOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  host?: string;
  /** Delay between two words, in ms. Default 60. */
  wordDelayMs?: number;
  /** Most words in each answer (whole sentences: the prompt repeated, then sentences about the demo). Default 80. */
  words?: number;
}

/** A running demo upstream. */
export interface DemoUpstream {
  /** Base URL to use as a deployment's `apiBase` (ends with `/v1`). */
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** What the demo answers after repeating the prompt: sentences about what the reader is watching. */
const SENTENCES = [
  'This answer comes from the demo upstream, a small local server that writes made-up text one word at a time; no model is called.',
  'Your request was accepted at once with the status queued, and a worker on the server is streaming these words into the store.',
  'You can close the page, poll again later, or resume the event stream after the last sequence number you saw.',
  'Either way, the response keeps growing on the server until its last word arrives.',
  'Cancel it to stop the upstream request, or delete it to remove everything that was stored.',
  'When the last word is in, the status becomes completed, and every instance serves the same final text.',
];

/** Reads a request body as a JSON object; anything unparsable reads as `{}`. */
export function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
      } catch {
        resolve({});
      }
    });
  });
}

function promptOf(body: Record<string, unknown>): string {
  if (typeof body.input === 'string') return body.input;
  return 'your request';
}

/**
 * The answer, as deltas with their leading space: a sentence repeating the prompt, then the words
 * of whole sentences (cycling through them) while they fit in `count` deltas.
 */
function answerWords(prompt: string, count: number): string[] {
  const quoted = prompt.slice(0, 80).trim();
  // The prompt comes back whole, as the first delta; the sentences after it word by word.
  const words = [`You asked: "${quoted}"${/[.!?]$/.test(quoted) ? '' : '.'}`];
  for (let i = 0; ; i += 1) {
    const sentence = SENTENCES[i % SENTENCES.length].split(' ');
    if (words.length + sentence.length > count) break;
    words.push(...sentence);
  }
  return words.map((w, i) => (i === 0 ? w : ` ${w}`));
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: Required<Omit<DemoUpstreamOptions, 'port' | 'host'>>): Promise<void> {
  if (req.method !== 'POST' || !req.url?.endsWith('/responses')) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'Not found', type: 'invalid_request_error', param: null, code: null } }));
    return;
  }
  const body = await readJsonBody(req);
  const id = `resp_demo_${randomBytes(12).toString('hex')}`;
  const itemId = `msg_demo_${randomBytes(12).toString('hex')}`;
  const words = answerWords(promptOf(body), opts.words);
  const text = words.join('');
  const base = {
    id,
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    model: String(body.model ?? 'demo'),
    error: null,
    incomplete_details: null,
    output: [] as unknown[],
    usage: null as unknown,
  };
  const message = (status: string, content: unknown[]) => ({ type: 'message', id: itemId, status, role: 'assistant', content });
  const part = (t: string) => ({ type: 'output_text', text: t, annotations: [], logprobs: [] });
  const usage = { input_tokens: 12, input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 }, output_tokens: words.length, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 12 + words.length };
  const final = { ...base, status: 'completed', completed_at: Math.floor(Date.now() / 1000), output: [message('completed', [part(text)])], usage };

  if (body.stream !== true) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(final));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  let seq = 0;
  let closed = false;
  res.on('close', () => (closed = true));
  const send = (event: Record<string, unknown>) => {
    const full = { ...event, sequence_number: seq++ };
    res.write(sseFrame(String(event.type), JSON.stringify(full)));
  };
  send({ type: 'response.created', response: { ...base, status: 'in_progress' } });
  send({ type: 'response.in_progress', response: { ...base, status: 'in_progress' } });
  send({ type: 'response.output_item.added', output_index: 0, item: message('in_progress', []) });
  send({ type: 'response.content_part.added', item_id: itemId, output_index: 0, content_index: 0, part: part('') });
  for (const word of words) {
    await new Promise((r) => setTimeout(r, opts.wordDelayMs));
    if (closed) return;
    send({ type: 'response.output_text.delta', item_id: itemId, output_index: 0, content_index: 0, delta: word, logprobs: [] });
  }
  send({ type: 'response.output_text.done', item_id: itemId, output_index: 0, content_index: 0, text, logprobs: [] });
  send({ type: 'response.content_part.done', item_id: itemId, output_index: 0, content_index: 0, part: part(text) });
  send({ type: 'response.output_item.done', output_index: 0, item: message('completed', [part(text)]) });
  send({ type: 'response.completed', response: final });
  res.end();
}

/** Starts the demo upstream; resolves once it listens. */
export async function startDemoUpstream(options: DemoUpstreamOptions = {}): Promise<DemoUpstream> {
  const opts = { wordDelayMs: options.wordDelayMs ?? 60, words: options.words ?? 80 };
  const server = createServer((req, res) => {
    handle(req, res, opts).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}/v1`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
