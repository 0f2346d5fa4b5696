// A response's input as OpenAI lists it: the request's `input` turned into items with ids, and
// the cursor page `GET /responses/{id}/input_items` answers.

import { randomHex } from '../random-hex';
import { invalidRequest } from '../errors';
import { isRecord } from '../json';
import type { InputItem } from '../types';

/** Id prefixes OpenAI uses for the item types a client sends; any other type gets `item_`. */
const ID_PREFIXES: Record<string, string> = { message: 'msg', function_call: 'fc', function_call_output: 'fco', reasoning: 'rs' };

function newItemId(type: string): string {
  return `${ID_PREFIXES[type] ?? 'item'}_${randomHex(16)}`;
}

/** A message's `content` as a list of parts: a string becomes one text part of the role's kind. */
function contentParts(role: unknown, content: unknown): unknown {
  if (typeof content !== 'string') return content;
  return role === 'assistant' ? [{ type: 'output_text', text: content, annotations: [] }] : [{ type: 'input_text', text: content }];
}

/**
 * The items of a create request's `input`, in OpenAI's item shape, each with an id (kept when the
 * client gave one): a string is one user message; `{role, content}` messages get `type: "message"`
 * and content parts. Pure but for the random ids.
 */
export function toInputItems(input: unknown): InputItem[] {
  if (input === undefined || input === null) return [];
  if (typeof input === 'string') return [{ type: 'message', id: newItemId('message'), role: 'user', content: contentParts('user', input) }];
  if (!Array.isArray(input)) return [];
  return input.filter(isRecord).map((raw) => {
    const type = typeof raw.type === 'string' ? raw.type : 'message';
    const item: InputItem = { ...raw, type, id: typeof raw.id === 'string' && raw.id !== '' ? raw.id : newItemId(type) };
    if (type === 'message') item.content = contentParts(raw.role, raw.content);
    return item;
  });
}

/** The query of a list call: `after`, `limit` (1 to 100, default 20), `order` (default `desc`). */
export interface ItemListQuery {
  after: string | undefined;
  limit: number;
  order: 'asc' | 'desc';
}

/** Reads and checks the query of `GET …/input_items`; a 400 naming the parameter when one is off. */
export function parseItemListQuery(query: Record<string, unknown>): ItemListQuery {
  const { after, limit, order } = query;
  if (after !== undefined && (typeof after !== 'string' || after === '')) throw invalidRequest("Invalid 'after': expected an item id.", 'after', 'invalid_value');
  let n = 20;
  if (limit !== undefined) {
    if (typeof limit !== 'string' || !/^\d{1,3}$/.test(limit) || Number(limit) < 1 || Number(limit) > 100) {
      throw invalidRequest("Invalid 'limit': expected an integer from 1 to 100.", 'limit', 'invalid_value');
    }
    n = Number(limit);
  }
  if (order !== undefined && order !== 'asc' && order !== 'desc') throw invalidRequest("Invalid 'order': expected 'asc' or 'desc'.", 'order', 'invalid_value');
  for (const name of ['include', 'include[]']) {
    const value = query[name];
    const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
    if (!values.every((v) => typeof v === 'string')) throw invalidRequest("Invalid 'include': expected a list of strings.", 'include', 'invalid_value');
  }
  return { after: after as string | undefined, limit: n, order: (order as 'asc' | 'desc' | undefined) ?? 'desc' };
}

/** One page of `items` (in input order) as `GET …/input_items` answers it. */
export function itemPage(items: readonly InputItem[], query: ItemListQuery): { object: 'list'; data: InputItem[]; first_id: string | null; last_id: string | null; has_more: boolean } {
  const ordered = query.order === 'asc' ? items : [...items].reverse();
  let start = 0;
  if (query.after !== undefined) {
    const at = ordered.findIndex((item) => item.id === query.after);
    if (at < 0) throw invalidRequest(`No input item with id '${query.after}' in this response.`, 'after', 'invalid_value');
    start = at + 1;
  }
  const data = ordered.slice(start, start + query.limit);
  return {
    object: 'list',
    data,
    first_id: data.length ? data[0].id : null,
    last_id: data.length ? data[data.length - 1].id : null,
    has_more: start + query.limit < ordered.length,
  };
}
