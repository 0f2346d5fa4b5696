// Turns Chat Completions stream chunks into the Responses stream events OpenAI would have sent.

import { randomBytes } from 'node:crypto';
import { isRecord } from '../json';
import { conformUpstreamError, isIndex, type ResponseErrorCode } from '../response-vocabulary';
import type { OutputItem, ResponseStreamEvent } from '../types';

type Json = Record<string, unknown>;
type ItemStatus = 'completed' | 'incomplete';

/** Options of a {@link ChatStreamAdapter}. */
export interface ChatStreamAdapterOptions {
  /**
   * Random part of the item ids (`msg_<seed>_<n>`, `fc_…`, `rs_…`, and `call_…` for tool calls
   * the upstream sent without an id). Default: 24 random hex characters per adapter.
   */
  idSeed?: string;
  /** Clock for `completed_at`, in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
}

interface PartState {
  kind: 'output_text' | 'refusal';
  index: number;
  text: string;
}

interface MessageState {
  id: string;
  outputIndex: number;
  parts: PartState[];
  textPart: PartState | undefined;
  refusalPart: PartState | undefined;
}

interface ReasoningState {
  id: string;
  outputIndex: number;
  text: string;
}

interface CallState {
  id: string;
  outputIndex: number;
  callId: string;
  /** True when `callId` came from the upstream (not generated here). */
  upstreamId: boolean;
  name: string;
  args: string;
}

/** Finish reasons that end the response as `incomplete`, with the reason OpenAI gives. */
const INCOMPLETE_REASONS = new Map<string, string>([
  ['length', 'max_output_tokens'],
  ['content_filter', 'content_filter'],
]);
/** Key of the deprecated `delta.function_call` in the map of open tool calls. */
const LEGACY_CALL = -1;

/**
 * Feeds on parsed `chat.completion.chunk` objects and returns, per chunk, the Responses events
 * they amount to (each with `sequence_number: 0`; the worker renumbers). Lifecycle events carry
 * only the Response fields the chunks determine (status, output, usage, incomplete_details,
 * completed_at, error); the worker merges them into its own Response.
 *
 * - The first chunk yields `response.in_progress`.
 * - Text, refusals, reasoning text (`delta.reasoning_content` or `delta.reasoning`, as vLLM,
 *   DeepSeek and Ollama send it) and tool calls become items in order of appearance. Opening
 *   an item closes an open message or reasoning item; tool calls may interleave (by their
 *   chunk `index`) and stay open until the finish reason.
 * - The chunk with `finish_reason` closes every open item (`*.done` events; status
 *   `incomplete` for `length` and `content_filter`). Only choice 0 is read.
 * - The terminal event comes from {@link end}, because usage arrives in a later chunk.
 * - An error frame (`{"error": {...}}`) yields an `error` event; later chunks are ignored.
 *
 * Pure apart from the clock and the random id seed, both injectable.
 */
export class ChatStreamAdapter {
  private readonly seed: string;
  private readonly now: () => number;
  private counter = 0;
  private started = false;
  private ended = false;
  /** Items in output order; an open item holds the object its `output_item.added` announced. */
  private readonly output: OutputItem[] = [];
  private message: MessageState | undefined;
  private reasoning: ReasoningState | undefined;
  private readonly calls = new Map<number, CallState>();
  private openCalls: CallState[] = [];
  private finishReason: string | undefined;
  private usage: Json | null = null;
  private error: { code: ResponseErrorCode; message: string } | undefined;

  constructor(opts: ChatStreamAdapterOptions = {}) {
    this.seed = opts.idSeed ?? randomBytes(12).toString('hex');
    this.now = opts.now ?? Date.now;
  }

  /** The events one parsed chunk amounts to (often exactly one). */
  push(chunk: Json): ResponseStreamEvent[] {
    const out: ResponseStreamEvent[] = [];
    if (this.ended || this.error) return out;
    if (!this.started) {
      this.started = true;
      out.push({ type: 'response.in_progress', sequence_number: 0, response: { status: 'in_progress' } });
    }
    const error = isRecord(chunk.error) ? chunk.error : chunk.object === 'error' ? chunk : undefined;
    if (error) {
      this.onError(error, out);
      return out;
    }
    const choices = chunk.choices;
    if (Array.isArray(choices)) {
      for (const choice of choices) {
        if (isRecord(choice) && (choice.index === 0 || choice.index === undefined)) this.onChoice(choice, out);
      }
    }
    if (isRecord(chunk.usage)) this.usage = toUsage(chunk.usage);
    return out;
  }

  /**
   * Call once when the upstream stream ends (`[DONE]` or EOF). Returns the terminal event:
   * `response.completed` or `response.incomplete` with the whole output, usage and details;
   * `response.failed` after an error frame; nothing when no finish reason ever came (a cut-off
   * stream: the caller decides how to fail it). Later calls return nothing.
   */
  end(): ResponseStreamEvent[] {
    if (this.ended) return [];
    this.ended = true;
    if (this.error) {
      // No `output`: a non-empty one would replace what the deltas accumulated so far.
      return [{ type: 'response.failed', sequence_number: 0, response: { status: 'failed', error: this.error, usage: this.usage } }];
    }
    const reason = this.finishReason;
    if (reason === undefined) return [];
    const incomplete = INCOMPLETE_REASONS.get(reason);
    const response: Json = { status: incomplete ? 'incomplete' : 'completed', output: this.output.slice(), usage: this.usage };
    if (incomplete) {
      response.incomplete_details = { reason: incomplete };
      return [{ type: 'response.incomplete', sequence_number: 0, response }];
    }
    response.incomplete_details = null;
    response.completed_at = Math.floor(this.now() / 1000);
    return [{ type: 'response.completed', sequence_number: 0, response }];
  }

  private onChoice(choice: Json, out: ResponseStreamEvent[]): void {
    if (this.finishReason !== undefined) return;
    const delta = choice.delta;
    if (isRecord(delta)) {
      // Servers that send both fields send the same text in each.
      const reasoning = nonEmpty(delta.reasoning_content) ?? nonEmpty(delta.reasoning);
      if (reasoning !== undefined) this.onReasoning(reasoning, out);
      const content = nonEmpty(delta.content);
      if (content !== undefined) this.onText('output_text', content, out);
      const refusal = nonEmpty(delta.refusal);
      if (refusal !== undefined) this.onText('refusal', refusal, out);
      const toolCalls = delta.tool_calls;
      if (Array.isArray(toolCalls)) {
        for (let i = 0; i < toolCalls.length; i++) {
          const call = toolCalls[i];
          if (isRecord(call)) this.onToolCall(isIndex(call.index) ? call.index : i, call.id, call.function, out);
        }
      }
      if (isRecord(delta.function_call)) this.onToolCall(LEGACY_CALL, undefined, delta.function_call, out);
    }
    if (typeof choice.finish_reason === 'string' && choice.finish_reason !== '') {
      this.finishReason = choice.finish_reason;
      this.closeAll(INCOMPLETE_REASONS.has(choice.finish_reason) ? 'incomplete' : 'completed', out);
    }
  }

  private onError(error: Json, out: ResponseStreamEvent[]): void {
    const message = typeof error.message === 'string' && error.message !== '' ? error.message : 'The upstream provider reported an error.';
    // Chat servers put an HTTP status (vLLM), a name of their own or nothing in `code`; the
    // Response takes one of OpenAI's codes, and the server's own code (else its type) leads the message.
    this.error = conformUpstreamError(nonEmpty(error.code) ?? nonEmpty(error.type), message);
    out.push({
      type: 'error',
      sequence_number: 0,
      error: { type: nonEmpty(error.type) ?? 'server_error', ...this.error, param: nonEmpty(error.param) ?? null },
    });
  }

  private onReasoning(delta: string, out: ResponseStreamEvent[]): void {
    let item = this.reasoning;
    if (!item) {
      this.closeMessage('completed', out);
      item = this.reasoning = { id: this.newId('rs'), outputIndex: this.output.length, text: '' };
      const added: OutputItem = { id: item.id, type: 'reasoning', status: 'in_progress', summary: [], content: [] };
      this.output.push(added);
      out.push({ type: 'response.output_item.added', sequence_number: 0, output_index: item.outputIndex, item: added });
      out.push({ ...this.at(item, 0), type: 'response.content_part.added', part: { type: 'reasoning_text', text: '' } });
    }
    item.text += delta;
    out.push({ type: 'response.reasoning_text.delta', sequence_number: 0, item_id: item.id, output_index: item.outputIndex, content_index: 0, delta });
  }

  private onText(kind: PartState['kind'], delta: string, out: ResponseStreamEvent[]): void {
    let message = this.message;
    if (!message) {
      this.closeReasoning('completed', out);
      message = this.message = { id: this.newId('msg'), outputIndex: this.output.length, parts: [], textPart: undefined, refusalPart: undefined };
      const added: OutputItem = { id: message.id, type: 'message', status: 'in_progress', role: 'assistant', content: [] };
      this.output.push(added);
      out.push({ type: 'response.output_item.added', sequence_number: 0, output_index: message.outputIndex, item: added });
    }
    let part = kind === 'output_text' ? message.textPart : message.refusalPart;
    if (!part) {
      part = { kind, index: message.parts.length, text: '' };
      message.parts.push(part);
      if (kind === 'output_text') message.textPart = part;
      else message.refusalPart = part;
      out.push({ ...this.at(message, part.index), type: 'response.content_part.added', part: partObject(part) });
    }
    part.text += delta;
    if (kind === 'output_text') {
      out.push({ type: 'response.output_text.delta', sequence_number: 0, item_id: message.id, output_index: message.outputIndex, content_index: part.index, delta, logprobs: [] });
    } else {
      out.push({ ...this.at(message, part.index), type: 'response.refusal.delta', delta });
    }
  }

  private onToolCall(key: number, id: unknown, fn: unknown, out: ResponseStreamEvent[]): void {
    const upstreamId = nonEmpty(id);
    let call = this.calls.get(key);
    // Some servers send every call at index 0; a new upstream id there is a new call.
    if (call && upstreamId !== undefined && call.upstreamId && upstreamId !== call.callId) call = undefined;
    const name = isRecord(fn) ? nonEmpty(fn.name) : undefined;
    if (!call) {
      this.closeReasoning('completed', out);
      this.closeMessage('completed', out);
      call = {
        id: this.newId('fc'),
        outputIndex: this.output.length,
        callId: upstreamId ?? this.newId('call'),
        upstreamId: upstreamId !== undefined,
        name: name ?? '',
        args: '',
      };
      this.calls.set(key, call);
      this.openCalls.push(call);
      const added: OutputItem = { id: call.id, type: 'function_call', status: 'in_progress', call_id: call.callId, name: call.name, arguments: '' };
      this.output.push(added);
      out.push({ type: 'response.output_item.added', sequence_number: 0, output_index: call.outputIndex, item: added });
    } else if (call.name === '' && name !== undefined) {
      // Announced without a name; the name goes out with `function_call_arguments.done`. A
      // name repeated on later fragments (some servers do) is not appended.
      call.name = name;
    }
    const args = isRecord(fn) ? nonEmpty(fn.arguments) : undefined;
    if (args !== undefined) {
      call.args += args;
      out.push({ type: 'response.function_call_arguments.delta', sequence_number: 0, item_id: call.id, output_index: call.outputIndex, delta: args });
    }
  }

  private closeAll(status: ItemStatus, out: ResponseStreamEvent[]): void {
    this.closeReasoning(status, out);
    this.closeMessage(status, out);
    for (const call of this.openCalls) {
      const item: OutputItem = { id: call.id, type: 'function_call', status, call_id: call.callId, name: call.name, arguments: call.args };
      out.push({ type: 'response.function_call_arguments.done', sequence_number: 0, item_id: call.id, output_index: call.outputIndex, arguments: call.args, name: call.name });
      this.finishItem(call.outputIndex, item, out);
    }
    this.openCalls = [];
    this.calls.clear();
  }

  private closeReasoning(status: ItemStatus, out: ResponseStreamEvent[]): void {
    const item = this.reasoning;
    if (!item) return;
    this.reasoning = undefined;
    const part = { type: 'reasoning_text', text: item.text };
    out.push({ ...this.at(item, 0), type: 'response.reasoning_text.done', text: item.text });
    out.push({ ...this.at(item, 0), type: 'response.content_part.done', part });
    this.finishItem(item.outputIndex, { id: item.id, type: 'reasoning', status, summary: [], content: [part] }, out);
  }

  private closeMessage(status: ItemStatus, out: ResponseStreamEvent[]): void {
    const message = this.message;
    if (!message) return;
    this.message = undefined;
    const content: Json[] = [];
    for (const part of message.parts) {
      const done = partObject(part);
      content.push(done);
      if (part.kind === 'output_text') {
        out.push({ ...this.at(message, part.index), type: 'response.output_text.done', text: part.text, logprobs: [] });
      } else {
        out.push({ ...this.at(message, part.index), type: 'response.refusal.done', refusal: part.text });
      }
      out.push({ ...this.at(message, part.index), type: 'response.content_part.done', part: done });
    }
    this.finishItem(message.outputIndex, { id: message.id, type: 'message', status, role: 'assistant', content }, out);
  }

  private finishItem(outputIndex: number, item: OutputItem, out: ResponseStreamEvent[]): void {
    this.output[outputIndex] = item;
    out.push({ type: 'response.output_item.done', sequence_number: 0, output_index: outputIndex, item });
  }

  /** The fields that locate a content part, as every part-level event carries them. */
  private at(item: { id: string; outputIndex: number }, contentIndex: number): ResponseStreamEvent {
    return { type: '', sequence_number: 0, item_id: item.id, output_index: item.outputIndex, content_index: contentIndex };
  }

  private newId(prefix: string): string {
    this.counter += 1;
    return `${prefix}_${this.seed}_${this.counter}`;
  }
}

/** Chat Completions usage in the Responses `usage` shape. */
export function toUsage(usage: Json): Json {
  const prompt = isRecord(usage.prompt_tokens_details) ? usage.prompt_tokens_details : {};
  const completion = isRecord(usage.completion_tokens_details) ? usage.completion_tokens_details : {};
  const input = count(usage.prompt_tokens);
  const output = count(usage.completion_tokens);
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: count(prompt.cached_tokens), cache_write_tokens: count(prompt.cache_write_tokens) },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: count(completion.reasoning_tokens) },
    total_tokens: typeof usage.total_tokens === 'number' ? usage.total_tokens : input + output,
  };
}

function partObject(part: PartState): Json {
  return part.kind === 'output_text'
    ? { type: 'output_text', text: part.text, annotations: [], logprobs: [] }
    : { type: 'refusal', refusal: part.text };
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

