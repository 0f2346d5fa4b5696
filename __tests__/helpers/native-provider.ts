// A fake provider with its own background mode (OpenAI's lifecycle) on top of the fake upstream:
// POST creates `resp_native_…` (queued), each GET moves it on (in_progress, then completed),
// cancel, DELETE, `GET …/input_items` (the create's string input as one message), and
// `GET ?stream=true&starting_after=N` replaying its events as SSE.

import { randomBytes } from 'node:crypto';
import type { FakeUpstream, RecordedRequest, Script, Step } from './fake-upstream';

/** One response held by the fake provider. */
export interface NativeResponse {
  id: string;
  object: 'response';
  created_at: number;
  status: string;
  model: string;
  background: true;
  output: Array<Record<string, unknown>>;
  usage: Record<string, number> | null;
  error: null;
  [field: string]: unknown;
}

/** The fake provider's state, for assertions. */
export interface NativeProvider {
  responses: Map<string, NativeResponse>;
  /** Requests that reached the provider (every method and path). */
  requests(): RecordedRequest[];
}

/** The text every fake native response completes with. */
export const NATIVE_TEXT = 'Deep research finished.';

const notFound = (id: string): Script => ({
  kind: 'json',
  status: 404,
  body: { error: { message: `No response found with id '${id}'.`, type: 'invalid_request_error', param: null, code: null } },
});

function completedOutput(): Array<Record<string, unknown>> {
  return [
    {
      type: 'message',
      id: 'msg_native_1',
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text: NATIVE_TEXT, annotations: [] }],
    },
  ];
}

/** The events of a native response from creation to completion, numbered from 0. */
export function nativeEvents(r: NativeResponse): Array<Record<string, unknown>> {
  const at = (status: string, extra: Partial<NativeResponse> = {}) => ({ ...r, status, output: [], usage: null, ...extra });
  const done = at('completed', { output: completedOutput(), usage: { input_tokens: 3, output_tokens: 4, total_tokens: 7 } });
  const events: Array<Record<string, unknown>> = [
    { type: 'response.created', response: at('queued') },
    { type: 'response.queued', response: at('queued') },
    { type: 'response.in_progress', response: at('in_progress') },
    { type: 'response.output_text.delta', item_id: 'msg_native_1', output_index: 0, content_index: 0, delta: 'Deep research ' },
    { type: 'response.output_text.delta', item_id: 'msg_native_1', output_index: 0, content_index: 0, delta: 'finished.' },
    { type: 'response.completed', response: done },
  ];
  return events.map((e, i) => ({ ...e, sequence_number: i }));
}

/**
 * Makes `upstream` behave as a provider with its own background mode, accepting only
 * `Bearer <apiKey>` (anything else: a 401 that quotes the key it got, as OpenAI's does). A streamed
 * create sends only a comment until `holdStreamedCreate` settles, when given.
 */
export function serveNativeProvider(upstream: FakeUpstream, apiKey: string, opts: { holdStreamedCreate?: Promise<unknown> } = {}): NativeProvider {
  const responses = new Map<string, NativeResponse>();
  const inputs = new Map<string, string>();
  upstream.respond((req): Script => {
    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      return {
        kind: 'json',
        status: 401,
        body: { error: { message: `Incorrect API key provided: ${String(req.headers.authorization)}.`, type: 'invalid_request_error', code: 'invalid_api_key' } },
      };
    }
    const url = new URL(req.url, 'http://provider.invalid');
    const match = /^\/v1\/responses(?:\/([^/]+))?(\/cancel|\/input_items)?$/.exec(url.pathname);
    if (!match) return { kind: 'json', status: 404, body: { error: { message: 'no such route' } } };
    const id = match[1] === undefined ? undefined : decodeURIComponent(match[1]);

    if (req.method === 'POST' && id === undefined) {
      if (req.body.background !== true) return { kind: 'json', status: 400, body: { error: { message: 'this fake only does background' } } };
      const created: NativeResponse = {
        id: `resp_native_${randomBytes(12).toString('hex')}`,
        object: 'response',
        created_at: Math.floor(Date.now() / 1000),
        status: 'queued',
        model: String(req.body.model),
        background: true,
        output: [],
        usage: null,
        error: null,
      };
      responses.set(created.id, created);
      inputs.set(created.id, typeof req.body.input === 'string' ? req.body.input : JSON.stringify(req.body.input));
      if (req.body.stream === true) {
        // Headers and a comment go out first, so the hold is a stall mid-stream, not a missing answer.
        const held: Step[] = opts.holdStreamedCreate ? [{ raw: ': held\n\n' }, { until: opts.holdStreamedCreate }] : [];
        return { kind: 'sse', steps: [...held, ...nativeEvents(created).map((event): Step => ({ event }))] };
      }
      return { kind: 'json', status: 200, body: created, headers: { 'x-request-id': 'req_native_create' } };
    }
    const r = id === undefined ? undefined : responses.get(id);
    if (!r) return notFound(id ?? '');

    if (req.method === 'GET' && match[2] === '/input_items') {
      const item = { id: `msg_in_${r.id}`, type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: inputs.get(r.id) ?? '' }] };
      return { kind: 'json', status: 200, body: { object: 'list', data: [item], first_id: item.id, last_id: item.id, has_more: false } };
    }
    if (req.method === 'GET' && url.searchParams.get('stream') === 'true') {
      const after = Number(url.searchParams.get('starting_after') ?? '-1');
      return { kind: 'sse', steps: nativeEvents(r).filter((e) => Number(e.sequence_number) > after).map((event): Step => ({ event })) };
    }
    if (req.method === 'GET') {
      if (r.status === 'queued') r.status = 'in_progress';
      else if (r.status === 'in_progress') Object.assign(r, { status: 'completed', output: completedOutput(), usage: { input_tokens: 3, output_tokens: 4, total_tokens: 7 } });
      return { kind: 'json', status: 200, body: r };
    }
    if (req.method === 'POST' && match[2] === '/cancel') {
      if (r.status === 'completed' || r.status === 'failed' || r.status === 'cancelled') {
        return { kind: 'json', status: 400, body: { error: { message: `Cannot cancel a ${r.status} response.`, type: 'invalid_request_error', param: null, code: null } } };
      }
      r.status = 'cancelled';
      return { kind: 'json', status: 200, body: r };
    }
    if (req.method === 'DELETE') {
      responses.delete(r.id);
      return { kind: 'json', status: 200, body: { id: r.id, object: 'response', deleted: true } };
    }
    return { kind: 'json', status: 405, body: { error: { message: 'method not allowed' } } };
  });
  return { responses, requests: () => upstream.requests };
}
