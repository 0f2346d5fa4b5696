// The only place that builds the limiter's Redis key names.
//
// Every limiter key shares the one hash tag `{limits}`, so each script, which may touch several
// subjects (an API key and a deployment) at once, runs in one Redis Cluster slot. The price:
// on a cluster all limiter traffic lands on the node owning that slot. Admission stays one
// atomic round trip across subjects, which per-subject tags could not give.

/** The keys of one limit subject (an API key or a deployment). */
export interface SubjectKeys {
  /** Hash: `start` (window start, epoch ms), `requests` and `tokens` counted in that window. */
  window: string;
  /** Sorted set: running response ids, score = epoch ms when the slot's lease runs out. */
  running: string;
  /** String: spend in USD so far (a float; never expires). */
  spend: string;
}

/** Key builders of the limiter under `prefix` (for example `rp:`). */
export interface LimiterKeys {
  /** The keys of subject `subject`, such as `key:<hash>` or `deployment:<name>`. */
  subject(subject: string): SubjectKeys;
  /**
   * Hash of one admitted response `id`: `window` (the window its request was counted in, until
   * rolled back), `released` and `recorded` (set once, which makes release and record happen once).
   */
  admission(id: string): string;
}

/** Limiter keys under `prefix`. Subjects and ids come after the hash tag, so they cannot move it. */
export function limiterKeys(prefix: string): LimiterKeys {
  const base = `${prefix}{limits}:`;
  return {
    // The suffixes differ and none ends another, so two subjects can never share a key.
    subject: (subject) => ({ window: `${base}s:${subject}:window`, running: `${base}s:${subject}:running`, spend: `${base}s:${subject}:spend` }),
    admission: (id) => `${base}r:${id}`,
  };
}
