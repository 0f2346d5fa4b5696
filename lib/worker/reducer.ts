// Folds Responses stream events into a Response object: a pure reducer with structural sharing.

import { deepEqual, isRecord, shallowEqual } from '../json';
import { isFinalEventType, isIndex, isResponseStatus, isTerminalStatus, LIFECYCLE_EVENT_STATUS, conformUpstreamError } from '../response-vocabulary';
import {
  type OutputItem,
  type ResponseErrorObject,
  type ResponseObject,
  type ResponseStatus,
  type ResponseStreamEvent,
} from '../types';

type Json = Record<string, unknown>;
type ItemKind = 'message' | 'function_call' | 'reasoning';
type ListKey = 'content' | 'summary';

/** Fields the proxy sets when it creates the response; an upstream object never overrides them. */
const PROXY_OWNED = new Set(['id', 'object', 'created_at', 'background', 'model', 'metadata', 'store', 'previous_response_id']);
/** Fields of a lifecycle `response` that have their own merge rule below. */
const MERGED_BY_RULE = new Set(['status', 'output', 'completed_at', 'error']);
/** Fields an item accumulates from deltas; a late `output_item.added` must not reset them. */
const ACCUMULATED = ['content', 'summary', 'arguments'];
/**
 * How far past the end of a content or summary list an index may point. Gaps are padded with
 * blank parts so later events find their part at the index they name; a larger jump is taken
 * as a corrupt index and ignored rather than allocated.
 */
const MAX_INDEX_GAP = 16;
const DEFAULT_ERROR_MESSAGE = 'The upstream stream reported an error.';
const EMPTY: readonly Json[] = [];

const blankOutputText = (): Json => ({ type: 'output_text', text: '', annotations: [], logprobs: [] });
const blankRefusal = (): Json => ({ type: 'refusal', refusal: '' });
const blankReasoningText = (): Json => ({ type: 'reasoning_text', text: '' });
const blankSummaryText = (): Json => ({ type: 'summary_text', text: '' });
const BLANK_PARTS = new Map<unknown, () => Json>([
  ['output_text', blankOutputText],
  ['refusal', blankRefusal],
  ['reasoning_text', blankReasoningText],
  ['summary_text', blankSummaryText],
]);

function blankPart(type: unknown): Json {
  const make = BLANK_PARTS.get(type);
  return make ? make() : { type };
}

/**
 * Applies one stream event to a Response. Never mutates `state` or `event`; copies only the path
 * that changes and returns `state` itself when the event changes nothing (keepalive, unknown
 * types, an empty delta, a repeated `done`). Events that point at an item or part that was never
 * announced create it, so no delta is lost.
 */
export function applyEvent(state: ResponseObject, event: ResponseStreamEvent): ResponseObject {
  const e = event as Json;
  switch (event.type) {
    case 'response.output_text.delta':
      return appendText(state, e, 'message', 'content', e.content_index, blankOutputText, 'text', e.delta);
    case 'response.output_text.done':
      return updatePart(state, e, 'message', 'content', e.content_index, blankOutputText, (existing) => {
        const part = existing ?? blankOutputText();
        const withText = setText(part, 'text', e.text);
        // Delta logprobs are not accumulated (that would copy a growing array per delta); the
        // `done` event carries them all.
        const logprobs = e.logprobs;
        if (!Array.isArray(logprobs) || logprobs.length === 0 || deepEqual(part.logprobs, logprobs)) return withText;
        return { ...withText, logprobs };
      });
    case 'response.refusal.delta':
      return appendText(state, e, 'message', 'content', e.content_index, blankRefusal, 'refusal', e.delta);
    case 'response.refusal.done':
      return setPartText(state, e, 'message', 'content', e.content_index, blankRefusal, 'refusal', e.refusal);
    case 'response.output_text.annotation.added':
      return addAnnotation(state, e);
    case 'response.content_part.added':
    case 'response.content_part.done': {
      const part = e.part;
      if (!isRecord(part)) return state;
      const kind: ItemKind = part.type === 'reasoning_text' ? 'reasoning' : 'message';
      return putPart(state, e, kind, 'content', e.content_index, part, event.type.endsWith('.done'));
    }
    case 'response.reasoning_summary_part.added':
    case 'response.reasoning_summary_part.done':
      if (!isRecord(e.part)) return state;
      return putPart(state, e, 'reasoning', 'summary', e.summary_index, e.part, event.type.endsWith('.done'));
    case 'response.reasoning_summary_text.delta':
      return appendText(state, e, 'reasoning', 'summary', e.summary_index, blankSummaryText, 'text', e.delta);
    case 'response.reasoning_summary_text.done':
      return setPartText(state, e, 'reasoning', 'summary', e.summary_index, blankSummaryText, 'text', e.text);
    case 'response.reasoning_text.delta':
      return appendText(state, e, 'reasoning', 'content', e.content_index, blankReasoningText, 'text', e.delta);
    case 'response.reasoning_text.done':
      return setPartText(state, e, 'reasoning', 'content', e.content_index, blankReasoningText, 'text', e.text);
    case 'response.function_call_arguments.delta': {
      const delta = e.delta;
      if (typeof delta !== 'string') return state;
      return updateItem(state, e, 'function_call', (item) =>
        delta === '' ? item : { ...item, arguments: stringOr(item.arguments) + delta },
      );
    }
    case 'response.function_call_arguments.done':
      return updateItem(state, e, 'function_call', (item) => {
        // `name` is missing from older streams; an absent or empty one keeps the announced name.
        const named = typeof e.name === 'string' && e.name !== '' && e.name !== item.name ? { ...item, name: e.name } : item;
        return setText(named, 'arguments', e.arguments);
      });
    case 'response.output_item.added':
    case 'response.output_item.done':
      return putItem(state, e, event.type === 'response.output_item.done');
    case 'error':
      return applyError(state, e);
    default: {
      const implied = LIFECYCLE_EVENT_STATUS.get(event.type);
      return implied === undefined ? state : applyLifecycle(state, e, implied);
    }
  }
}

/** Applies `events` in order, starting from `state`. */
export function foldEvents(state: ResponseObject, events: ResponseStreamEvent[]): ResponseObject {
  let current = state;
  for (const event of events) current = applyEvent(current, event);
  return current;
}

function applyLifecycle(state: ResponseObject, event: Json, implied: ResponseStatus | null): ResponseObject {
  const upstream = isRecord(event.response) ? event.response : undefined;
  const announced = upstream && isResponseStatus(upstream.status) ? upstream.status : undefined;
  const status: ResponseStatus = announced ?? implied ?? state.status;
  // Once terminal, only an event that agrees with the status may add to it (an `error` event is
  // followed by `response.failed`); a late non-terminal event must not revive the response.
  if (isTerminalStatus(state.status) && status !== state.status) return state;

  const changes: Json = {};
  let changed = false;
  const set = (key: string, value: unknown): void => {
    changes[key] = value;
    changed = true;
  };
  if (status !== state.status) set('status', status);
  if (upstream) {
    for (const key of Object.keys(upstream)) {
      if (PROXY_OWNED.has(key) || MERGED_BY_RULE.has(key)) continue;
      if (!deepEqual(state[key], upstream[key])) set(key, upstream[key]);
    }
    // A null upstream error never clears one already recorded (from a preceding `error` event).
    const error = isRecord(upstream.error) ? toErrorObject(upstream.error) : null;
    if (error && !deepEqual(state.error, error)) set('error', error);
    const output = upstream.output;
    // A final event's non-empty output replaces the accumulated one.
    if (isFinalEventType(event.type) && Array.isArray(output) && output.length > 0) {
      const shared = shareItems(outputOf(state), output as OutputItem[]);
      if (shared !== state.output) set('output', shared);
    }
    if (status === 'completed' && typeof upstream.completed_at === 'number' && upstream.completed_at !== state.completed_at) {
      set('completed_at', upstream.completed_at);
    }
  }
  return changed ? { ...state, ...changes } : state;
}

function applyError(state: ResponseObject, event: Json): ResponseObject {
  if (isTerminalStatus(state.status) && state.status !== 'failed') return state;
  // The schema sends the details flat; real streams nest them under `error`.
  const error = toErrorObject(isRecord(event.error) ? event.error : event);
  if (state.status === 'failed' && deepEqual(state.error, error)) return state;
  return { ...state, status: 'failed', error };
}

/** An event's error as a Response carries it: one of OpenAI's codes (idempotent, so every read may fold it again). */
function toErrorObject(source: Json): ResponseErrorObject {
  return conformUpstreamError(source.code, typeof source.message === 'string' && source.message !== '' ? source.message : DEFAULT_ERROR_MESSAGE);
}

/** `output_item.added` fills in an item; `output_item.done` replaces it wholesale. */
function putItem(state: ResponseObject, event: Json, done: boolean): ResponseObject {
  const item = event.item;
  if (!isRecord(item) || typeof item.type !== 'string') return state;
  const output = outputOf(state);
  const index = findItem(output, event.output_index, typeof item.id === 'string' ? item.id : undefined);
  if (index < 0) return withItem(state, output, output.length, item as OutputItem);
  const existing = output[index];
  let next: OutputItem;
  if (done) {
    next = deepEqual(existing, item) ? existing : (item as OutputItem);
  } else {
    // An item created earlier from its deltas (or a repeated `added`): take what the event
    // announces (name, call_id, role) but keep what has been accumulated since.
    const merged: Json = { ...existing, ...item };
    for (const key of ACCUMULATED) if (key in existing) merged[key] = existing[key];
    next = shallowEqual(existing, merged) ? existing : (merged as OutputItem);
  }
  return next === existing ? state : withItem(state, output, index, next);
}

/**
 * Finds the item an event refers to: the one at `output_index` when its id matches, else the one
 * with that id anywhere, else an id-less item at `output_index` (`function_call` ids are
 * optional). -1 when there is none.
 */
function findItem(output: OutputItem[], outputIndex: unknown, itemId: string | undefined): number {
  const at = isIndex(outputIndex) ? output[outputIndex] : undefined;
  if (at != null && (itemId === undefined || at.id === itemId)) return outputIndex as number;
  if (itemId !== undefined) {
    for (let i = 0; i < output.length; i++) if (output[i]?.id === itemId) return i;
  }
  return at != null && at.id == null ? (outputIndex as number) : -1;
}

/**
 * Runs `update` on the item the event refers to. When there is none, a blank item of `kind` is
 * created and appended: appending rather than writing at `output_index` leaves no holes, and
 * later events find it by id.
 */
function updateItem(state: ResponseObject, event: Json, kind: ItemKind, update: (item: OutputItem) => OutputItem): ResponseObject {
  const output = outputOf(state);
  const itemId = typeof event.item_id === 'string' ? event.item_id : undefined;
  const index = findItem(output, event.output_index, itemId);
  if (index < 0) return withItem(state, output, output.length, update(blankItem(kind, itemId)));
  const item = output[index];
  const next = update(item);
  return next === item ? state : withItem(state, output, index, next);
}

/**
 * Runs `update` on `item[listKey][rawIndex]` (`undefined` when that part is missing), creating
 * the item when missing and padding a gap before the index with `blank()` parts.
 */
function updatePart(
  state: ResponseObject,
  event: Json,
  kind: ItemKind,
  listKey: ListKey,
  rawIndex: unknown,
  blank: () => Json,
  update: (part: Json | undefined) => Json,
): ResponseObject {
  const index = isIndex(rawIndex) ? rawIndex : 0;
  return updateItem(state, event, kind, (item) => {
    const list = Array.isArray(item[listKey]) ? (item[listKey] as Json[]) : EMPTY;
    const existing = list[index] ?? undefined;
    if (existing === undefined && index > list.length + MAX_INDEX_GAP) return item;
    const next = update(existing);
    if (next === existing) return item;
    const copy = list.slice();
    while (copy.length < index) copy.push(blank());
    copy[index] = next;
    return { ...item, [listKey]: copy };
  });
}

/** `content_part.*` and `reasoning_summary_part.*`: `added` sets a missing part, `done` replaces it. */
function putPart(state: ResponseObject, event: Json, kind: ItemKind, listKey: ListKey, rawIndex: unknown, part: Json, done: boolean): ResponseObject {
  return updatePart(state, event, kind, listKey, rawIndex, () => blankPart(part.type), (existing) => {
    if (existing === undefined) return part;
    if (done) return deepEqual(existing, part) ? existing : part;
    // A part already built from deltas holds more than the empty part `added` announces.
    return existing.type === part.type ? existing : part;
  });
}

function appendText(
  state: ResponseObject,
  event: Json,
  kind: ItemKind,
  listKey: ListKey,
  rawIndex: unknown,
  blank: () => Json,
  field: string,
  delta: unknown,
): ResponseObject {
  if (typeof delta !== 'string') return state;
  return updatePart(state, event, kind, listKey, rawIndex, blank, (existing) => {
    const part = existing ?? blank();
    return delta === '' ? part : { ...part, [field]: stringOr(part[field]) + delta };
  });
}

function setPartText(
  state: ResponseObject,
  event: Json,
  kind: ItemKind,
  listKey: ListKey,
  rawIndex: unknown,
  blank: () => Json,
  field: string,
  value: unknown,
): ResponseObject {
  if (typeof value !== 'string') return state;
  return updatePart(state, event, kind, listKey, rawIndex, blank, (existing) => setText(existing ?? blank(), field, value));
}

function addAnnotation(state: ResponseObject, event: Json): ResponseObject {
  const annotation = event.annotation;
  if (!isRecord(annotation)) return state;
  return updatePart(state, event, 'message', 'content', event.content_index, blankOutputText, (existing) => {
    const part = existing ?? blankOutputText();
    const list = Array.isArray(part.annotations) ? (part.annotations as unknown[]) : [];
    const at = event.annotation_index;
    // Nothing refers to an annotation by index later, so an out-of-range one is appended.
    const index = isIndex(at) && at <= list.length ? at : list.length;
    if (deepEqual(list[index], annotation)) return part;
    const copy = list.slice();
    copy[index] = annotation;
    return { ...part, annotations: copy };
  });
}

function blankItem(kind: ItemKind, id: string | undefined): OutputItem {
  const ident = id === undefined ? {} : { id };
  switch (kind) {
    case 'message':
      return { type: 'message', ...ident, status: 'in_progress', role: 'assistant', content: [] };
    case 'function_call':
      return { type: 'function_call', ...ident, status: 'in_progress', call_id: '', name: '', arguments: '' };
    case 'reasoning':
      return { type: 'reasoning', ...ident, summary: [] };
  }
}

/**
 * {@link applyEvent} for a fold that owns `state` and every object in it (a read folding a tail
 * it decoded, a worker folding events it parsed): a text or argument delta whose part or item is
 * already there is appended in place, instead of copying the Response, its output list, the item
 * and the part for each delta, which are nearly all of a stream. The result is the same as
 * `applyEvent`'s; anything else goes through `applyEvent`. Never use it on a state that is shared.
 */
export function foldEvent(state: ResponseObject, event: ResponseStreamEvent): ResponseObject {
  const e = event as Json;
  if ((e.type === 'response.output_text.delta' || e.type === 'response.function_call_arguments.delta') && typeof e.delta === 'string') {
    const output = outputOf(state);
    const index = findItem(output, e.output_index, typeof e.item_id === 'string' ? e.item_id : undefined);
    const item = index >= 0 ? (output[index] as Json) : undefined;
    if (item && e.type === 'response.function_call_arguments.delta') {
      if (typeof item.arguments === 'string' && !Object.isFrozen(item)) {
        item.arguments += e.delta;
        return state;
      }
    } else if (item && Array.isArray(item.content)) {
      const part = (item.content as Json[])[isIndex(e.content_index) ? e.content_index : 0];
      if (isRecord(part) && typeof part.text === 'string' && !Object.isFrozen(part)) {
        part.text += e.delta;
        return state;
      }
    }
  }
  return applyEvent(state, event);
}

function withItem(state: ResponseObject, output: OutputItem[], index: number, item: OutputItem): ResponseObject {
  const copy = output.slice();
  copy[index] = item;
  return { ...state, output: copy };
}

/** `next`, reusing each item of `previous` that is deep-equal to its counterpart. */
function shareItems(previous: OutputItem[], next: OutputItem[]): OutputItem[] {
  let same = previous.length === next.length;
  const result = next.map((item, i) => {
    if (deepEqual(previous[i], item)) return previous[i];
    same = false;
    return item;
  });
  return same ? previous : result;
}

function setText<T extends Json>(target: T, field: string, value: unknown): T {
  return typeof value !== 'string' || target[field] === value ? target : { ...target, [field]: value };
}

function outputOf(state: ResponseObject): OutputItem[] {
  return Array.isArray(state.output) ? state.output : [];
}

function stringOr(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
