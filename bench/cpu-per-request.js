// CPU time per request of the server process, ours against the baseline route in the same
// process: far steadier than req/s on a shared machine. Usage:
//   node bench/cpu-per-request.js poll|create|resume|resume-tail [api]     (env: N requests a
//   round, R rounds, DELTAS poll body size, BENCH_DIST another build, REDIS_SLOW=1 also lists the
//   slow scripts). resume: replays of scenario 6's 10,001-event log; resume-tail: its last 100
//   events of a 60,001-event log; both against the baseline's LRANGE written out as SSE.
'use strict';

const http = require('node:http');
const path = require('node:path');
const { startEnv } = require('./lib/env');
const { json, request } = require('./lib/http');
const { createResponse, waitDone } = require('./lib/common');
const { streamSpec } = require('./lib/fixture');

const dist = path.resolve(process.env.BENCH_DIST || path.join(__dirname, '..', 'dist', 'cjs'));
const [what = 'poll', role] = process.argv.slice(2);
const RESUME = what === 'resume' || what === 'resume-tail';
// A replay costs about a hundred polls.
const N = Number(process.env.N || (RESUME ? 40 : 3000));
const ROUNDS = Number(process.env.R || 4);
const CONCURRENCY = RESUME ? 2 : 8;

async function cpuMicros(env) {
  const s = await json(env.origin, { path: '/bench/stats' });
  return s.cpu.user + s.cpu.system;
}

async function drained(env) {
  if (env.role !== 'api') await json(env.origin, { path: '/bench/idle' });
  while ((await env.queuedJobs()) > 0) await new Promise((r) => setTimeout(r, 20));
}

/** `count` requests of `next()`, CONCURRENCY at a time, then `after()`; server CPU µs per request. */
async function cpuPerRequest(env, next, count, after) {
  const before = await cpuMicros(env);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let sent = 0;
  let done = 0;
  await new Promise((resolve, reject) => {
    const one = () => {
      if (sent >= count) return;
      sent++;
      const o = next();
      const req = http.request(env.origin + o.path, { method: o.method ?? 'GET', agent, headers: o.body ? { 'content-type': 'application/json' } : {} }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode >= 300) return reject(new Error(`${o.path} answered ${res.statusCode}`));
          if (++done === count) resolve();
          else one();
        });
      });
      req.on('error', reject);
      req.end(o.body);
    };
    for (let i = 0; i < CONCURRENCY; i++) one();
  });
  agent.destroy();
  if (after) await after();
  return ((await cpuMicros(env)) - before) / count;
}

async function slowScripts(env) {
  const slow = await env.client.sendCommand(['SLOWLOG', 'GET', '100000']);
  const by = {};
  for (const [, , micros, args] of slow) {
    const key = `${args[0]} ${String(args[1] ?? '').slice(0, 10)} ${String(args[3] ?? '').replace(/[0-9a-f]{20,}/, '…')}`;
    by[key] ??= { calls: 0, micros: 0 };
    by[key].calls++;
    by[key].micros += Number(micros);
  }
  return Object.entries(by).sort((a, b) => b[1].micros - a[1].micros).slice(0, 10).map(([k, v]) => `${v.calls} calls, ${Math.round(v.micros / v.calls)} µs avg: ${k}`);
}

(async () => {
  const env = await startEnv({ dist, role });
  try {
    if (process.env.REDIS_SLOW) {
      await env.client.configSet('slowlog-log-slower-than', '100');
      await env.client.configSet('slowlog-max-len', '100000');
    }
    let sides;
    if (what === 'poll') {
      const id = await createResponse(env, { seed: 1, deltas: Number(process.env.DELTAS || 3600) });
      await waitDone(env, id);
      const polled = await request(env.origin, { path: `/llm/v1/responses/${id}` });
      await request(env.origin, { method: 'PUT', path: `/baseline/store/${id}`, body: polled.body });
      sides = { ours: { next: () => ({ path: `/llm/v1/responses/${id}` }) }, baseline: { next: () => ({ path: `/baseline/v1/responses/${id}` }) } };
    } else if (what === 'create') {
      const body = JSON.stringify({ model: 'bench-model', input: streamSpec({ seed: 2, deltas: 1 }), background: true, metadata: { bench: 'create' } });
      sides = {
        // The embedded server's CPU includes running the responses it created.
        ours: { next: () => ({ method: 'POST', path: '/llm/v1/responses', body }), after: () => drained(env) },
        baseline: { next: () => ({ method: 'POST', path: '/baseline/v1/responses', body }) },
      };
    } else if (RESUME) {
      const tail = what === 'resume-tail';
      const id = await createResponse(env, { seed: 6, deltas: (tail ? 60001 : 10001) - 8 });
      await waitDone(env, id);
      const after = tail ? (await env.client.lLen(`${env.keyPrefix}{${id}}:log`)) - 1 - 100 : -1;
      sides = {
        ours: { next: () => ({ path: `/llm/v1/responses/${id}?stream=true${tail ? `&starting_after=${after}` : ''}` }) },
        baseline: { next: () => ({ path: `/baseline/replay/${id}${tail ? `?from=${after + 1}` : ''}` }) },
      };
    } else {
      throw new Error(`unknown case ${what}: poll, create, resume or resume-tail`);
    }
    const out = { ours: [], baseline: [] };
    for (const n of ['ours', 'baseline']) await cpuPerRequest(env, sides[n].next, Math.min(N, 500), sides[n].after); // warm-up
    for (let r = 0; r < ROUNDS; r++) {
      for (const n of r % 2 ? ['baseline', 'ours'] : ['ours', 'baseline']) out[n].push(Math.round(await cpuPerRequest(env, sides[n].next, N, sides[n].after)));
    }
    const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    // ratio: baseline / ours (a throughput ratio, higher is better); a replay is judged as ours / baseline.
    const ratio = RESUME ? { xBaseline: Number((median(out.ours) / median(out.baseline)).toFixed(3)) } : { ratio: Number((median(out.baseline) / median(out.ours)).toFixed(3)) };
    console.log(JSON.stringify({ case: what, role: role ?? 'all', oursMicros: out.ours, baselineMicros: out.baseline, ...ratio }));
    if (process.env.REDIS_SLOW) for (const line of await slowScripts(env)) console.log(line);
  } finally {
    await env.close();
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
