// Scenario 1: poll throughput of completed responses (about 18 KB and 46 KB) against Express + one
// node-redis GET of the same JSON.
'use strict';

const { json, request } = require('../lib/http');
const { createResponse, waitDone, interleave, callsBetween, row, round } = require('../lib/common');

async function pollOne(env, size, deltas, seed) {
  const id = await createResponse(env, { seed, deltas });
  await waitDone(env, id);
  const polled = await request(env.origin, { path: `/llm/v1/responses/${id}` });
  const parsed = JSON.parse(polled.body);
  if (parsed.status !== 'completed') throw new Error(`poll scenario: the response is ${parsed.status}, not completed`);
  await request(env.origin, { method: 'PUT', path: `/baseline/store/${id}`, body: polled.body });
  const baselineBody = (await request(env.origin, { path: `/baseline/v1/responses/${id}` })).body;
  if (baselineBody !== polled.body) throw new Error('poll scenario: the baseline does not answer the same JSON');

  const before = await env.commandCalls();
  await json(env.origin, { path: `/llm/v1/responses/${id}` });
  const perPoll = callsBetween(before, await env.commandCalls());

  const r = await interleave(env, {
    rounds: size.rounds,
    durationMs: size.durationMs,
    warmupMs: size.warmupMs,
    concurrency: size.concurrency,
    sides: { ours: () => ({ path: `/llm/v1/responses/${id}` }), baseline: () => ({ path: `/baseline/v1/responses/${id}` }) },
  });
  const ratio = r.ours.rps / r.baseline.rps;
  const kb = round(Buffer.byteLength(polled.body) / 1024, 1);
  return {
    rows: [
      row('1 poll', `GET /v1/responses/{id}, ${kb} KB, req/s (c=${size.concurrency})`, { ours: Math.round(r.ours.rps), baseline: Math.round(r.baseline.rps), value: round(ratio), target: 0.9, unit: 'x baseline' }),
      row('1 poll', `${kb} KB: p50 / p99 latency, ms`, { ours: `${round(r.ours.p50)} / ${round(r.ours.p99)}`, baseline: `${round(r.baseline.p50)} / ${round(r.baseline.p99)}`, value: round(r.ours.p99 / r.baseline.p99), target: 1.3, higherIsBetter: false, unit: 'x baseline p99' }),
    ],
    details: { responseBytes: Buffer.byteLength(polled.body), redisCallsPerPoll: perPoll, ours: r.ours, baseline: r.baseline },
  };
};

module.exports = async function pollScenario(env, size) {
  const rows = [];
  const details = {};
  for (const [i, deltas] of size.deltas.entries()) {
    const r = await pollOne(env, size, deltas, 1 + i);
    rows.push(...r.rows);
    details[`${deltas}deltas`] = r.details;
  }
  return { rows, details };
};
