// Scenario 2: create throughput (`background: true`, an upstream that answers at once) against
// Express parsing the same body and doing one Redis SET.
'use strict';

const { json } = require('../lib/http');
const { interleave, callsBetween, row, round } = require('../lib/common');
const { streamSpec } = require('../lib/fixture');

module.exports = async function createScenario(env, size) {
  const body = JSON.stringify({ model: 'bench-model', input: streamSpec({ seed: 2, deltas: 1 }), background: true, metadata: { bench: 'create' } });
  const idle = () => json(env.origin, { path: '/bench/idle' });

  const before = await env.commandCalls();
  const one = await json(env.origin, { method: 'POST', path: '/llm/v1/responses', body: JSON.parse(body) });
  await json(env.origin, { path: `/bench/wait/${one.id}` });
  const perCreate = callsBetween(before, await env.commandCalls());

  const r = await interleave(env, {
    rounds: size.rounds,
    durationMs: size.durationMs,
    warmupMs: size.warmupMs,
    concurrency: size.concurrency,
    sides: { ours: () => ({ method: 'POST', path: '/llm/v1/responses', body }), baseline: () => ({ method: 'POST', path: '/baseline/v1/responses', body }) },
    // Responses created in a round finish their (tiny) streams before the next round starts.
    between: (name) => (name === 'ours' ? idle() : undefined),
  });
  const ratio = r.ours.rps / r.baseline.rps;
  return {
    rows: [
      row('2 create', `POST /v1/responses background:true, req/s (c=${size.concurrency})`, { ours: Math.round(r.ours.rps), baseline: Math.round(r.baseline.rps), value: round(ratio), target: 0.6, unit: 'x baseline' }),
      row('2 create', 'p50 / p99 latency, ms', { ours: `${round(r.ours.p50)} / ${round(r.ours.p99)}`, baseline: `${round(r.baseline.p50)} / ${round(r.baseline.p99)}`, value: round(r.ours.p99 / r.baseline.p99), unit: 'x baseline p99' }),
    ],
    details: { redisCallsPerCreateAndRun: perCreate, ours: r.ours, baseline: r.baseline },
  };
};
