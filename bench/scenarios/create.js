// Scenario 2: create throughput (`background: true`, an upstream that answers at once) against
// Express parsing the same body and doing one Redis SET: on the embedded default (API and workers
// in one process), on an API-only instance (`role: 'api'`, workers in another process), and on the
// CLI with its defaults (its own process and Redis; the baseline route in the server process).
'use strict';

const { json } = require('../lib/http');
const { startCli } = require('../lib/env');
const { interleave, callsBetween, row, round } = require('../lib/common');
const { streamSpec } = require('../lib/fixture');

/** Resolves once no response is queued or claimed and, on the embedded server, no worker runs. */
async function drained(env) {
  if (env.role !== 'api') await json(env.origin, { path: '/bench/idle' });
  while ((await env.queuedJobs()) > 0) await new Promise((r) => setTimeout(r, 20));
}

/** Waits until the CLI's queue is empty (its workers have run every response created so far). */
async function cliDrained(cli) {
  while ((await cli.queuedJobs()) > 0) await new Promise((r) => setTimeout(r, 20));
}

async function measure(env, size, label, target, cli) {
  const body = JSON.stringify({ model: 'bench-model', input: streamSpec({ seed: 2, deltas: 1 }), background: true, metadata: { bench: 'create' } });
  const ourOrigin = cli ? cli.origin : env.origin;
  const ourDrained = cli ? () => cliDrained(cli) : () => drained(env);

  let perCreate;
  if (!cli) {
    const before = await env.commandCalls();
    const one = await json(env.origin, { method: 'POST', path: '/llm/v1/responses', body: JSON.parse(body) });
    await json(env.origin, { path: `/bench/wait/${one.id}` });
    await drained(env);
    perCreate = callsBetween(before, await env.commandCalls());
  }

  const r = await interleave(env, {
    rounds: size.rounds,
    durationMs: size.durationMs,
    warmupMs: size.warmupMs,
    concurrency: size.concurrency,
    sides: { ours: () => ({ method: 'POST', path: '/llm/v1/responses', body }), baseline: () => ({ method: 'POST', path: '/baseline/v1/responses', body }) },
    origins: { ours: ourOrigin },
    // Responses created in a round finish their (tiny) streams before the next round starts.
    between: (name) => (name === 'ours' ? ourDrained() : undefined),
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
    // The CLI's defaults (metrics, request logs, server limits) next to the same baseline: the
    // target of the embedded default, since the CLI runs API and workers in one process too.
    { key: 'cli', label: 'CLI defaults (responses-polling --config, api + workers; baseline in another process)', role: undefined, target: 0.4, cli: true },
  ];
  for (const c of cases) {
    const env = await envFor({ role: c.role });
    let cli;
    try {
      if (c.cli) cli = await startCli({ dist: envFor.dist, upstreamUrl: `${env.upstreamOrigin}/v1` });
      const r = await measure(env, size, c.label, c.target, cli);
      rows.push(...r.rows);
      details[c.key] = r.details;
    } finally {
      await cli?.close();
      await env.close();
    }
  }
  return { rows, details };
};
