// The pre-call limiter through real HTTP, a real redis-server and the official client: every
// refusal (rpm, tpm, parallel, budget, hook, model) is OpenAI-shaped and leaves nothing behind;
// slots are released exactly once on every terminal path; limits hold across two instances.

import OpenAI from 'openai';
import { createClient } from '@redis/client';
import { ownerHash, type ResponsesPollingOptions } from '../../lib';
import type { DeploymentOptions, PreCallHookContext, VirtualKeyOptions } from '../../lib/config/options';
import { ApiError } from '../../lib/errors';
import { createRedisLimiter } from '../../lib/limiter/redis-limiter';
import type { LimiterStore } from '../../lib/limiter/types';
import { silentLogger } from '../../lib/logger';
import { createRedisStore } from '../../lib/store/redis-store';
import { ev, startFakeUpstream, type FakeUpstream, type Script, type Step } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { startApp, waitFor, waitForStatus, type TestApp } from '../helpers/app';
import { randomPrefix, testRedisUrl } from '../helpers/redis';
import { gate, failedWith } from '../helpers/flow';
import { counting, type CountingLimiter } from '../helpers/counting-limiter';

const KEY = 'sk-limited-0123456789abcdef';
const KEY_ID = 'team-limited';
/** A second key without limits of its own: only the deployment's apply to it. */
const FREE_KEY = 'sk-free-fedcba9876543210';
/** The limiter subject of KEY's principal. */
const SUBJECT = `key:${ownerHash({ id: KEY_ID, admin: false })}`;
const TEXT = 'Limits are checked before any id exists.';
/** `x-ratelimit-reset-*` as OpenAI writes it: `12ms`, `1s`, `6m0s`. */
const RESET = /^(\d+ms|\d+s|\d+m\d+s)$/;
/**
 * Rate windows are clock-aligned; an hour-long window keeps a test from straddling a boundary
 * (which would reset rpm and tpm counts mid-test) without changing what is being tested.
 */
const WINDOW_MS = 3_600_000;

const events = textTurnEvents(TEXT);
const steps = (list: Array<Record<string, unknown>>): Step[] => list.map((e) => ev(e));
const completes = (): Script => ({ kind: 'sse', steps: steps(events) });
/** The opening events, then an upstream that keeps the response running. */
const keepsRunning = (): Script => ({ kind: 'sse', steps: [...steps(events.slice(0, 5)), { hang: true }] });


/** One app instance with its own store and limiter clients on `prefix`. */
interface Instance {
  app: TestApp;
  prefix: string;
  limiter: CountingLimiter;
  /** The official client with KEY. */
  client: OpenAI;
}

interface InstanceSetup {
  /** Limits and models of KEY. */
  limits?: Omit<VirtualKeyOptions, 'key' | 'keyHash' | 'id'>;
  /** Merged into the one deployment `gpt-test`. */
  deployment?: Partial<DeploymentOptions>;
  /** Default: a Redis limiter on the instance's prefix. */
  limiter?: LimiterStore;
  options?: ResponsesPollingOptions;
}

let upstream: FakeUpstream;
let inspect: ReturnType<typeof createClient>;
let cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  inspect = createClient({ url: testRedisUrl() });
  inspect.on('error', () => undefined);
  await inspect.connect();
});

afterAll(async () => {
  await inspect.quit();
});

beforeEach(async () => {
  upstream = await startFakeUpstream();
});

afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
  await upstream.close();
});

/** Starts an instance; two instances given the same `prefix` share their state and their limits. */
async function instance(setup: InstanceSetup = {}, prefix = randomPrefix()): Promise<Instance> {
  const store = createRedisStore({ url: testRedisUrl(), keyPrefix: prefix, logger: silentLogger });
  const limiter = counting(setup.limiter ?? createRedisLimiter({ url: testRedisUrl(), keyPrefix: prefix, windowMs: WINDOW_MS }));
  const app = await startApp({
    store,
    limiter,
    virtualKeys: [
      { key: KEY, id: KEY_ID, ...setup.limits },
      { key: FREE_KEY, id: 'team-free' },
    ],
    models: [{ modelName: 'gpt-test', model: 'openai/gpt-4o-mini', apiBase: upstream.url, apiKey: 'sk-upstream', ...setup.deployment }],
    worker: { flushIntervalMs: 20 },
    ...setup.options,
  });
  cleanups.push(async () => {
    // Grace 0: responses a test left running end at once instead of holding up the suite.
    await app.router.close(0);
    await app.close();
    await limiter.close();
    await store.close();
  });
  return { app, prefix, limiter, client: app.client(KEY) };
}

const create = (client: OpenAI, input = 'hi') => client.responses.create({ model: 'gpt-test', input, background: true });

/** The rejection of `promise` (failing when it resolves). */
async function refusal(promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  const outcome = await promise.then(
    () => new Error('expected a refusal'),
    (e: unknown) => e,
  );
  if (!(outcome instanceof OpenAI.APIError)) throw outcome;
  return outcome;
}

/** Keys under `prefix` other than the limiter's own `{limits}` keys: the responses' state. */
async function responseKeys(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const batch of inspect.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) keys.push(...batch);
  return keys.filter((k) => !k.startsWith(`${prefix}{limits}:`)).sort();
}

/** The response ids that have state under `prefix`. */
async function storedIds(prefix: string): Promise<string[]> {
  return [...new Set((await responseKeys(prefix)).map((k) => /\{(resp_[^}]+)\}/.exec(k)?.[1]))].filter((id) => id !== undefined);
}

/** What a refusal must leave untouched: the stored responses, the upstream's requests, KEY's counts. */
async function trace(i: Instance) {
  return { keys: await responseKeys(i.prefix), upstreamCalls: upstream.requests.length, usage: await i.limiter.usage(SUBJECT) };
}

function expectRateLimited(err: InstanceType<typeof OpenAI.APIError>, type: 'requests' | 'tokens'): void {
  expect(err).toBeInstanceOf(OpenAI.RateLimitError);
  expect(err.error).toMatchObject({ type, param: null, code: 'rate_limit_exceeded' });
  expect(err.headers?.get('retry-after')).toMatch(/^[1-9]\d*$/);
}

const runningSlots = (i: Instance) => i.limiter.usage(SUBJECT).then((u) => u.running);
const slotsFree = (i: Instance, label = 'the slots to be released') => waitFor(async () => (await runningSlots(i)) === 0, 10000, label);

describe('refusals are OpenAI-shaped and leave nothing behind', () => {
  test("a create over the key's rpm is a 429 rate_limit_exceeded with retry-after and x-ratelimit headers, counting nothing", async () => {
    const i = await instance({ limits: { rpmLimit: 2 } });
    upstream.respond(completes);
    for (const r of [await create(i.client), await create(i.client)]) await waitForStatus(i.client, r.id, 'completed');
    await slotsFree(i);
    const before = await trace(i);

    for (let attempt = 0; attempt < 3; attempt++) {
      const err = await refusal(create(i.client));
      expectRateLimited(err, 'requests');
      expect((err.error as { message: string }).message).toMatch(/^Rate limit reached for requests per minute on this key\. Retry after \d+s\.$/);
      expect(err.headers?.get('x-ratelimit-limit-requests')).toBe('2');
      expect(err.headers?.get('x-ratelimit-remaining-requests')).toBe('0');
      expect(err.headers?.get('x-ratelimit-reset-requests')).toMatch(RESET);
    }
    // Refusals count no request: still the two that were admitted.
    expect(await trace(i)).toEqual(before);
    expect(before.usage.requestsThisWindow).toBe(2);
    expect(before.upstreamCalls).toBe(2);
  });

  test("a deployment's rpm applies to every key and the refusal names the deployment", async () => {
    const i = await instance({ deployment: { rpm: 1 } });
    upstream.respond(completes);
    const free = i.app.client(FREE_KEY);
    await waitForStatus(free, (await create(free)).id, 'completed');
    const before = await trace(i);
    for (const client of [free, i.client]) {
      const err = await refusal(create(client));
      expectRateLimited(err, 'requests');
      expect((err.error as { message: string }).message).toContain('on this model deployment');
      expect(err.headers?.get('x-ratelimit-limit-requests')).toBe('1');
    }
    expect(await trace(i)).toEqual(before);
  });

  test('a create over max_parallel_requests is a 429 with retry-after 1 until the running response ends, and counts no request', async () => {
    const i = await instance({ limits: { maxParallelRequests: 1, rpmLimit: 10 } });
    upstream.respond(keepsRunning);
    const first = await create(i.client);
    await waitForStatus(i.client, first.id, 'in_progress');
    const before = await trace(i);
    expect(before.usage).toMatchObject({ running: 1, requestsThisWindow: 1 });

    const err = await refusal(create(i.client));
    expectRateLimited(err, 'requests');
    expect((err.error as { message: string }).message).toMatch(/^Too many background responses running at once on this key\./);
    expect(err.headers?.get('retry-after')).toBe('1');
    expect(err.headers?.get('x-ratelimit-remaining-requests')).toBe('9');
    expect(await trace(i)).toEqual(before);

    await i.client.responses.cancel(first.id);
    await slotsFree(i);
    upstream.respond(completes);
    const second = await create(i.client);
    await waitForStatus(i.client, second.id, 'completed');
    expect((await i.limiter.usage(SUBJECT)).requestsThisWindow).toBe(2);
  });

  test('a model the key may not use is a 403 model_not_allowed before the limiter counts anything', async () => {
    const i = await instance({ limits: { rpmLimit: 5, models: ['gpt-other'] } });
    upstream.respond(completes);
    const err = await refusal(create(i.client));
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(err.error).toMatchObject({ param: 'model', code: 'model_not_allowed' });
    expect(await trace(i)).toEqual({
      keys: [],
      upstreamCalls: 0,
      usage: { requestsThisWindow: 0, tokensThisWindow: 0, running: 0, spend: 0 },
    });
  });

  test('once a completed response recorded its 26 tokens, a key with tpm_limit 20 is refused (tokens)', async () => {
    const i = await instance({ limits: { tpmLimit: 20 } });
    upstream.respond(completes);
    const { data: first, response } = await create(i.client).withResponse();
    expect(response.headers.get('x-ratelimit-limit-tokens')).toBe('20');
    expect(response.headers.get('x-ratelimit-remaining-tokens')).toBe('20');
    await waitForStatus(i.client, first.id, 'completed');
    await waitFor(async () => (await i.limiter.usage(SUBJECT)).tokensThisWindow === 26, 5000, 'the tokens to be recorded');
    const before = await trace(i);

    const err = await refusal(create(i.client));
    expectRateLimited(err, 'tokens');
    expect((err.error as { message: string }).message).toMatch(/^Rate limit reached for tokens per minute on this key\./);
    expect(err.headers?.get('x-ratelimit-limit-tokens')).toBe('20');
    expect(err.headers?.get('x-ratelimit-remaining-tokens')).toBe('0');
    expect(err.headers?.get('x-ratelimit-reset-tokens')).toMatch(RESET);
    expect(await trace(i)).toEqual(before);
  });

  test('once the recorded spend reaches max_budget, a create is a 429 insufficient_quota with x-should-retry: false', async () => {
    // 10 input and 16 output tokens: 0.010 + 0.032 = 0.042 of a budget of 0.04.
    const i = await instance({ limits: { maxBudget: 0.04 }, deployment: { inputCostPerToken: 0.001, outputCostPerToken: 0.002 } });
    upstream.respond(completes);
    await waitForStatus(i.client, (await create(i.client)).id, 'completed');
    const spend = await waitFor(async () => (await i.limiter.usage(SUBJECT)).spend || undefined, 5000, 'the spend to be recorded');
    expect(spend).toBeCloseTo(0.042, 9);
    const before = await trace(i);

    const err = await refusal(create(i.client));
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.error).toEqual({ message: 'The budget of this key is exhausted.', type: 'insufficient_quota', param: null, code: 'insufficient_quota' });
    expect(err.headers?.get('x-should-retry')).toBe('false');
    // Waiting does not help, so there is no retry-after.
    expect(err.headers?.get('retry-after')).toBeNull();
    expect(await trace(i)).toEqual(before);
  });
});

describe('budgets that reset', () => {
  test('a key with budget_duration gets its budget back when the period ends', async () => {
    // Start just after a 2 s boundary (periods are aligned to the epoch), so the spend lands inside one period.
    await new Promise((r) => setTimeout(r, 2000 - (Date.now() % 2000) + 100));
    const i = await instance({ limits: { maxBudget: 0.04, budgetDuration: '2s' }, deployment: { inputCostPerToken: 0.001, outputCostPerToken: 0.002 } });
    upstream.respond(completes);
    await waitForStatus(i.client, (await create(i.client)).id, 'completed');
    await waitFor(async () => (await i.limiter.usage(SUBJECT)).spend || undefined, 1500, 'the spend to be recorded');
    expect(await refusal(create(i.client))).toBeInstanceOf(OpenAI.RateLimitError);
    await waitFor(async () => (await i.limiter.usage(SUBJECT)).spend === 0, 4000, 'the period to end');
    const again = await create(i.client);
    expect(again.status).toBe('queued');
  });
});

describe('pre-call hooks', () => {
  test('see the principal and the body, and run only for requests the limiter admitted', async () => {
    const seen: Array<Record<string, unknown>> = [];
    let i: Instance | undefined;
    const hook = async (ctx: PreCallHookContext) => {
      // Counted already: the hook runs after the limiter's admission.
      const counted = (await i!.limiter.usage(SUBJECT)).requestsThisWindow;
      seen.push({ id: ctx.principal.id, admin: ctx.principal.admin, model: ctx.model, polling: ctx.polling, input: ctx.body.input, counted });
    };
    i = await instance({ limits: { rpmLimit: 1 }, options: { preCallHooks: [hook] } });
    upstream.respond(completes);
    await waitForStatus(i.client, (await create(i.client, 'hello hook')).id, 'completed');
    expect(seen).toEqual([{ id: KEY_ID, admin: false, model: 'gpt-test', polling: true, input: 'hello hook', counted: 1 }]);

    expectRateLimited(await refusal(create(i.client, 'over the limit')), 'requests');
    expect(seen).toHaveLength(1);
  });

  test("a hook's refusal answers with its status (an ApiError, or an error with a status) and rolls the admission back", async () => {
    const hook = (ctx: PreCallHookContext) => {
      if (ctx.body.input === 'blocked') throw new ApiError(403, 'blocked by guardrail', { code: 'guardrail' });
      if (ctx.body.input === 'invalid') throw Object.assign(new Error('input fails the custom check'), { status: 422 });
    };
    const i = await instance({ limits: { rpmLimit: 2, maxParallelRequests: 1 }, options: { preCallHooks: [hook] } });
    upstream.respond(completes);
    const before = await trace(i);

    for (let attempt = 0; attempt < 3; attempt++) {
      const blocked = await refusal(create(i.client, 'blocked'));
      expect(blocked).toBeInstanceOf(OpenAI.PermissionDeniedError);
      expect(blocked.error).toEqual({ message: 'blocked by guardrail', type: 'invalid_request_error', param: null, code: 'guardrail' });
      // Rate headers would count the admission that was just rolled back.
      expect(blocked.headers?.get('x-ratelimit-remaining-requests')).toBeNull();
      const invalid = await refusal(create(i.client, 'invalid'));
      expect(invalid).toBeInstanceOf(OpenAI.UnprocessableEntityError);
      expect(invalid.error).toEqual({ message: 'input fails the custom check', type: 'invalid_request_error', param: null, code: 'request_refused' });
    }
    // Six refusals after admission, all rolled back: no request counted, no slot held, nothing stored.
    expect(await trace(i)).toEqual(before);
    expect(i.limiter.admitted).toHaveLength(6);

    // The full rpm of 2 is still there.
    await waitForStatus(i.client, (await create(i.client, 'fine')).id, 'completed');
    await slotsFree(i);
    await waitForStatus(i.client, (await create(i.client, 'fine')).id, 'completed');
    expectRateLimited(await refusal(create(i.client, 'fine')), 'requests');
  });
});

describe('admission', () => {
  test('successful creates carry x-ratelimit-*-requests and -tokens headers that count down', async () => {
    const i = await instance({ limits: { rpmLimit: 5, tpmLimit: 1000 } });
    upstream.respond(completes);
    const first = await create(i.client).withResponse();
    expect(first.data.id).toMatch(/^resp_/);
    expect(first.response.headers.get('x-ratelimit-limit-requests')).toBe('5');
    expect(first.response.headers.get('x-ratelimit-remaining-requests')).toBe('4');
    expect(first.response.headers.get('x-ratelimit-reset-requests')).toMatch(RESET);
    expect(first.response.headers.get('x-ratelimit-limit-tokens')).toBe('1000');
    expect(first.response.headers.get('x-ratelimit-remaining-tokens')).toBe('1000');
    expect(first.response.headers.get('x-ratelimit-reset-tokens')).toMatch(RESET);
    const second = await create(i.client).withResponse();
    expect(second.response.headers.get('x-ratelimit-remaining-requests')).toBe('3');
  });

  test('50 simultaneous creates against max_parallel_requests 5 admit exactly 5, and new ones are admitted once those end', async () => {
    const i = await instance({ limits: { maxParallelRequests: 5 } });
    let hold = gate();
    upstream.respond(() => {
      const until = hold.promise;
      return { kind: 'sse', steps: [...steps(events.slice(0, 5)), { until }, ...steps(events.slice(5))] };
    });

    const outcomes = await Promise.allSettled(Array.from({ length: 50 }, () => create(i.client)));
    const admitted = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as InstanceType<typeof OpenAI.APIError>] : []));
    expect(admitted).toHaveLength(5);
    expect(refused).toHaveLength(45);
    for (const err of refused) {
      expectRateLimited(err, 'requests');
      expect(err.headers?.get('retry-after')).toBe('1');
    }
    await waitFor(() => upstream.requests.length === 5, 5000, 'the admitted responses to reach the upstream');
    expect((await storedIds(i.prefix)).sort()).toEqual(admitted.map((r) => r.id).sort());
    expect(await runningSlots(i)).toBe(5);

    hold.open();
    for (const r of admitted) await waitForStatus(i.client, r.id, 'completed');
    await slotsFree(i);

    hold = gate();
    const again = await Promise.allSettled(Array.from({ length: 6 }, () => create(i.client)));
    expect(again.filter((o) => o.status === 'fulfilled')).toHaveLength(5);
    hold.open();
    await slotsFree(i);
    expect(upstream.requests).toHaveLength(10);
  });

  test('two instances sharing one Redis enforce one limit between them', async () => {
    const a = await instance({ limits: { maxParallelRequests: 2 } });
    const b = await instance({ limits: { maxParallelRequests: 2 } }, a.prefix);
    upstream.respond(keepsRunning);
    const onA = await create(a.client);
    const onB = await create(b.client);
    await waitForStatus(a.client, onA.id, 'in_progress');
    await waitForStatus(b.client, onB.id, 'in_progress');

    for (const side of [a, b]) expectRateLimited(await refusal(create(side.client)), 'requests');
    expect(await runningSlots(a)).toBe(2);
    expect(await runningSlots(b)).toBe(2);

    // A cancel on B of A's response frees a slot for both.
    await b.client.responses.cancel(onA.id);
    await waitFor(async () => (await runningSlots(a)) === 1, 10000, 'one slot to be released');
    expect((await create(b.client)).id).toMatch(/^resp_/);
    expectRateLimited(await refusal(create(a.client)), 'requests');
  });
});

describe('every terminal path releases the slot exactly once', () => {
  type Ending = (i: Instance) => Promise<void>;
  const endings: Array<[string, Ending]> = [
    [
      'completes',
      async (i) => {
        upstream.respond(completes);
        await waitForStatus(i.client, (await create(i.client)).id, 'completed');
      },
    ],
    [
      'ends incomplete',
      async (i) => {
        upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT, { finish: 'incomplete' })) }));
        await waitForStatus(i.client, (await create(i.client)).id, 'incomplete');
      },
    ],
    [
      'is cancelled',
      async (i) => {
        upstream.respond(keepsRunning);
        const r = await create(i.client);
        await waitForStatus(i.client, r.id, 'in_progress');
        expect((await i.client.responses.cancel(r.id)).status).toBe('cancelled');
      },
    ],
    [
      'fails on an upstream HTTP 500',
      async (i) => {
        upstream.respond(() => ({ kind: 'json', status: 500, body: { error: { message: 'boom', type: 'server_error' } } }));
        const failed = await waitForStatus(i.client, (await create(i.client)).id, 'failed');
        expect(failed.error).toEqual(failedWith('upstream_error'));
      },
    ],
    [
      'is deleted while running',
      async (i) => {
        upstream.respond(keepsRunning);
        const r = await create(i.client);
        await waitForStatus(i.client, r.id, 'in_progress');
        await i.client.responses.delete(r.id);
        await expect(i.client.responses.retrieve(r.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      },
    ],
    [
      'fails when the upstream stream ends without a terminal event',
      async (i) => {
        upstream.respond(() => ({ kind: 'sse', steps: steps(events.slice(0, 5)) }));
        const failed = await waitForStatus(i.client, (await create(i.client)).id, 'failed');
        expect(failed.error).toEqual(failedWith('upstream_stream_incomplete'));
      },
    ],
  ];

  test.each(endings)('a response that %s frees its slot, and the next create is admitted', async (_name, end) => {
    const i = await instance({ limits: { maxParallelRequests: 1 } });
    await end(i);
    await slotsFree(i);
    upstream.respond(completes);
    await waitForStatus(i.client, (await create(i.client)).id, 'completed');
    await slotsFree(i);
    expect(i.limiter.admitted).toHaveLength(2);
    for (const id of i.limiter.admitted) expect(i.limiter.releases.get(id)).toEqual([true]);
  });

  test('a response ended by shutdown frees its slot, and another instance admits the next create', async () => {
    const a = await instance({ limits: { maxParallelRequests: 1 } });
    upstream.respond(keepsRunning);
    const r = await create(a.client);
    await waitForStatus(a.client, r.id, 'in_progress');
    await a.app.router.close(0);
    expect(a.limiter.releases.get(a.limiter.admitted[0])).toEqual([true]);
    expect(await runningSlots(a)).toBe(0);

    const b = await instance({ limits: { maxParallelRequests: 1 } }, a.prefix);
    expect((await b.client.responses.retrieve(r.id)).error).toEqual(failedWith('server_shutdown'));
    upstream.respond(completes);
    await waitForStatus(b.client, (await create(b.client)).id, 'completed');
  });
});

describe('an unreachable limiter', () => {
  const unreachable = () => createRedisLimiter({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 200 });

  test('fails closed by default: 503, nothing stored, no upstream call', async () => {
    const i = await instance({ limits: { rpmLimit: 10 }, limiter: unreachable() });
    upstream.respond(completes);
    const err = await refusal(create(i.client));
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err.status).toBe(503);
    expect(err.headers?.get('retry-after')).toBe('1');
    expect(err.error).toMatchObject({ code: 'limiter_unavailable', type: 'server_error' });
    expect(await responseKeys(i.prefix)).toEqual([]);
    expect(upstream.requests).toHaveLength(0);
  });

  test('admits the create with limiterFailOpen', async () => {
    const i = await instance({ limits: { rpmLimit: 10 }, limiter: unreachable(), options: { limiterFailOpen: true } });
    upstream.respond(completes);
    const created = await create(i.client);
    expect((await waitForStatus(i.client, created.id, 'completed')).output_text).toBe(TEXT);
  });
});
