// Operators' features through real HTTP and a real Redis: Prometheus metrics, the health check,
// request ids on every log line, no secret in any log line, and lifecycle hooks once per ending.

import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { createRedisStore } from '../../lib/store/redis-store';
import { ownerHash, responsesPolling, type ResponseFinishedEvent, type ResponsesPollingRouter } from '../../lib';
import type { ResponsesPollingOptions } from '../../lib/config/options';
import type { Logger, ResponseStore } from '../../lib/types';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { steps, failedWith } from '../helpers/flow';
import { waitFor } from '../helpers/app';
import { randomPrefix, testRedisUrl } from '../helpers/redis';
import { startRedisServer } from '../helpers/redis-server';

const MASTER_KEY = 'sk-master-secret-obs-0123456789';
const TEAM_KEY = 'sk-team-secret-obs-abcdef012345';
const UPSTREAM_KEY = 'sk-upstream-secret-obs-fedcba9876';
const SECRETS = [MASTER_KEY, TEAM_KEY, UPSTREAM_KEY];

interface LogLine {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

function capturingLogger(lines: LogLine[]): Logger {
  const at = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => {
    lines.push({ level, msg, fields });
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

interface ObsApp {
  origin: string;
  router: ResponsesPollingRouter;
  lines: LogLine[];
  hooked: ResponseFinishedEvent[];
  post(body: Record<string, unknown>, headers?: Record<string, string>, key?: string): Promise<globalThis.Response>;
  call(method: string, path: string, key?: string): Promise<globalThis.Response>;
  close(): Promise<void>;
}

/** A host app with the router under /llm, and /metrics and /healthz mounted by the host. */
async function startObsApp(options: ResponsesPollingOptions): Promise<ObsApp> {
  const lines: LogLine[] = [];
  const hooked: ResponseFinishedEvent[] = [];
  const app = express();
  const router = responsesPolling({
    logger: capturingLogger(lines),
    lifecycleHooks: { onResponseFinished: (event) => void hooked.push(event) },
    ...options,
  });
  app.use('/llm', router);
  app.get('/metrics', router.metricsHandler());
  app.get('/healthz', router.healthCheck({ timeoutMs: 500 }));
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = (method: string, path: string, key = MASTER_KEY) => fetch(`${origin}${path}`, { method, headers: { authorization: `Bearer ${key}` } });
  return {
    origin,
    router,
    lines,
    hooked,
    post: (body, headers = {}, key = MASTER_KEY) =>
      fetch(`${origin}/llm/v1/responses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
        body: JSON.stringify(body),
      }),
    call,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await router.close(2000);
    },
  };
}

async function statusOf(app: ObsApp, id: string): Promise<string> {
  const res = await app.call('GET', `/llm/v1/responses/${id}`);
  return ((await res.json()) as { status: string }).status;
}

async function metricsText(app: ObsApp): Promise<string> {
  const res = await fetch(`${app.origin}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return res.text();
}

function expectNoSecret(lines: LogLine[]): void {
  const text = lines.map((l) => JSON.stringify(l)).join('\n');
  for (const secret of SECRETS) expect(text).not.toContain(secret);
  expect(text.toLowerCase()).not.toContain('bearer ');
}

const TEXT = 'Metrics count what happened, once.';

describe('observability: metrics, health, request ids, logs and lifecycle hooks', () => {
  let upstream: FakeUpstream;
  let prefix: string;
  let stores: ResponseStore[];
  let apps: ObsApp[];

  const newStore = () => {
    const store = createRedisStore({ url: testRedisUrl(), keyPrefix: prefix });
    stores.push(store);
    return store;
  };
  const options = (): ResponsesPollingOptions => ({
    store: newStore(),
    masterKey: MASTER_KEY,
    virtualKeys: [{ key: TEAM_KEY, id: 'team-a', rpmLimit: 1 }],
    models: [{ modelName: 'gpt-test', model: 'openai/gpt-4o-mini', apiBase: upstream.url, apiKey: UPSTREAM_KEY }],
    worker: { flushIntervalMs: 10, upstreamIdleTimeoutMs: 3000 },
  });
  const start = async (extra: ResponsesPollingOptions = {}) => {
    const app = await startObsApp({ ...options(), ...extra });
    apps.push(app);
    return app;
  };

  beforeEach(async () => {
    upstream = await startFakeUpstream();
    prefix = randomPrefix();
    stores = [];
    apps = [];
    upstream.respond((req) => {
      const input = String(req.body.input);
      if (input === 'fail') return { kind: 'json', status: 500, body: { error: { message: `boom for ${UPSTREAM_KEY}`, type: 'server_error' } } };
      if (input === 'hang') return { kind: 'sse', steps: [...steps(textTurnEvents(TEXT).slice(0, 4)), { hang: true }] };
      if (input === 'json') return { kind: 'json', status: 200, body: { id: 'resp_upstream', object: 'response', status: 'completed', output: [] } };
      if (input === 'incomplete') return { kind: 'sse', steps: steps(textTurnEvents(TEXT, { finish: 'incomplete' })) };
      return { kind: 'sse', steps: steps(textTurnEvents(TEXT)) };
    });
  });

  afterEach(async () => {
    for (const app of apps) await app.close();
    for (const store of stores) await store.close();
    await upstream.close();
  });

  test('the metrics text counts a completed, a failed (upstream 500) and a cancelled response, and a limiter refusal', async () => {
    const app = await start();
    const ids: Record<string, string> = {};
    for (const input of ['ok', 'fail', 'hang']) {
      const res = await app.post({ model: 'gpt-test', input, background: true });
      expect(res.status).toBe(200);
      ids[input] = ((await res.json()) as { id: string }).id;
    }
    await waitFor(async () => (await statusOf(app, ids.ok)) === 'completed', 10000, 'completed');
    await waitFor(async () => (await statusOf(app, ids.fail)) === 'failed', 10000, 'failed');
    await waitFor(async () => (await statusOf(app, ids.hang)) === 'in_progress', 10000, 'in progress');
    expect((await app.call('POST', `/llm/v1/responses/${ids.hang}/cancel`)).status).toBe(200);
    await waitFor(() => app.router.runtime.workers.size === 0, 10000, 'workers done');
    // The team key may make one request a minute: the second is refused before any id exists.
    const team = await app.post({ model: 'gpt-test', input: 'ok', background: true }, {}, TEAM_KEY);
    expect(team.status).toBe(200);
    const teamId = ((await team.json()) as { id: string }).id;
    expect((await app.post({ model: 'gpt-test', input: 'ok', background: true }, {}, TEAM_KEY)).status).toBe(429);
    // A queued response's worker starts only once it is claimed: wait for its end, not for no worker.
    await waitFor(async () => (await statusOf(app, teamId)) === 'completed', 10000, 'the team response completed');
    await waitFor(() => app.router.runtime.workers.size === 0, 10000, 'workers done');
    // Without background: relayed as it is, counted on its own path.
    expect((await app.post({ model: 'gpt-test', input: 'json' })).status).toBe(200);
    // Counted when the server side of the answer closes, which may follow the client's read.
    await waitFor(async () => (await metricsText(app)).includes('{path="pass_through",status="completed"} 1'), 10000, 'pass-through counted');

    const text = await metricsText(app);
    expect(text).toContain('# TYPE responses_polling_responses_total counter');
    expect(text).toContain('responses_polling_responses_created_total{path="polling"} 4');
    expect(text).toContain('responses_polling_responses_total{path="polling",status="completed"} 2');
    expect(text).toContain('responses_polling_responses_total{path="polling",status="failed"} 1');
    expect(text).toContain('responses_polling_responses_total{path="polling",status="cancelled"} 1');
    expect(text).toContain('responses_polling_upstream_errors_total{path="polling",kind="http"} 1');
    expect(text).toContain('responses_polling_responses_created_total{path="pass_through"} 1');
    expect(text).toContain('responses_polling_responses_total{path="pass_through",status="completed"} 1');
    expect(text).toContain('responses_polling_limiter_refusals_total{reason="rpm"} 1');
    expect(text).toContain('responses_polling_responses_running 0');
    expect(text).toContain('responses_polling_responses_queued 0');
    expect(text).toContain('responses_polling_resume_followers 0');
    expect(text).toMatch(/responses_polling_flush_duration_seconds_count [1-9]\d*/);
    expect(text).toMatch(/responses_polling_flush_batch_events_sum [1-9]\d*/);
    expect(text).toContain('# TYPE responses_polling_redis_errors_total counter');
    expectNoSecret(app.lines);
  });

  test('metrics can be registered on the host registry under another prefix, and are off the handler with metrics: false', async () => {
    const { Registry } = await import('prom-client');
    const registry = new Registry();
    const app = await start({ metrics: { registry, prefix: 'llm_' } });
    const res = await app.post({ model: 'gpt-test', input: 'ok', background: true });
    const { id } = (await res.json()) as { id: string };
    await waitFor(async () => (await statusOf(app, id)) === 'completed', 10000, 'completed');
    await waitFor(() => app.router.runtime.workers.size === 0, 10000, 'worker done');
    expect(await registry.metrics()).toContain('llm_responses_total{path="polling",status="completed"} 1');
    const off = await start({ metrics: false });
    expect((await fetch(`${off.origin}/metrics`)).status).toBe(404);
  });

  test('the health check answers 200 with the running count, and 503 once its Redis is gone', async () => {
    const redis = await startRedisServer();
    try {
      const store = createRedisStore({ url: redis.url, keyPrefix: prefix });
      stores.push(store);
      const app = await start({ store });
      const ok = await fetch(`${app.origin}/healthz`);
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ status: 'ok', store: 'ok', running: 0 });

      const res = await app.post({ model: 'gpt-test', input: 'hang', background: true });
      const { id } = (await res.json()) as { id: string };
      await waitFor(async () => (await statusOf(app, id)) === 'in_progress', 10000, 'in progress');
      expect(await (await fetch(`${app.origin}/healthz`)).json()).toEqual({ status: 'ok', store: 'ok', running: 1 });

      await redis.stop();
      const down = await fetch(`${app.origin}/healthz`);
      expect(down.status).toBe(503);
      const body = (await down.json()) as { status: string; store: string; running: number };
      expect(body.status).toBe('unavailable');
      expect(['unreachable', 'timeout']).toContain(body.store);
      expect(body.running).toBe(1);
      expect(await metricsText(app)).toMatch(/responses_polling_redis_errors_total\{operation="ping"\} [1-9]/);
    } finally {
      await redis.stop();
    }
  });

  test('an x-request-id is honoured and returned, and every log line of the request and of its worker carries it', async () => {
    const app = await start();
    const res = await app.post({ model: 'gpt-test', input: 'ok', background: true }, { 'x-request-id': 'host-trace-42' });
    expect(res.headers.get('x-request-id')).toBe('host-trace-42');
    const { id } = (await res.json()) as { id: string };
    await waitFor(() => app.hooked.find((e) => e.id === id), 10000, 'finished');
    const mine = app.lines.filter((l) => l.fields.id === id || l.fields.response_id === id);
    expect(mine.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['background response created', 'background response started', 'background response finished']),
    );
    for (const line of mine) expect(line.fields.request_id).toBe('host-trace-42');
    const finished = mine.find((l) => l.msg === 'background response finished')!;
    expect(finished.fields).toMatchObject({ status: 'completed', response_id: id, request_id: 'host-trace-42' });
    expect(app.hooked.find((e) => e.id === id)!.requestId).toBe('host-trace-42');
    expectNoSecret(app.lines);
  });

  test('a missing or unsafe x-request-id is replaced by a generated one, on every route of the router', async () => {
    const app = await start();
    const generated = await app.post({ model: 'gpt-test', input: 'ok', background: true });
    expect(generated.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{28}$/);
    const unsafe = await app.post({ model: 'nope', input: 'x', background: true }, { 'x-request-id': 'evil\tvalue with spaces' });
    expect(unsafe.status).toBe(400);
    expect(unsafe.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{28}$/);
    const unknown = await app.call('GET', '/llm/v1/responses/resp_unknown');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{28}$/);
  });

  test('the lifecycle hook is called once per ending, with the final Response, owner and usage: completed, failed, incomplete', async () => {
    const app = await start();
    const ids: Record<string, string> = {};
    for (const input of ['ok', 'fail', 'incomplete']) {
      ids[input] = ((await (await app.post({ model: 'gpt-test', input, background: true })).json()) as { id: string }).id;
    }
    await waitFor(() => app.hooked.length >= 3 && app.router.runtime.workers.size === 0, 10000, 'three endings');
    // Reads after the end report nothing more.
    for (const id of Object.values(ids)) await statusOf(app, id);
    expect(app.hooked.map((e) => [e.id, e.status]).sort()).toEqual(
      [[ids.ok, 'completed'], [ids.fail, 'failed'], [ids.incomplete, 'incomplete']].sort(),
    );
    const completed = app.hooked.find((e) => e.id === ids.ok)!;
    expect(completed).toMatchObject({
      path: 'polling',
      owner: ownerHash({ id: 'master', admin: true }),
      usage: { inputTokens: 10, outputTokens: 16, totalTokens: 26 },
      response: { id: ids.ok, status: 'completed' },
    });
    const failedHook = app.hooked.find((e) => e.id === ids.fail)!;
    expect(failedHook.response.error).toEqual(failedWith('upstream_error'));
    expect(failedHook.errorDetail).toBe('upstream_error');
    expect(app.hooked.find((e) => e.id === ids.fail)!.usage).toBeNull();
  });

  test('a cancel made on a second instance sharing the Redis calls the hook once, on that instance', async () => {
    const a = await start();
    const b = await start();
    const { id } = (await (await a.post({ model: 'gpt-test', input: 'hang', background: true })).json()) as { id: string };
    await waitFor(async () => (await statusOf(b, id)) === 'in_progress', 10000, 'in progress');
    const cancels = await Promise.all([b.call('POST', `/llm/v1/responses/${id}/cancel`), b.call('POST', `/llm/v1/responses/${id}/cancel`)]);
    expect(cancels.map((r) => r.status)).toEqual([200, 200]);
    // The worker on A stops without reporting: B's cancel won the transition.
    await waitFor(() => a.router.runtime.workers.size === 0, 10000, 'worker on A stopped');
    await waitFor(() => b.hooked.length === 1, 10000, 'hook on B');
    expect((await a.call('POST', `/llm/v1/responses/${id}/cancel`)).status).toBe(200);
    expect(a.hooked).toEqual([]);
    expect(b.hooked).toHaveLength(1);
    expect(b.hooked[0]).toMatchObject({ id, status: 'cancelled', response: { status: 'cancelled' } });
    expect(b.lines.some((l) => l.msg === 'background response cancelled' && l.fields.id === id)).toBe(true);
  });

  test('a response whose worker vanished is reported once as failed (lease lost), by whichever instance read it first', async () => {
    const a = await start();
    const b = await start();
    const id = 'resp_' + 'ab'.repeat(24);
    const owner = ownerHash({ id: 'master', admin: true });
    const snapshot = JSON.stringify({ id, object: 'response', created_at: 1, status: 'queued', error: null, incomplete_details: null, model: 'gpt-test', output: [] });
    // A record as a create writes it, with no worker anywhere and a lease that lapses at once.
    await stores[0].create({ id, owner, snapshot, events: [], stream: true, leaseMs: 50, ttlSeconds: 60 });
    await new Promise((r) => setTimeout(r, 150));
    const reads = await Promise.all([
      a.call('GET', `/llm/v1/responses/${id}`),
      b.call('GET', `/llm/v1/responses/${id}`),
      fetch(`${a.origin}/llm/v1/responses/${id}?stream=true`, { headers: { authorization: `Bearer ${MASTER_KEY}` } }).then(async (r) => {
        await r.text();
        return r;
      }),
    ]);
    expect(reads.map((r) => r.status)).toEqual([200, 200, 200]);
    await waitFor(() => a.hooked.length + b.hooked.length >= 1, 10000, 'lease-lost report');
    await statusOf(b, id);
    const all = [...a.hooked, ...b.hooked];
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ id, status: 'failed', owner, response: { status: 'failed', error: failedWith('worker_lost') }, errorDetail: 'worker_lost' });
    expect([...a.lines, ...b.lines].some((l) => l.level === 'warn' && l.fields.id === id && /lease/.test(l.msg))).toBe(true);
  });

  test('a response deleted while it runs is reported once as deleted; a hook that throws breaks nothing', async () => {
    const app = await start({
      lifecycleHooks: {
        onResponseFinished: () => {
          throw new Error('billing is down');
        },
      },
    });
    const { id } = (await (await app.post({ model: 'gpt-test', input: 'hang', background: true })).json()) as { id: string };
    await waitFor(async () => (await statusOf(app, id)) === 'in_progress', 10000, 'in progress');
    expect((await app.call('DELETE', `/llm/v1/responses/${id}`)).status).toBe(200);
    await waitFor(() => app.lines.find((l) => l.msg === 'lifecycle hook onResponseFinished failed'), 10000, 'hook failure logged');
    const failure = app.lines.find((l) => l.msg === 'lifecycle hook onResponseFinished failed')!;
    expect(failure).toMatchObject({ level: 'error', fields: { id, status: 'deleted', error: 'billing is down' } });
    expect(await metricsText(app)).toContain('responses_polling_lifecycle_hook_errors_total 1');
    expect(await metricsText(app)).toContain('responses_polling_responses_total{path="polling",status="deleted"} 1');
    // The router still serves requests.
    expect((await app.post({ model: 'gpt-test', input: 'ok', background: true })).status).toBe(200);
  });
});
