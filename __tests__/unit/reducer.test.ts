import type { ResponseObject, ResponseStreamEvent } from '../../lib/types';
import { applyEvent, foldEvent, foldEvents } from '../../lib/worker/reducer';
import {
  DEFAULT_USAGE,
  failedTurnEvents,
  functionCallBodies,
  functionCallEvents,
  messageItem,
  openingBodies,
  proxyResponse,
  textItemBodies,
  textTurnEvents,
  upstreamResponse,
  withSequenceNumbers,
  type EventBody,
} from '../helpers/event-fixtures';

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

/** Folds events without their terminal lifecycle event, so only accumulation is tested. */
function foldAccumulated(events: ResponseStreamEvent[]): ResponseObject {
  return foldEvents(proxyResponse(), events.filter((e) => !/^response\.(completed|failed|incomplete)$/.test(e.type)));
}

const text = "I'm an artificial intelligence model known as GPT-4. How can I help you today?";

describe('applyEvent: a plain text turn', () => {
  it('folds a recorded-style text turn into the exact final output, usage and completion time', () => {
    const result = foldEvents(proxyResponse(), textTurnEvents(text, { completedAt: 1749761607 }));
    expect(result.status).toBe('completed');
    expect(result.output).toEqual([messageItem('msg_fixture_0', text)]);
    expect(result.usage).toEqual(DEFAULT_USAGE);
    expect(result.completed_at).toBe(1749761607);
    expect(result.error).toBeNull();
  });

  it('accumulates the same output from the deltas alone as response.completed reports', () => {
    const events = textTurnEvents(text, { chunkSize: 3 });
    const accumulated = foldAccumulated(events);
    expect(accumulated.output).toEqual([messageItem('msg_fixture_0', text)]);
    expect(accumulated.status).toBe('in_progress');
  });

  it('shows the partial text after each delta', () => {
    const events = textTurnEvents('Hello there', { deltas: ['Hel', 'lo', ' there'] });
    const firstDelta = events.findIndex((e) => e.type === 'response.output_text.delta');
    const state = foldEvents(proxyResponse(), events.slice(0, firstDelta + 2));
    expect(state.output[0]).toMatchObject({ status: 'in_progress', content: [{ type: 'output_text', text: 'Hello' }] });
  });

  it('keeps the accumulated output when response.completed carries an empty output', () => {
    const events = textTurnEvents(text);
    const last = events[events.length - 1];
    events[events.length - 1] = { ...last, response: { ...(last.response as object), output: [] } };
    expect(foldEvents(proxyResponse(), events).output).toEqual([messageItem('msg_fixture_0', text)]);
  });

  it('does not copy obfuscation or delta logprobs onto items or parts', () => {
    const state = foldAccumulated(textTurnEvents(text).slice(0, 8));
    const item = state.output[0];
    expect(item).not.toHaveProperty('obfuscation');
    expect(item).not.toHaveProperty('logprobs');
    expect(item.content).toEqual([{ type: 'output_text', annotations: [], logprobs: [], text: text.slice(0, 16) }]);
  });

  it('takes logprobs from response.output_text.done onto the output_text part', () => {
    const logprobs = [{ token: 'Hi', logprob: -0.1, top_logprobs: [] }];
    const events = withSequenceNumbers([
      ...openingBodies(),
      { type: 'response.output_text.delta', item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Hi', logprobs },
      { type: 'response.output_text.done', item_id: 'msg_1', output_index: 0, content_index: 0, text: 'Hi', logprobs },
    ]);
    expect(foldEvents(proxyResponse(), events).output[0].content).toEqual([{ type: 'output_text', text: 'Hi', annotations: [], logprobs }]);
  });
});

describe('applyEvent: function calls', () => {
  const call = { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' };

  it('accumulates argument deltas into the function_call item', () => {
    const accumulated = foldAccumulated(functionCallEvents(call)).output;
    expect(accumulated).toEqual([
      { id: 'fc_fixture_0', type: 'function_call', status: 'completed', arguments: call.arguments, call_id: 'call_fixture_0', name: 'get_weather' },
    ]);
  });

  it('shows partial arguments before function_call_arguments.done', () => {
    const events = functionCallEvents(call, { chunkSize: 4 });
    const state = foldEvents(proxyResponse(), events.slice(0, events.findIndex((e) => e.type === 'response.function_call_arguments.delta') + 2));
    expect(state.output[0]).toMatchObject({ type: 'function_call', status: 'in_progress', arguments: '{"city":', name: 'get_weather' });
  });

  it('folds two consecutive function calls into two items at their output indices', () => {
    const second = { name: 'get_time', arguments: '{"timezone":"Europe/Paris"}', callId: 'call_B', itemId: 'fc_B' };
    const result = foldEvents(proxyResponse(), functionCallEvents([call, second]));
    expect(result.status).toBe('completed');
    expect(result.output.map((item) => [item.id, item.name, item.arguments, item.call_id])).toEqual([
      ['fc_fixture_0', 'get_weather', call.arguments, 'call_fixture_0'],
      ['fc_B', 'get_time', second.arguments, 'call_B'],
    ]);
    expect(foldAccumulated(functionCallEvents([call, second])).output).toEqual(result.output);
  });

  it('sets the name from function_call_arguments.done and keeps it when done has none', () => {
    const base = withSequenceNumbers([
      { type: 'response.output_item.added', output_index: 0, item: { id: 'fc_1', type: 'function_call', status: 'in_progress', arguments: '', call_id: 'call_1', name: 'search' } },
      { type: 'response.function_call_arguments.done', item_id: 'fc_1', output_index: 0, arguments: '{"q":"x"}' },
    ]);
    expect(foldEvents(proxyResponse(), base).output[0]).toMatchObject({ name: 'search', arguments: '{"q":"x"}' });
    const renamed = applyEvent(foldEvents(proxyResponse(), base), {
      type: 'response.function_call_arguments.done', sequence_number: 2, item_id: 'fc_1', output_index: 0, arguments: '{"q":"x"}', name: 'lookup',
    });
    expect(renamed.output[0]).toMatchObject({ name: 'lookup', arguments: '{"q":"x"}' });
  });
});

describe('applyEvent: reasoning, refusal and annotations', () => {
  it('folds a reasoning item with a summary and reasoning_text, then the answer', () => {
    const at = { item_id: 'rs_1', output_index: 0 };
    const events = withSequenceNumbers([
      ...openingBodies(),
      { type: 'response.output_item.added', output_index: 0, item: { id: 'rs_1', type: 'reasoning', summary: [] } },
      { type: 'response.reasoning_summary_part.added', ...at, summary_index: 0, part: { type: 'summary_text', text: '' } },
      { type: 'response.reasoning_summary_text.delta', ...at, summary_index: 0, delta: '**Responding to a greeting**' },
      { type: 'response.reasoning_summary_text.delta', ...at, summary_index: 0, delta: ' The user said hi.' },
      { type: 'response.reasoning_summary_text.done', ...at, summary_index: 0, text: '**Responding to a greeting** The user said hi.' },
      { type: 'response.reasoning_summary_part.done', ...at, summary_index: 0, part: { type: 'summary_text', text: '**Responding to a greeting** The user said hi.' } },
      { type: 'response.content_part.added', ...at, content_index: 0, part: { type: 'reasoning_text', text: '' } },
      { type: 'response.reasoning_text.delta', ...at, content_index: 0, delta: 'The user ' },
      { type: 'response.reasoning_text.delta', ...at, content_index: 0, delta: 'is greeting me.' },
      { type: 'response.reasoning_text.done', ...at, content_index: 0, text: 'The user is greeting me.' },
    ]);
    const state = foldEvents(proxyResponse(), events);
    expect(state.output).toEqual([
      {
        id: 'rs_1',
        type: 'reasoning',
        summary: [{ type: 'summary_text', text: '**Responding to a greeting** The user said hi.' }],
        content: [{ type: 'reasoning_text', text: 'The user is greeting me.' }],
      },
    ]);
  });

  it('folds a refusal into a refusal content part', () => {
    const at = { item_id: 'msg_123', output_index: 0, content_index: 0 };
    const events = withSequenceNumbers([
      ...openingBodies(),
      { type: 'response.output_item.added', output_index: 0, item: { id: 'msg_123', type: 'message', status: 'in_progress', content: [], role: 'assistant' } },
      { type: 'response.content_part.added', ...at, part: { type: 'refusal', refusal: '' } },
      { type: 'response.refusal.delta', ...at, delta: "I can't" },
      { type: 'response.refusal.delta', ...at, delta: ' help with that.' },
    ]);
    const partial = foldEvents(proxyResponse(), events);
    expect(partial.output[0].content).toEqual([{ type: 'refusal', refusal: "I can't help with that." }]);
    const done = applyEvent(partial, { type: 'response.refusal.done', sequence_number: 99, ...at, refusal: "I can't help with that!" });
    expect(done.output[0].content).toEqual([{ type: 'refusal', refusal: "I can't help with that!" }]);
  });

  it('puts an added annotation at its annotation_index on the output_text part', () => {
    const annotation = { type: 'file_citation', file_id: 'file-abc', index: 0, filename: 'example.txt' };
    const events = textTurnEvents('See the file.');
    const doneIndex = events.findIndex((e) => e.type === 'response.output_text.done');
    const before = foldEvents(proxyResponse(), events.slice(0, doneIndex));
    const state = applyEvent(before, {
      type: 'response.output_text.annotation.added', sequence_number: 50, item_id: 'msg_fixture_0', output_index: 0, content_index: 0, annotation_index: 0, annotation,
    });
    expect(state.output[0].content).toEqual([{ type: 'output_text', text: 'See the file.', annotations: [annotation], logprobs: [] }]);
  });
});

describe('applyEvent: streams with missing announcements', () => {
  it('keeps text deltas that arrive without response.content_part.added', () => {
    const events = textTurnEvents(text).filter((e) => e.type !== 'response.content_part.added');
    const accumulated = foldAccumulated(events);
    expect(accumulated.output).toEqual([messageItem('msg_fixture_0', text)]);
    const beforeDone = foldEvents(proxyResponse(), events.filter((e) => !/\.done$|completed$/.test(e.type)));
    expect(beforeDone.output[0].content).toEqual([{ type: 'output_text', text, annotations: [], logprobs: [] }]);
  });

  it('creates the message item when text deltas arrive without response.output_item.added', () => {
    const events = textTurnEvents(text).filter((e) => !/output_item\.added|content_part\.added|\.done$|completed$/.test(e.type));
    expect(foldEvents(proxyResponse(), events).output).toEqual([
      { type: 'message', id: 'msg_fixture_0', status: 'in_progress', role: 'assistant', content: [{ type: 'output_text', text, annotations: [], logprobs: [] }] },
    ]);
  });

  it('creates a function_call item when argument deltas arrive without response.output_item.added', () => {
    const events = functionCallEvents({ name: 'f', arguments: '{"a":1}' }).filter((e) => e.type === 'response.function_call_arguments.delta');
    expect(foldEvents(proxyResponse(), events).output).toEqual([
      { type: 'function_call', id: 'fc_fixture_0', status: 'in_progress', call_id: '', name: '', arguments: '{"a":1}' },
    ]);
  });

  it('creates a reasoning item when reasoning deltas arrive without any announcement', () => {
    const events = withSequenceNumbers([
      { type: 'response.reasoning_summary_text.delta', item_id: 'rs_9', output_index: 0, summary_index: 0, delta: 'Thinking' },
      { type: 'response.reasoning_text.delta', item_id: 'rs_9', output_index: 0, content_index: 0, delta: 'Step 1' },
    ]);
    expect(foldEvents(proxyResponse(), events).output).toEqual([
      { type: 'reasoning', id: 'rs_9', summary: [{ type: 'summary_text', text: 'Thinking' }], content: [{ type: 'reasoning_text', text: 'Step 1' }] },
    ]);
  });

  it('fills in the metadata of an item created from deltas when a late output_item.added arrives, keeping its arguments', () => {
    const events = withSequenceNumbers([
      { type: 'response.function_call_arguments.delta', item_id: 'fc_1', output_index: 0, delta: '{"a":' },
      { type: 'response.output_item.added', output_index: 0, item: { id: 'fc_1', type: 'function_call', status: 'in_progress', arguments: '', call_id: 'call_1', name: 'f' } },
      { type: 'response.function_call_arguments.delta', item_id: 'fc_1', output_index: 0, delta: '1}' },
    ]);
    expect(foldEvents(proxyResponse(), events).output).toEqual([
      { type: 'function_call', id: 'fc_1', status: 'in_progress', call_id: 'call_1', name: 'f', arguments: '{"a":1}' },
    ]);
  });

  it('pads a skipped content index with a blank part so later events find their part', () => {
    const at = { item_id: 'msg_1', output_index: 0 };
    const events = withSequenceNumbers([
      { type: 'response.output_text.delta', ...at, content_index: 1, delta: 'second' },
      { type: 'response.output_text.delta', ...at, content_index: 1, delta: ' part' },
      { type: 'response.content_part.added', ...at, content_index: 0, part: { type: 'refusal', refusal: '' } },
    ]);
    expect(foldEvents(proxyResponse(), events).output[0].content).toEqual([
      { type: 'refusal', refusal: '' },
      { type: 'output_text', text: 'second part', annotations: [], logprobs: [] },
    ]);
  });

  it('finds the item by item_id when output_index points at another item', () => {
    const start = foldEvents(proxyResponse(), functionCallEvents([{ name: 'a', arguments: '{}' }, { name: 'b', arguments: '' }]).slice(0, -1));
    const state = applyEvent(start, { type: 'response.function_call_arguments.delta', sequence_number: 99, item_id: 'fc_fixture_1', output_index: 0, delta: '{"x":1}' });
    expect(state.output.map((item) => item.arguments)).toEqual(['{}', '{"x":1}']);
  });

  it('appends a newly seen item instead of overwriting a different item at its output_index', () => {
    const start = foldEvents(proxyResponse(), functionCallEvents({ name: 'a', arguments: '{}' }).slice(0, -1));
    const state = applyEvent(start, { type: 'response.output_text.delta', sequence_number: 99, item_id: 'msg_new', output_index: 0, content_index: 0, delta: 'Hi' });
    expect(state.output.map((item) => item.id)).toEqual(['fc_fixture_0', 'msg_new']);
  });
});

describe('applyEvent: failures and incomplete responses', () => {
  it('marks the response failed with the nested error event, then merges response.failed', () => {
    const events = failedTurnEvents('rate_limit_exceeded', 'Request too large for gpt-4o.');
    const errorIndex = events.findIndex((e) => e.type === 'error');
    const afterError = foldEvents(proxyResponse(), events.slice(0, errorIndex + 1));
    expect(afterError.status).toBe('failed');
    expect(afterError.error).toEqual({ code: 'rate_limit_exceeded', message: 'Request too large for gpt-4o.' });
    const final = foldEvents(afterError, events.slice(errorIndex + 1));
    expect(final.status).toBe('failed');
    expect(final.error).toEqual({ code: 'rate_limit_exceeded', message: 'Request too large for gpt-4o.' });
    expect(final.completed_at).toBeNull();
  });

  it('reads a flat error event: a null code becomes server_error, detail upstream_error', () => {
    const state = applyEvent(proxyResponse({ status: 'in_progress' }), {
      type: 'error', sequence_number: 1, code: null, message: 'Something went wrong', param: null,
    });
    expect(state.status).toBe('failed');
    expect(state.error).toEqual({ code: 'server_error', message: 'upstream_error: Something went wrong' });
  });

  it("gives an upstream code outside OpenAI's enum as server_error with that code leading the message, and folding it again changes nothing", () => {
    const events = failedTurnEvents('context_length_exceeded', 'Too long.');
    const final = foldEvents(proxyResponse(), events);
    expect(final.error).toEqual({ code: 'server_error', message: 'context_length_exceeded: Too long.' });
    const again = applyEvent(final, { type: 'response.failed', sequence_number: 99, response: { ...final } });
    expect(again.error).toEqual(final.error);
  });

  it('keeps the error of an error event when response.failed carries error null', () => {
    const events = withSequenceNumbers([
      ...openingBodies(),
      { type: 'error', error: { type: 'server_error', code: 'server_error', message: 'boom', param: null } },
      { type: 'response.failed', response: upstreamResponse({}, { status: 'failed', error: null }) },
    ]);
    expect(foldEvents(proxyResponse(), events).error).toEqual({ code: 'server_error', message: 'boom' });
  });

  it('records response.incomplete with its incomplete_details and partial output', () => {
    const result = foldEvents(proxyResponse(), textTurnEvents('Once upon a', { finish: 'incomplete' }));
    expect(result.status).toBe('incomplete');
    expect(result.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(result.output).toEqual([messageItem('msg_fixture_0', 'Once upon a', 'incomplete')]);
    expect(result.completed_at).toBeNull();
  });
});

describe('applyEvent: lifecycle merging', () => {
  it('never takes the proxy-owned fields from an upstream response object', () => {
    const initial = proxyResponse();
    const result = foldEvents(initial, textTurnEvents(text, { responseId: 'resp_upstream', model: 'gpt-4o-2024-08-06', createdAt: 1 }));
    for (const key of ['id', 'object', 'created_at', 'background', 'model', 'metadata', 'store']) {
      expect(result[key]).toEqual(initial[key]);
    }
    expect(result.max_output_tokens).toBe(2048);
    expect(result.service_tier).toBe('default');
    const hostile = { id: 'resp_other', object: 'other', created_at: 5, background: false, model: 'other-model', metadata: { a: 'b' }, store: false, status: 'in_progress' };
    const state = applyEvent(initial, { type: 'response.in_progress', sequence_number: 1, response: hostile });
    expect(state).toEqual({ ...initial, status: 'in_progress' });
  });

  it('takes the status from the event type when the response object has none', () => {
    const noStatus = (type: string): EventBody => ({ type, response: { temperature: 0.5 } });
    const events = withSequenceNumbers([noStatus('response.created'), noStatus('response.queued'), noStatus('response.in_progress')]);
    const statuses = [1, 2, 3].map((n) => foldEvents(proxyResponse({ status: 'in_progress' }), events.slice(0, n)).status);
    expect(statuses).toEqual(['in_progress', 'queued', 'in_progress']);
    expect(applyEvent(proxyResponse(), { type: 'response.completed', sequence_number: 4 }).status).toBe('completed');
  });

  it('follows the background opening: created (queued), queued, then in_progress', () => {
    const events = textTurnEvents(text, { background: true });
    expect(foldEvents(proxyResponse(), events.slice(0, 2)).status).toBe('queued');
    expect(foldEvents(proxyResponse(), events.slice(0, 3)).status).toBe('in_progress');
  });

  it('ignores a late non-terminal lifecycle event after a terminal one', () => {
    const failed = foldEvents(proxyResponse(), failedTurnEvents());
    const late = { type: 'response.in_progress', sequence_number: 10, response: upstreamResponse({}, { status: 'in_progress', temperature: 0.2 }) };
    expect(applyEvent(failed, late)).toBe(failed);
    const completed = foldEvents(proxyResponse(), textTurnEvents(text));
    expect(applyEvent(completed, { ...late, type: 'response.queued' })).toBe(completed);
    expect(applyEvent(completed, { type: 'error', sequence_number: 40, code: 'server_error', message: 'late' })).toBe(completed);
  });

  it('returns the same state when a lifecycle event repeats what it already holds', () => {
    const events = textTurnEvents(text);
    const state = foldEvents(proxyResponse(), events.slice(0, 2));
    expect(applyEvent(state, { ...events[1], sequence_number: 2 })).toBe(state);
  });
});

describe('applyEvent: no-ops and immutability', () => {
  it('returns the same state for keepalive and unknown event types', () => {
    const state = foldEvents(proxyResponse(), textTurnEvents(text).slice(0, 6));
    expect(applyEvent(state, { type: 'keepalive', sequence_number: 466 })).toBe(state);
    expect(applyEvent(state, { type: 'response.audio.delta', sequence_number: 467, delta: 'AAAA' })).toBe(state);
    expect(applyEvent(state, { type: 'toString', sequence_number: 467 })).toBe(state);
    expect(applyEvent(state, { type: 'response.output_text.delta', sequence_number: 468, item_id: 'msg_fixture_0', output_index: 0, content_index: 0, delta: '' })).toBe(state);
  });

  it('returns the same state when a done event repeats what the deltas built', () => {
    const events = textTurnEvents(text);
    const lastDelta = events.map((e) => e.type).lastIndexOf('response.output_text.delta');
    const state = foldEvents(proxyResponse(), events.slice(0, lastDelta + 1));
    for (const type of ['response.output_text.done', 'response.content_part.done']) {
      expect(applyEvent(state, events.find((e) => e.type === type)!)).toBe(state);
    }
    const itemDone = events.find((e) => e.type === 'response.output_item.done')!;
    const done = applyEvent(state, itemDone);
    expect(done).not.toBe(state);
    expect(applyEvent(done, { ...itemDone, sequence_number: 100 })).toBe(done);
  });

  it('never mutates frozen states or events and leaves every earlier state unchanged', () => {
    const events = deepFreeze(
      withSequenceNumbers([
        ...openingBodies({ background: true }),
        ...textItemBodies(text, 0),
        ...functionCallBodies({ name: 'f', arguments: '{"a":[1,2]}' }, 1),
        { type: 'response.output_text.annotation.added', item_id: 'msg_fixture_0', output_index: 0, content_index: 0, annotation_index: 0, annotation: { type: 'url_citation', url: 'https://example.com' } },
        { type: 'response.output_text.delta', item_id: 'msg_late', output_index: 2, content_index: 1, delta: 'gap' },
        { type: 'error', error: { code: 'server_error', message: 'x' } },
        { type: 'response.failed', response: upstreamResponse({}, { status: 'failed', output: [messageItem('msg_fixture_0', text)] }) },
      ]),
    );
    const states: ResponseObject[] = [deepFreeze(proxyResponse())];
    const copies: string[] = [JSON.stringify(states[0])];
    for (const event of events) {
      const next = applyEvent(states[states.length - 1], event);
      states.push(deepFreeze(next));
      copies.push(JSON.stringify(next));
    }
    states.forEach((state, i) => expect(JSON.stringify(state)).toBe(copies[i]));
  });

  it('shares unchanged items between successive states', () => {
    const withCall = foldEvents(
      proxyResponse(),
      withSequenceNumbers([...openingBodies(), ...functionCallBodies({ name: 'f', arguments: '{}' }, 0), ...textItemBodies(text, 1).slice(0, 3)]),
    );
    const next = applyEvent(withCall, { type: 'response.output_text.delta', sequence_number: 200, item_id: 'msg_fixture_1', output_index: 1, content_index: 0, delta: '!' });
    expect(next.output[0]).toBe(withCall.output[0]);
    expect(next.output[1]).not.toBe(withCall.output[1]);
    expect(next.tools).toBe(withCall.tools);
  });
});

describe('foldEvent: the in-place fold for a state the caller owns', () => {
  const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
  const cases: Array<[string, ResponseStreamEvent[]]> = [
    ['a text turn in small deltas', textTurnEvents(text, { chunkSize: 2 })],
    ['two function calls', functionCallEvents([{ name: 'a', arguments: '{"x":1}' }, { name: 'b', arguments: '{"y":"two"}' }])],
    ['a failed turn', failedTurnEvents()],
    [
      'deltas before their item and part were announced, and an empty delta',
      withSequenceNumbers([
        ...openingBodies({}),
        { type: 'response.output_text.delta', item_id: 'msg_x', output_index: 0, content_index: 0, delta: 'early ' },
        { type: 'response.output_text.delta', item_id: 'msg_x', output_index: 0, content_index: 0, delta: '' },
        { type: 'response.output_text.delta', item_id: 'msg_x', output_index: 0, content_index: 1, delta: 'second part' },
        { type: 'response.function_call_arguments.delta', item_id: 'fc_y', output_index: 1, delta: '{"a"' },
        { type: 'response.function_call_arguments.delta', item_id: 'fc_y', output_index: 1, delta: ':1}' },
      ]),
    ],
  ];

  it.each(cases)('folds %s to exactly what applyEvent gives', (_name, events) => {
    const expected = events.reduce((s, e) => applyEvent(s, e), proxyResponse());
    const folded = clone(events).reduce((s, e) => foldEvent(s, e), proxyResponse());
    expect(folded).toEqual(expected);
  });

  it('appends in place: the Response and its output list stay the same objects across deltas', () => {
    const events = clone(textTurnEvents('abcdef', { deltas: ['ab', 'cd', 'ef'] }));
    const firstDelta = events.findIndex((e) => e.type === 'response.output_text.delta');
    const before = events.slice(0, firstDelta).reduce((s, e) => foldEvent(s, e), proxyResponse());
    const after = events.slice(firstDelta, firstDelta + 3).reduce((s, e) => foldEvent(s, e), before);
    expect(after).toBe(before);
    expect(after.output[0]).toMatchObject({ content: [{ text: 'abcdef' }] });
  });

  it('falls back to a copy when the part is frozen', () => {
    const events = textTurnEvents('xy', { deltas: ['x', 'y'] });
    const firstDelta = events.findIndex((e) => e.type === 'response.output_text.delta');
    const before = deepFreeze(events.slice(0, firstDelta).reduce((s, e) => applyEvent(s, e), proxyResponse()));
    const after = events.slice(firstDelta, firstDelta + 2).reduce((s, e) => foldEvent(s, e), before);
    expect(after).not.toBe(before);
    expect(after.output[0]).toMatchObject({ content: [{ text: 'xy' }] });
  });
});
