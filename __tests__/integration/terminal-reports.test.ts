// Exactly one terminal report per response whatever races: cancel and delete of a running
// response, on one instance and from two instances sharing a real Redis.

import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { createRedisStore } from '../../lib/store/redis-store';
import { responsesPolling, type ResponseFinishedEvent, type ResponsesPollingRouter } from '../../lib';
import type { ResponseStore } from '../../lib/types';
import { silentLogger } from '../../lib/logger';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { steps } from '../helpers/flow';
import { waitFor } from '../helpers/app';
import { randomPrefix, testRedisUrl } from '../helpers/redis';

const MASTER_KEY = 'sk-master-terminal-reports-0123';

interface Instance {
  origin: string;
  router: ResponsesPollingRouter;
  hooked: ResponseFinishedEvent[];
  call(method: string, path: string, body?: unknown): Promise<globalThis.Response>;
  close(): Promise<void>;
}

async function startInstance(store: ResponseStore, upstream: FakeUpstream): Promise<Instance> {
  const hooked: ResponseFinishedEvent[] = [];
  const router = responsesPolling({
    logger: silentLogger,
    store,
    masterKey: MASTER_KEY,
    models: [{ modelName: 'gpt-test', model: 'openai/gpt-4o-mini', apiBase: upstream.url, apiKey: 'sk-up' }],
    worker: { flushIntervalMs: 10, upstreamIdleTimeoutMs: 10000 },
    lifecycleHooks: { onResponseFinished: (event) => void hooked.push(event) },
  });
  const app = express();
  app.use('/llm', router);
  app.get('/metrics', router.metricsHandler());
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    router,
    hooked,
    call: (method, path, body) =>
      fetch(`${origin}${path}`, {
        method,
        headers: { authorization: `Bearer ${MASTER_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      }),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await router.close(2000);
    },
  };
}

/** The sum of `responses_polling_responses_total{path="polling",…}` over every status. */
async function pollingEnds(instance: Instance): Promise<number> {
  const text = await (await fetch(`${instance.origin}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^responses_polling_responses_total\{path="polling",status="(\w+)"\} (\d+)$/gm)) sum += Number(m[2]);
  return sum;
}

async function statusOf(instance: Instance, id: string): Promise<string | undefined> {
  const res = await instance.call('GET', `/llm/v1/responses/${id}`);
  return res.status === 200 ? ((await res.json()) as { status: string }).status : undefined;
}

describe('terminal reports: exactly once per response', () => {
  let upstream: FakeUpstream;
  let stores: ResponseStore[];
  let instances: Instance[];

  beforeEach(async () => {
    upstream = await startFakeUpstream();
    upstream.respond(() => ({ kind: 'sse', steps: [...steps(textTurnEvents('still running').slice(0, 4)), { hang: true }] }));
    stores = [];
    instances = [];
  });

  afterEach(async () => {
    for (const instance of instances) await instance.close();
    for (const store of stores) await store.close();
    await upstream.close();
  });

  const start = async (count: number) => {
    const prefix = randomPrefix();
    for (let i = 0; i < count; i++) {
      const store = createRedisStore({ url: testRedisUrl(), keyPrefix: prefix });
      stores.push(store);
      instances.push(await startInstance(store, upstream));
    }
    return instances;
  };

  /** Runs `trials` races of cancel (on `cancelOn`) against delete (on `deleteOn`) of a running response. */
  async function race(trials: number, pick: (trial: number) => { cancelOn: Instance; deleteOn: Instance }): Promise<Set<string>> {
    const ids = new Set<string>();
    for (let trial = 0; trial < trials; trial++) {
      const { cancelOn, deleteOn } = pick(trial);
      const created = await cancelOn.call('POST', '/llm/v1/responses', { model: 'gpt-test', input: `trial ${trial}`, background: true });
      const { id } = (await created.json()) as { id: string };
      ids.add(id);
      await waitFor(async () => (await statusOf(cancelOn, id)) === 'in_progress', 10000, 'in progress');
      const [c, d] = await Promise.all([
        cancelOn.call('POST', `/llm/v1/responses/${id}/cancel`),
        deleteOn.call('DELETE', `/llm/v1/responses/${id}`),
      ]);
      // Cancel either won (200) or found the response already deleted (404); the delete always deletes.
      expect([200, 404]).toContain(c.status);
      expect(d.status).toBe(200);
    }
    return ids;
  }

  async function expectOneReportEach(ids: Set<string>): Promise<void> {
    const all = () => instances.flatMap((i) => i.hooked);
    await waitFor(() => all().length >= ids.size, 10000, 'every end reported');
    // Give any second (wrong) report time to arrive: workers stop and write after the race.
    await waitFor(() => instances.every((i) => i.router.runtime.workers.size === 0), 10000, 'workers stopped');
    await new Promise((r) => setTimeout(r, 300));
    const reports = all();
    expect(reports).toHaveLength(ids.size);
    expect(new Set(reports.map((r) => r.id))).toEqual(ids);
    for (const r of reports) expect(['cancelled', 'deleted']).toContain(r.status);
    let counted = 0;
    for (const instance of instances) counted += await pollingEnds(instance);
    expect(counted).toBe(ids.size);
  }

  test('cancel and delete racing on one instance report each response once, in hook and metric', async () => {
    const [a] = await start(1);
    const ids = await race(25, () => ({ cancelOn: a!, deleteOn: a! }));
    await expectOneReportEach(ids);
  });

  test('cancel on one instance racing delete on another (worker on either) report each response once across both', async () => {
    const [a, b] = await start(2);
    const ids = await race(30, (trial) => (trial % 2 === 0 ? { cancelOn: a!, deleteOn: b! } : { cancelOn: b!, deleteOn: a! }));
    await expectOneReportEach(ids);
  });
});
