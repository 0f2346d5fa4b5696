// `responsesWorker(options)` used in code, not through the CLI: an API-only router and a worker
// built from the same options on one real Redis, the worker's close() (in this process and in a
// child process that must exit by itself), and the worker's queue_depth gauge per deployment group.

import { spawn } from 'node:child_process';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import { responsesWorker, type ResponsesWorker } from '../../lib';
import type { ResponsesPollingOptions } from '../../lib/config/options';
import { silentLogger } from '../../lib/logger';
import { createRedisStore } from '../../lib/store/redis-store';
import type { ResponseStore } from '../../lib/types';
import { assertCliBuilt } from '../helpers/cli-instance';
import { startFakeUpstream, type FakeUpstream, type RecordedRequest } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { startApp, waitFor, waitForStatus, type TestApp } from '../helpers/app';
import { randomPrefix, testRedisUrl } from '../helpers/redis';
import { sleep, steps, textOf } from '../helpers/flow';

jest.setTimeout(60_000);

const TEXT = 'Run by a worker started in code — naïve, 漢字, done.';
/** The package as built: the child process loads it as a user's program would. */
const DIST_INDEX = path.join(path.resolve(__dirname, '../..'), 'dist/cjs/index.js');

let upstream: FakeUpstream;
let prefix: string;
let apps: TestApp[];
let workers: ResponsesWorker[];
let stores: ResponseStore[];

beforeEach(async () => {
  upstream = await startFakeUpstream();
  upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT, { chunkSize: 8 })) }));
  prefix = randomPrefix();
  apps = [];
  workers = [];
  stores = [];
});

afterEach(async () => {
  for (const w of workers) await w.close(1000);
  for (const app of apps) await app.close();
  for (const store of stores) await store.close();
  await upstream.close();
});

/** API-only options on the test Redis under this test's prefix; JSON-serialisable (the child process gets them). */
function apiOptions(worker: Record<string, number> = {}): ResponsesPollingOptions {
  return {
    redis: testRedisUrl(),
    keyPrefix: prefix,
    auth: 'none',
    role: 'api',
    models: [{ modelName: 'gpt-code', model: 'openai/gpt-4o-mini', apiBase: upstream.url, apiKey: 'sk-code-upstream' }],
    worker: { claimIntervalMs: 50, flushIntervalMs: 20, ...worker },
  };
}

async function startApi(options: ResponsesPollingOptions): Promise<TestApp> {
  const app = await startApp(options);
  apps.push(app);
  return app;
}

function startWorker(options: ResponsesPollingOptions): ResponsesWorker {
  const worker = responsesWorker({ logger: silentLogger, ...options });
  workers.push(worker);
  return worker;
}

const create = (app: TestApp, input: string, model = 'gpt-code') => app.client().responses.create({ model, input, background: true });

describe('responsesWorker(options) in code', () => {
  test('an API-only router keeps a response queued; responsesWorker on the same options runs it; after close() it claims nothing more', async () => {
    // A store the host built and keeps open: the worker's close() must stop claiming by itself.
    const store = createRedisStore({ url: testRedisUrl(), keyPrefix: prefix, logger: silentLogger });
    stores.push(store);
    const options: ResponsesPollingOptions = { ...apiOptions(), redis: undefined, store, logger: silentLogger };
    const api = await startApi(options);
    const first = await create(api, 'wait for a worker');
    expect(first.status).toBe('queued');
    // Many claim intervals: nothing in this process claims for an API-only router.
    await sleep(500);
    expect((await api.client().responses.retrieve(first.id)).status).toBe('queued');
    expect(upstream.requests).toHaveLength(0);

    const worker = responsesWorker(options);
    const done = await waitForStatus(api.client(), first.id, 'completed');
    expect(textOf(done)).toBe(TEXT);
    expect(upstream.requests).toHaveLength(1);
    await waitFor(() => worker.runtime.workers.size === 0, 5000, 'the worker done');
    await expect(worker.close()).resolves.toBeUndefined();

    const after = await create(api, 'created after close');
    await sleep(500);
    expect((await api.client().responses.retrieve(after.id)).status).toBe('queued');
    expect(upstream.requests).toHaveLength(1);
    expect(await store.queueDepth('gpt-code')).toBe(1);

    // It waited in the queue, not lost: a worker started later runs it.
    startWorker(options);
    expect(textOf(await waitForStatus(api.client(), after.id, 'completed'))).toBe(TEXT);
    expect(upstream.requests.map((r) => r.body.input)).toEqual(['wait for a worker', 'created after close']);
  });

  test('a worker process built with responsesWorker runs a queued response, and after close() it exits by itself (no handle left open)', async () => {
    assertCliBuilt();
    const options = apiOptions();
    const api = await startApi({ ...options, logger: silentLogger });
    const created = await create(api, 'run me in another process');
    // A user's program: the built package, the same options, close() on a message, then nothing.
    const program = [
      `const { responsesWorker } = require(${JSON.stringify(DIST_INDEX)});`,
      'const worker = responsesWorker(JSON.parse(process.env.RP_TEST_OPTIONS));',
      "process.on('message', async () => { await worker.close(); process.send('closed'); process.disconnect(); });",
      "process.send('started');",
    ].join('\n');
    const child = spawn(process.execPath, ['-e', program], {
      env: { ...process.env, REDIS_URL: '', RP_TEST_OPTIONS: JSON.stringify(options) },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr!.on('data', (c) => (stderr += c));
    const messages: unknown[] = [];
    child.on('message', (m) => messages.push(m));
    let exitCode: number | null | undefined;
    const exited = new Promise<void>((resolve) => child.once('exit', (code) => ((exitCode = code), resolve())));
    try {
      await waitFor(() => messages.includes('started'), 15_000, `the worker process started (stderr: ${stderr})`);
      expect(textOf(await waitForStatus(api.client(), created.id, 'completed', 15_000))).toBe(TEXT);
      child.send('close');
      await waitFor(() => messages.includes('closed'), 15_000, `close() resolved (stderr: ${stderr})`);
      await waitFor(() => exitCode !== undefined, 10_000, `the worker process exiting by itself after close() (stderr: ${stderr})`);
      expect(exitCode).toBe(0);
    } finally {
      if (exitCode === undefined) child.kill('SIGKILL');
      await exited;
    }
  });
});

/** The worker's metrics handler on a host app of its own, as a worker process serves it. */
async function serveMetrics(worker: ResponsesWorker): Promise<{ text(): Promise<string>; close(): Promise<void> }> {
  const app = express();
  app.get('/metrics', worker.metricsHandler());
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    text: async () => (await fetch(`${origin}/metrics`)).text(),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('queue metrics of a worker', () => {
  test('queue_depth{group} counts the responses waiting in each deployment group (not the claimed one) and follows a cancel', async () => {
    const base = apiOptions({ concurrency: 1 });
    const options: ResponsesPollingOptions = {
      ...base,
      logger: silentLogger,
      models: [
        { modelName: 'gpt-a', model: 'openai/model-a', apiBase: upstream.url, apiKey: 'sk-a' },
        { modelName: 'gpt-b', model: 'openai/model-b', apiBase: upstream.url, apiKey: 'sk-b' },
      ],
    };
    // Headers, then nothing: the one claimed response holds the worker's only slot.
    upstream.respond(() => ({ kind: 'sse', steps: [{ hang: true }] }));
    const api = await startApi(options);
    const a = [];
    for (let i = 0; i < 3; i += 1) a.push(await create(api, `a${i}`, 'gpt-a'));
    await create(api, 'b0', 'gpt-b');

    const worker = startWorker(options);
    const metrics = await serveMetrics(worker);
    try {
      const claimed: RecordedRequest = await upstream.waitForRequest(0);
      const claimedA = claimed.body.model === 'model-a' ? 1 : 0;
      const depth = (group: string, n: number) => `responses_polling_queue_depth{group="${group}"} ${n}`;
      const expectA = 3 - claimedA;
      const expectB = claimedA;
      await waitFor(async () => {
        const text = await metrics.text();
        return text.includes(depth('gpt-a', expectA)) && text.includes(depth('gpt-b', expectB));
      }, 10_000, `queue_depth a=${expectA} b=${expectB}`);

      // A cancelled waiting response leaves the queue, and the gauge follows.
      const toCancel = a.find((_r, i) => claimed.body.input !== `a${i}`)!;
      await api.client().responses.cancel(toCancel.id);
      await waitFor(async () => (await metrics.text()).includes(depth('gpt-a', expectA - 1)), 10_000, `queue_depth a=${expectA - 1}`);
      expect(upstream.requests).toHaveLength(1);
    } finally {
      await metrics.close();
    }
  });
});
