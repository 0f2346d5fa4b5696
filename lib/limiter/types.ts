// The limiter store contract: admission of a new response against per-key and per-deployment
// limits, and the bookkeeping after it (slot release, token and spend recording).

/** The limits of one subject. An absent field means no limit of that kind. */
export interface LimitSpec {
  /** Requests per window (60 s), counted at admission. A non-negative integer. */
  rpm?: number;
  /** Tokens per window (60 s), as the upstream reported them at each terminal state. A non-negative integer. */
  tpm?: number;
  /** Responses running at once (background responses between admission and terminal state). A non-negative integer. */
  maxParallel?: number;
  /** Total spend in USD; admission is refused once the recorded spend reaches it. */
  maxBudget?: number;
  /**
   * Length of a budget period, in ms: the spend starts again from 0 at the end of each period
   * (periods aligned to the Unix epoch, so `1d` resets at 00:00 UTC). Absent: the spend never resets.
   */
  budgetPeriodMs?: number;
}

/** Something limits apply to. */
export interface LimitSubject {
  /** A stable name such as `key:<hash>` or `deployment:<name>`. Never a secret: it is part of Redis key names. */
  key: string;
  limits: LimitSpec;
  /**
   * When this subject's `maxParallel` is reached, admit anyway without its slot (the other checks
   * still refuse): the response waits in the queue and takes the slot with
   * {@link LimiterStore.acquire} when it is claimed. The key's `keyParallelLimit: 'queue'`.
   */
  queueWhenFull?: boolean;
}

/** One admission: the request of response `id` against every subject it falls under. */
export interface AdmissionInput {
  /** The id of the response that will hold the parallel slots. Unique per admission. */
  id: string;
  subjects: LimitSubject[];
  /** How long the parallel slots live without a renewal, in ms (the worker's lease). */
  leaseMs: number;
  /**
   * How long the slots taken at admission live before their first renewal, in ms; default
   * `leaseMs`. A queued response is admitted with its longest wait on top of the lease, so its
   * slot cannot lapse while it waits for a claim. At least `leaseMs`.
   */
  holdMs?: number;
}

/**
 * Rate headers, from the tightest subject (the one with the fewest remaining) of each kind.
 * A field is absent when no subject has that kind of limit.
 */
export interface RateState {
  /** `x-ratelimit-limit-requests` */
  limitRequests?: number;
  /** `x-ratelimit-remaining-requests`, after this admission. */
  remainingRequests?: number;
  /** `x-ratelimit-reset-requests`, in ms: time left in the current window. */
  resetRequestsMs?: number;
  /** `x-ratelimit-limit-tokens` */
  limitTokens?: number;
  /** `x-ratelimit-remaining-tokens`, never below 0. */
  remainingTokens?: number;
  /** `x-ratelimit-reset-tokens`, in ms: time left in the current window. */
  resetTokensMs?: number;
}

/** Why an admission was refused. */
export type RefusalReason = 'rpm' | 'tpm' | 'parallel' | 'budget';

/** The answer to an admission. */
export type AdmissionResult =
  | {
      admitted: true;
      state: RateState;
      /**
       * Subjects (`queueWhenFull`) whose `maxParallel` was reached: admitted without their slot,
       * which the response takes with {@link LimiterStore.acquire}. Absent or empty: every slot was taken.
       */
      awaiting?: string[];
    }
  | {
      admitted: false;
      reason: RefusalReason;
      /** `key` of the first subject that refused (subjects are checked in the given order). */
      subject: string;
      /**
       * When to try again, in ms: the end of the window for `rpm` and `tpm`; a short hint
       * (1 s, `PARALLEL_RETRY_HINT_MS`) for `parallel`, since a slot frees whenever a running
       * response ends; `null` for `budget`, which never resets by itself.
       */
      retryAfterMs: number | null;
      state: RateState;
    };

/**
 * Where the limiter keeps its counts. Implementations: `MemoryLimiter` (per process) and
 * `createRedisLimiter` (global across every instance sharing the Redis).
 */
export interface LimiterStore {
  /**
   * Admits all subjects atomically, or none. On admission, counts one request against every
   * subject's window and takes a parallel slot (member `id`, expiring `leaseMs` from now) in
   * every subject that has `maxParallel`. Slots whose lease lapsed are purged first. A refusal
   * changes no count. Checks per subject, in subject order: budget, rpm, tpm, parallel.
   */
  admit(input: AdmissionInput): Promise<AdmissionResult>;
  /** Undoes one `admit` of `input.id` (its request count and its slots). Idempotent per id. */
  rollback(input: AdmissionInput): Promise<void>;
  /** Frees the slots of `id` in `subjects`. `true` only the first time for this id. */
  release(id: string, subjects: string[]): Promise<boolean>;
  /**
   * Takes (or keeps) the parallel slot of `id` in every subject of `slots`, all or none, expiring
   * `leaseMs` from now: a slot `id` still holds is renewed, a missing one is taken while the
   * subject has room (lapsed slots purged first). `full` when a subject has no room (nothing
   * changed); `released` when the admission was already released or rolled back (nothing taken).
   * The gate a queued response passes when claimed.
   */
  acquire(id: string, slots: SlotSpec[], leaseMs: number): Promise<AcquireOutcome>;
  /** Moves the expiry of `id`'s slots to `leaseMs` from now, for slots still held (not lapsed, not released). */
  renew(id: string, subjects: string[], leaseMs: number): Promise<void>;
  /**
   * Adds `tokens` to the current window and `spend` (USD) to the budget total of each subject.
   * `true` only the first time for this id; later calls change nothing.
   */
  record(id: string, subjects: string[], usage: { tokens: number; spend: number }): Promise<boolean>;
  /** The counts of one subject now, for tests and health checks. */
  usage(subject: string): Promise<SubjectUsage>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}

/** A subject's parallel cap, as {@link LimiterStore.acquire} takes it. */
export interface SlotSpec {
  key: string;
  /** A non-negative integer. */
  maxParallel: number;
}

/** The answer of {@link LimiterStore.acquire}. */
export type AcquireOutcome = 'acquired' | 'full' | 'released';

/** What {@link LimiterStore.usage} reports. */
export interface SubjectUsage {
  requestsThisWindow: number;
  tokensThisWindow: number;
  /** Slots held and not lapsed. */
  running: number;
  /** USD recorded so far. */
  spend: number;
}
