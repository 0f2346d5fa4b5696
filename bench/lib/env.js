// One scenario's private world: a redis-server on a free 127.0.0.1 port (never the system one),
// the bench upstream and the server under test as child processes, and Redis INFO readers.
'use strict';

const { spawn, fork } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { createClient } = require('@redis/client');

const INSTALL_HINT = 'redis-server was not found on PATH: install it (Debian/Ubuntu: `apt-get install redis-server`).';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function pingOnce(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

function stopChild(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    // Bench children exit by themselves on disconnect (writing a CPU profile when asked to);
    // redis-server and stragglers get SIGTERM, then SIGKILL.
    const ipc = child.connected;
    const term = setTimeout(() => child.kill('SIGTERM'), ipc ? 5000 : 0);
    const kill = setTimeout(() => child.kill('SIGKILL'), ipc ? 8000 : 3000);
    child.once('exit', () => {
      clearTimeout(term);
      clearTimeout(kill);
      resolve();
    });
    if (ipc) child.disconnect();
  });
}

/** Starts a redis-server without persistence on a free port; resolves once it answers PING. */
async function startRedis() {
  let lastError;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const failed = new Promise((_, reject) => {
      child.once('error', (err) => reject(err.code === 'ENOENT' ? new Error(INSTALL_HINT) : err));
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
    });
    failed.catch(() => undefined);
    const ready = (async () => {
      const deadline = Date.now() + 10000;
      while (Date.now() < deadline) {
        if (await pingOnce(port)) return;
        await new Promise((r) => setTimeout(r, 30));
      }
      throw new Error('redis-server did not answer PING');
    })();
    try {
      await Promise.race([ready, failed]);
      return { url: `redis://127.0.0.1:${port}`, port, pid: child.pid, stop: () => stopChild(child) };
    } catch (err) {
      await stopChild(child);
      if (err.message === INSTALL_HINT) throw err;
      lastError = err;
    }
  }
  throw lastError;
}

/** Forks a bench child process and waits for its `{ ready, port }` message. */
function forkReady(file, env, execArgv = []) {
  const child = fork(path.join(__dirname, '..', file), [], { env: { ...process.env, ...env }, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code} before it was ready`)));
    child.once('message', (msg) => resolve({ child, port: msg.port, pid: child.pid, stop: () => stopChild(child) }));
  });
}

/** Redis INFO as a flat object of numbers and strings. */
async function info(client, section) {
  const text = await client.info(section);
  const out = {};
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** Calls per command from INFO commandstats, e.g. `{ evalsha: 12, get: 3 }`. */
async function commandCalls(client) {
  const stats = await info(client, 'commandstats');
  const calls = {};
  for (const [k, v] of Object.entries(stats)) {
    const m = /calls=(\d+)/.exec(v);
    if (k.startsWith('cmdstat_') && m) calls[k.slice(8)] = Number(m[1]);
  }
  return calls;
}

/** Hash lengths of every queue's jobs (queued and claimed responses): 0 once all workers are done. */
async function queuedJobs(client, keyPrefix) {
  let total = 0;
  for await (const key of client.scanIterator({ MATCH: `${keyPrefix}{q:*}:jobs`, COUNT: 100 })) {
    for (const k of Array.isArray(key) ? key : [key]) total += await client.hLen(k);
  }
  return total;
}

/**
 * Starts a scenario's processes: Redis, the upstream and the server (with `worker` options).
 * With `role: 'api'` the server runs no workers and a separate worker process
 * (bench/worker-process.js) runs them. Returns URLs, a Redis client for INFO and `close()`.
 */
async function startEnv({ dist, worker, serverArgs = [], role } = {}) {
  const redis = await startRedis();
  const parts = [redis];
  try {
    const upstream = await forkReady('upstream-process.js', {});
    parts.push(upstream);
    const upstreamUrl = `http://127.0.0.1:${upstream.port}/v1`;
    const keyPrefix = 'rp:';
    const serverConfig = { dist, redisUrl: redis.url, upstreamUrl, keyPrefix, worker, role };
    const server = await forkReady('server-process.js', { BENCH_SERVER_CONFIG: JSON.stringify(serverConfig) }, serverArgs);
    parts.push(server);
    const workers = role === 'api' ? await forkReady('worker-process.js', { BENCH_SERVER_CONFIG: JSON.stringify(serverConfig) }, serverArgs) : undefined;
    if (workers) parts.push(workers);
    const client = createClient({ url: redis.url });
    client.on('error', () => undefined);
    await client.connect();
    return {
      redis,
      keyPrefix,
      upstreamOrigin: `http://127.0.0.1:${upstream.port}`,
      origin: `http://127.0.0.1:${server.port}`,
      serverPid: server.pid,
      workerPid: workers?.pid,
      role: role ?? 'all',
      client,
      queuedJobs: () => queuedJobs(client, keyPrefix),
      info: (section) => info(client, section),
      commandCalls: () => commandCalls(client),
      async close() {
        await client.quit().catch(() => undefined);
        for (const p of parts.reverse()) await p.stop();
      },
    };
  } catch (err) {
    for (const p of parts.reverse()) await p.stop();
    throw err;
  }
}

/**
 * Starts the CLI (`responses-polling --config`, role all, its defaults otherwise) of the build in
 * `dist` on its own Redis, with the bench deployment and `auth: none` like the server process;
 * resolves once its ready line names the port.
 */
async function startCli({ dist, upstreamUrl, keyPrefix = 'rp:' }) {
  const redis = await startRedis();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-cli-'));
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(file, [
    'model_list:',
    '  - model_name: bench-model',
    `    litellm_params: { model: openai/bench-model, api_base: "${upstreamUrl}", api_key: sk-bench-upstream }`,
    'litellm_settings:',
    `  cache_params: { type: redis, host: 127.0.0.1, port: ${redis.port} }`,
    '  responses: { background_mode: { polling_via_cache: "all", ttl: 3600 } }',
    'responses_polling:',
    '  auth: none',
    `  key_prefix: "${keyPrefix}"`,
    '',
  ].join('\n'));
  const child = spawn(process.execPath, [path.join(dist, 'cli.js'), '--config', file, '--port', '0', '--prefix', '/llm'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = async () => {
    await stopChild(child);
    await redis.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const port = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`the CLI exited with ${code} before it was ready: ${out.slice(0, 300)}`)));
    });
    const client = createClient({ url: redis.url });
    client.on('error', () => undefined);
    await client.connect();
    return {
      origin: `http://127.0.0.1:${port}`,
      pid: child.pid,
      queuedJobs: () => queuedJobs(client, keyPrefix),
      async close() {
        await client.quit().catch(() => undefined);
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

module.exports = { startRedis, startEnv, startCli, freePort };
