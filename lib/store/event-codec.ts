// How events are written to and read from the event log. One module, so the encoding can change
// without touching the stores or the worker.

import { isIndex } from '../response-vocabulary';
import type { ResponseStreamEvent } from '../types';
import { ItemIdTable, namedItem, type ItemIds } from './item-id-table';

export { ItemIdTable, type ItemIds } from './item-id-table';

/**
 * Delta events, which are nearly all of a long stream, are stored in a compact form: their field
 * names and the constant parts cost about 100 bytes an event in JSON for a delta of a few bytes.
 * Each entry lists the fields besides `type`, `sequence_number`, `delta` and an empty `logprobs`.
 */
const COMPACT_TYPES: ReadonlyArray<{ code: string; type: string; fields: readonly string[] }> = [
  { code: 'd', type: 'response.output_text.delta', fields: ['item_id', 'output_index', 'content_index'] },
  { code: 'a', type: 'response.function_call_arguments.delta', fields: ['item_id', 'output_index'] },
  { code: 'r', type: 'response.refusal.delta', fields: ['item_id', 'output_index', 'content_index'] },
  { code: 's', type: 'response.reasoning_summary_text.delta', fields: ['item_id', 'output_index', 'summary_index'] },
  { code: 't', type: 'response.reasoning_text.delta', fields: ['item_id', 'output_index', 'content_index'] },
];
/** A compact type with what its readers look up per entry: where its ids sit, its keys as JSON. */
interface CompactSpec {
  code: string;
  type: string;
  fields: readonly string[];
  idAt: number;
  indexAt: number;
  typeJson: string;
  keysJson: readonly string[];
}
const SPECS: readonly CompactSpec[] = COMPACT_TYPES.map((c) => ({
  ...c,
  idAt: c.fields.indexOf('item_id'),
  indexAt: c.fields.indexOf('output_index'),
  typeJson: `"type":${JSON.stringify(c.type)}`,
  keysJson: c.fields.map((name) => `${JSON.stringify(name)}:`),
}));
const BY_TYPE = new Map(SPECS.map((c) => [c.type, c]));
const BY_CODE = new Map(SPECS.map((c) => [c.code, c]));
/** An item id stored by reference to the output index (see {@link ItemIds}). */
const ELIDED = '@';
/** Marks a compact entry; JSON entries start with `{`. */
const COMPACT_MARK = '~';
const SEP = '\t';
/** How a JSON entry whose type is its first key opens (see {@link leadingType}). */
const TYPE_OPENING = '{"type":"';
/**
 * A compact entry records the event's key order (upstreams differ: `sequence_number` first, or
 * added last), one letter a key: T type, S sequence_number, 0-2 the fields, D delta, L logprobs.
 */
const TYPE = 'T';
const SEQ = 'S';
const DELTA = 'D';
const LOGPROBS = 'L';
const [TYPE_CODE, SEQ_CODE, DELTA_CODE, LOGPROBS_CODE] = [TYPE, SEQ, DELTA, LOGPROBS].map((letter) => letter.charCodeAt(0));
/**
 * Encodes an event for the log. `obfuscation` is random padding against side channels on the
 * wire; it carries no data and the API allows dropping it, so it is not stored. Delta events
 * whose fields are exactly the usual ones get the compact form; {@link decodeEvent} gives back
 * an object that serialises to the same JSON as the event without `obfuscation`.
 */
export function encodeEvent(event: ResponseStreamEvent, known?: ItemIds): string {
  const entry = compact(event, typeof known === 'function' ? known : undefined);
  if (entry !== undefined) return entry;
  if ('obfuscation' in event) {
    const { obfuscation: _dropped, ...rest } = event;
    return JSON.stringify(rest);
  }
  return JSON.stringify(event);
}

/**
 * The entries a background response's log opens with, as a background stream does: created
 * (queued), then queued, of the queued Response serialised as `responseJson`. They are the
 * entries {@link encodeEvent} writes for `{ type, sequence_number, response }`, built around the
 * JSON the create serialised already rather than serialising the Response twice more.
 */
export function openingEntries(responseJson: string): string[] {
  return [responseEventEntry('response.created', 0, responseJson), responseEventEntry('response.queued', 1, responseJson)];
}

function responseEventEntry(type: string, sequenceNumber: number, responseJson: string): string {
  return `{"type":${JSON.stringify(type)},"sequence_number":${sequenceNumber},"response":${responseJson}}`;
}

/**
 * The item-id notes of log entries `events` (numbered from `firstSeq`): one JSON
 * `[seq, outputIndex, itemId]` for each entry that sets an id in a reader's table, except where
 * it repeats the id an earlier entry of the same batch set. A store keeps them beside the log, so
 * a reader that starts mid-log rebuilds its table from these few notes (one or a few per output
 * item) instead of reading the log from its start. An entry whose id was left out sets nothing
 * new (its id is the one already known), so only JSON entries that carry an output index and
 * compact entries that kept their id are decoded here.
 */
export function itemIdNotes(events: readonly string[], firstSeq: number): string[] {
  const notes: string[] = [];
  const lastInBatch = new Map<number, string>();
  for (let i = 0; i < events.length; i++) {
    const encoded = events[i];
    let named: [number, string] | undefined;
    if (encoded.charCodeAt(0) === 126 /* ~ */) {
      if (compactIdElided(encoded)) continue;
      const event = expand(encoded, undefined);
      named = event ? namedItem(event) : undefined;
    } else if (encoded.includes('"output_index"')) {
      named = namedItem(JSON.parse(encoded) as ResponseStreamEvent);
    }
    if (!named || lastInBatch.get(named[0]) === named[1]) continue;
    lastInBatch.set(named[0], named[1]);
    notes.push(JSON.stringify([firstSeq + i, named[0], named[1]]));
  }
  return notes;
}

/** Whether a compact entry left its item id out (see {@link ItemIds}), read without decoding it. */
function compactIdElided(encoded: string): boolean {
  const idAt = BY_CODE.get(encoded[1])?.idAt ?? -1;
  if (idAt < 0) return false;
  // Pieces after the code: layout, sequence number, then the fields in spec order.
  let at = 2;
  for (let skip = 0; skip < 2 + idAt; skip++) {
    const end = encoded.indexOf(SEP, at);
    if (end === -1) return false;
    at = end + 1;
  }
  return encoded.startsWith(`${ELIDED}${SEP}`, at);
}

/** Decodes one log entry; `items` resolves item ids stored by output index. */
export function decodeEvent(encoded: string, items?: ItemIds): ResponseStreamEvent {
  if (encoded.charCodeAt(0) === 126 /* ~ */) {
    const event = expand(encoded, items);
    if (event) return event;
  }
  return JSON.parse(encoded) as ResponseStreamEvent;
}

/** The type of a log entry, without resolving anything else. */
export function eventType(encoded: string): string {
  if (encoded.charCodeAt(0) === 126 /* ~ */) {
    const spec = BY_CODE.get(encoded[1]);
    if (spec) return spec.type;
  }
  return (JSON.parse(encoded) as ResponseStreamEvent).type;
}

/**
 * Reads the next entry of the log for a client: the JSON it receives (the entry itself unless it
 * is compact) and the event type, which an SSE frame names. Notes the entry's ids in `table`.
 * A compact entry's JSON is written straight from its pieces, and a JSON entry is sent as it is,
 * named by the type it opens with (see {@link leadingType}); it is parsed only when it may name
 * an item (it has an output index) that the table's notes do not cover (see
 * {@link ItemIdTable.fromNotes}): few entries of a log, and none of one read with its notes.
 */
export function eventJson(encoded: string, table: ItemIdTable = new ItemIdTable()): { type: string; json: string } {
  const noted = table.reach();
  if (encoded.charCodeAt(0) === 126 /* ~ */) {
    const spec = BY_CODE.get(encoded[1]);
    const read = spec && readCompact(encoded, spec, table.get);
    if (read) return { type: spec.type, json: compactJson(spec, read, encoded, table) };
  }
  const type = leadingType(encoded);
  if (type === undefined || (!noted && encoded.includes('"output_index"'))) {
    const event = JSON.parse(encoded) as ResponseStreamEvent;
    table.note(event);
    return { type: event.type, json: encoded };
  }
  return { type, json: encoded };
}

/**
 * The type of a JSON entry that opens with it (`{"type":"…"`, as the encoder's JSON.stringify
 * writes every event whose type came first: OpenAI's do, ours do), read without parsing the
 * entry; undefined when the entry opens otherwise or the type holds an escape, which leaves the
 * reader to parse it. Without an escape the first quote after the opening one closes the type.
 */
function leadingType(encoded: string): string | undefined {
  if (!encoded.startsWith(TYPE_OPENING)) return undefined;
  const end = encoded.indexOf('"', TYPE_OPENING.length);
  if (end === -1) return undefined;
  const type = encoded.slice(TYPE_OPENING.length, end);
  return type.includes('\\') ? undefined : type;
}

/** The compact entry of a delta event with the usual fields (`obfuscation` left out), or undefined. */
function compact(event: ResponseStreamEvent, known: ItemIds | undefined): string | undefined {
  const spec = BY_TYPE.get(event.type);
  if (!spec) return undefined;
  const e = event as Record<string, unknown>;
  const { sequence_number: seq, delta } = e;
  if (!isIndex(seq) || typeof delta !== 'string') return undefined;
  const { fields } = spec;
  let layout = '';
  for (const key of Object.keys(e)) {
    if (key === 'type') layout += TYPE;
    else if (key === 'sequence_number') layout += SEQ;
    else if (key === 'delta') layout += DELTA;
    else if (key === 'obfuscation') continue;
    // Only an empty `logprobs` is implied; real ones keep the JSON form.
    else if (key === 'logprobs' && Array.isArray(e.logprobs) && e.logprobs.length === 0) layout += LOGPROBS;
    else {
      const i = fields.indexOf(key);
      if (i === -1) return undefined;
      layout += String(i);
    }
  }
  // Keys are distinct and map to distinct letters, and any other key was refused above, so the
  // layout names each key once; a field that is missing is refused below (its value is undefined).
  let entry = `${COMPACT_MARK}${spec.code}${layout}${SEP}${seq}`;
  for (const name of fields) {
    const value = e[name];
    // Strings are tagged so that a numeric-looking id stays a string.
    if (name === 'item_id' && known && isIndex(e.output_index) && known(e.output_index) === value) entry += `${SEP}${ELIDED}`;
    else if (isIndex(value)) entry += `${SEP}${value}`;
    else if (typeof value === 'string' && !value.includes(SEP)) entry += `${SEP}${packId(value)}`;
    else return undefined;
  }
  return `${entry}${SEP}${delta}`;
}

/** The pieces of a compact entry: its layout, sequence number, field values (ids resolved) and where its delta starts. */
interface CompactPieces {
  layout: string;
  seq: string;
  values: unknown[];
  deltaAt: number;
}

function readCompact(encoded: string, spec: CompactSpec, items: ItemIds | undefined): CompactPieces | undefined {
  let at = 2;
  const next = (): string | undefined => {
    const end = encoded.indexOf(SEP, at);
    if (end === -1) return undefined;
    const piece = encoded.slice(at, end);
    at = end + 1;
    return piece;
  };
  const layout = next();
  const seq = next();
  if (layout === undefined || seq === undefined) return undefined;
  const values: unknown[] = [];
  for (let i = 0; i < spec.fields.length; i++) {
    const piece = next();
    if (piece === undefined) return undefined;
    const tag = piece.charCodeAt(0);
    values.push(tag === 39 /* ' */ ? piece.slice(1) : tag === 34 /* " */ ? unpackId(piece) : piece === ELIDED ? ELIDED : Number(piece));
  }
  if (spec.idAt >= 0 && values[spec.idAt] === ELIDED) {
    const outputIndex = values[spec.indexAt] as number;
    const id = items?.(outputIndex);
    if (id === undefined) throw new Error(`log entry ${seq} names its item by output index ${outputIndex}, which this reader does not know`);
    values[spec.idAt] = id;
  }
  // The delta is the rest, whatever characters it holds.
  return { layout, seq, values, deltaAt: at };
}

function expand(encoded: string, items: ItemIds | undefined): ResponseStreamEvent | undefined {
  const spec = BY_CODE.get(encoded[1]);
  const read = spec && readCompact(encoded, spec, items);
  if (!read) return undefined;
  const event: Record<string, unknown> = {};
  for (const letter of read.layout) {
    if (letter === TYPE) event.type = spec.type;
    else if (letter === SEQ) event.sequence_number = Number(read.seq);
    else if (letter === DELTA) event.delta = encoded.slice(read.deltaAt);
    else if (letter === LOGPROBS) event.logprobs = [];
    else event[spec.fields[Number(letter)]] = read.values[Number(letter)];
  }
  return event as ResponseStreamEvent;
}

/**
 * The JSON of a compact entry, the same string `JSON.stringify(expand(…))` gives, written from
 * its pieces without the object; notes its item id in `table` as {@link ItemIdTable.note} would.
 */
function compactJson(spec: CompactSpec, read: CompactPieces, encoded: string, table: ItemIdTable): string {
  const layout = read.layout;
  let json = '{';
  let itemId: unknown;
  let outputIndex: unknown;
  for (let at = 0; at < layout.length; at++) {
    if (at > 0) json += ',';
    const letter = layout.charCodeAt(at);
    if (letter === TYPE_CODE) json += spec.typeJson;
    else if (letter === SEQ_CODE) json += `"sequence_number":${numberJson(read.seq)}`;
    else if (letter === DELTA_CODE) json += `"delta":${JSON.stringify(encoded.slice(read.deltaAt))}`;
    else if (letter === LOGPROBS_CODE) json += '"logprobs":[]';
    else {
      const i = letter - 48; /* 0 */
      const value = read.values[i];
      if (i === spec.idAt) itemId = value;
      else if (i === spec.indexAt) outputIndex = value;
      json += spec.keysJson[i] + (typeof value === 'number' ? numberJson(value) : JSON.stringify(value));
    }
  }
  if (isIndex(outputIndex) && typeof itemId === 'string') table.set(outputIndex, itemId);
  return `${json}}`;
}

/** A number's JSON, as `JSON.stringify` writes it (`null` for what is not finite). */
function numberJson(value: number | string): string {
  const n = Number(value);
  return Number.isFinite(n) ? String(n) : 'null';
}

/**
 * Item ids as providers write them (`msg_` and 48 lower-case hex digits) are most of a compact
 * entry: the hex part is stored as base64, a third shorter (`"msg_<base64>`). Any other string is
 * stored as it is (`'<string>`).
 */
const PACKABLE_ID = /^[A-Za-z]+_(?:[0-9a-f]{2}){8,}$/;

function packId(value: string): string {
  if (!PACKABLE_ID.test(value)) return `'${value}`;
  const cut = value.indexOf('_') + 1;
  return `"${value.slice(0, cut)}${Buffer.from(value.slice(cut), 'hex').toString('base64')}`;
}

function unpackId(piece: string): string {
  const cut = piece.indexOf('_') + 1;
  return `${piece.slice(1, cut)}${Buffer.from(piece.slice(cut), 'base64').toString('hex')}`;
}

