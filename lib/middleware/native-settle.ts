// Native background mode, settlement: the first relay of a finished native response (on any
// instance) accounts it once: usage and spend against its admission, and its end reported.

import { createParser } from 'eventsource-parser';
import type { DeploymentConfig } from '../config/options';
import { Admission } from '../limiter/admission';
import type { Runtime } from '../runtime';
import { CANCELLED_EVENT_TYPE, isFinalEventType, isTerminalStatus } from '../response-vocabulary';
import type { NativeResponseRecord, ResponseObject } from '../types';
import type { EndStatus } from '../observability/metrics';
import { usageCharge } from '../observability/lifecycle';
import { nativeRetentionSeconds } from './native-background';

/**
 * Called with every Response a forwarded call relays: the first time any instance sees the
 * response finished (an atomic claim in the store), its tokens and spend are recorded against
 * the admission it was created under, and its end is reported (metrics, log, lifecycle hook).
 * So a finished native response is accounted exactly once, however often it is polled.
 */
export async function settleNative(runtime: Runtime, id: string, record: NativeResponseRecord, deployment: DeploymentConfig, response: unknown): Promise<void> {
  const r = response as ResponseObject | null;
  // A pass-through response was settled when its answer was relayed.
  if (record.path === 'pass_through' || !r || typeof r !== 'object' || !isTerminalStatus(r.status)) return;
  const { config } = runtime;
  const left = nativeRetentionSeconds(config) - (Date.now() - record.createdAt) / 1000;
  // Seen finished: the reconciler need not ask about it again, whoever settles it.
  void config.store.unscheduleNative(id).catch(() => undefined);
  try {
    if (!(await config.store.claimNativeEnd(id, Math.max(60, left)))) return;
  } catch (err) {
    // Unclaimed: a later read accounts it.
    config.logger.warn('could not claim the end of a native background response', { id, error: String(err) });
    return;
  }
  // The claim is held from here: the admission's settlement retries a limiter blip (recording
  // is idempotent per admission); a process that dies in between loses this charge (at most once, then).
  if (record.admission) await Admission.recorded(config.limiter, config.logger, record.admission).settle(id, usageCharge(r.usage, deployment));
  runtime.responseEnded({ id, path: 'native', status: r.status as EndStatus, response: r, owner: record.owner });
}

/**
 * Feeds SSE chunks to a parser and hands `onResponse` the response of the first terminal event;
 * the chunk that carries it waits for the promise `onResponse` returns (the relay holds it back).
 */
export function terminalWatcher(onResponse: (response: unknown) => void | Promise<void>): (chunk: Uint8Array) => Promise<void> | undefined {
  const decoder = new TextDecoder();
  let seen = false;
  let pending: Promise<void> | undefined;
  const parser = createParser({
    onEvent(message) {
      if (seen || !(isFinalEventType(message.event) || message.event === CANCELLED_EVENT_TYPE)) return;
      try {
        const data = JSON.parse(message.data) as { response?: unknown };
        seen = true;
        pending = onResponse(data.response) ?? undefined;
      } catch {
        // Not JSON: nothing to account.
      }
    },
  });
  return (chunk) => {
    parser.feed(decoder.decode(chunk, { stream: true }));
    const wait = pending;
    pending = undefined;
    return wait;
  };
}
