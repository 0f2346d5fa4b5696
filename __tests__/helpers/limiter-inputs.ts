// Inputs for limiter tests, shared by the limiter contract and the Redis-specific suites:
// subjects with fresh names, admissions, refusals, and waiting away from a window's end.

import { randomBytes } from 'node:crypto';
import type { AdmissionInput, AdmissionResult, LimitSpec, LimitSubject } from '../../lib/limiter/types';
import { sleep } from './flow';

/** An admission id no other test uses. */
export function newId(): string {
  return `resp_${randomBytes(12).toString('hex')}`;
}

/** A subject with a name no other test uses. */
export function subject(kind: 'key' | 'deployment', limits: LimitSpec): LimitSubject {
  return { key: `${kind}:${randomBytes(6).toString('hex')}`, limits };
}

export function admission(subjects: LimitSubject[], overrides: Partial<AdmissionInput> = {}): AdmissionInput {
  return { id: newId(), subjects, leaseMs: 30_000, ...overrides };
}

/** The refusal fields of a result; fails the test when it was admitted. */
export function refusal(result: AdmissionResult): Extract<AdmissionResult, { admitted: false }> {
  if (result.admitted) throw new Error('expected a refusal, got an admission');
  return result;
}

/**
 * Waits, when needed, until at least `marginMs` are left in the current window, so that steps
 * which must share one window do. The limiter's clock (Redis TIME) is this machine's clock.
 */
export async function awayFromWindowEnd(windowMs = 60_000, marginMs = 3000): Promise<void> {
  const left = windowMs - (Date.now() % windowMs);
  if (left < marginMs) await sleep(left + 20);
}
