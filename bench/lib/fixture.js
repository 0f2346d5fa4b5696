// Deterministic OpenAI-shaped Responses streams for the benchmarks: the upstream sends them and
// the checker regenerates the expected text from the same seed.
'use strict';

const WORDS = (
  'the of and to in is that for it as was with be by on not he this are or his from at which but have an they ' +
  'you were her she there been one all we their has would when if so no will can more other into some could them ' +
  'model stream token response background polling cache worker redis express server client event delta output ' +
  'than then time these two may first any like now my such make over our even most me state after also made many'
).split(' ');

/** A small seeded PRNG (mulberry32), so every process produces the same text for a seed. */
function rng(seed) {
  let a = (seed >>> 0) + 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` deltas of about one word each (a space and a word, as token streams look). */
function deltasFor(seed, n) {
  const next = rng(seed);
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = (i === 0 ? '' : ' ') + WORDS[Math.floor(next() * WORDS.length)];
  return out;
}

/** The text the deltas of `seed` join to. */
function textFor(seed, n) {
  return deltasFor(seed, n).join('');
}

function hex(next, len) {
  let s = '';
  while (s.length < len) s += Math.floor(next() * 0x100000000).toString(16).padStart(8, '0');
  return s.slice(0, len);
}

function alnum(next, len) {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < len; i++) s += chars[Math.floor(next() * chars.length)];
  return s;
}

function upstreamResponse(id, status, extra) {
  return {
    id, object: 'response', created_at: 1749761604, status, background: false, completed_at: null, error: null,
    incomplete_details: null, instructions: null, max_output_tokens: null, model: 'gpt-4o-mini-2024-07-18', output: [],
    parallel_tool_calls: true, previous_response_id: null, reasoning: { effort: null, summary: null }, service_tier: 'auto',
    store: true, temperature: 1.0, text: { format: { type: 'text' } }, tool_choice: 'auto', tools: [], top_p: 1.0,
    truncation: 'disabled', usage: null, user: null, metadata: {}, ...extra,
  };
}

/**
 * The SSE frames of one text turn as OpenAI sends it: opening events, `n` deltas (with
 * `obfuscation` padding, as real streams carry), the closing `.done` events and
 * `response.completed`. Returns `{ head, deltas, tail }` so a sender can pace the deltas.
 */
function turnFrames(seed, n) {
  const next = rng(seed ^ 0x5bd1e995);
  const respId = `resp_${hex(next, 48)}`;
  const itemId = `msg_${hex(next, 48)}`;
  const pieces = deltasFor(seed, n);
  const text = pieces.join('');
  let seq = 0;
  const frame = (event) => `event: ${event.type}\ndata: ${JSON.stringify({ type: event.type, sequence_number: seq++, ...event })}\n\n`;
  const at = { item_id: itemId, output_index: 0, content_index: 0 };
  const part = (t) => ({ type: 'output_text', annotations: [], logprobs: [], text: t });
  const item = (status, t) => ({ id: itemId, type: 'message', status, content: t === null ? [] : [part(t)], role: 'assistant' });
  const head = [
    frame({ type: 'response.created', response: upstreamResponse(respId, 'in_progress') }),
    frame({ type: 'response.in_progress', response: upstreamResponse(respId, 'in_progress') }),
    frame({ type: 'response.output_item.added', output_index: 0, item: item('in_progress', null) }),
    frame({ type: 'response.content_part.added', ...at, part: part('') }),
  ];
  const deltas = pieces.map((delta) => frame({ type: 'response.output_text.delta', ...at, delta, logprobs: [], obfuscation: alnum(next, 8 + Math.floor(next() * 8)) }));
  const usage = { input_tokens: 12, input_tokens_details: { cached_tokens: 0 }, output_tokens: n, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: n + 12 };
  const tail = [
    frame({ type: 'response.output_text.done', ...at, text, logprobs: [] }),
    frame({ type: 'response.content_part.done', ...at, part: part(text) }),
    frame({ type: 'response.output_item.done', output_index: 0, item: item('completed', text) }),
    frame({ type: 'response.completed', response: upstreamResponse(respId, 'completed', { completed_at: 1749761607, output: [item('completed', text)], usage }) }),
  ];
  return { head, deltas, tail, text, events: head.length + deltas.length + tail.length };
}

/** The `input` string a benchmark sends; the bench upstream reads its stream parameters from it. */
function streamSpec({ seed, deltas, rate = 0, tickMs = 0 }) {
  return `bench:seed=${seed};deltas=${deltas};rate=${rate};tick=${tickMs}`;
}

/** Parses what {@link streamSpec} wrote. */
function parseSpec(input) {
  const spec = { seed: 1, deltas: 10, rate: 0, tick: 0 };
  if (typeof input !== 'string' || !input.startsWith('bench:')) return spec;
  for (const pair of input.slice(6).split(';')) {
    const [k, v] = pair.split('=');
    if (k in spec) spec[k] = Number(v);
  }
  return spec;
}

module.exports = { deltasFor, textFor, turnFrames, streamSpec, parseSpec };
