// Reading the event log in pages and keeping its item-id notes beside it: the helpers both stores
// share, so a page means the same thing in each.

import type { ReadEventsOptions } from '../types';
import { itemIdNotes } from './event-codec';

/** The page of an in-memory `log` after `afterSeq` as `readEvents` answers it, with copies of the notes when asked. */
export function pageOf(log: string[], notes: string[], afterSeq: number, options: ReadEventsOptions): { events: string[]; itemIds?: string[] } {
  const first = Math.max(0, Math.trunc(afterSeq) + 1);
  const end = options.limit === undefined ? undefined : first + Math.max(1, Math.trunc(options.limit));
  const entries = log.slice(first, end);
  const toEnd = first + entries.length >= log.length;
  const events = toEnd && wholeTail(entries, options) ? entries : pageWithin(entries, options.maxBytes);
  return options.itemIds ? { events, itemIds: [...notes] } : { events };
}

/** Whether entries that reach the end of the log are one page under {@link ReadEventsOptions.tailBytes}. */
function wholeTail(entries: string[], options: ReadEventsOptions): boolean {
  if (options.maxBytes === undefined || options.tailBytes === undefined || options.tailBytes <= options.maxBytes) return false;
  let bytes = 0;
  for (const entry of entries) bytes += entry.length;
  return bytes <= options.tailBytes;
}

/** The leading entries whose lengths add up to at most `maxBytes` (always the first one). */
function pageWithin(entries: string[], maxBytes: number | undefined): string[] {
  if (maxBytes === undefined) return entries;
  let bytes = 0;
  for (let i = 0; i < entries.length; i++) {
    bytes += entries[i].length;
    if (bytes > maxBytes && i > 0) return entries.slice(0, i);
  }
  return entries;
}

/** Script arguments for `events` numbered from `firstSeq`: the count of their item-id notes, the notes, then the events. */
export function withItemIds(events: string[], firstSeq: number): string[] {
  const notes = itemIdNotes(events, firstSeq);
  return [String(notes.length), ...notes, ...events];
}

/**
 * The read-events script's page arguments: cursor, entry limit (0: all), `'1'` for the notes,
 * byte bound (0: none), tail allowance (0: none). A limit or bound below 1 still means one entry,
 * never the whole log.
 */
export function pageArgs(afterSeq: number, options: ReadEventsOptions): string[] {
  const atLeastOne = (n: number | undefined) => (n === undefined ? '0' : String(Math.max(1, Math.trunc(n))));
  return [String(Math.trunc(afterSeq)), atLeastOne(options.limit), options.itemIds ? '1' : '0', atLeastOne(options.maxBytes), atLeastOne(options.tailBytes)];
}
