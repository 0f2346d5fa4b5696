#!/usr/bin/env node
// Write amplification broken down by command: one response's life watched with `redis-cli
// MONITOR` on a private redis-server (after a warm-up response, as scenario 3 counts), each
// command's RESP bytes added up per command and script. Needs a build (`npm run build`) and
// redis-cli on PATH (it comes with redis-server).
//   node bench/write-amp-breakdown.js [deltas=1000] [clock=10]
'use strict';

const path = require('node:path');
const { spawn } = require('node:child_process');
const { startEnv } = require('./lib/env');
const { createResponse, waitDone } = require('./lib/common');
const { json } = require('./lib/http');

/** The arguments of one MONITOR line (`<time> [<db> <client>] "ARG" "ARG" ...`), unescaped to their byte lengths. */
function monitorArgs(line) {
  const i = line.indexOf('] ');
  if (i < 0) return [];
  const args = [];
  const re = /"((?:[^"\\]|\\.)*)"/g;
  for (let m; (m = re.exec(line.slice(i + 2))); ) args.push(m[1].replace(/\\x[0-9a-f]{2}/g, 'x').replace(/\\(.)/g, '$1'));
  return args;
}

/** RESP bytes of one command. */
function respBytes(args) {
  let n = `*${args.length}\r\n`.length;
  for (const a of args) {
    const len = Buffer.byteLength(a);
    n += `$${len}\r\n`.length + len + 2;
  }
  return n;
}

async function main() {
  const deltas = Number(process.argv[2] ?? 1000);
  const clock = Number(process.argv[3] ?? 10);
  const dist = process.env.BENCH_DIST ? path.resolve(process.env.BENCH_DIST) : path.join(__dirname, '..', 'dist', 'cjs');
  const flushMs = require(path.join(dist, 'config', 'resolve')).DEFAULTS.worker.flushIntervalMs;
  const env = await startEnv({ dist, worker: { flushIntervalMs: Math.max(1, Math.round(flushMs / clock)) } });
  let monitor;
  try {
    // The scripts load once per Redis server: a short response first, not counted.
    await waitDone(env, await createResponse(env, { seed: 299, deltas: 20, rate: 1000 }));
    monitor = spawn('redis-cli', ['-u', env.redis.url, 'monitor']);
    let out = '';
    monitor.stdout.on('data', (d) => (out += d));
    await new Promise((r) => setTimeout(r, 300));
    await json(env.upstreamOrigin, { method: 'POST', path: '/__reset' });
    await waitDone(env, await createResponse(env, { seed: 300, deltas, rate: 80 * clock }));
    await new Promise((r) => setTimeout(r, 300));
    const upstream = await json(env.upstreamOrigin, { path: '/__stats' });
    const byCommand = new Map();
    let total = 0;
    for (const line of out.split('\n')) {
      // Commands run inside scripts are not network bytes; MONITOR itself is ours.
      if (!line.includes('] "') || line.includes(' lua] ') || /"monitor"/i.test(line)) continue;
      const args = monitorArgs(line);
      if (!args.length) continue;
      const name = args[0].toUpperCase() === 'EVALSHA' ? `EVALSHA ${args[1].slice(0, 8)} (${args[2]} keys)` : args[0].toUpperCase();
      const bytes = respBytes(args);
      const entry = byCommand.get(name) ?? { calls: 0, bytes: 0 };
      entry.calls += 1;
      entry.bytes += bytes;
      byCommand.set(name, entry);
      total += bytes;
    }
    console.log(`${deltas} deltas at 80/s (clock x${clock}): upstream ${upstream.bytes} B, Redis ${total} B = ${(total / upstream.bytes).toFixed(3)} x upstream`);
    console.log('command                         calls      bytes  x upstream');
    for (const [name, e] of [...byCommand].sort((a, b) => b[1].bytes - a[1].bytes)) {
      console.log(`${name.padEnd(30)} ${String(e.calls).padStart(6)} ${String(e.bytes).padStart(10)}  ${(e.bytes / upstream.bytes).toFixed(3)}`);
    }
    console.log('(an EVALSHA is named by its script\'s SHA prefix: the one with the most calls is the append)');
  } finally {
    monitor?.kill();
    await env.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
