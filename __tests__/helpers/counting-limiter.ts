// A limiter wrapper for tests: notes which admissions were made and every release call's result.
import type { LimiterStore } from '../../lib/limiter/types';

/** A limiter that notes which admissions were made and every release call's result, per id. */
export interface CountingLimiter extends LimiterStore {
  /** Ids of the admissions the inner limiter admitted, in order. */
  admitted: string[];
  /** Per admission id, the result of each `release` call. */
  releases: Map<string, boolean[]>;
}

/** Wraps `inner`, passing every call through and noting admissions and releases. */
export function counting(inner: LimiterStore): CountingLimiter {
  const admitted: string[] = [];
  const releases = new Map<string, boolean[]>();
  return {
    admitted,
    releases,
    async admit(input) {
      const result = await inner.admit(input);
      if (result.admitted) admitted.push(input.id);
      return result;
    },
    rollback: (input) => inner.rollback(input),
    async release(id, subjects) {
      const released = await inner.release(id, subjects);
      releases.set(id, [...(releases.get(id) ?? []), released]);
      return released;
    },
    acquire: (id, slots, leaseMs) => inner.acquire(id, slots, leaseMs),
    renew: (id, subjects, leaseMs) => inner.renew(id, subjects, leaseMs),
    record: (id, subjects, usage) => inner.record(id, subjects, usage),
    usage: (subject) => inner.usage(subject),
    close: () => inner.close(),
  };
}
