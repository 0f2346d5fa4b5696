// Realistic upstream Responses stream fixtures, modelled on recorded OpenAI streams
// (reference §2.3), shared by the unit tests, the integration tests and the fake upstream.

import type { OutputItem, ResponseObject, ResponseStreamEvent } from '../../lib/types';

/** An event before it gets its sequence number. */
export type EventBody = { type: string; [field: string]: unknown };

export interface FixtureOptions {
  /** Upstream response id. Default `resp_fixture_upstream`. */
  responseId?: string;
  /** Model the upstream reports (a dated snapshot, as real streams do). Default `gpt-4o-mini-2024-07-18`. */
  model?: string;
  /** Unix seconds. Default 1749761604. */
  createdAt?: number;
  /** Unix seconds of `completed_at` in `response.completed`. Default `createdAt + 3`. */
  completedAt?: number;
  /** Open as a background stream does: `created` (queued) → `queued` → `in_progress`. Default false. */
  background?: boolean;
  /** Usage in the terminal event. Default {@link DEFAULT_USAGE}. */
  usage?: Record<string, unknown>;
  /** Add an `obfuscation` string to delta events, as real streams do. Default true. */
  obfuscation?: boolean;
}

export interface TextTurnOptions extends FixtureOptions {
  /** Default `msg_fixture_0`. */
  itemId?: string;
  /** Characters per delta when `deltas` is not given. Default 4. */
  chunkSize?: number;
  /** Explicit deltas; they must join to the text. */
  deltas?: string[];
  /** `incomplete` ends with `response.incomplete` (`max_output_tokens`). Default `completed`. */
  finish?: 'completed' | 'incomplete';
}

export interface FunctionCallSpec {
  name: string;
  /** The full JSON arguments string. */
  arguments: string;
  /** Default `call_fixture_<n>`. */
  callId?: string;
  /** Default `fc_fixture_<n>`. */
  itemId?: string;
}

export interface FunctionCallOptions extends FixtureOptions {
  /** Characters per arguments delta. Default 5. */
  chunkSize?: number;
}

/** Usage in the shape of the June-2025 captures (no `cache_write_tokens`). */
export const DEFAULT_USAGE = {
  input_tokens: 10,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: 16,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: 26,
};

/** The Response the proxy stores when it accepts a background request, before any event. */
export function proxyResponse(overrides: Partial<ResponseObject> = {}): ResponseObject {
  return {
    id: 'resp_proxy_0001',
    object: 'response',
    created_at: 1700000000,
    status: 'queued',
    background: true,
    completed_at: null,
    error: null,
    incomplete_details: null,
    instructions: null,
    max_output_tokens: null,
    model: 'gpt-4o-mini',
    output: [],
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: true,
    temperature: 1,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    truncation: 'disabled',
    usage: null,
    user: null,
    metadata: { conversation: 'fixture' },
    ...overrides,
  };
}

/** The `response` object of an upstream lifecycle event. */
export function upstreamResponse(opts: FixtureOptions = {}, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: opts.responseId ?? 'resp_fixture_upstream',
    object: 'response',
    created_at: opts.createdAt ?? 1749761604,
    status: 'in_progress',
    background: false,
    completed_at: null,
    error: null,
    incomplete_details: null,
    instructions: null,
    max_output_tokens: 2048,
    model: opts.model ?? 'gpt-4o-mini-2024-07-18',
    output: [],
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    service_tier: 'auto',
    store: true,
    temperature: 1.0,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: 1.0,
    truncation: 'disabled',
    usage: null,
    user: null,
    metadata: {},
    ...overrides,
  };
}

/** Numbers events from 0, in order. */
export function withSequenceNumbers(bodies: EventBody[]): ResponseStreamEvent[] {
  return bodies.map((body, i) => ({ ...body, sequence_number: i }));
}

/** Splits `text` into pieces of `size` characters (at least one piece, possibly empty). */
export function splitText(text: string, size: number): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  return pieces.length > 0 ? pieces : [''];
}

/** A completed assistant message holding `text`, as `output_item.done` sends it. */
export function messageItem(id: string, text: string, status = 'completed'): OutputItem {
  return { id, type: 'message', status, content: [{ type: 'output_text', annotations: [], logprobs: [], text }], role: 'assistant' };
}

/** A function call item, as `output_item.done` sends it. */
export function functionCallItem(spec: Required<FunctionCallSpec>, status = 'completed'): OutputItem {
  return { id: spec.itemId, type: 'function_call', status, arguments: spec.arguments, call_id: spec.callId, name: spec.name };
}

/** `response.created` and the events that follow it up to `in_progress`. */
export function openingBodies(opts: FixtureOptions = {}): EventBody[] {
  if (opts.background) {
    return [
      { type: 'response.created', response: upstreamResponse(opts, { status: 'queued', background: true }) },
      { type: 'response.queued', response: upstreamResponse(opts, { status: 'queued', background: true }) },
      { type: 'response.in_progress', response: upstreamResponse(opts, { background: true }) },
    ];
  }
  return [
    { type: 'response.created', response: upstreamResponse(opts) },
    { type: 'response.in_progress', response: upstreamResponse(opts) },
  ];
}

/** The events of one assistant message at `outputIndex`, from `output_item.added` to `.done`. */
export function textItemBodies(text: string, outputIndex: number, opts: TextTurnOptions = {}): EventBody[] {
  const itemId = opts.itemId ?? `msg_fixture_${outputIndex}`;
  const deltas = opts.deltas ?? splitText(text, opts.chunkSize ?? 4);
  const at = { item_id: itemId, output_index: outputIndex, content_index: 0 };
  const status = opts.finish === 'incomplete' ? 'incomplete' : 'completed';
  return [
    { type: 'response.output_item.added', output_index: outputIndex, item: { id: itemId, type: 'message', status: 'in_progress', content: [], role: 'assistant' } },
    { type: 'response.content_part.added', ...at, part: { type: 'output_text', annotations: [], logprobs: [], text: '' } },
    ...deltas.map((delta, i) => ({ type: 'response.output_text.delta', ...at, delta, logprobs: [], ...obfuscation(opts, i) })),
    { type: 'response.output_text.done', ...at, text, logprobs: [] },
    { type: 'response.content_part.done', ...at, part: { type: 'output_text', annotations: [], logprobs: [], text } },
    { type: 'response.output_item.done', output_index: outputIndex, item: messageItem(itemId, text, status) },
  ];
}

/** The events of one function call at `outputIndex`. */
export function functionCallBodies(spec: FunctionCallSpec, outputIndex: number, opts: FunctionCallOptions = {}): EventBody[] {
  const full = completeSpec(spec, outputIndex);
  const at = { item_id: full.itemId, output_index: outputIndex };
  return [
    { type: 'response.output_item.added', output_index: outputIndex, item: functionCallItem({ ...full, arguments: '' }, 'in_progress') },
    ...splitText(full.arguments, opts.chunkSize ?? 5).map((delta, i) => ({ type: 'response.function_call_arguments.delta', ...at, delta, ...obfuscation(opts, i) })),
    { type: 'response.function_call_arguments.done', ...at, arguments: full.arguments, name: full.name },
    { type: 'response.output_item.done', output_index: outputIndex, item: functionCallItem(full) },
  ];
}

/** A whole text turn: opening, one message split into deltas, and `response.completed` (or `.incomplete`). */
export function textTurnEvents(text: string, opts: TextTurnOptions = {}): ResponseStreamEvent[] {
  const item = messageItem(opts.itemId ?? 'msg_fixture_0', text, opts.finish === 'incomplete' ? 'incomplete' : 'completed');
  const closing: EventBody =
    opts.finish === 'incomplete'
      ? { type: 'response.incomplete', response: finalResponse(opts, [item], { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } }) }
      : { type: 'response.completed', response: finalResponse(opts, [item], { status: 'completed', completed_at: completedAt(opts) }) };
  return withSequenceNumbers([...openingBodies(opts), ...textItemBodies(text, 0, opts), closing]);
}

/** A turn made of one or more function calls, one after another, then `response.completed`. */
export function functionCallEvents(calls: FunctionCallSpec | FunctionCallSpec[], opts: FunctionCallOptions = {}): ResponseStreamEvent[] {
  const list = Array.isArray(calls) ? calls : [calls];
  const items = list.map((spec, i) => functionCallItem(completeSpec(spec, i)));
  return withSequenceNumbers([
    ...openingBodies(opts),
    ...list.flatMap((spec, i) => functionCallBodies(spec, i, opts)),
    { type: 'response.completed', response: finalResponse(opts, items, { status: 'completed', completed_at: completedAt(opts) }) },
  ]);
}

/** A turn that fails after it started: a nested `error` event, then `response.failed` (reference §2.4). */
export function failedTurnEvents(code = 'server_error', message = 'The server had an error while processing your request.', opts: FixtureOptions = {}): ResponseStreamEvent[] {
  return withSequenceNumbers([
    ...openingBodies(opts),
    { type: 'error', error: { type: code, code, message, param: null } },
    { type: 'response.failed', response: upstreamResponse(opts, { status: 'failed', error: { code, message } }) },
  ]);
}

function finalResponse(opts: FixtureOptions, output: OutputItem[], overrides: Record<string, unknown>): Record<string, unknown> {
  return upstreamResponse(opts, { output, usage: opts.usage ?? DEFAULT_USAGE, service_tier: 'default', ...(opts.background ? { background: true } : {}), ...overrides });
}

function completedAt(opts: FixtureOptions): number {
  return opts.completedAt ?? (opts.createdAt ?? 1749761604) + 3;
}

function completeSpec(spec: FunctionCallSpec, index: number): Required<FunctionCallSpec> {
  return { callId: `call_fixture_${index}`, itemId: `fc_fixture_${index}`, ...spec };
}

function obfuscation(opts: FixtureOptions, i: number): { obfuscation?: string } {
  return opts.obfuscation === false ? {} : { obfuscation: `obf${String(i).padStart(4, '0')}` };
}
