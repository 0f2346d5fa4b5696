// Scenario 3: bytes written to Redis per response (INFO total_net_input_bytes) over the upstream's
// SSE bytes, at a realistic delta pace, and LiteLLM's rewrite-every-150-ms scheme from its formula.
'use strict';

const { json } = require('../lib/http');
const { createResponse, waitDone, callsBetween, row, round } = require('../lib/common');
const { deltasFor } = require('../lib/fixture');

/** LiteLLM's flush interval (background_streaming.py `_UPDATE_INTERVAL`). */
const LITELLM_INTERVAL_S = 0.15;

/** RESP bytes of one command. */
function respBytes(args) {
  let n = `*${args.length}\r\n`.length;
  for (const a of args) {
    const len = Buffer.byteLength(String(a));
    n += `$${len}\r\n`.length + len + 2;
  }
  return n;
}

/**
 * Bytes LiteLLM sends to Redis for the same stream: after each event, if 150 ms passed since the
 * last flush, GET the state then SET the whole state JSON (with the output so far); one unbatched
 * update on `response.in_progress`; a forced flush at the end; the terminal update with usage.
 */
function litellmBytes(deltas, ratePerS) {
  const key = 'litellm:polling:litellm_poll_0123456789abcdef0123456789abcdef';
  const state = (text, status, usage) => JSON.stringify({
    id: 'litellm_poll_0123456789abcdef0123456789abcdef', object: 'response', status, status_details: null, created_at: 1749761604,
    output: text === null ? [] : [{ id: 'msg_0123456789abcdef0123456789abcdef0123456789abcdef', type: 'message', status: 'in_progress', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] }],
    usage, metadata: {}, model: 'gpt-4o-mini', error: null, incomplete_details: null,
  });
  const update = (json) => respBytes(['GET', key]) + respBytes(['SET', key, json, 'EX', '3600']);
  let bytes = update(state(null, 'queued', null)) + update(state(null, 'in_progress', null));
  let text = '';
  let last = 0;
  let flushes = 0;
  for (let i = 0; i < deltas.length; i++) {
    text += deltas[i];
    const t = (i + 1) / ratePerS;
    if (t - last >= LITELLM_INTERVAL_S) {
      bytes += update(state(text, 'in_progress', null));
      last = t;
      flushes += 1;
    }
  }
  bytes += update(state(text, 'in_progress', null));
  bytes += update(state(text, 'completed', { input_tokens: 12, output_tokens: deltas.length, total_tokens: deltas.length + 12 }));
  return { bytes, flushes: flushes + 4 };
}

/** Input bytes and script calls Redis takes per second with no response running (idle workers' claim polls). */
async function idleRate(env, ms) {
  const bytes0 = Number((await env.info('stats')).total_net_input_bytes);
  const calls0 = await env.commandCalls();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const calls = callsBetween(calls0, await env.commandCalls());
  const bytes = Number((await env.info('stats')).total_net_input_bytes) - bytes0 - respBytes(['INFO', 'stats']) - respBytes(['INFO', 'commandstats']);
  return { bytesPerS: Math.max(0, bytes) / (ms / 1000), scriptsPerS: ((calls.evalsha ?? 0) + (calls.eval ?? 0)) / (ms / 1000) };
}

/** Bytes Redis takes over one response's life, net of what it takes while idle. */
async function measure(env, idle, { deltas, rate, compress, seed }) {
  await json(env.upstreamOrigin, { method: 'POST', path: '/__reset' });
  const before = Number((await env.info('stats')).total_net_input_bytes);
  const calls0 = await env.commandCalls();
  const started = performance.now();
  const id = await createResponse(env, { seed, deltas, rate: rate * compress });
  await waitDone(env, id);
  const seconds = (performance.now() - started) / 1000;
  const after = Number((await env.info('stats')).total_net_input_bytes);
  const calls = callsBetween(calls0, await env.commandCalls());
  const upstream = await json(env.upstreamOrigin, { path: '/__stats' });
  const logLength = await env.client.lLen(`${env.keyPrefix}{${id}}:log`);
  // The two INFO calls and the commandstats call between the readings are ours, not the store's;
  // so are the idle workers' claim polls, which run at the same pace with or without a response.
  const idleBytes = Math.round(idle.bytesPerS * seconds);
  const redisBytes = after - before - 3 * respBytes(['INFO', 'commandstats']) - idleBytes;
  const scripts = (calls.evalsha ?? 0) + (calls.eval ?? 0) - Math.round(idle.scriptsPerS * seconds);
  const litellm = litellmBytes(deltasFor(seed, deltas), rate);
  return { deltas, rate, compress, seconds, redisBytes, idleBytes, upstreamBytes: upstream.bytes, logLength, scripts, calls, litellm, eventsPerFlush: logLength / Math.max(1, scripts - 1) };
}

/**
 * Loads the scripts a response's life uses (a short response), then measures the idle rate.
 * Redis keeps a loaded script until it restarts, so the first response's EVALs (the script
 * bodies) are a cost per Redis server, not per response: reported apart (`scriptLoadBytes`).
 */
async function warmUp(env, seed) {
  const before = Number((await env.info('stats')).total_net_input_bytes);
  const calls0 = await env.commandCalls();
  await waitDone(env, await createResponse(env, { seed, deltas: 20, rate: 1000 }));
  const calls = callsBetween(calls0, await env.commandCalls());
  const warmBytes = Number((await env.info('stats')).total_net_input_bytes) - before;
  return { warmBytes, scriptLoads: calls.eval ?? 0, idle: await idleRate(env, 2000) };
}

module.exports = async function writeAmpScenario(startEnv, size) {
  // The measured build's default `worker.flushIntervalMs`; BENCH_FLUSH_MS tries another window.
  const DEFAULT_FLUSH_MS = Number(process.env.BENCH_FLUSH_MS) || startEnv.defaultFlushMs;
  const results = [];
  // One server per clock: a compressed clock divides the flush window by the same factor.
  const byCompress = new Map();
  for (const c of size.cases) byCompress.set(c.compress, [...(byCompress.get(c.compress) ?? []), c]);
  let seed = 300;
  for (const [compress, cases] of byCompress) {
    const env = await startEnv({ worker: { flushIntervalMs: Math.max(1, Math.round(DEFAULT_FLUSH_MS / compress)) } });
    try {
      const warm = await warmUp(env, seed++);
      for (const c of cases) results.push({ ...(await measure(env, warm.idle, { ...c, compress, seed: seed++ })), warm });
    } finally {
      await env.close();
    }
  }
  const rows = results.map((m) => {
    const ratio = m.redisBytes / m.upstreamBytes;
    const clock = m.compress === 1 ? 'real time' : `clock x${m.compress}, flush ${Math.max(1, Math.round(DEFAULT_FLUSH_MS / m.compress))} ms`;
    return row('3 write amp', `${m.deltas} deltas @ ${m.rate}/s (${clock}): Redis bytes / upstream SSE bytes`, {
      ours: `${m.redisBytes} B (${round(m.eventsPerFlush, 1)} ev/flush)`,
      baseline: `LiteLLM ${m.litellm.bytes} B = ${round(m.litellm.bytes / m.upstreamBytes)}x`,
      value: round(ratio, 3),
      target: 0.45,
      higherIsBetter: false,
      unit: `x upstream (${m.upstreamBytes} B)`,
      note: `not counted: ${m.idleBytes} B of idle claim polls, ${m.warm.scriptLoads} script loads once per Redis server`,
    });
  });
  // Linearity: bytes per delta across sizes measured on the same clock.
  for (const cases of byCompress.values()) {
    if (cases.length < 2) continue;
    const ms = results.filter((m) => m.compress === cases[0].compress).sort((a, b) => a.deltas - b.deltas);
    const small = ms[0];
    const big = ms[ms.length - 1];
    const growth = big.redisBytes / small.redisBytes / (big.deltas / small.deltas);
    rows.push(row('3 write amp', `linearity ${small.deltas}→${big.deltas} deltas: (bytes ratio) / (deltas ratio)`, {
      ours: `${round(big.redisBytes / small.redisBytes)}x bytes for ${round(big.deltas / small.deltas)}x deltas`,
      baseline: `LiteLLM ${round(big.litellm.bytes / small.litellm.bytes)}x bytes`,
      value: round(growth),
      targetText: '≈ 1 (linear)',
      note: '',
    }));
    rows[rows.length - 1].pass = growth > 0.7 && growth < 1.3;
  }
  return { rows, details: { cases: results } };
};
