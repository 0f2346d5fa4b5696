// The benchmarks' local upstream, run as its own process so its work stays off the server's event
// loop: answers POST /v1/responses with an OpenAI-shaped SSE text turn described by `input`,
// either as fast as the socket takes it or paced at a number of deltas per second.
'use strict';

const http = require('node:http');
const { turnFrames, parseSpec } = require('./lib/fixture');

const stats = { streams: 0, bytes: 0, open: 0 };
const cache = new Map();

function framesFor(seed, n) {
  const key = `${seed}:${n}`;
  let frames = cache.get(key);
  if (!frames) {
    frames = turnFrames(seed, n);
    if (cache.size > 16) cache.clear();
    cache.set(key, frames);
  }
  return frames;
}

/** Writes `text`, waiting for 'drain' when the socket buffer is full. */
function write(res, text) {
  stats.bytes += Buffer.byteLength(text);
  if (res.write(text)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

async function stream(res, spec) {
  // Frames of a paced stream are not cached: a thousand different seeds would evict each other.
  const frames = spec.rate > 0 ? turnFrames(spec.seed, spec.deltas) : framesFor(spec.seed, spec.deltas);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  await write(res, frames.head.join(''));
  if (spec.rate <= 0) {
    const all = frames.deltas.join('') + frames.tail.join('');
    for (let i = 0; i < all.length && !res.destroyed; i += 65536) await write(res, all.slice(i, i + 65536));
  } else {
    const tickMs = spec.tick > 0 ? spec.tick : Math.max(2, 1000 / spec.rate);
    const started = performance.now();
    let sent = 0;
    while (sent < frames.deltas.length && !res.destroyed) {
      // Catch up with the clock: the pace holds on average even when a timer fires late.
      const due = Math.min(frames.deltas.length, Math.floor(((performance.now() - started) / 1000) * spec.rate) + 1);
      if (due > sent) {
        await write(res, frames.deltas.slice(sent, due).join(''));
        sent = due;
      }
      await new Promise((r) => setTimeout(r, tickMs));
    }
    if (!res.destroyed) await write(res, frames.tail.join(''));
  }
  res.end();
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/__stats') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ...stats, cpu: process.cpuUsage() }));
    return;
  }
  if (req.method === 'POST' && req.url === '/__reset') {
    stats.streams = 0;
    stats.bytes = 0;
    res.end('{}');
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString());
    } catch {
      // An unparsable body gets the default tiny stream.
    }
    stats.streams += 1;
    stats.open += 1;
    stream(res, parseSpec(body.input))
      .catch(() => res.destroy())
      .finally(() => (stats.open -= 1));
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.send({ ready: true, port: server.address().port }));
process.on('disconnect', () => process.exit(0));
