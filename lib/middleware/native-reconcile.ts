// Native background mode, reconcile: native responses nobody polls after they finish are still
// accounted. One instance at a time (under a store lease) asks the provider about due ids, with a
// backoff that grows with a response's age, and settles the finished ones once.

import type { Runtime } from '../runtime';
import { isTerminalStatus } from '../response-vocabulary';
import { requestUpstream } from '../upstream/client';
import { deploymentOf, nativeUrl } from './native-background';
import { settleNative } from './native-settle';
import { newAdmissionId } from './ids';

/** The lease the reconcilers of every instance share. */
const LEASE = 'native-reconciler';
/** Ids asked about per round. */
const BATCH = 50;
/** Longest wait between two questions about one response. */
const MAX_DELAY_MS = 10 * 60_000;

/** When to ask next about a response created at `createdAt`: a tenth of its age, within [interval, 10 min]. */
export function nextCheckAt(now: number, createdAt: number, intervalMs: number): number {
  return now + Math.min(MAX_DELAY_MS, Math.max(intervalMs, (now - createdAt) / 10));
}

/** A running reconciler; `close()` stops it after the round in progress. */
export interface NativeReconciler {
  /** Runs one round now (tests; the timer runs them every interval). */
  round(): Promise<void>;
  close(): Promise<void>;
}

/** Starts the reconciler of `runtime`, one round every `nativeReconcileIntervalMs`. */
export function startNativeReconciler(runtime: Runtime): NativeReconciler {
  const { config } = runtime;
  const intervalMs = config.nativeReconcileIntervalMs;
  const holder = newAdmissionId();
  let current: Promise<void> = Promise.resolve();
  let closed = false;

  async function check(id: string): Promise<void> {
    const { store, logger, worker } = config;
    const record = await store.lookupNative(id, null);
    const deployment = record && record.path !== 'pass_through' ? deploymentOf(config, record.deployment) : undefined;
    if (!record || !deployment) {
      // Forgotten, expired, not native, or its deployment is no longer configured: nothing to ask.
      await store.unscheduleNative(id);
      return;
    }
    let answer: globalThis.Response;
    try {
      answer = await requestUpstream({
        url: nativeUrl(deployment, id),
        deployment,
        method: 'GET',
        accept: 'application/json',
        signal: AbortSignal.timeout(worker.upstreamIdleTimeoutMs),
        connectTimeoutMs: worker.upstreamConnectTimeoutMs,
      });
    } catch (err) {
      logger.warn('native reconciler could not reach the provider', { id, error: String(err) });
      await store.scheduleNative(id, nextCheckAt(Date.now(), record.createdAt, intervalMs));
      return;
    }
    if (answer.status === 404) {
      await answer.body?.cancel().catch(() => undefined);
      await store.unscheduleNative(id);
      return;
    }
    const parsed = answer.ok ? ((await answer.json().catch(() => null)) as { status?: unknown } | null) : null;
    if (!answer.ok) await answer.body?.cancel().catch(() => undefined);
    if (parsed && typeof parsed.status === 'string' && isTerminalStatus(parsed.status)) {
      // Settles once across every instance and relay (the store's end claim); then it is done.
      await settleNative(runtime, id, record, deployment, parsed);
      await store.unscheduleNative(id);
      return;
    }
    await store.scheduleNative(id, nextCheckAt(Date.now(), record.createdAt, intervalMs));
  }

  async function round(): Promise<void> {
    const { store, logger } = config;
    try {
      if (!(await store.holdLease(LEASE, holder, intervalMs * 3))) return;
      for (const id of await store.dueNatives(Date.now(), BATCH)) {
        if (closed) return;
        await check(id).catch((err: unknown) => logger.warn('native reconciler could not check a response', { id, error: String(err) }));
      }
    } catch (err) {
      logger.warn('native reconciler round failed', { error: String(err) });
    }
  }

  const timer = setInterval(() => {
    current = current.then(round);
  }, intervalMs);
  timer.unref();
  return {
    round: () => (current = current.then(round)),
    async close() {
      closed = true;
      clearInterval(timer);
      await current;
    },
  };
}
