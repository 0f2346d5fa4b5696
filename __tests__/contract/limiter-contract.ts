// The one contract suite every LimiterStore implementation must pass.

import { PARALLEL_RETRY_HINT_MS } from '../../lib/limiter/limits';
import type { LimiterStore } from '../../lib/limiter/types';
import { sleep } from '../helpers/flow';
import { admission, awayFromWindowEnd, newId, refusal, subject } from '../helpers/limiter-inputs';

/** What a harness may vary per limiter. */
export interface LimiterHarnessOptions {
  /** Rate window length in ms (default: the limiter's 60 s). */
  windowMs?: number;
}

/** A fresh limiter for one test (own key prefix), and how to dispose of it and its data. */
export interface LimiterHarness {
  limiter: LimiterStore;
  cleanup: () => Promise<void>;
}

export type MakeLimiter = (options?: LimiterHarnessOptions) => Promise<LimiterHarness>;

/**
 * Registers the contract tests for one implementation. `makeLimiter` is called in every test
 * and must give a limiter with a key space no other test uses.
 */
export function describeLimiterContract(name: string, makeLimiter: MakeLimiter): void {
  describe(`${name}: the LimiterStore contract`, () => {
    const harnesses: LimiterHarness[] = [];
    let limiter: LimiterStore;

    /** A limiter that afterEach disposes of. */
    async function make(options?: LimiterHarnessOptions): Promise<LimiterStore> {
      const h = await makeLimiter(options);
      harnesses.push(h);
      return h.limiter;
    }

    beforeEach(async () => {
      limiter = await make();
      await awayFromWindowEnd();
    });

    afterEach(async () => {
      await Promise.all(harnesses.splice(0).map((h) => h.cleanup()));
    });

    describe('requests per minute', () => {
      test('admissions count down the remaining requests and the one past rpm is refused until the window ends', async () => {
        const key = subject('key', { rpm: 3 });
        const remaining: number[] = [];
        for (let i = 0; i < 3; i++) {
          const result = await limiter.admit(admission([key]));
          expect(result.admitted).toBe(true);
          expect(result.state.limitRequests).toBe(3);
          expect(result.state.resetRequestsMs).toBeGreaterThan(0);
          expect(result.state.resetRequestsMs).toBeLessThanOrEqual(60_000);
          remaining.push(result.state.remainingRequests!);
        }
        expect(remaining).toEqual([2, 1, 0]);

        const refused = refusal(await limiter.admit(admission([key])));
        expect(refused).toMatchObject({ reason: 'rpm', subject: key.key, state: { limitRequests: 3, remainingRequests: 0 } });
        expect(refused.retryAfterMs).toBeGreaterThan(0);
        expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
        // retry-after and x-ratelimit-reset-requests both point at the end of the window.
        expect(Math.abs(refused.retryAfterMs! - refused.state.resetRequestsMs!)).toBeLessThanOrEqual(1000);
      });

      test('a new window counts from zero again, and its reset time is the time left in it', async () => {
        const windowMs = 1000;
        const short = await make({ windowMs });
        await awayFromWindowEnd(windowMs, 300);
        const key = subject('key', { rpm: 1 });
        const first = await short.admit(admission([key]));
        expect(first.admitted).toBe(true);
        const refused = refusal(await short.admit(admission([key])));
        expect(refused.retryAfterMs).toBeLessThanOrEqual(windowMs);

        await sleep(refused.retryAfterMs! + 50);
        const next = await short.admit(admission([key]));
        expect(next).toMatchObject({ admitted: true, state: { limitRequests: 1, remainingRequests: 0 } });
        expect(next.state.resetRequestsMs).toBeGreaterThan(0);
        expect(next.state.resetRequestsMs).toBeLessThanOrEqual(windowMs);
        expect((await short.usage(key.key)).requestsThisWindow).toBe(1);
      });

      test('a refused admission consumes nothing: no request is counted and no slot is taken', async () => {
        const key = subject('key', { rpm: 1, maxParallel: 1 });
        expect((await limiter.admit(admission([key]))).admitted).toBe(true);
        for (let i = 0; i < 3; i++) expect(refusal(await limiter.admit(admission([key]))).reason).toBe('rpm');
        expect(await limiter.usage(key.key)).toEqual({ requestsThisWindow: 1, tokensThisWindow: 0, running: 1, spend: 0 });

        const pool = subject('deployment', { maxParallel: 1 });
        const holder = admission([pool]);
        expect((await limiter.admit(holder)).admitted).toBe(true);
        expect(refusal(await limiter.admit(admission([pool]))).reason).toBe('parallel');
        expect(await limiter.release(holder.id, [pool.key])).toBe(true);
        // Had the refused admission taken a slot, this one would be refused.
        expect((await limiter.admit(admission([pool]))).admitted).toBe(true);
        expect(await limiter.usage(pool.key)).toMatchObject({ requestsThisWindow: 2, running: 1 });
      });

      test('the headers come from the tightest subject of each kind, and a kind no subject limits has none', async () => {
        const key = subject('key', { rpm: 10, tpm: 50 });
        const deployment = subject('deployment', { rpm: 3, tpm: 1000 });
        const result = await limiter.admit(admission([key, deployment]));
        expect(result.state).toMatchObject({ limitRequests: 3, remainingRequests: 2, limitTokens: 50, remainingTokens: 50 });
        expect(result.state.resetTokensMs).toBe(result.state.resetRequestsMs);

        const unlimited = await limiter.admit(admission([subject('key', { maxParallel: 4 })]));
        expect(unlimited).toEqual({ admitted: true, state: {} });
      });
    });

    describe('parallel slots', () => {
      test('of 50 concurrent admissions with maxParallel 5 exactly 5 are admitted, and releasing one admits one more', async () => {
        const key = subject('key', { maxParallel: 5 });
        const inputs = Array.from({ length: 50 }, () => admission([key]));
        const results = await Promise.all(inputs.map((input) => limiter.admit(input)));
        const admitted = inputs.filter((_, i) => results[i]!.admitted);
        expect(admitted).toHaveLength(5);
        for (const result of results.filter((r) => !r.admitted)) {
          expect(refusal(result)).toMatchObject({ reason: 'parallel', subject: key.key, retryAfterMs: PARALLEL_RETRY_HINT_MS });
        }
        expect((await limiter.usage(key.key)).running).toBe(5);

        expect(await limiter.release(admitted[0]!.id, [key.key])).toBe(true);
        expect((await limiter.admit(admission([key]))).admitted).toBe(true);
        expect(refusal(await limiter.admit(admission([key]))).reason).toBe('parallel');
        expect((await limiter.usage(key.key)).running).toBe(5);
      });

      test('release frees the slot exactly once: only the first of many calls returns true', async () => {
        const key = subject('key', { maxParallel: 3 });
        const deployment = subject('deployment', { maxParallel: 3 });
        const inputs = [admission([key, deployment]), admission([key, deployment])];
        for (const input of inputs) expect((await limiter.admit(input)).admitted).toBe(true);

        const subjects = [key.key, deployment.key];
        const answers = await Promise.all(Array.from({ length: 10 }, () => limiter.release(inputs[0]!.id, subjects)));
        expect(answers.filter(Boolean)).toHaveLength(1);
        expect(await limiter.release(inputs[0]!.id, subjects)).toBe(false);
        // The other response's slot is untouched.
        expect((await limiter.usage(key.key)).running).toBe(1);
        expect((await limiter.usage(deployment.key)).running).toBe(1);
      });

      test('rollback returns the request count and the slot, and a second rollback or a release changes nothing', async () => {
        const key = subject('key', { rpm: 5, maxParallel: 2 });
        const kept = admission([key]);
        const undone = admission([key]);
        await limiter.admit(kept);
        await limiter.admit(undone);
        expect(await limiter.usage(key.key)).toMatchObject({ requestsThisWindow: 2, running: 2 });

        await limiter.rollback(undone);
        expect(await limiter.usage(key.key)).toMatchObject({ requestsThisWindow: 1, running: 1 });
        await limiter.rollback(undone);
        expect(await limiter.usage(key.key)).toMatchObject({ requestsThisWindow: 1, running: 1 });
        expect(await limiter.release(undone.id, [key.key])).toBe(false);
        expect(await limiter.usage(key.key)).toMatchObject({ requestsThisWindow: 1, running: 1 });
      });

      test('rollback undoes the admission in every subject it counted in', async () => {
        const key = subject('key', { rpm: 1 });
        const deployment = subject('deployment', { rpm: 1, maxParallel: 1 });
        const input = admission([key, deployment]);
        await limiter.admit(input);
        expect(refusal(await limiter.admit(admission([key, deployment]))).reason).toBe('rpm');
        await limiter.rollback(input);
        expect((await limiter.admit(admission([key, deployment]))).admitted).toBe(true);
      });

      test('a slot whose lease lapsed (its worker died) is purged and its capacity admits again', async () => {
        const key = subject('key', { maxParallel: 1 });
        const dead = admission([key], { leaseMs: 30 });
        expect((await limiter.admit(dead)).admitted).toBe(true);
        await sleep(100);
        expect((await limiter.usage(key.key)).running).toBe(0);
        const next = admission([key]);
        expect((await limiter.admit(next)).admitted).toBe(true);
        // The dead worker's late release must not free the new response's slot.
        await limiter.release(dead.id, [key.key]);
        expect((await limiter.usage(key.key)).running).toBe(1);
        expect(refusal(await limiter.admit(admission([key]))).reason).toBe('parallel');
      });

      test('renew keeps a slot past its original lease', async () => {
        const key = subject('key', { maxParallel: 1 });
        const input = admission([key], { leaseMs: 300 });
        await limiter.admit(input);
        await limiter.renew(input.id, [key.key], 60_000);
        await sleep(400);
        expect((await limiter.usage(key.key)).running).toBe(1);
        expect(refusal(await limiter.admit(admission([key]))).reason).toBe('parallel');
      });

      test('renew does not bring back a slot that lapsed or was released', async () => {
        const key = subject('key', { maxParallel: 2 });
        const lapsed = admission([key], { leaseMs: 30 });
        const released = admission([key]);
        await limiter.admit(lapsed);
        await limiter.admit(released);
        await limiter.release(released.id, [key.key]);
        await sleep(100);
        await limiter.renew(lapsed.id, [key.key], 60_000);
        await limiter.renew(released.id, [key.key], 60_000);
        expect((await limiter.usage(key.key)).running).toBe(0);
      });
    });

    describe('queued responses', () => {
      test('a slot admitted with holdMs outlives its lease until it is renewed', async () => {
        const key = subject('key', { maxParallel: 1 });
        const input = admission([key], { leaseMs: 50, holdMs: 60_000 });
        await limiter.admit(input);
        await sleep(150);
        expect((await limiter.usage(key.key)).running).toBe(1);
        expect(refusal(await limiter.admit(admission([key]))).reason).toBe('parallel');
        // The worker's first renewal brings it back to one lease.
        await limiter.renew(input.id, [key.key], 50);
        await sleep(150);
        expect((await limiter.usage(key.key)).running).toBe(0);
      });

      test('a full subject that queues when full admits without its slot and says so; its other limits still refuse', async () => {
        const key = { ...subject('key', { maxParallel: 1, rpm: 3 }), queueWhenFull: true };
        const first = await limiter.admit(admission([key]));
        expect(first).toEqual({ admitted: true, state: expect.any(Object) });
        const second = await limiter.admit(admission([key]));
        expect(second.admitted).toBe(true);
        expect(second.admitted && second.awaiting).toEqual([key.key]);
        expect(await limiter.usage(key.key)).toMatchObject({ running: 1, requestsThisWindow: 2 });
        await limiter.admit(admission([key]));
        expect(refusal(await limiter.admit(admission([key]))).reason).toBe('rpm');
        // Without the flag the same subject refuses.
        expect(refusal(await limiter.admit(admission([{ key: key.key, limits: { maxParallel: 1 } }]))).reason).toBe('parallel');
      });

      test('acquire takes a free slot, answers full without changing anything, and keeps a slot the admission holds', async () => {
        const key = { ...subject('key', { maxParallel: 1 }), queueWhenFull: true };
        const slots = [{ key: key.key, maxParallel: 1 }];
        const running = admission([key]);
        const waiting = admission([key]);
        await limiter.admit(running);
        await limiter.admit(waiting);
        expect(await limiter.acquire(waiting.id, slots, 30_000)).toBe('full');
        // The holder passes its own gate even though the subject is full.
        expect(await limiter.acquire(running.id, slots, 30_000)).toBe('acquired');
        expect((await limiter.usage(key.key)).running).toBe(1);
        expect(await limiter.release(running.id, [key.key])).toBe(true);
        expect(await limiter.acquire(waiting.id, slots, 30_000)).toBe('acquired');
        expect((await limiter.usage(key.key)).running).toBe(1);
        expect(await limiter.acquire(running.id, slots, 30_000)).toBe('released');
        expect(await limiter.release(waiting.id, [key.key])).toBe(true);
        expect((await limiter.usage(key.key)).running).toBe(0);
      });

      test('acquire is all or nothing across subjects, and takes nothing for an admission rolled back', async () => {
        const a = subject('key', { maxParallel: 1 });
        const b = subject('key', { maxParallel: 1 });
        const slots = [
          { key: a.key, maxParallel: 1 },
          { key: b.key, maxParallel: 1 },
        ];
        await limiter.admit(admission([b]));
        const input = admission([a, { ...b, queueWhenFull: true }]);
        expect(await limiter.admit(input)).toMatchObject({ admitted: true, awaiting: [b.key] });
        expect((await limiter.usage(a.key)).running).toBe(1);
        expect(await limiter.acquire(newId(), slots, 30_000)).toBe('full');
        expect((await limiter.usage(a.key)).running).toBe(1);
        await limiter.rollback(input);
        expect(await limiter.acquire(input.id, slots.slice(0, 1), 30_000)).toBe('released');
        expect((await limiter.usage(a.key)).running).toBe(0);
      });

      test('a slot taken by acquire lapses after its lease like any other', async () => {
        const key = subject('key', { maxParallel: 1 });
        const id = newId();
        expect(await limiter.acquire(id, [{ key: key.key, maxParallel: 1 }], 50)).toBe('acquired');
        expect((await limiter.usage(key.key)).running).toBe(1);
        await sleep(150);
        expect((await limiter.usage(key.key)).running).toBe(0);
      });
    });

    describe('tokens and budget', () => {
      test('tpm refuses once recorded tokens reach the limit in the current window', async () => {
        const key = subject('key', { tpm: 100 });
        const first = admission([key]);
        expect(await limiter.admit(first)).toMatchObject({ admitted: true, state: { limitTokens: 100, remainingTokens: 100 } });
        expect(await limiter.record(first.id, [key.key], { tokens: 60, spend: 0 })).toBe(true);

        const second = admission([key]);
        expect(await limiter.admit(second)).toMatchObject({ admitted: true, state: { remainingTokens: 40 } });
        await limiter.record(second.id, [key.key], { tokens: 50, spend: 0 });

        const refused = refusal(await limiter.admit(admission([key])));
        expect(refused).toMatchObject({ reason: 'tpm', subject: key.key, state: { limitTokens: 100, remainingTokens: 0 } });
        expect(refused.retryAfterMs).toBeGreaterThan(0);
        expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
        expect(await limiter.usage(key.key)).toMatchObject({ requestsThisWindow: 2, tokensThisWindow: 110 });
      });

      test('budget refuses once the recorded spend reaches maxBudget, with no retry time', async () => {
        const key = subject('key', { maxBudget: 1 });
        const first = admission([key]);
        await limiter.admit(first);
        await limiter.record(first.id, [key.key], { tokens: 10, spend: 0.5 });
        const second = admission([key]);
        expect((await limiter.admit(second)).admitted).toBe(true);
        await limiter.record(second.id, [key.key], { tokens: 10, spend: 0.5 });

        expect(refusal(await limiter.admit(admission([key])))).toMatchObject({ reason: 'budget', subject: key.key, retryAfterMs: null });
        expect((await limiter.usage(key.key)).spend).toBe(1);
      });

      test('a budget with a period starts again from 0 when the period (aligned to the epoch) ends', async () => {
        const periodMs = 2000;
        // Start just after a period boundary, so the spend below lands well inside one period.
        await sleep(periodMs - (Date.now() % periodMs) + 100);
        const key = subject('key', { maxBudget: 1, budgetPeriodMs: periodMs });
        const spent = admission([key]);
        expect((await limiter.admit(spent)).admitted).toBe(true);
        await limiter.record(spent.id, [key.key], { tokens: 0, spend: 1 });
        expect(refusal(await limiter.admit(admission([key]))).reason).toBe('budget');
        await sleep(periodMs - (Date.now() % periodMs) + 200);
        expect((await limiter.usage(key.key)).spend).toBe(0);
        expect((await limiter.admit(admission([key]))).admitted).toBe(true);
        // Without a period, the same spend never resets.
        const forever = subject('key', { maxBudget: 1 });
        const once = admission([forever]);
        await limiter.admit(once);
        await limiter.record(once.id, [forever.key], { tokens: 0, spend: 1 });
        await sleep(periodMs);
        expect(refusal(await limiter.admit(admission([forever]))).reason).toBe('budget');
      });

      test('record counts tokens and spend exactly once per id', async () => {
        const key = subject('key', { tpm: 1000 });
        const deployment = subject('deployment', { tpm: 1000 });
        const input = admission([key, deployment]);
        await limiter.admit(input);
        const subjects = [key.key, deployment.key];
        const answers = await Promise.all(Array.from({ length: 10 }, () => limiter.record(input.id, subjects, { tokens: 7, spend: 0.25 })));
        expect(answers.filter(Boolean)).toHaveLength(1);
        expect(await limiter.record(input.id, subjects, { tokens: 7, spend: 0.25 })).toBe(false);
        for (const s of subjects) expect(await limiter.usage(s)).toMatchObject({ tokensThisWindow: 7, spend: 0.25 });
      });

      test('spend sums decimals as money, so 0.1 + 0.2 reaches a budget of 0.3', async () => {
        const key = subject('key', { maxBudget: 0.3 });
        for (const spend of [0.1, 0.2]) {
          const input = admission([key]);
          expect((await limiter.admit(input)).admitted).toBe(true);
          await limiter.record(input.id, [key.key], { tokens: 0, spend });
        }
        expect(refusal(await limiter.admit(admission([key]))).reason).toBe('budget');
      });
    });

    describe('all or nothing', () => {
      test('when the second subject is full the first is not counted either', async () => {
        const key = subject('key', { rpm: 10, maxParallel: 10 });
        const deployment = subject('deployment', { maxParallel: 1 });
        expect((await limiter.admit(admission([key, deployment]))).admitted).toBe(true);

        const refused = refusal(await limiter.admit(admission([key, deployment])));
        expect(refused).toMatchObject({ reason: 'parallel', subject: deployment.key });
        expect(refused.state).toMatchObject({ limitRequests: 10, remainingRequests: 9 });
        expect(await limiter.usage(key.key)).toMatchObject({ requestsThisWindow: 1, running: 1 });
        expect(await limiter.usage(deployment.key)).toMatchObject({ requestsThisWindow: 1, running: 1 });
      });

      test('the first refusing subject in the given order is reported', async () => {
        const key = subject('key', { rpm: 0 });
        const deployment = subject('deployment', { maxParallel: 0 });
        expect(refusal(await limiter.admit(admission([key, deployment])))).toMatchObject({ reason: 'rpm', subject: key.key });
        expect(refusal(await limiter.admit(admission([deployment, key])))).toMatchObject({ reason: 'parallel', subject: deployment.key });
      });
    });

    describe('input checks', () => {
      test('malformed input rejects with a TypeError naming the field, before anything is counted', async () => {
        const key = subject('key', { rpm: 5 });
        await expect(limiter.admit(admission([{ key: key.key, limits: { rpm: -1 } }]))).rejects.toThrow(/rpm/);
        await expect(limiter.admit(admission([key], { leaseMs: 0 }))).rejects.toThrow(/leaseMs/);
        await expect(limiter.admit(admission([key], { id: '' }))).rejects.toBeInstanceOf(TypeError);
        await expect(limiter.record(newId(), [key.key], { tokens: 1.5, spend: 0 })).rejects.toThrow(/tokens/);
        await expect(limiter.record(newId(), [key.key], { tokens: 1, spend: Number.NaN })).rejects.toThrow(/spend/);
        expect((await limiter.usage(key.key)).requestsThisWindow).toBe(0);
      });
    });
  });
}
