// A small keep-alive HTTP load generator: N concurrent request loops for a while, with latencies.
'use strict';

const http = require('node:http');

/** A keep-alive agent for `concurrency` sockets. */
function keepAliveAgent(concurrency) {
  return new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
}

/**
 * One request. Resolves with the status, the body (string), the total time and the time to the
 * first body byte, in ms.
 */
function request(origin, { method = 'GET', path, body, headers = {}, agent }) {
  const url = new URL(origin);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.request(
      { host: url.hostname, port: url.port, method, path, agent, headers: body === undefined ? headers : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } },
      (res) => {
        const chunks = [];
        let firstMs;
        res.on('data', (c) => {
          if (firstMs === undefined) firstMs = performance.now() - started;
          chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString(), ms: performance.now() - started, firstMs }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** JSON body of a request that must answer 2xx. */
async function json(origin, opts) {
  const res = await request(origin, { ...opts, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  if (res.status < 200 || res.status > 299) throw new Error(`${opts.method ?? 'GET'} ${opts.path} answered ${res.status}: ${res.body.slice(0, 300)}`);
  return JSON.parse(res.body);
}

/**
 * Runs `concurrency` closed loops for `durationMs`; `next(i)` gives the i-th request's options.
 * Every non-2xx answer counts as an error. Returns count, errors, seconds and latencies (ms).
 */
async function load(origin, { concurrency, durationMs, next, agent = keepAliveAgent(concurrency), pauseMs = 0 }) {
  const latencies = [];
  let errors = 0;
  let i = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  const loop = async () => {
    while (performance.now() < deadline) {
      const opts = next(i++);
      try {
        const res = await request(origin, { ...opts, agent });
        if (res.status >= 200 && res.status < 300) latencies.push(res.ms);
        else errors += 1;
      } catch {
        errors += 1;
      }
      if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const seconds = (performance.now() - started) / 1000;
  return { count: latencies.length, errors, seconds, rps: latencies.length / seconds, latencies };
}

/** The p-th percentile (0..100) of `values` (ms), nearest rank. */
function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function median(values) {
  return percentile(values, 50);
}

module.exports = { keepAliveAgent, request, json, load, percentile, median };
