import { initialResponse } from '../../lib/middleware/create-request';
import type { ResponseObject, ResponseStreamEvent } from '../../lib/types';
import { ChatStreamAdapter, toUsage } from '../../lib/upstream/chat-stream-adapter';
import { applyEvent, foldEvents } from '../../lib/worker/reducer';

type Json = Record<string, unknown>;

const NOW_MS = 1_700_000_123_456;
const LIFECYCLE_START = new Set(['response.created', 'response.queued', 'response.in_progress']);
const TERMINAL = /^response\.(completed|failed|incomplete)$/;

/** A `chat.completion.chunk` with one choice. */
function chunk(delta: Json, finishReason: string | null = null): Json {
  return {
    id: 'chatcmpl-abc',
    object: 'chat.completion.chunk',
    created: 1700000000,
    model: 'llama-3.1-8b',
    system_fingerprint: 'fp_1',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    usage: null,
  };
}

/** The chunk `include_usage` adds at the end: no choices, only usage. */
function usageChunk(usage: Json): Json {
  return { id: 'chatcmpl-abc', object: 'chat.completion.chunk', created: 1700000000, model: 'llama-3.1-8b', choices: [], usage };
}

const USAGE = {
  prompt_tokens: 21,
  completion_tokens: 9,
  total_tokens: 30,
  prompt_tokens_details: { cached_tokens: 5 },
  completion_tokens_details: { reasoning_tokens: 2 },
};
const MAPPED_USAGE = {
  input_tokens: 21,
  input_tokens_details: { cached_tokens: 5, cache_write_tokens: 0 },
  output_tokens: 9,
  output_tokens_details: { reasoning_tokens: 2 },
  total_tokens: 30,
};

const toolDelta = (calls: Json[]): Json => ({ tool_calls: calls });

/** Feeds every chunk, then ends the stream; returns all events in order. */
function adapt(chunks: Json[]): ResponseStreamEvent[] {
  const adapter = new ChatStreamAdapter({ idSeed: 'seed', now: () => NOW_MS });
  const events: ResponseStreamEvent[] = [];
  for (const c of chunks) events.push(...adapter.push(c));
  events.push(...adapter.end());
  return events;
}

/** The Response a background request starts as, as the worker has it. */
function startState(): ResponseObject {
  return initialResponse('resp_proxy_1', { model: 'local-llama', background: true, stream: true, input: 'Hi' }, 1700000000);
}

/**
 * Folds adapter events as the streaming worker does: start events only merge into the worker's
 * own `response.in_progress`, everything else is renumbered and applied in order.
 */
function foldAsWorker(events: ResponseStreamEvent[]): ResponseObject {
  let state = startState();
  let seq = 2;
  let started = false;
  const ensureStarted = (upstream: unknown): void => {
    if (started) return;
    started = true;
    const response = { ...((upstream as Json | undefined) ?? {}), status: 'in_progress' };
    state = applyEvent(state, { type: 'response.in_progress', sequence_number: seq++, response });
  };
  for (const event of events) {
    if (LIFECYCLE_START.has(event.type)) {
      ensureStarted(event.response);
      continue;
    }
    ensureStarted(undefined);
    state = applyEvent(state, { ...event, sequence_number: seq++ });
  }
  return state;
}

/** The output the deltas alone build, without the terminal event's copy of it. */
function accumulatedOutput(events: ResponseStreamEvent[]): unknown {
  return foldEvents(startState(), events.filter((e) => !TERMINAL.test(e.type))).output;
}

const types = (events: ResponseStreamEvent[]): string[] => events.map((e) => e.type);
const terminalOf = (events: ResponseStreamEvent[]): Json => events[events.length - 1].response as Json;

describe('ChatStreamAdapter: text', () => {
  const chunks = [
    chunk({ role: 'assistant', content: '' }),
    chunk({ content: 'Hello' }),
    chunk({ content: ', wor' }),
    chunk({ content: 'ld!' }),
    chunk({}, 'stop'),
    usageChunk(USAGE),
  ];

  it('emits the event sequence OpenAI sends for a text turn, ending with response.completed', () => {
    expect(types(adapt(chunks))).toEqual([
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
  });

  it('announces the message and its part with the fields the Responses stream carries', () => {
    const events = adapt(chunks);
    const id = (events[1].item as Json).id as string;
    expect(id).toMatch(/^msg_/);
    expect(events[1]).toEqual({ type: 'response.output_item.added', sequence_number: 0, output_index: 0, item: { id, type: 'message', status: 'in_progress', role: 'assistant', content: [] } });
    expect(events[2]).toEqual({
      type: 'response.content_part.added',
      sequence_number: 0,
      item_id: id,
      output_index: 0,
      content_index: 0,
      part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
    });
    expect(events[3]).toEqual({ type: 'response.output_text.delta', sequence_number: 0, item_id: id, output_index: 0, content_index: 0, delta: 'Hello', logprobs: [] });
    expect(events[6]).toEqual({ type: 'response.output_text.done', sequence_number: 0, item_id: id, output_index: 0, content_index: 0, text: 'Hello, world!', logprobs: [] });
  });

  it('folds through the reducer into a completed Response with the exact text, usage and completion time', () => {
    const events = adapt(chunks);
    const final = foldAsWorker(events);
    expect(final.status).toBe('completed');
    expect(final.output).toEqual([
      { id: expect.stringMatching(/^msg_/), type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Hello, world!', annotations: [], logprobs: [] }] },
    ]);
    expect(final.usage).toEqual(MAPPED_USAGE);
    expect(final.completed_at).toBe(Math.floor(NOW_MS / 1000));
    expect(final.incomplete_details).toBeNull();
    expect(final.error).toBeNull();
    expect(final.id).toBe('resp_proxy_1');
    expect(final.model).toBe('local-llama');
  });

  it('puts in the terminal event exactly the output the deltas built', () => {
    const events = adapt(chunks);
    expect(terminalOf(events).output).toEqual(accumulatedOutput(events));
  });

  it('joins unicode split across deltas, even a surrogate pair split in two', () => {
    const pieces = ['Grüße, ', '日本', '語 ', '\ud83d', '\ude00', ' e\u0301', 't\u00e9 👩‍', '💻'];
    const events = adapt([chunk({ role: 'assistant' }), ...pieces.map((p) => chunk({ content: p })), chunk({}, 'stop'), usageChunk(USAGE)]);
    const text = 'Grüße, 日本語 😀 e\u0301t\u00e9 👩‍💻';
    const final = foldAsWorker(events);
    expect((final.output[0].content as Json[])[0].text).toBe(text);
    expect(JSON.parse(JSON.stringify(final)).output[0].content[0].text).toBe(text);
  });

  it('skips chunks with empty choices in the middle of the stream', () => {
    const events = adapt([chunk({ role: 'assistant', content: '' }), usageChunk(null as unknown as Json), chunk({ content: 'a' }), { ...chunk({}), choices: [] }, chunk({ content: 'b' }), chunk({}, 'stop'), usageChunk(USAGE)]);
    expect(events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta)).toEqual(['a', 'b']);
    expect((foldAsWorker(events).output[0].content as Json[])[0].text).toBe('ab');
  });

  it('takes the text of a chunk that also carries the finish reason', () => {
    const final = foldAsWorker(adapt([chunk({ role: 'assistant', content: 'Hi' }), chunk({ content: ' there' }, 'stop')]));
    expect((final.output[0].content as Json[])[0].text).toBe('Hi there');
    expect(final.status).toBe('completed');
  });

  it('reads only the first choice', () => {
    const twoChoices = { ...chunk({ content: 'first' }), choices: [{ index: 1, delta: { content: 'second' }, finish_reason: null }, { index: 0, delta: { content: 'first' }, finish_reason: null }] };
    const final = foldAsWorker(adapt([twoChoices, chunk({}, 'stop')]));
    expect((final.output[0].content as Json[])[0].text).toBe('first');
  });

  it('emits response.in_progress once, on the first chunk, and nothing for a role-only chunk after it', () => {
    const adapter = new ChatStreamAdapter({ idSeed: 's' });
    expect(adapter.push(chunk({ role: 'assistant', content: '' }))).toEqual([{ type: 'response.in_progress', sequence_number: 0, response: { status: 'in_progress' } }]);
    expect(adapter.push(chunk({ role: 'assistant' }))).toEqual([]);
  });
});

describe('ChatStreamAdapter: usage and the terminal event', () => {
  it('waits for the usage chunk that follows the finish reason before it ends the response', () => {
    const adapter = new ChatStreamAdapter({ idSeed: 's', now: () => NOW_MS });
    adapter.push(chunk({ content: 'Hi' }));
    const atFinish = adapter.push(chunk({}, 'stop'));
    expect(types(atFinish)).toEqual(['response.output_text.done', 'response.content_part.done', 'response.output_item.done']);
    expect(adapter.push(usageChunk(USAGE))).toEqual([]);
    const ending = adapter.end();
    expect(types(ending)).toEqual(['response.completed']);
    expect(terminalOf(ending)).toMatchObject({ status: 'completed', usage: MAPPED_USAGE, incomplete_details: null });
  });

  it('ends with null usage when the server sent none', () => {
    const events = adapt([chunk({ content: 'Hi' }, 'stop')]);
    expect(terminalOf(events).usage).toBeNull();
    expect(foldAsWorker(events).usage).toBeNull();
  });

  it('emits no terminal event when the stream ends without a finish reason, so the worker fails it', () => {
    const events = adapt([chunk({ role: 'assistant', content: '' }), chunk({ content: 'Partial' }), usageChunk(USAGE)]);
    expect(events.some((e) => TERMINAL.test(e.type))).toBe(false);
    const state = foldAsWorker(events);
    expect(state.status).toBe('in_progress');
    expect((state.output[0].content as Json[])[0].text).toBe('Partial');
  });

  it('returns the terminal event only once and ignores chunks after the end', () => {
    const adapter = new ChatStreamAdapter({ idSeed: 's' });
    adapter.push(chunk({ content: 'x' }, 'stop'));
    expect(adapter.end()).toHaveLength(1);
    expect(adapter.end()).toEqual([]);
    expect(adapter.push(chunk({ content: 'late' }))).toEqual([]);
  });

  it('ignores deltas after the finish reason', () => {
    const adapter = new ChatStreamAdapter({ idSeed: 's' });
    adapter.push(chunk({ content: 'done' }, 'stop'));
    expect(adapter.push(chunk({ content: 'more' }))).toEqual([]);
    const final = foldAsWorker([...adapter.end()]);
    expect((final.output[0].content as Json[])[0].text).toBe('done');
  });

  it('maps usage with missing details to zeros and computes a missing total', () => {
    expect(toUsage({ prompt_tokens: 3, completion_tokens: 4 })).toEqual({
      input_tokens: 3,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      output_tokens: 4,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 7,
    });
  });
});

describe('ChatStreamAdapter: finish reasons', () => {
  it('ends as incomplete with max_output_tokens when the finish reason is length', () => {
    const events = adapt([chunk({ content: 'Once upon a' }), chunk({}, 'length'), usageChunk(USAGE)]);
    expect(events[events.length - 1].type).toBe('response.incomplete');
    const final = foldAsWorker(events);
    expect(final.status).toBe('incomplete');
    expect(final.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(final.output[0]).toMatchObject({ type: 'message', status: 'incomplete', content: [{ type: 'output_text', text: 'Once upon a' }] });
    expect(final.completed_at).toBeNull();
    expect(final.usage).toEqual(MAPPED_USAGE);
  });

  it('ends as incomplete with content_filter when the finish reason is content_filter', () => {
    const final = foldAsWorker(adapt([chunk({ content: 'Some' }), chunk({}, 'content_filter'), usageChunk(USAGE)]));
    expect(final.status).toBe('incomplete');
    expect(final.incomplete_details).toEqual({ reason: 'content_filter' });
  });

  it.each(['stop', 'tool_calls', 'function_call'])('ends as completed when the finish reason is %s', (reason) => {
    const final = foldAsWorker(adapt([chunk({ content: 'ok' }), chunk({}, reason)]));
    expect(final.status).toBe('completed');
  });

  it('completes an empty answer with an empty output', () => {
    const final = foldAsWorker(adapt([chunk({ role: 'assistant', content: '' }), chunk({}, 'stop'), usageChunk(USAGE)]));
    expect(final.status).toBe('completed');
    expect(final.output).toEqual([]);
  });
});

describe('ChatStreamAdapter: tool calls', () => {
  const interleaved = [
    chunk({ role: 'assistant', content: 'Checking both.' }),
    chunk(toolDelta([{ index: 0, id: 'call_paris', type: 'function', function: { name: 'weather', arguments: '' } }])),
    chunk(toolDelta([{ index: 1, id: 'call_rome', type: 'function', function: { name: 'weather', arguments: '{"ci' } }])),
    chunk(toolDelta([{ index: 0, function: { arguments: '{"city":' } }])),
    chunk(toolDelta([{ index: 1, function: { arguments: 'ty":"Rome"}' } }, { index: 0, function: { arguments: '"Paris"}' } }])),
    chunk({}, 'tool_calls'),
    usageChunk(USAGE),
  ];

  it('turns text and two interleaved tool calls into a message and two function calls with exact arguments', () => {
    const events = adapt(interleaved);
    const final = foldAsWorker(events);
    expect(final.status).toBe('completed');
    expect(final.output).toEqual([
      { id: expect.stringMatching(/^msg_/), type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Checking both.', annotations: [], logprobs: [] }] },
      { id: expect.stringMatching(/^fc_/), type: 'function_call', status: 'completed', call_id: 'call_paris', name: 'weather', arguments: '{"city":"Paris"}' },
      { id: expect.stringMatching(/^fc_/), type: 'function_call', status: 'completed', call_id: 'call_rome', name: 'weather', arguments: '{"city":"Rome"}' },
    ]);
    expect(final.usage).toEqual(MAPPED_USAGE);
    expect(terminalOf(events).output).toEqual(accumulatedOutput(events));
  });

  it('closes the message before the first call is announced and gives items output indexes in order of appearance', () => {
    const events = adapt(interleaved);
    const messageDone = events.findIndex((e) => e.type === 'response.output_item.done');
    const firstCall = events.findIndex((e) => e.type === 'response.output_item.added' && (e.item as Json).type === 'function_call');
    expect(messageDone).toBeLessThan(firstCall);
    const added = events.filter((e) => e.type === 'response.output_item.added');
    expect(added.map((e) => [e.output_index, (e.item as Json).type])).toEqual([[0, 'message'], [1, 'function_call'], [2, 'function_call']]);
    expect(added[1].item).toEqual({ id: expect.stringMatching(/^fc_/), type: 'function_call', status: 'in_progress', call_id: 'call_paris', name: 'weather', arguments: '' });
    const done = events.filter((e) => e.type === 'response.function_call_arguments.done');
    expect(done.map((e) => [e.output_index, e.arguments, e.name])).toEqual([[1, '{"city":"Paris"}', 'weather'], [2, '{"city":"Rome"}', 'weather']]);
  });

  it('routes each arguments delta to the item of its chunk index', () => {
    const events = adapt(interleaved);
    const ids = new Map(events.filter((e) => e.type === 'response.output_item.added').map((e) => [e.output_index, (e.item as Json).id]));
    for (const e of events.filter((ev) => ev.type === 'response.function_call_arguments.delta')) expect(e.item_id).toBe(ids.get(e.output_index as number));
  });

  it('treats a new id at an index already in use as a new call, as some servers number every call 0', () => {
    const final = foldAsWorker(
      adapt([
        chunk(toolDelta([{ index: 0, id: 'call_a', function: { name: 'f', arguments: '{"n":1}' } }])),
        chunk(toolDelta([{ index: 0, id: 'call_b', function: { name: 'g', arguments: '{"n":2}' } }])),
        chunk({}, 'tool_calls'),
      ]),
    );
    expect(final.output.map((item) => [item.call_id, item.name, item.arguments])).toEqual([['call_a', 'f', '{"n":1}'], ['call_b', 'g', '{"n":2}']]);
  });

  it('generates a call id when the server sends none, keeps the first name and takes one sent late', () => {
    const final = foldAsWorker(
      adapt([
        chunk(toolDelta([{ index: 0, function: { arguments: '{}' } }])),
        chunk(toolDelta([{ index: 0, function: { name: 'late_name' } }])),
        chunk(toolDelta([{ index: 1, function: { name: 'twice', arguments: '{"a"' } }])),
        chunk(toolDelta([{ index: 1, function: { name: 'twice', arguments: ':1}' } }])),
        chunk({}, 'tool_calls'),
      ]),
    );
    expect(final.output[0]).toMatchObject({ type: 'function_call', call_id: expect.stringMatching(/^call_/), name: 'late_name', arguments: '{}' });
    expect(final.output[1]).toMatchObject({ name: 'twice', arguments: '{"a":1}' });
  });

  it('maps a deprecated delta.function_call to a function call', () => {
    const final = foldAsWorker(adapt([chunk({ function_call: { name: 'now', arguments: '' } }), chunk({ function_call: { arguments: '{}' } }), chunk({}, 'function_call')]));
    expect(final.output).toEqual([expect.objectContaining({ type: 'function_call', name: 'now', arguments: '{}', status: 'completed' })]);
    expect(final.status).toBe('completed');
  });

  it('opens a new message for text that comes after a tool call', () => {
    const final = foldAsWorker(adapt([chunk(toolDelta([{ index: 0, id: 'c', function: { name: 'f', arguments: '{}' } }])), chunk({ content: 'after' }), chunk({}, 'stop')]));
    expect(final.output.map((item) => item.type)).toEqual(['function_call', 'message']);
  });
});

describe('ChatStreamAdapter: refusal and reasoning', () => {
  it('turns delta.refusal into a refusal part of the message', () => {
    const events = adapt([chunk({ role: 'assistant', refusal: '' }), chunk({ refusal: "I can't " }), chunk({ refusal: 'help with that.' }), chunk({}, 'stop'), usageChunk(USAGE)]);
    expect(types(events)).toEqual([
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.refusal.delta',
      'response.refusal.delta',
      'response.refusal.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events[2].part).toEqual({ type: 'refusal', refusal: '' });
    expect(events[5]).toMatchObject({ content_index: 0, refusal: "I can't help with that." });
    const final = foldAsWorker(events);
    expect(final.output).toEqual([
      { id: expect.stringMatching(/^msg_/), type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'refusal', refusal: "I can't help with that." }] },
    ]);
    expect(terminalOf(events).output).toEqual(accumulatedOutput(events));
  });

  it('keeps text and a refusal as two parts of one message', () => {
    const final = foldAsWorker(adapt([chunk({ content: 'Well, ' }), chunk({ refusal: 'no.' }), chunk({}, 'stop')]));
    expect(final.output[0].content).toEqual([
      { type: 'output_text', text: 'Well, ', annotations: [], logprobs: [] },
      { type: 'refusal', refusal: 'no.' },
    ]);
  });

  it('turns reasoning_content into a reasoning item that closes before the answer starts', () => {
    const events = adapt([
      chunk({ role: 'assistant', reasoning_content: 'The user ' }),
      chunk({ reasoning_content: 'greets me.' }),
      chunk({ content: 'Hello!' }),
      chunk({}, 'stop'),
      usageChunk(USAGE),
    ]);
    expect(types(events).slice(0, 10)).toEqual([
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.reasoning_text.delta',
      'response.reasoning_text.delta',
      'response.reasoning_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
    ]);
    const final = foldAsWorker(events);
    expect(final.output).toEqual([
      { id: expect.stringMatching(/^rs_/), type: 'reasoning', status: 'completed', summary: [], content: [{ type: 'reasoning_text', text: 'The user greets me.' }] },
      expect.objectContaining({ type: 'message', content: [expect.objectContaining({ text: 'Hello!' })] }),
    ]);
    expect(terminalOf(events).output).toEqual(accumulatedOutput(events));
  });

  it('reads delta.reasoning too, and does not double text a server sends in both fields', () => {
    const final = foldAsWorker(adapt([chunk({ reasoning: 'Think' }), chunk({ reasoning: 'ing', reasoning_content: 'ing' }), chunk({ content: 'Done' }), chunk({}, 'stop')]));
    expect(final.output[0].content).toEqual([{ type: 'reasoning_text', text: 'Thinking' }]);
  });
});

describe('ChatStreamAdapter: error frames', () => {
  it('turns an error frame into an error event and ends the response as failed with server_error, its own code leading the message', () => {
    const events = adapt([chunk({ content: 'Part' }), { error: { message: 'The model is overloaded.', type: 'server_error', code: 'overloaded', param: null } }, chunk({ content: 'ignored' })]);
    expect(types(events)).toEqual(['response.in_progress', 'response.output_item.added', 'response.content_part.added', 'response.output_text.delta', 'error', 'response.failed']);
    expect(events[4]).toEqual({ type: 'error', sequence_number: 0, error: { type: 'server_error', code: 'server_error', message: 'overloaded: The model is overloaded.', param: null } });
    const final = foldAsWorker(events);
    expect(final.status).toBe('failed');
    expect(final.error).toEqual({ code: 'server_error', message: 'overloaded: The model is overloaded.' });
    expect((final.output[0].content as Json[])[0].text).toBe('Part');
  });

  it('leads the message with the error type when the server sends a numeric code, as vLLM does', () => {
    const events = adapt([{ error: { object: 'error', message: 'bad', type: 'BadRequestError', param: null, code: 400 } }]);
    expect(foldAsWorker(events).error).toEqual({ code: 'server_error', message: 'BadRequestError: bad' });
  });

  it('keeps a code of OpenAI\'s enum and the message as the server sent them', () => {
    const events = adapt([{ error: { message: 'Slow down.', type: 'requests', code: 'rate_limit_exceeded', param: null } }]);
    expect(foldAsWorker(events).error).toEqual({ code: 'rate_limit_exceeded', message: 'Slow down.' });
  });

  it('falls back to server_error, detail upstream_error and a generic message when the frame has neither', () => {
    const events = adapt([{ error: {} }]);
    expect(foldAsWorker(events).error).toEqual({ code: 'server_error', message: 'upstream_error: The upstream provider reported an error.' });
  });
});

describe('ChatStreamAdapter: ids', () => {
  it('gives every item a distinct id and two adapters distinct ids by default', () => {
    const ids = (events: ResponseStreamEvent[]) => events.filter((e) => e.type === 'response.output_item.added').map((e) => (e.item as Json).id);
    const run = () => {
      const adapter = new ChatStreamAdapter();
      return [
        ...adapter.push(chunk({ reasoning_content: 'r', content: 'c' })),
        ...adapter.push(chunk(toolDelta([{ index: 0, function: { name: 'f' } }, { index: 1, function: { name: 'g' } }]))),
      ];
    };
    const all = [...ids(run()), ...ids(run())];
    expect(all).toHaveLength(8);
    expect(new Set(all).size).toBe(8);
  });
});

describe('ChatStreamAdapter: ownership of what it returns', () => {
  function deepFreeze<T>(value: T): T {
    if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
      Object.freeze(value);
      for (const key of Object.keys(value)) deepFreeze((value as Json)[key]);
    }
    return value;
  }

  it('never changes an event or item after returning it', () => {
    const adapter = new ChatStreamAdapter({ idSeed: 's' });
    const events: ResponseStreamEvent[] = [];
    const feed = (c: Json) => events.push(...adapter.push(c).map(deepFreeze));
    feed(chunk({ reasoning_content: 'hmm' }));
    feed(chunk({ content: 'Hi' }));
    feed(chunk({ refusal: 'no' }));
    feed(chunk(toolDelta([{ index: 0, id: 'c1', function: { name: 'f', arguments: '{' } }])));
    feed(chunk(toolDelta([{ index: 0, function: { arguments: '}' } }])));
    feed(chunk({}, 'tool_calls'));
    feed(usageChunk(USAGE));
    events.push(...adapter.end().map(deepFreeze));
    const final = foldAsWorker(events);
    expect(final.output.map((item) => item.type)).toEqual(['reasoning', 'message', 'function_call']);
    expect(final.output[2].arguments).toBe('{}');
  });
});
