// Scenario 5: many background responses streaming at once in one process while clients poll
// them: poll latency, event-loop delay, memory per running response, byte-exact final outputs;
// then the same with one API process (`role: 'api'`, polled) and one worker process.
'use strict';

const { json, request, keepAliveAgent, percentile } = require('../lib/http');
const { createResponse, row, round } = require('../lib/common');
const { textFor } = require('../lib/fixture');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves once no response is queued or claimed and, on the embedded server, no worker runs. */
async function drained(env) {
  if (env.role !== 'api') await json(env.origin, { path: '/bench/idle' });
  while ((await env.queuedJobs()) > 0) await sleep(20);
}

async function manyCase(env, size, n, label) {
  const deltas = size.rate * size.seconds;
  const seedOf = (i) => 5000 + i;
  // The baseline route serves a response of the size ours reach halfway, under the same load.
  const halfText = textFor(1, Math.floor(deltas / 2));
  await request(env.origin, { method: 'PUT', path: '/baseline/store/mid', body: JSON.stringify({ id: 'resp_mid', object: 'response', status: 'in_progress', output: [{ type: 'message', content: [{ type: 'output_text', text: halfText, annotations: [] }] }] }) });

  const mem0 = (await json(env.origin, { method: 'POST', path: '/bench/gc' })).memory;
  await json(env.origin, { method: 'POST', path: '/bench/eld-reset' });
  const cpuOf = async () => ({ server: (await json(env.origin, { path: '/bench/stats' })).cpu, upstream: (await json(env.upstreamOrigin, { path: '/__stats' })).cpu, bench: process.cpuUsage() });
  const cpu0 = await cpuOf();
  const started = performance.now();

  const ids = [];
  const agent = keepAliveAgent(32);
  let createRetries = 0;
  const createFailures = [];
  const createAll = (async () => {
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < n) {
        const i = next++;
        // A 503 (store busy) says "retry shortly"; a client would, so the bench does and counts it.
        for (let attempt = 0; ; attempt++) {
          try {
            ids[i] = await createResponse(env, { seed: seedOf(i), deltas, rate: size.rate, tickMs: size.tickMs }, agent);
            break;
          } catch (err) {
            createRetries += 1;
            if (attempt >= 5) {
              createFailures.push(String(err.message).slice(0, 200));
              break;
            }
            await sleep(200 * 2 ** attempt);
          }
        }
      }
    }));
  })();

  // Pollers: about one poll per response per second; one in ten goes to the baseline route.
  const lat = { ours: [], baseline: [] };
  let pollErrors = 0;
  let polling = true;
  const loops = 20;
  const pauseMs = Math.min(200, Math.max(1, Math.round((loops * 1000) / n)));
  const pollers = Array.from({ length: loops }, async (_, k) => {
    let j = k;
    while (polling) {
      const known = ids.filter(Boolean);
      if (known.length) {
        const baseline = j % 10 === 9;
        const path = baseline ? '/baseline/v1/responses/mid' : `/llm/v1/responses/${known[j % known.length]}`;
        try {
          const res = await request(env.origin, { path, agent });
          if (res.status === 200) lat[baseline ? 'baseline' : 'ours'].push(res.ms);
          else pollErrors += 1;
        } catch {
          pollErrors += 1;
        }
        j += loops;
      }
      await sleep(pauseMs);
    }
  });

  await createAll;
  const createSeconds = (performance.now() - started) / 1000;
  // Memory halfway through the streams, after a full GC, against the idle process before.
  await sleep(Math.max(0, (size.seconds * 1000) / 2 - createSeconds * 1000));
  const mid = await json(env.origin, { method: 'POST', path: '/bench/gc' });
  // Queued or claimed responses (the jobs hashes) when the workers run in another process.
  const running = env.role === 'api' ? await env.queuedJobs() : (await json(env.origin, { path: '/bench/stats' })).workers;
  await drained(env);
  const seconds = (performance.now() - started) / 1000;
  polling = false;
  await Promise.all(pollers);
  // Share of one core each process used while the responses ran.
  const cpu1 = await cpuOf();
  const busy = Object.fromEntries(Object.keys(cpu1).map((k) => [k, round((cpu1[k].user - cpu0[k].user + cpu1[k].system - cpu0[k].system) / 1e6 / seconds, 2)]));
  const stats = await json(env.origin, { path: '/bench/stats' });

  // Every final output, byte for byte.
  let wrong = 0;
  const failures = [];
  for (let i = 0; i < n; i++) {
    if (!ids[i]) {
      wrong += 1;
      continue;
    }
    const r = await json(env.origin, { path: `/llm/v1/responses/${ids[i]}`, agent });
    const text = r.output?.[0]?.content?.[0]?.text;
    if (r.status !== 'completed' || text !== textFor(seedOf(i), deltas)) {
      wrong += 1;
      if (failures.length < 3) failures.push({ id: ids[i], status: r.status, got: text?.length, want: textFor(seedOf(i), deltas).length });
    }
  }
  agent.destroy();
  const perHeap = (mid.memory.heapUsed - mem0.heapUsed) / Math.max(1, running);
  const perRss = (mid.memory.rss - mem0.rss) / Math.max(1, running);
  const scaled = label ? `, ${label}` : size.scaledDown ? ` (scaled down from 1000 x 20 s)` : '';
  const where = env.role === 'api' ? 'API process: ' : '';
  return {
    rows: [
      row('5 many', `${n} responses x ${size.seconds} s @ ${size.rate} deltas/s${scaled}: poll p50 / p99, ms`, { ours: `${round(percentile(lat.ours, 50))} / ${round(percentile(lat.ours, 99))}`, baseline: `${round(percentile(lat.baseline, 50))} / ${round(percentile(lat.baseline, 99))}`, value: round(percentile(lat.ours, 99)), target: 50, higherIsBetter: false, unit: `ms p99 (${lat.ours.length} polls)` }),
      row('5 many', `${n} responses${scaled}: poll p99 against the baseline route in the same run`, { ours: round(percentile(lat.ours, 99)), baseline: round(percentile(lat.baseline, 99)), value: round(percentile(lat.ours, 99) / percentile(lat.baseline, 99)), ...(lat.baseline.length ? { target: 2 } : {}), higherIsBetter: false, unit: 'x baseline p99' }),
      row('5 many', `${where}event-loop delay p50 / p99 / max, ms (beyond the ${stats.eld.resolution} ms sampling interval)`, { ours: `${round(stats.eld.p50)} / ${round(stats.eld.p99)} / ${round(stats.eld.max)}`, baseline: '', value: round(stats.eld.p99), target: 20, higherIsBetter: false, unit: 'ms p99' }),
      row('5 many', `${where}event-loop delay max, ms`, { ours: round(stats.eld.max), baseline: '', value: round(stats.eld.max), target: 100, higherIsBetter: false, unit: 'ms max' }),
      row('5 many', `${where}CPU used while streaming, cores: server / upstream / load generator`, { ours: `${busy.server} / ${busy.upstream} / ${busy.bench}`, baseline: '', value: busy.server, unit: `cores (machine: ${require('node:os').cpus().length})` }),
      row('5 many', `${where}memory per running response (heap / RSS, ${running} running at half time)`, { ours: `${round(perHeap / 1024, 1)} KB / ${round(perRss / 1024, 1)} KB`, baseline: '', value: round(perHeap / 1024, 1), unit: 'KB heap' }),
      row('5 many', `${label ? `${label}: ` : ''}final outputs byte-exact (completed, text equal); creates retried after a 503: ${createRetries}`, { ours: `${n - wrong} / ${n}`, baseline: '', value: n - wrong, target: n, unit: `of ${n}` }),
    ],
    details: { responses: n, cpuBusy: busy, createRetries, createFailures, deltasEach: deltas, seconds: round(seconds, 1), createSeconds: round(createSeconds, 2), polls: lat.ours.length, baselinePolls: lat.baseline.length, pollErrors, eld: stats.eld, mem0, memMid: mid.memory, running, failures },
  };
};

module.exports = async function manyScenario(envFor, size) {
  const rows = [];
  const details = {};
  const cases = [
    { key: 'embedded', role: undefined, n: size.responses, label: '' },
    { key: 'twoProcesses', role: 'api', n: size.twoProcessResponses, label: 'one API and one worker process' },
  ];
  for (const c of cases) {
    const env = await envFor({ role: c.role });
    try {
      const r = await manyCase(env, size, c.n, c.label);
      rows.push(...r.rows);
      details[c.key] = r.details;
    } finally {
      await env.close();
    }
  }
  return { rows, details };
};
