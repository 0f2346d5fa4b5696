// One limiter admission from `admit` to its end: given back on a refusal, kept alive while its
// response runs, settled once (usage, spend, slot release). The only caller of the limiter's
// rollback, renew, record and release.

import type { Logger } from '../types';
import type { AcquireOutcome, AdmissionInput, LimiterStore, SlotSpec } from './types';

/** What a finished response costs: its tokens and its spend (USD). */
export interface UsageCharge {
  tokens: number;
  spend: number;
}

/** The admission fields a native record keeps, to settle it on whichever instance sees the end. */
export interface AdmissionRecord {
  id: string;
  /** The subject keys (never a secret). */
  subjects: string[];
}

/** An admission as a queued response's job keeps it (see {@link Admission.job}). */
export interface AdmissionJob {
  input: AdmissionInput;
  /** True when the admission holds parallel slots, freed at settlement. */
  holdsSlots: boolean;
  /** Subjects admitted without their slot (`keyParallelLimit: 'queue'`): taken when claimed. */
  awaiting?: string[];
}

/**
 * Where an admission is in its life: `open` (admitted; refusing now gives it back), `committed`
 * (it counts: the request reached the provider or became a response), `rolledBack`, `settled`.
 */
export type AdmissionState = 'open' | 'committed' | 'rolledBack' | 'settled';

/** Attempts at each settlement write (100, 300 ms apart): a limiter blip is retried. */
const SETTLE_ATTEMPTS = 3;

/**
 * A limiter admission. A create that was not counted (no limits apply, no limiter in front, or
 * the limiter failed open) gets {@link Admission.none}, whose steps change nothing, so every
 * create path handles an admission the same way.
 */
export class Admission {
  #state: AdmissionState;
  #lastRenew = Date.now();

  private constructor(
    private readonly limiter: LimiterStore | undefined,
    private readonly logger: Logger | undefined,
    private readonly input: AdmissionInput | AdmissionRecord | undefined,
    /** True when the admission holds parallel slots, freed at settlement. */
    private readonly holdsSlots: boolean,
    state: AdmissionState,
    private readonly awaiting: readonly string[] = [],
  ) {
    this.#state = state;
  }

  /**
   * An admission `limiter.admit(input)` granted; `holdsSlots` for a response served by polling;
   * `awaiting`: the subjects admitted without their slot (the admit result's `awaiting`).
   */
  static admitted(limiter: LimiterStore, logger: Logger, input: AdmissionInput, holdsSlots: boolean, awaiting: readonly string[] = []): Admission {
    return new Admission(limiter, logger, input, holdsSlots, 'open', awaiting);
  }

  /** The admission a native record was created under, to settle on any instance. Holds no slot. */
  static recorded(limiter: LimiterStore, logger: Logger, record: AdmissionRecord): Admission {
    return new Admission(limiter, logger, record, false, 'committed');
  }

  /** The admission of a create nothing counted. */
  static none(): Admission {
    return new Admission(undefined, undefined, undefined, false, 'open');
  }

  /** Where this admission is in its life. */
  get state(): AdmissionState {
    return this.#state;
  }

  /** What a native record keeps of this admission; undefined when nothing was counted. */
  get record(): AdmissionRecord | undefined {
    if (!this.input) return undefined;
    return { id: this.input.id, subjects: this.subjectKeys() };
  }

  /**
   * What a queued response's job keeps of this admission (subject keys and limits, never a secret),
   * so the worker that runs it, in any process, holds and settles it. Undefined when nothing was counted.
   */
  get job(): AdmissionJob | undefined {
    if (!this.input || !('leaseMs' in this.input)) return undefined;
    const job: AdmissionJob = { input: this.input, holdsSlots: this.holdsSlots };
    if (this.awaiting.length) job.awaiting = [...this.awaiting];
    return job;
  }

  /** Subjects admitted without their slot, which {@link acquire} takes when the response is claimed. */
  get awaitingSlots(): readonly string[] {
    return this.awaiting;
  }

  /** The committed admission a queued response's job carries ({@link Admission.job}). */
  static fromJob(limiter: LimiterStore, logger: Logger, job: AdmissionJob): Admission {
    const awaiting = Array.isArray(job.awaiting) ? job.awaiting.filter((k): k is string => typeof k === 'string') : [];
    return new Admission(limiter, logger, job.input, job.holdsSlots, 'committed', awaiting);
  }

  /**
   * The gate of a claimed response: takes its parallel slots (those it was admitted without) or
   * renews those it holds, for one lease. `full`: a subject has no room, the response waits;
   * `released`: the admission already ended. `acquired` too when it holds no slot. Rejects when
   * the limiter cannot be reached.
   */
  async acquire(): Promise<AcquireOutcome> {
    const slots = this.slotSpecs();
    if (this.#state !== 'committed' || !this.limiter || !slots.length || !this.input || !('leaseMs' in this.input)) return 'acquired';
    const outcome = await this.limiter.acquire(this.input.id, slots, this.input.leaseMs);
    if (outcome === 'acquired') this.#lastRenew = Date.now();
    return outcome;
  }

  /** Marks the admission as counted: from now on only {@link rollback} gives it back. */
  commit(): void {
    if (this.#state === 'open') this.#state = 'committed';
  }

  /** Gives the admission back if it was not committed yet: the guard around every create path. */
  async refuse(): Promise<void> {
    if (this.#state === 'open') await this.rollback();
  }

  /**
   * Gives the admission back (its request count and slots), at most once and never after
   * settlement. A failure is logged: the slots still expire with their lease.
   */
  async rollback(): Promise<void> {
    if (this.#state === 'rolledBack' || this.#state === 'settled') return;
    this.#state = 'rolledBack';
    if (!this.limiter || !this.input || !('leaseMs' in this.input)) return;
    try {
      await this.limiter.rollback(this.input);
    } catch (err) {
      this.logger?.warn('could not roll back an admission; its slot expires with its lease', { error: String(err) });
    }
  }

  /** Keeps the slots alive while the response runs: renewed at most every quarter lease. */
  renew(responseId: string): void {
    if (this.#state !== 'committed' || !this.holdsSlots || !this.limiter || !this.input || !('leaseMs' in this.input)) return;
    const { leaseMs } = this.input;
    if (Date.now() - this.#lastRenew < leaseMs / 4) return;
    this.#lastRenew = Date.now();
    this.limiter.renew(this.input.id, this.subjectKeys(), leaseMs).catch((err: unknown) => {
      this.logger?.warn('could not renew a parallel slot', { id: responseId, error: String(err) });
    });
  }

  /**
   * Ends the admission once: records `charge` (when the response finished with usage) and frees
   * its slots. Each write is retried on a limiter blip; the limiter makes both happen at most
   * once per admission id, across instances. Never rejects: a failure is logged (the slots expire
   * with their lease; the usage goes uncounted).
   */
  async settle(responseId: string, charge: UsageCharge | null): Promise<void> {
    if (this.#state === 'rolledBack' || this.#state === 'settled') return;
    this.#state = 'settled';
    const { limiter, input } = this;
    if (!limiter || !input) return;
    const keys = this.subjectKeys();
    if (charge) await this.retried(responseId, 'record the usage of', () => limiter.record(input.id, keys, charge));
    if (this.holdsSlots) await this.retried(responseId, 'release the parallel slot of', () => limiter.release(input.id, keys));
  }

  /** The subjects whose parallel slot this admission holds (or awaits): none unless it holds slots. */
  private slotSpecs(): SlotSpec[] {
    if (!this.holdsSlots || !this.input || !('leaseMs' in this.input)) return [];
    return this.input.subjects.flatMap(({ key, limits }) => (limits.maxParallel === undefined ? [] : [{ key, maxParallel: limits.maxParallel }]));
  }

  private subjectKeys(): string[] {
    const input = this.input as AdmissionInput | AdmissionRecord;
    return input.subjects.map((s) => (typeof s === 'string' ? s : s.key));
  }

  private async retried(responseId: string, what: string, write: () => Promise<unknown>): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await write();
        return;
      } catch (err) {
        if (attempt >= SETTLE_ATTEMPTS) {
          this.logger?.warn(`could not ${what} a response`, { id: responseId, error: String(err) });
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 100 * 3 ** (attempt - 1)));
      }
    }
  }
}
