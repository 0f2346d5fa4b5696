// Scenario 1: poll throughput of a completed ~20 KB response against Express + one node-redis GET.
'use strict';

const { json, request } = require('../lib/http');
const { createResponse, waitDone, interleave, callsBetween, row, round } = require('../lib/common');

module.exports = async function pollScenario(env, size) {
  const id = await createResponse(env, { seed: 1, deltas: size.deltas });
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
      row('1 poll', `GET /v1/responses/{id}, ${kb} KB, req/s (c=${size.concurrency})`, { ours: Math.round(r.ours.rps), baseline: Math.round(r.baseline.rps), value: round(ratio), target: 0.8, unit: 'x baseline' }),
      row('1 poll', 'p50 / p99 latency, ms', { ours: `${round(r.ours.p50)} / ${round(r.ours.p99)}`, baseline: `${round(r.baseline.p50)} / ${round(r.baseline.p99)}`, value: round(r.ours.p99 / r.baseline.p99), unit: 'x baseline p99' }),
    ],
    details: { responseBytes: Buffer.byteLength(polled.body), redisCallsPerPoll: perPoll, ours: r.ours, baseline: r.baseline },
  };
};
