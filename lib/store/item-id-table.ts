// The output-index → item-id table a reader of the event log keeps, and the item-id notes that
// rebuild it mid-log: what compact entries that leave their item id out are resolved against.

import { isIndex } from '../response-vocabulary';
import type { ResponseStreamEvent } from '../types';

/**
 * The item id of the output item at an output index, as the reader knows it at that point of the
 * log. A compact delta entry whose item id is the one its writer knew for its output index is
 * stored without it (`@`): 36 of its bytes. Readers resolve it with this function.
 */
export type ItemIds = (outputIndex: number) => string | undefined;

/**
 * The output-index → item-id table a reader of the log keeps as it goes, from the log's first
 * entry on, built exactly as the worker builds its own: `output_item.added` / `.done` set their
 * item's id, any other event with an output index and an item id sets that. (A Response's final
 * output cannot seed it: it may list the items in another order than they streamed.)
 */
export class ItemIdTable {
  private readonly ids: string[] = [];
  /** The sequence number of the last entry this table took in (see {@link reach}). */
  private seq = -1;
  /** Notes of entries not reached yet, in log order, applied as the reader reaches them. */
  private ahead: ReadonlyArray<[number, number, string]> = [];
  private nextAhead = 0;
  /** Up to this sequence number the notes hold every id the log's entries set. */
  private notedThrough = -1;

  /**
   * The table a reader that noted every entry up to sequence `throughSeq` holds, rebuilt from the
   * store's item-id notes (`itemIdNotes` in event-codec.ts) instead of from the log itself. With
   * `completeThrough` (the log's last sequence number when the notes were read with it), the
   * notes after `throughSeq` are kept and applied as the reader reaches their entries, so the
   * entries up to there need not be decoded to learn their ids. Not for a log without notes,
   * which a version before them may have written: its entries are decoded as they come.
   */
  static fromNotes(notes: readonly string[], throughSeq: number, completeThrough?: number): ItemIdTable {
    const table = new ItemIdTable();
    table.seq = throughSeq;
    const parsed: Array<[number, number, string]> = [];
    for (const raw of notes) {
      const note = parseNote(raw);
      if (!note) break;
      parsed.push(note);
    }
    let i = 0;
    // Notes are in log order: the first one past the cursor ends the table.
    for (; i < parsed.length && parsed[i][0] <= throughSeq; i++) table.ids[parsed[i][1]] = parsed[i][2];
    if (completeThrough !== undefined && parsed.length > 0 && parsed.length === notes.length) {
      table.ahead = parsed.slice(i);
      table.notedThrough = completeThrough;
    }
    return table;
  }

  /**
   * Moves the reader to the next entry of the log (a table reads the log in order, one entry per
   * call) and applies the notes of it. True when the notes hold every id that entry sets, so it
   * need not be decoded for them.
   */
  reach(): boolean {
    this.seq += 1;
    const ahead = this.ahead;
    while (this.nextAhead < ahead.length && ahead[this.nextAhead][0] <= this.seq) {
      const note = ahead[this.nextAhead++];
      this.ids[note[1]] = note[2];
    }
    return this.seq <= this.notedThrough;
  }

  /** The id known for `outputIndex`. */
  readonly get: ItemIds = (outputIndex) => this.ids[outputIndex];

  /** Takes in the ids an event names. */
  note(event: ResponseStreamEvent): void {
    const named = namedItem(event);
    if (named) this.ids[named[0]] = named[1];
  }

  /** Takes in `itemId` as the id of the item at `outputIndex`. */
  set(outputIndex: number, itemId: string): void {
    this.ids[outputIndex] = itemId;
  }
}

/** The output index and item id an event sets in a reader's table, if any (see {@link ItemIdTable}). */
export function namedItem(event: ResponseStreamEvent): [number, string] | undefined {
  const index = event.output_index;
  if (!isIndex(index)) return undefined;
  const item = event.item as { id?: unknown } | undefined;
  if ((event.type === 'response.output_item.added' || event.type === 'response.output_item.done') && item && typeof item.id === 'string') {
    return [index, item.id];
  }
  return typeof event.item_id === 'string' ? [index, event.item_id] : undefined;
}

/** A stored note as `[seq, outputIndex, itemId]`; undefined for anything malformed. */
function parseNote(raw: string): [number, number, string] | undefined {
  try {
    const note: unknown = JSON.parse(raw);
    if (Array.isArray(note) && isIndex(note[0]) && isIndex(note[1]) && typeof note[2] === 'string') return [note[0], note[1], note[2]];
  } catch {
    // fall through
  }
  return undefined;
}
