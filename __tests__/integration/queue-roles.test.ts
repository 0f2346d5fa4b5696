// The durable queue and the roles with real processes: built CLI instances (`--role api`,
// `--role worker`, the default `all`) sharing one redis-server, kill -9 and SIGTERM of workers,
// a deployment's max_parallel_requests, cancel of a queued response and fairness between keys.

import OpenAI from 'openai';
import { assertCliBuilt, cliYaml, waitForStatusThroughFaults, cliClient, startCli, type CliInstance } from '../helpers/cli-instance';
import { startFakeUpstream, type FakeUpstream, type RecordedRequest } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { waitFor } from '../helpers/app';
import { randomPrefix } from '../helpers/redis';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { steps, textOf } from '../helpers/flow';

jest.setTimeout(90_000);

const MASTER_KEY = 'sk-queue-master';
const KEY_A = 'sk-queue-team-a';
const KEY_B = 'sk-queue-team-b';
const MODEL = 'gpt-queue';
const TEXT = 'Queued text — with multi-byte characters: naïve, 漢字, and an end.';

beforeAll(assertCliBuilt);

type Role = 'all' | 'api' | 'worker';

interface Settings {
  role?: Role;
  worker?: Record<string, number>;
  maxParallel?: number;
}

type Instance = CliInstance;

let upstream: FakeUpstream;
let redis: RedisServerHandle;
let prefix: string;
let instances: Instance[];

beforeEach(async () => {
  upstream = await startFakeUpstream();
  redis = await startRedisServer();
  prefix = randomPrefix();
  instances = [];
});

afterEach(async () => {
  for (const i of instances) i.proc.kill('SIGKILL');
  await Promise.all(instances.map((i) => i.exited));
  await upstream.close();
  await redis.stop();
});

/** Starts the built CLI with `--role` on a free port, with a YAML file for the test's upstream, Redis and prefix. */
async function start({ role = 'all', worker = {}, maxParallel }: Settings = {}): Promise<Instance> {
  const settings = { lease_ms: 10_000, store_retry_grace_ms: 5_000, flush_interval_ms: 50, claim_interval_ms: 50, ...worker };
  const yaml = cliYaml({
    model: MODEL,
    upstreamUrl: upstream.url,
    upstreamKey: 'sk-queue-upstream',
    redisPort: redis.port,
    masterKey: MASTER_KEY,
    keyPrefix: prefix,
    deployment: maxParallel === undefined ? {} : { max_parallel_requests: maxParallel },
    virtualKeys: [
      { key: KEY_A, key_alias: 'team-a' },
      { key: KEY_B, key_alias: 'team-b' },
    ],
    worker: settings,
  });
  return startCli(yaml, { apiKey: MASTER_KEY, args: ['--role', role], track: (i) => instances.push(i) });
}

const waitForStatus = waitForStatusThroughFaults;

const create = (c: OpenAI, input: string) => c.responses.create({ model: MODEL, input, background: true });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fullTurn = () => ({ kind: 'sse' as const, steps: steps(textTurnEvents(TEXT, { chunkSize: 6 }), 5) });

describe('roles', () => {
  test('an API-only instance keeps a response queued, the upstream untouched, until a worker process starts; then it completes', async () => {
    const api = await start({ role: 'api' });
    upstream.respond(fullTurn);
    const created = await create(api.client, 'wait for a worker');
    expect(created.status).toBe('queued');
    await sleep(1000);
    expect((await api.client.responses.retrieve(created.id)).status).toBe('queued');
    expect(upstream.requests).toHaveLength(0);

    const worker = await start({ role: 'worker' });
    const done = await waitForStatus(api.client, created.id, 'completed', 15_000);
    expect(textOf(done)).toBe(TEXT);
    expect(upstream.requests).toHaveLength(1);
    // A worker serves its health check and metrics, and no routes.
    expect((await fetch(`${worker.origin}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`${worker.origin}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`responses_polling_queue_claims_total\\{group="${MODEL}"\\} 1`));
    expect(metrics).toContain('responses_polling_queue_wait_seconds_bucket');
    expect((await fetch(`${worker.origin}/v1/responses/${created.id}`)).status).toBe(404);
  });

  test('kill -9 of a worker before its upstream sent anything: another worker claims it once the lease lapses and completes it with its full text', async () => {
    const worker = { lease_ms: 3000, store_retry_grace_ms: 250 };
    const api = await start({ role: 'api', worker });
    const first = await start({ role: 'worker', worker });
    // The first attempt gets headers and then nothing; the second the whole turn.
    upstream.respond((req: RecordedRequest) => (upstream.requests.indexOf(req) === 0 ? { kind: 'sse', steps: [{ hang: true }] } : fullTurn()));
    const created = await create(api.client, 'survive a kill');
    await upstream.waitForRequest(0);
    first.proc.kill('SIGKILL');
    await first.exited;
    const second = await start({ role: 'worker', worker });

    const done = await waitForStatus(api.client, created.id, 'completed', 15_000);
    expect(textOf(done)).toBe(TEXT);
    expect(upstream.requests).toHaveLength(2);
    // The worker that found the lapsed claim counted one requeue, and none exhausted.
    const metrics = await (await fetch(`${second.origin}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`responses_polling_queue_requeues_total\\{group="${MODEL}",outcome="requeued"\\} 1\n`));
    expect(metrics).not.toContain('outcome="exhausted"');
  });

  test('SIGTERM of a worker hands back its claimed, unstarted responses at once: another worker runs them well before the lease would lapse', async () => {
    const worker = { lease_ms: 60_000, store_retry_grace_ms: 5_000, shutdown_grace_ms: 10_000 };
    const api = await start({ role: 'api', worker });
    const first = await start({ role: 'worker', worker });
    upstream.respond((req: RecordedRequest) => (upstream.requests.indexOf(req) < 2 ? { kind: 'sse', steps: [{ hang: true }] } : fullTurn()));
    const a = await create(api.client, 'hand me back 1');
    const b = await create(api.client, 'hand me back 2');
    await upstream.waitForRequest(1);
    const stoppedAt = Date.now();
    first.proc.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    // Handed back at once, not after the drain grace: the process exits quickly.
    expect(Date.now() - stoppedAt).toBeLessThan(5000);
    expect((await api.client.responses.retrieve(a.id)).status).toBe('queued');

    await start({ role: 'worker', worker });
    for (const id of [a.id, b.id]) expect(textOf(await waitForStatus(api.client, id, 'completed', 15_000))).toBe(TEXT);
    expect(Date.now() - stoppedAt).toBeLessThan(30_000);
    expect(upstream.requests).toHaveLength(4);
  });
});

describe('capacity and fairness', () => {
  test('a deployment with max_parallel_requests: 1 never has two upstream requests open at once while three responses are created, and all three complete', async () => {
    const [a, b] = await Promise.all([start({ maxParallel: 1 }), start({ maxParallel: 1 })]);
    let maxOpen = 0;
    upstream.respond((req: RecordedRequest) => {
      const open = upstream.requests.filter((r) => r !== req && !r.finished && !r.closedEarly).length + 1;
      maxOpen = Math.max(maxOpen, open);
      return { kind: 'sse', steps: steps(textTurnEvents(TEXT, { chunkSize: 6 }), 20) };
    });
    const created = await Promise.all([create(a.client, 'one'), create(b.client, 'two'), create(a.client, 'three')]);
    for (const r of created) expect(textOf(await waitForStatus(a.client, r.id, 'completed', 30_000))).toBe(TEXT);
    expect(upstream.requests).toHaveLength(3);
    expect(maxOpen).toBe(1);
  });

  test('a queued response that is cancelled never reaches the upstream, and a worker started later skips it', async () => {
    const api = await start({ role: 'api' });
    upstream.respond(fullTurn);
    const created = await create(api.client, 'cancel me while queued');
    const cancelled = await api.client.responses.cancel(created.id);
    expect(cancelled.status).toBe('cancelled');
    const kept = await create(api.client, 'run me');
    await start({ role: 'worker' });
    await waitForStatus(api.client, kept.id, 'completed', 15_000);
    expect(upstream.requests).toHaveLength(1);
    expect(upstream.requests[0].body.input).toBe('run me');
    expect((await api.client.responses.retrieve(created.id)).status).toBe('cancelled');
  });

  test("two principals' bursts interleave: a worker with concurrency 1 alternates between them in arrival order", async () => {
    const api = await start({ role: 'api' });
    const base = api.origin;
    const [teamA, teamB] = [cliClient(base, KEY_A), cliClient(base, KEY_B)];
    upstream.respond(fullTurn);
    const ids: string[] = [];
    for (let i = 0; i < 4; i += 1) ids.push((await create(teamA, `a${i}`)).id);
    for (let i = 0; i < 4; i += 1) ids.push((await create(teamB, `b${i}`)).id);
    await start({ role: 'worker', worker: { concurrency: 1 } });
    await waitFor(() => upstream.requests.length === 8 && upstream.requests.every((r) => r.finished), 30_000, 'eight upstream requests');
    expect(upstream.requests.map((r) => r.body.input)).toEqual(['a0', 'b0', 'a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
    for (const id of ids) expect((await api.client.responses.retrieve(id)).status).toBe('completed');
  });
});
