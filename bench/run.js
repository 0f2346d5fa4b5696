// The benchmark suite: `npm run bench` (quick), `npm run bench -- --full`, `--only=poll,create`,
// `--profile` (server CPU profiles in bench/profiles/). Every figure is measured beside a baseline
// in the same run and on private redis-servers; prints a table and writes bench/results/.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startEnv } = require('./lib/env');
const { formatTable, formatMarkdown } = require('./lib/report');

const SIZES = {
  smoke: {
    poll: { deltas: [200], rounds: 1, durationMs: 200, warmupMs: 100, concurrency: 4 },
    create: { rounds: 1, durationMs: 200, warmupMs: 100, concurrency: 4 },
    writeAmp: { cases: [{ deltas: 50, rate: 80, compress: 10 }, { deltas: 100, rate: 80, compress: 10 }] },
    worker: { deltas: 1000, rounds: 1 },
    many: { responses: 5, twoProcessResponses: 5, seconds: 1, rate: 50, tickMs: 100, scaledDown: true },
    resume: { events: 200, rounds: 1, longEvents: 600, tailEvents: 20 },
  },
  quick: {
    poll: { deltas: [3600, 9560], rounds: 3, durationMs: 2000, warmupMs: 500, concurrency: 16 },
    create: { rounds: 3, durationMs: 2000, warmupMs: 500, concurrency: 16 },
    writeAmp: { cases: [{ deltas: 1000, rate: 80, compress: 10 }, { deltas: 2000, rate: 80, compress: 10 }, { deltas: 10000, rate: 80, compress: 10 }] },
    worker: { deltas: 20000, rounds: 3 },
    many: { responses: 200, twoProcessResponses: 400, seconds: 10, rate: 50, tickMs: 100, scaledDown: true },
    resume: { events: 10000, rounds: 5, longEvents: 60000, tailEvents: 100 },
  },
  full: {
    poll: { deltas: [3600, 9560], rounds: 6, durationMs: 3000, warmupMs: 1000, concurrency: 16 },
    create: { rounds: 6, durationMs: 3000, warmupMs: 1000, concurrency: 16 },
    writeAmp: { cases: [{ deltas: 1000, rate: 80, compress: 1 }, { deltas: 2000, rate: 80, compress: 1 }, { deltas: 1000, rate: 80, compress: 10 }, { deltas: 2000, rate: 80, compress: 10 }, { deltas: 10000, rate: 80, compress: 10 }] },
    worker: { deltas: 100000, rounds: 5 },
    many: { responses: 1000, twoProcessResponses: 2000, seconds: 20, rate: 50, tickMs: 100, scaledDown: false },
    resume: { events: 10000, rounds: 10, longEvents: 60000, tailEvents: 100 },
  },
};

const SCENARIOS = [
  { key: 'poll', module: './scenarios/poll' },
  { key: 'create', module: './scenarios/create', ownEnv: true },
  { key: 'writeAmp', module: './scenarios/write-amp', ownEnv: true },
  { key: 'worker', module: './scenarios/worker' },
  { key: 'many', module: './scenarios/many', serverArgs: ['--expose-gc'], ownEnv: true },
  { key: 'resume', module: './scenarios/resume' },
];

/**
 * Runs the scenarios and resolves with `{ machine, mode, rows, details }`.
 * Options: `mode` ('quick' | 'full' | 'smoke'), `only` (scenario keys), `dist` (the built package
 * directory, default dist/cjs), `profileDir` (server CPU profiles), `log` (progress lines).
 */
async function runBench({ mode = 'quick', only, dist = path.join(__dirname, '..', 'dist', 'cjs'), profileDir, log = () => undefined } = {}) {
  const sizes = SIZES[mode];
  if (!sizes) throw new Error(`unknown mode ${mode}`);
  if (!fs.existsSync(path.join(dist, 'index.js'))) throw new Error(`${dist}/index.js is missing: run \`npm run build\` first`);
  const rows = [];
  const details = {};
  let redisVersion = '';
  for (const s of SCENARIOS) {
    if (only && !only.includes(s.key)) continue;
    const started = Date.now();
    log(`# ${s.key} ...`);
    // BENCH_NODE_ARGS: Node flags for the server (and worker) processes, e.g. a GC setting.
    const serverArgs = [...(s.serverArgs ?? []), ...(process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)];
    if (profileDir) serverArgs.push('--cpu-prof', `--cpu-prof-dir=${path.join(profileDir, s.key)}`);
    // BENCH_FLUSH_MS tries another `worker.flushIntervalMs` (write-amp scales it to its clock).
    const worker = process.env.BENCH_FLUSH_MS ? { flushIntervalMs: Number(process.env.BENCH_FLUSH_MS) } : undefined;
    const envFor = (opts = {}) => startEnv({ dist, serverArgs, worker, ...opts });
    envFor.dist = dist;
    // The flush window the measured build uses by default (write-amp compresses it with its clock).
    envFor.defaultFlushMs = require(path.join(dist, 'config', 'resolve')).DEFAULTS.worker.flushIntervalMs;
    const scenario = require(s.module);
    let result;
    try {
      if (s.ownEnv) {
        result = await scenario(envFor, sizes[s.key]);
      } else {
        const env = await envFor();
        try {
          redisVersion ||= (await env.info('server')).redis_version;
          result = await scenario(env, sizes[s.key]);
        } finally {
          await env.close();
        }
      }
    } catch (err) {
      // One scenario failing must not lose the others' figures: it becomes a failed row.
      log(`# ${s.key} failed: ${err.stack || err}`);
      result = { rows: [{ scenario: s.key, metric: 'scenario failed', ours: String(err.message || err).slice(0, 160), baseline: '', value: 'error', unit: '', target: 'runs', pass: false, note: '' }], details: { error: String(err.stack || err) } };
    }
    rows.push(...result.rows);
    details[s.key] = { ...result.details, size: sizes[s.key], seconds: Math.round((Date.now() - started) / 100) / 10 };
    log(`# ${s.key} done in ${details[s.key].seconds} s`);
  }
  const machine = {
    date: new Date().toISOString(),
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    redis: redisVersion,
    platform: `${os.platform()} ${os.release()}`,
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
  return { machine, mode, rows, details };
}

async function main() {
  const args = process.argv.slice(2);
  const mode = args.includes('--full') || process.env.BENCH_FULL === '1' ? 'full' : args.includes('--smoke') ? 'smoke' : 'quick';
  const only = args.find((a) => a.startsWith('--only='))?.slice(7).split(',');
  const profileDir = args.includes('--profile') ? path.join(__dirname, 'profiles', new Date().toISOString().replace(/[:.]/g, '-')) : undefined;
  const dist = process.env.BENCH_DIST ? path.resolve(process.env.BENCH_DIST) : undefined;
  const started = Date.now();
  const result = await runBench({ mode, only, dist, profileDir, log: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(`\n${formatTable(result)}\n`);
  const outDir = path.join(__dirname, 'results');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, `${mode}-latest.json`), JSON.stringify(result, null, 2));
  fs.writeFileSync(path.join(outDir, `${mode}-latest.md`), formatMarkdown(result, `npm run bench${mode === 'quick' ? '' : ` -- --${mode}`}`));
  process.stderr.write(`\nresults: bench/results/${mode}-latest.{json,md}${profileDir ? `; profiles: ${profileDir}` : ''}; ${Math.round((Date.now() - started) / 1000)} s\n`);
}

module.exports = { runBench, SIZES };

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
  });
}
