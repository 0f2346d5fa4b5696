// Scenario 2: create throughput (`background: true`, an upstream that answers at once) against
// Express parsing the same body and doing one Redis SET: on the embedded default (API and workers
// in one process) and on an API-only instance (`role: 'api'`, workers in another process).
'use strict';

const { json } = require('../lib/http');
const { interleave, callsBetween, row, round } = require('../lib/common');
const { streamSpec } = require('../lib/fixture');

/** Resolves once no response is queued or claimed and, on the embedded server, no worker runs. */
async function drained(env) {
  if (env.role !== 'api') await json(env.origin, { path: '/bench/idle' });
  while ((await env.queuedJobs()) > 0) await new Promise((r) => setTimeout(r, 20));
}

async function measure(env, size, label, target) {
  const body = JSON.stringify({ model: 'bench-model', input: streamSpec({ seed: 2, deltas: 1 }), background: true, metadata: { bench: 'create' } });

  const before = await env.commandCalls();
  const one = await json(env.origin, { method: 'POST', path: '/llm/v1/responses', body: JSON.parse(body) });
  await json(env.origin, { path: `/bench/wait/${one.id}` });
  await drained(env);
  const perCreate = callsBetween(before, await env.commandCalls());

  const r = await interleave(env, {
    rounds: size.rounds,
    durationMs: size.durationMs,
    warmupMs: size.warmupMs,
    concurrency: size.concurrency,
    sides: { ours: () => ({ method: 'POST', path: '/llm/v1/responses', body }), baseline: () => ({ method: 'POST', path: '/baseline/v1/responses', body }) },
    // Responses created in a round finish their (tiny) streams before the next round starts.
    between: (name) => (name === 'ours' ? drained(env) : undefined),
  });
  const ratio = r.ours.rps / r.baseline.rps;
  return {
    rows: [
      row('2 create', `${label}: POST /v1/responses background:true, req/s (c=${size.concurrency})`, { ours: Math.round(r.ours.rps), baseline: Math.round(r.baseline.rps), value: round(ratio), target, unit: 'x baseline' }),
      row('2 create', `${label}: p50 / p99 latency, ms`, { ours: `${round(r.ours.p50)} / ${round(r.ours.p99)}`, baseline: `${round(r.baseline.p50)} / ${round(r.baseline.p99)}`, value: round(r.ours.p99 / r.baseline.p99), unit: 'x baseline p99' }),
    ],
    details: { redisCallsPerCreateAndRun: perCreate, ours: r.ours, baseline: r.baseline },
  };
}

module.exports = async function createScenario(envFor, size) {
  const rows = [];
  const details = {};
  const cases = [
    { key: 'embedded', label: 'embedded (api + workers)', role: undefined, target: 0.4 },
    { key: 'apiOnly', label: "API-only (role 'api', workers in another process)", role: 'api', target: 0.7 },
  ];
  for (const c of cases) {
    const env = await envFor({ role: c.role });
    try {
      const r = await measure(env, size, c.label, c.target);
      rows.push(...r.rows);
      details[c.key] = r.details;
    } finally {
      await env.close();
    }
  }
  return { rows, details };
};
