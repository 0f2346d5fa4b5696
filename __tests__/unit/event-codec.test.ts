import { decodeEvent, encodeEvent, eventJson, itemIdNotes, openingEntries, eventType, ItemIdTable } from '../../lib/store/event-codec';
import type { ResponseStreamEvent } from '../../lib/types';
import { functionCallEvents, textTurnEvents } from '../helpers/event-fixtures';

/** The JSON a client should see for `event`: the event without its `obfuscation` padding. */
function wireJson(event: ResponseStreamEvent): string {
  const { obfuscation: _dropped, ...rest } = event as ResponseStreamEvent & { obfuscation?: string };
  return JSON.stringify(rest);
}

describe('the event log codec', () => {
  const events = [...textTurnEvents('Hello,\tworld\n"quoted" \\ ünïcode 🙂', { chunkSize: 3 }), ...functionCallEvents({ name: 'get_weather', arguments: '{"city":"Paris"}' })];

  it('gives back every event of a text turn and a function call exactly, byte for byte as JSON', () => {
    for (const event of events) {
      const encoded = encodeEvent(event);
      expect(JSON.stringify(decodeEvent(encoded))).toBe(wireJson(event));
      expect(eventJson(encoded)).toEqual({ type: event.type, json: wireJson(event) });
    }
  });

  it('opens a log from a serialised Response with the entries its events give', () => {
    const response = { id: 'resp_1', object: 'response', status: 'queued', output: [], metadata: { a: 'b"c' } };
    const entries = openingEntries(JSON.stringify(response));
    for (const [i, type] of ['response.created', 'response.queued'].entries()) {
      expect(entries[i]).toBe(encodeEvent({ type, sequence_number: i, response } as unknown as ResponseStreamEvent));
      expect(decodeEvent(entries[i])).toEqual({ type, sequence_number: i, response });
    }
  });

  it('stores text deltas in far fewer bytes than their JSON', () => {
    const delta = events.find((e) => e.type === 'response.output_text.delta') as ResponseStreamEvent;
    expect(encodeEvent(delta).length).toBeLessThan(wireJson(delta).length / 2);
  });

  it('keeps numeric-looking string ids as strings and odd fields as plain JSON', () => {
    const numericId = { type: 'response.output_text.delta', sequence_number: 7, item_id: '12', output_index: 0, content_index: 1, delta: 'x' };
    expect(decodeEvent(encodeEvent(numericId))).toEqual(numericId);
    const extra = { type: 'response.output_text.delta', sequence_number: 8, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'x', logprobs: [{ token: 'x', logprob: -0.1 }] };
    expect(encodeEvent(extra)).toBe(JSON.stringify(extra));
    const reordered = { type: 'response.output_text.delta', item_id: 'msg_1', sequence_number: 9, output_index: 0, content_index: 0, delta: 'x' };
    expect(JSON.stringify(decodeEvent(encodeEvent(reordered)))).toBe(JSON.stringify(reordered));
    const tabInId = { type: 'response.output_text.delta', sequence_number: 10, item_id: 'a\tb', output_index: 0, content_index: 0, delta: 'x' };
    expect(decodeEvent(encodeEvent(tabInId))).toEqual(tabInId);
  });

  it('stores a delta compact wherever its obfuscation sits, and one that lacks a field as JSON', () => {
    const at = { item_id: 'msg_1', output_index: 0, content_index: 0 };
    const first = { obfuscation: 'pad', type: 'response.output_text.delta', sequence_number: 3, ...at, delta: 'x' };
    const middle = { type: 'response.output_text.delta', sequence_number: 4, obfuscation: 'pad', ...at, delta: 'y', logprobs: [] };
    for (const event of [first, middle]) {
      const encoded = encodeEvent(event);
      expect(encoded.startsWith('~')).toBe(true);
      expect(JSON.stringify(decodeEvent(encoded))).toBe(wireJson(event));
    }
    const { content_index: _missing, ...lacking } = { ...middle };
    expect(encodeEvent(lacking)).toBe(wireJson(lacking));
  });

  it('packs provider item ids (prefix and hex) a third shorter, and keeps every other id as written', () => {
    const hex = '67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795a';
    const base = { type: 'response.output_text.delta', sequence_number: 4, output_index: 0, content_index: 0, delta: 'x', logprobs: [] };
    const packed = encodeEvent({ ...base, item_id: `msg_${hex}` });
    expect(packed).not.toContain(hex);
    expect(packed.length).toBeLessThanOrEqual(encodeEvent({ ...base, item_id: 'msg_short' }).length + 32);
    for (const id of [`msg_${hex}`, `fc_${hex}`, `msg_${hex.toUpperCase()}`, `msg_${hex}0`, `msg_${hex}_x`, `m_s_${hex}`, 'msg_00', `_${hex}`, `msg_${'0'.repeat(16)}`]) {
      const event = { ...base, item_id: id };
      expect(JSON.stringify(decodeEvent(encodeEvent(event)))).toBe(JSON.stringify(event));
    }
  });

  it('leaves out item ids the reader knows by output index, and a reader that notes the log from its start resolves them', () => {
    const turn = [...textTurnEvents('one two three', { chunkSize: 2 }), ...functionCallEvents({ name: 'f', arguments: '{"a":1}' })];
    const writer = new ItemIdTable();
    const encoded = turn.map((event) => {
      const entry = encodeEvent(event, writer.get);
      writer.note(event);
      return entry;
    });
    const deltas = encoded.filter((entry, i) => turn[i].type.endsWith('.delta'));
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.every((entry) => !entry.includes('msg_') && !entry.includes('fc_'))).toBe(true);

    const fromStart = new ItemIdTable();
    encoded.forEach((entry, i) => expect(eventJson(entry, fromStart).json).toBe(wireJson(turn[i])));

    const midway = encoded.findIndex((entry, i) => turn[i].type === 'response.output_text.delta') + 2;
    const known = new ItemIdTable();
    known.note(turn[midway - 2]);
    expect(JSON.stringify(decodeEvent(encoded[midway], known.get))).toBe(wireJson(turn[midway]));

    expect(() => decodeEvent(encoded[midway])).toThrow(/names its item by output index 0/);
    expect(eventType(encoded[midway])).toBe('response.output_text.delta');
  });

  it('still reads log entries written as plain JSON', () => {
    const delta = { type: 'response.output_text.delta', sequence_number: 3, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'hi', logprobs: [] };
    expect(decodeEvent(JSON.stringify(delta))).toEqual(delta);
    expect(eventJson(JSON.stringify(delta)).json).toBe(JSON.stringify(delta));
  });
});

describe('the event log codec replaying entries for a client', () => {
  /** What a replay sent before entries were read without decoding: the decoded event's type, its JSON. */
  function decodedJson(encoded: string, table: ItemIdTable): { type: string; json: string } {
    const event = decodeEvent(encoded, table.get);
    table.note(event);
    return { type: event.type, json: encoded.startsWith('~') ? JSON.stringify(event) : encoded };
  }

  /** Entries as the worker writes them: ids left out where its table knows them. */
  function written(turn: ResponseStreamEvent[]): string[] {
    const writer = new ItemIdTable();
    return turn.map((event) => {
      const entry = encodeEvent(event, writer.get);
      writer.note(event);
      return entry;
    });
  }

  const oddText = 'tab\there\nnew line\r\n"quotes" \\ back\\slash \u0000 \u2028 ünï 🙂 \ud83d lone';
  const turn = [
    ...textTurnEvents(oddText, { chunkSize: 2 }),
    ...functionCallEvents({ name: 'get_weather', arguments: '{"city":"Par\tis\n"}' }),
    // Key orders other upstreams use, and event names no upstream should send.
    { sequence_number: 90, type: 'response.output_text.annotation.added', item_id: 'msg_x', output_index: 1, content_index: 0, annotation: { type: 'url' } },
    { type: 'odd "quoted" \\ name', sequence_number: 91, output_index: 1, item_id: 'msg_y' },
    { type: 'line\nbreak\r\nname', sequence_number: 92, text: 'a\tb' },
    { type: '', sequence_number: 93 },
    { type: 'ünï 🙂', sequence_number: 94 },
    { type: 'response.output_text.delta', sequence_number: 95, item_id: 'msg_y', output_index: 1, content_index: 0, delta: '\t\n' },
  ] as ResponseStreamEvent[];

  it('sends every entry exactly as decoding it did: the same type, the same JSON, the same ids noted', () => {
    const entries = written(turn);
    expect(entries.filter((entry) => entry.startsWith('~')).length).toBeGreaterThan(10);
    const ours = new ItemIdTable();
    const before = new ItemIdTable();
    for (const [i, entry] of entries.entries()) {
      const got = eventJson(entry, ours);
      expect(got).toEqual(decodedJson(entry, before));
      expect(got).toEqual({ type: turn[i].type, json: wireJson(turn[i]) });
      for (let index = 0; index < 3; index++) expect(ours.get(index)).toBe(before.get(index));
    }
    // The last delta names its item by the id an odd JSON entry set.
    expect(entries[entries.length - 1]).not.toContain('msg_y');
  });

  it('replays a log written by the previous version, entry for entry', () => {
    // Entries as 0.x wrote them (JSON entries of any key order, compact deltas with an elided id).
    const log = [
      '{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","status":"queued","output":[]}}',
      '{"sequence_number":1,"type":"response.output_item.added","output_index":0,"item":{"id":"msg_67ccd2bf17f0819081ff3bb2cf6508e6","type":"message","content":[]}}',
      '~dTS012DL\t2\t@\t0\t0\tHel\tlo',
      '~dST012D\t3\t"msg_Z8zSvxfwgZCB/zuyz2UI5g==\t0\t0\t\\n"',
      '{"type":"response.output_text.done","sequence_number":4,"item_id":"msg_67ccd2bf17f0819081ff3bb2cf6508e6","output_index":0,"content_index":0,"text":"Hel\\tlo\\\\n\\""}',
    ];
    const table = new ItemIdTable();
    expect(log.map((entry) => eventJson(entry, table))).toEqual([
      { type: 'response.created', json: log[0] },
      { type: 'response.output_item.added', json: log[1] },
      { type: 'response.output_text.delta', json: '{"type":"response.output_text.delta","sequence_number":2,"item_id":"msg_67ccd2bf17f0819081ff3bb2cf6508e6","output_index":0,"content_index":0,"delta":"Hel\\tlo","logprobs":[]}' },
      { type: 'response.output_text.delta', json: '{"sequence_number":3,"type":"response.output_text.delta","item_id":"msg_67ccd2bf17f0819081ff3bb2cf6508e6","output_index":0,"content_index":0,"delta":"\\\\n\\""}' },
      { type: 'response.output_text.done', json: log[4] },
    ]);
  });
});

describe('a reader table rebuilt from item-id notes', () => {
  const turn = [...textTurnEvents('one two three four five', { chunkSize: 2 }), ...functionCallEvents({ name: 'f', arguments: '{"a":1}' }), ...textTurnEvents('six seven', { chunkSize: 2 })]
    .map((event, i) => ({ ...event, sequence_number: i }) as ResponseStreamEvent);
  const writer = new ItemIdTable();
  const log = turn.map((event) => {
    const entry = encodeEvent(event, writer.get);
    writer.note(event);
    return entry;
  });
  // As the stores keep them: the notes of each flush (batches of 3 entries here).
  const notes: string[] = [];
  for (let at = 0; at < log.length; at += 3) notes.push(...itemIdNotes(log.slice(at, at + 3), at));

  it('replays from any cursor what a reader of the whole log sends, taking ids from the notes ahead', () => {
    expect(log.some((entry) => entry.includes('\t@\t'))).toBe(true);
    for (let cursor = -1; cursor < log.length; cursor++) {
      const table = ItemIdTable.fromNotes(notes, cursor, log.length - 1);
      for (let seq = cursor + 1; seq < log.length; seq++) expect(eventJson(log[seq], table)).toEqual({ type: turn[seq].type, json: wireJson(turn[seq]) });
    }
  });

  it('decodes entries past the notes it was given, and every entry of a log kept without notes', () => {
    const cursor = 4;
    const partial = ItemIdTable.fromNotes(notes.filter((raw) => (JSON.parse(raw) as number[])[0] <= 10), cursor, 10);
    const withoutNotes = ItemIdTable.fromNotes([], -1, log.length - 1);
    for (let seq = cursor + 1; seq < log.length; seq++) expect(eventJson(log[seq], partial).json).toBe(wireJson(turn[seq]));
    for (let seq = 0; seq < log.length; seq++) expect(eventJson(log[seq], withoutNotes).json).toBe(wireJson(turn[seq]));
  });
});
