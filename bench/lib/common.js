// Helpers shared by the scenarios: creating background responses, interleaved A/B rounds, rows.
'use strict';

const { json, load, percentile } = require('./http');
const { streamSpec } = require('./fixture');

/** Creates a background response on the package's route; resolves with its id. */
async function createResponse(env, spec, agent) {
  const created = await json(env.origin, { method: 'POST', path: '/llm/v1/responses', agent, body: { model: 'bench-model', input: streamSpec(spec), background: true } });
  return created.id;
}

/** Resolves once the worker of `id` has written everything. */
function waitDone(env, id, agent) {
  return json(env.origin, { path: `/bench/wait/${id}`, agent });
}

/**
 * Runs `sides` (name → load options) in alternating order for `rounds` rounds, after one short
 * warm-up of each, so drift in machine load hits both alike. `between(name)` runs after each round.
 */
async function interleave(env, { rounds, durationMs, warmupMs, concurrency, sides, between, origins = {} }) {
  const names = Object.keys(sides);
  // A side may be served by another process than env's server (`origins[name]`).
  const originOf = (n) => origins[n] ?? env.origin;
  const out = Object.fromEntries(names.map((n) => [n, { count: 0, errors: 0, seconds: 0, latencies: [], perRound: [] }]));
  for (const n of names) {
    await load(originOf(n), { concurrency, durationMs: warmupMs, next: sides[n] });
    if (between) await between(n);
  }
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? names : [...names].reverse();
    for (const n of order) {
      const res = await load(originOf(n), { concurrency, durationMs, next: sides[n] });
      const acc = out[n];
      acc.count += res.count;
      acc.errors += res.errors;
      acc.seconds += res.seconds;
      for (const l of res.latencies) acc.latencies.push(l);
      acc.perRound.push(Math.round(res.rps));
      if (between) await between(n);
    }
  }
  for (const n of names) {
    const acc = out[n];
    acc.rps = acc.count / acc.seconds;
    acc.p50 = percentile(acc.latencies, 50);
    acc.p99 = percentile(acc.latencies, 99);
    delete acc.latencies;
  }
  return out;
}

/** Difference of two commandstats snapshots, only the commands that ran. */
function callsBetween(before, after) {
  const out = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}

/** A table row. `higherIsBetter` decides how `target` is compared with `value`. */
function row(scenario, metric, { ours, baseline, value, unit = '', target, targetText, higherIsBetter = true, note = '' }) {
  let pass;
  if (target !== undefined && Number.isFinite(value)) pass = higherIsBetter ? value >= target : value <= target;
  return { scenario, metric, ours, baseline, value, unit, target: targetText ?? (target === undefined ? '' : `${higherIsBetter ? '≥' : '≤'} ${target}`), pass, note };
}

function round(x, digits = 2) {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

module.exports = { createResponse, waitDone, interleave, callsBetween, row, round };
