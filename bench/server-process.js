// The server under test, run as its own process: one Express app holding the package's router
// (built dist/cjs, Redis store) and the baseline routes (plain Express + node-redis), so both are
// measured in the same process under the same conditions. Also serves a few /bench/* probes.
'use strict';

const path = require('node:path');
const { packageOptions } = require('./lib/package-options');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { randomBytes } = require('node:crypto');
const express = require('express');
const { createClient } = require('@redis/client');
const { createParser } = require('eventsource-parser');

const config = JSON.parse(process.env.BENCH_SERVER_CONFIG);
const pkg = require(path.resolve(config.dist));

const app = express();
const router = pkg.responsesPolling({
  ...packageOptions(pkg, config),
  // 'api': this process only admits and serves; bench/worker-process.js runs the workers.
  ...(config.role ? { role: config.role } : {}),
});
app.use('/llm', router);

// Baseline: what plain Express and one node-redis command per request allow.
const redis = createClient({ url: config.redisUrl });
redis.on('error', () => undefined);
const baseline = express.Router();
baseline.get('/v1/responses/:id', async (req, res, next) => {
  try {
    const json = await redis.get(`bl:${req.params.id}`);
    if (json === null) return res.status(404).json({ error: { message: 'not found', type: 'invalid_request_error', param: null, code: null } });
    res.type('application/json').send(json);
  } catch (err) {
    next(err);
  }
});
baseline.post('/v1/responses', express.json({ limit: 1048576 }), async (req, res, next) => {
  try {
    const id = `resp_${randomBytes(24).toString('hex')}`;
    const response = { id, object: 'response', created_at: Math.floor(Date.now() / 1000), status: 'queued', background: true, model: req.body.model, input: req.body.input, output: [] };
    await redis.set(`bl:${id}`, JSON.stringify(response));
    res.json(response);
  } catch (err) {
    next(err);
  }
});
// Baseline for worker throughput: read the same SSE stream, JSON.parse every event, RPUSH in batches.
baseline.post('/consume', express.json(), async (req, res, next) => {
  try {
    const started = performance.now();
    const cpu = process.cpuUsage();
    const upstream = await fetch(`${config.upstreamUrl}/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: req.body.input, stream: true }) });
    const key = `bl:consume:${randomBytes(8).toString('hex')}`;
    let batch = [];
    let events = 0;
    const writes = [];
    const parser = createParser({
      onEvent(message) {
        JSON.parse(message.data);
        events += 1;
        batch.push(message.data);
        if (batch.length >= 256) {
          writes.push(redis.rPush(key, batch));
          batch = [];
        }
      },
    });
    const decoder = new TextDecoder();
    for await (const chunk of upstream.body) parser.feed(decoder.decode(chunk, { stream: true }));
    if (batch.length) writes.push(redis.rPush(key, batch));
    await Promise.all(writes);
    await redis.del(key);
    const used = process.cpuUsage(cpu);
    res.json({ events, ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000 });
  } catch (err) {
    next(err);
  }
});
// Baseline for resume: the log (from index `?from=`, default all) with one LRANGE, written as SSE frames.
baseline.get('/replay/:id', async (req, res, next) => {
  try {
    const entries = await redis.lRange(`${config.keyPrefix}{${req.params.id}}:log`, Number(req.query.from ?? 0), -1);
    res.status(200).setHeader('content-type', 'text/event-stream; charset=utf-8');
    res.flushHeaders();
    for (const entry of entries) {
      const type = /"type":"([^"]+)"/.exec(entry)?.[1] ?? 'message';
      if (!res.write(`event: ${type}\ndata: ${entry}\n\n`)) await new Promise((r) => res.once('drain', r));
    }
    res.end();
  } catch (err) {
    next(err);
  }
});
// Stores the JSON a poll returns under the baseline's key, so both answer the same bytes.
baseline.put('/store/:id', express.text({ type: () => true, limit: '10mb' }), async (req, res) => {
  await redis.set(`bl:${req.params.id}`, req.body);
  res.json({ ok: true });
});
app.use('/baseline', baseline);

// Probes.
const ELD_RESOLUTION_MS = 10;
const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
eld.enable();
const probes = express.Router();
probes.get('/stats', (_req, res) => {
  // The histogram holds whole timer intervals; the delay is what exceeds the sampling interval.
  const ms = (ns) => Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS);
  res.json({
    workers: router.runtime.workers.size,
    eld: { p50: ms(eld.percentile(50)), p99: ms(eld.percentile(99)), max: ms(eld.max), count: eld.count, resolution: ELD_RESOLUTION_MS },
    memory: process.memoryUsage(),
    cpu: process.cpuUsage(),
  });
});
probes.post('/eld-reset', (_req, res) => {
  eld.reset();
  res.json({ ok: true });
});
probes.post('/gc', (_req, res) => {
  if (global.gc) {
    global.gc();
    global.gc();
  }
  res.json({ memory: process.memoryUsage(), gc: Boolean(global.gc) });
});
// Resolves when the worker of `id` has written everything. The create enqueues and a worker here
// claims it a moment later, so until its worker shows up the record is read for a terminal status.
probes.get('/wait/:id', async (req, res) => {
  for (;;) {
    const worker = router.runtime.workers.get(req.params.id);
    if (worker) {
      await worker.done;
      break;
    }
    const stored = await router.runtime.config.store.read(req.params.id, null);
    if (!stored || !['queued', 'in_progress'].includes(stored.meta.status)) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  res.json({ cpu: process.cpuUsage() });
});
probes.get('/idle', async (_req, res) => {
  while (router.runtime.workers.size > 0) await new Promise((r) => setTimeout(r, 20));
  res.json({ ok: true });
});
app.use('/bench', probes);

const server = app.listen(0, '127.0.0.1', async () => {
  await redis.connect();
  process.send({ ready: true, port: server.address().port });
});
server.keepAliveTimeout = 60000;
process.on('disconnect', async () => {
  server.closeAllConnections();
  await router.close(1000).catch(() => undefined);
  await redis.quit().catch(() => undefined);
  process.exit(0);
});
