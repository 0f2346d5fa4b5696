// Scenario 4: worker throughput, upstream events folded and stored per second from an upstream
// that streams as fast as it can; baseline: the same stream parsed and RPUSHed in batches.
'use strict';

const { json } = require('../lib/http');
const { createResponse, waitDone, row, round } = require('../lib/common');
const { streamSpec, turnFrames } = require('../lib/fixture');
const { median } = require('../lib/http');

module.exports = async function workerScenario(env, size) {
  const seed = 4;
  const events = turnFrames(seed, size.deltas).events;
  const ours = [];
  const oursCpu = [];
  const base = [];
  const baseCpu = [];
  // A warm-up of each, then alternate.
  const runOurs = async () => {
    const cpu0 = (await json(env.origin, { path: '/bench/stats' })).cpu;
    const started = performance.now();
    const id = await createResponse(env, { seed, deltas: size.deltas });
    const { cpu } = await waitDone(env, id);
    const seconds = (performance.now() - started) / 1000;
    const cpuSeconds = (cpu.user - cpu0.user + cpu.system - cpu0.system) / 1e6;
    const stored = await env.client.lLen(`${env.keyPrefix}{${id}}:log`);
    await json(env.origin, { method: 'DELETE', path: `/llm/v1/responses/${id}` });
    return { rate: events / seconds, cpuRate: events / cpuSeconds, stored };
  };
  const runBase = async () => {
    const r = await json(env.origin, { method: 'POST', path: '/baseline/consume', body: { input: streamSpec({ seed, deltas: size.deltas }) } });
    return { rate: r.events / (r.ms / 1000), cpuRate: r.events / (r.cpuMs / 1000) };
  };
  await runOurs();
  await runBase();
  let stored = 0;
  for (let r = 0; r < size.rounds; r++) {
    const pair = r % 2 === 0 ? [runOurs, runBase] : [runBase, runOurs];
    for (const fn of pair) {
      const res = await fn();
      if (fn === runOurs) {
        ours.push(res.rate);
        oursCpu.push(res.cpuRate);
        stored = res.stored;
      } else {
        base.push(res.rate);
        baseCpu.push(res.cpuRate);
      }
    }
  }
  const rate = median(ours);
  const baseRate = median(base);
  return {
    rows: [
      row('4 worker', `${events} upstream events, events/s folded and stored (wall clock, median of ${size.rounds})`, { ours: Math.round(rate), baseline: Math.round(baseRate), value: Math.round(rate), target: 50000, unit: `events/s (${round(rate / baseRate)}x baseline)` }),
      row('4 worker', 'events per CPU-second of the server process', { ours: Math.round(median(oursCpu)), baseline: Math.round(median(baseCpu)), value: round(median(oursCpu) / median(baseCpu)), target: 0.8, unit: 'x baseline per CPU-second' }),
    ],
    details: { events, storedLogLength: stored, oursPerRound: ours.map(Math.round), baselinePerRound: base.map(Math.round), oursCpuPerRound: oursCpu.map(Math.round), baselineCpuPerRound: baseCpu.map(Math.round) },
  };
};
