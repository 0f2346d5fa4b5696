// A limiter built on first use: a deployment that configures no limits never opens the limiter's
// Redis connection.

import type { AdmissionInput, LimiterStore } from './types';

/** Wraps `build` so the limiter is created by the first call; `close()` closes it only if it exists. */
export function lazyLimiter(build: () => LimiterStore): LimiterStore {
  let limiter: LimiterStore | undefined;
  let closed = false;
  const get = (): LimiterStore => {
    if (closed) throw new Error('limiter is closed');
    if (!limiter) limiter = build();
    return limiter;
  };
  return {
    admit: (input: AdmissionInput) => get().admit(input),
    rollback: (input: AdmissionInput) => get().rollback(input),
    release: (id, subjects) => get().release(id, subjects),
    acquire: (id, slots, leaseMs) => get().acquire(id, slots, leaseMs),
    renew: (id, subjects, leaseMs) => get().renew(id, subjects, leaseMs),
    record: (id, subjects, usage) => get().record(id, subjects, usage),
    usage: (subject) => get().usage(subject),
    async close() {
      closed = true;
      if (limiter) await limiter.close();
    },
  };
}
