// The in-process limiter: the same contract as the Redis limiter, with limits per process. It
// mirrors the scripts step by step (purge, check all, then count), so it is a faithful stand-in.

import { checkAcquire, checkAdmission, checkId, checkPositiveInteger, checkSubjectKey, checkUsage, DEFAULT_MARKER_TTL_MS, DEFAULT_WINDOW_MS, holdOf, PARALLEL_RETRY_HINT_MS, windowAt } from './limits';
import type { AcquireOutcome, AdmissionInput, AdmissionResult, LimiterStore, LimitSpec, RateState, RefusalReason, SlotSpec, SubjectUsage } from './types';

/** What `new MemoryLimiter()` accepts. */
export interface MemoryLimiterOptions {
  /** Lifetime of a response's admission marker after its last write, in ms. Default one day. */
  markerTtlMs?: number;
  /** Length of a rate window, in ms. Default 60000; rpm and tpm mean per minute only then. */
  windowMs?: number;
  /** How often idle subjects and expired markers are dropped, in ms. Default 60000. */
  sweepIntervalMs?: number;
}

/** The counts of one subject (the window hash, running set and spend string of the Redis limiter). */
interface SubjectRecord {
  windowStart: number;
  requests: number;
  tokens: number;
  /** Response id → epoch ms when its slot lapses. */
  running: Map<string, number>;
  spend: number;
  /** Epoch ms at which `spend` starts again from 0 (the end of its budget period); absent: never. */
  spendResetAt?: number;
}

/** The admission hash of the Redis limiter. */
interface AdmissionMarker {
  /** Window the request was counted in; gone once rolled back. */
  window?: number;
  released: boolean;
  recorded: boolean;
  expiresAt: number;
  /** Budget period (ms) of each subject admitted with one, by subject key. */
  periods?: Map<string, number>;
}

/** The in-memory {@link LimiterStore}: limits hold per process, nothing survives a restart. */
export class MemoryLimiter implements LimiterStore {
  readonly #subjects = new Map<string, SubjectRecord>();
  readonly #markers = new Map<string, AdmissionMarker>();
  readonly #markerTtlMs: number;
  readonly #windowMs: number;
  readonly #sweepTimer: NodeJS.Timeout;
  #closed = false;

  constructor(opts: MemoryLimiterOptions = {}) {
    this.#markerTtlMs = opts.markerTtlMs ?? DEFAULT_MARKER_TTL_MS;
    this.#windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS;
    checkPositiveInteger('markerTtlMs', this.#markerTtlMs);
    checkPositiveInteger('windowMs', this.#windowMs);
    this.#sweepTimer = setInterval(() => this.#sweep(), opts.sweepIntervalMs ?? 60_000);
    this.#sweepTimer.unref();
  }

  async admit(input: AdmissionInput): Promise<AdmissionResult> {
    this.#assertOpen();
    checkAdmission(input);
    const now = Date.now();
    const window = windowAt(now, this.#windowMs);
    const resetMs = window.end - now;
    const seen = input.subjects.map(({ key, limits }) => {
      const record = this.#subject(key, window.start, now);
      // Slots past their expiry belong to workers that died without releasing them.
      for (const [id, expiresAt] of record.running) if (expiresAt <= now) record.running.delete(id);
      return { key, limits, record, requests: record.requests, tokens: record.tokens };
    });

    let refusal: { reason: RefusalReason; subject: string; retryAfterMs: number | null } | undefined;
    const awaiting = new Set<string>();
    for (const { key, limits, record } of seen) {
      const reason = refusalOf(limits, record);
      // Parallel is the last check: a subject that queues when full passed all the others.
      if (reason === 'parallel' && input.subjects.find((s) => s.key === key)?.queueWhenFull) {
        awaiting.add(key);
        continue;
      }
      if (reason) {
        const retryAfterMs = reason === 'budget' ? null : reason === 'parallel' ? PARALLEL_RETRY_HINT_MS : resetMs;
        refusal = { reason, subject: key, retryAfterMs };
        break;
      }
    }

    // Only after every subject passed is anything counted: that is the all-or-nothing.
    if (!refusal) {
      for (const s of seen) {
        s.record.requests += 1;
        s.requests += 1;
        if (s.limits.maxParallel !== undefined && !awaiting.has(s.key)) s.record.running.set(input.id, now + holdOf(input));
      }
      const marker = this.#marker(input.id, now, true)!;
      marker.window = window.start;
      for (const { key, limits } of input.subjects) {
        if (limits.budgetPeriodMs !== undefined) (marker.periods ??= new Map()).set(key, limits.budgetPeriodMs);
      }
      marker.expiresAt = now + holdOf(input) + this.#markerTtlMs;
    }

    const state = rateState(seen, resetMs);
    if (refusal) return { admitted: false, ...refusal, state };
    return awaiting.size ? { admitted: true, state, awaiting: [...awaiting] } : { admitted: true, state };
  }

  async rollback(input: AdmissionInput): Promise<void> {
    this.#assertOpen();
    checkId(input.id);
    const now = Date.now();
    for (const { key } of input.subjects) {
      checkSubjectKey(key);
      this.#subjects.get(key)?.running.delete(input.id);
    }
    const marker = this.#marker(input.id, now, false);
    if (marker?.window === undefined) return;
    const windowStart = windowAt(now, this.#windowMs).start;
    // The count is undone only in the window it was made in; a past window no longer counts.
    if (marker.window === windowStart) {
      for (const { key } of input.subjects) {
        const record = this.#subjects.get(key);
        if (record && record.windowStart === windowStart && record.requests > 0) record.requests -= 1;
      }
    }
    marker.window = undefined;
    marker.released = true;
  }

  async release(id: string, subjects: string[]): Promise<boolean> {
    this.#assertOpen();
    checkId(id);
    subjects.forEach(checkSubjectKey);
    const now = Date.now();
    const marker = this.#marker(id, now, true)!;
    if (marker.released) return false;
    marker.released = true;
    marker.expiresAt = now + this.#markerTtlMs;
    for (const key of subjects) this.#subjects.get(key)?.running.delete(id);
    return true;
  }

  async acquire(id: string, slots: SlotSpec[], leaseMs: number): Promise<AcquireOutcome> {
    this.#assertOpen();
    checkAcquire(id, slots, leaseMs);
    const now = Date.now();
    const marker = this.#marker(id, now, true)!;
    if (marker.released) return 'released';
    const windowStart = windowAt(now, this.#windowMs).start;
    const held = slots.map(({ key, maxParallel }) => {
      const { running } = this.#subject(key, windowStart, now);
      for (const [member, expiresAt] of running) if (expiresAt <= now) running.delete(member);
      return { running, maxParallel };
    });
    // All or none: a slot this admission still holds counts as room.
    if (held.some(({ running, maxParallel }) => !running.has(id) && running.size >= maxParallel)) return 'full';
    for (const { running } of held) running.set(id, now + leaseMs);
    marker.expiresAt = Math.max(marker.expiresAt, now + leaseMs + this.#markerTtlMs);
    return 'acquired';
  }

  async renew(id: string, subjects: string[], leaseMs: number): Promise<void> {
    this.#assertOpen();
    checkId(id);
    checkPositiveInteger('leaseMs', leaseMs);
    subjects.forEach(checkSubjectKey);
    const now = Date.now();
    for (const key of subjects) {
      const running = this.#subjects.get(key)?.running;
      const expiresAt = running?.get(id);
      // A lapsed slot stays lapsed: its capacity may already belong to another response.
      if (running && expiresAt !== undefined && expiresAt > now) running.set(id, now + leaseMs);
    }
    const marker = this.#marker(id, now, false);
    if (marker) marker.expiresAt = now + leaseMs + this.#markerTtlMs;
  }

  async record(id: string, subjects: string[], usage: { tokens: number; spend: number }): Promise<boolean> {
    this.#assertOpen();
    checkId(id);
    checkUsage(usage);
    subjects.forEach(checkSubjectKey);
    const now = Date.now();
    const marker = this.#marker(id, now, true)!;
    if (marker.recorded) return false;
    marker.recorded = true;
    marker.expiresAt = now + this.#markerTtlMs;
    const windowStart = windowAt(now, this.#windowMs).start;
    for (const key of subjects) {
      const record = this.#subject(key, windowStart, now);
      record.tokens += usage.tokens;
      if (usage.spend <= 0) continue;
      // Redis sums in long double and prints the result; 15 digits make 0.1 + 0.2 come out
      // as 0.3 here too, so both stores compare a total with maxBudget alike.
      record.spend = Number((record.spend + usage.spend).toPrecision(15));
      const period = marker.periods?.get(key);
      if (period !== undefined && record.spendResetAt === undefined) record.spendResetAt = windowAt(now, period).end;
    }
    return true;
  }

  async usage(subject: string): Promise<SubjectUsage> {
    this.#assertOpen();
    checkSubjectKey(subject);
    const now = Date.now();
    const record = this.#subjects.get(subject);
    if (!record) return { requestsThisWindow: 0, tokensThisWindow: 0, running: 0, spend: 0 };
    const current = record.windowStart === windowAt(now, this.#windowMs).start;
    const spend = record.spendResetAt !== undefined && record.spendResetAt <= now ? 0 : record.spend;
    let running = 0;
    for (const expiresAt of record.running.values()) if (expiresAt > now) running += 1;
    return { requestsThisWindow: current ? record.requests : 0, tokensThisWindow: current ? record.tokens : 0, running, spend };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    this.#subjects.clear();
    this.#markers.clear();
  }

  /** The record of `key`: window counts reset when they belong to an earlier window, spend when its period ended. */
  #subject(key: string, windowStart: number, now: number): SubjectRecord {
    let record = this.#subjects.get(key);
    if (!record) {
      record = { windowStart, requests: 0, tokens: 0, running: new Map(), spend: 0 };
      this.#subjects.set(key, record);
    } else if (record.windowStart !== windowStart) {
      Object.assign(record, { windowStart, requests: 0, tokens: 0 });
    }
    if (record.spendResetAt !== undefined && record.spendResetAt <= now) {
      record.spend = 0;
      record.spendResetAt = undefined;
    }
    return record;
  }

  /** The live marker of `id`; with `create`, a fresh one when there is none. */
  #marker(id: string, now: number, create: boolean): AdmissionMarker | undefined {
    let marker = this.#markers.get(id);
    if (marker && marker.expiresAt <= now) {
      this.#markers.delete(id);
      marker = undefined;
    }
    if (!marker && create) {
      marker = { released: false, recorded: false, expiresAt: now + this.#markerTtlMs };
      this.#markers.set(id, marker);
    }
    return marker;
  }

  /** Drops what Redis would have expired: markers, and subjects with nothing left to count. */
  #sweep(): void {
    const now = Date.now();
    const windowStart = windowAt(now, this.#windowMs).start;
    for (const [id, marker] of this.#markers) if (marker.expiresAt <= now) this.#markers.delete(id);
    for (const [key, record] of this.#subjects) {
      for (const [id, expiresAt] of record.running) if (expiresAt <= now) record.running.delete(id);
      const spent = record.spendResetAt !== undefined && record.spendResetAt <= now ? 0 : record.spend;
      if (record.windowStart !== windowStart && record.running.size === 0 && spent === 0) this.#subjects.delete(key);
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('The memory limiter is closed.');
  }
}

/** The first failing check of one subject, in the scripts' order: budget, rpm, tpm, parallel. */
function refusalOf(limits: LimitSpec, record: SubjectRecord): RefusalReason | undefined {
  if (limits.maxBudget !== undefined && record.spend >= limits.maxBudget) return 'budget';
  if (limits.rpm !== undefined && record.requests >= limits.rpm) return 'rpm';
  if (limits.tpm !== undefined && record.tokens >= limits.tpm) return 'tpm';
  if (limits.maxParallel !== undefined && record.running.size >= limits.maxParallel) return 'parallel';
  return undefined;
}

/** The headers' values from the subject with the fewest remaining, per kind. */
function rateState(seen: { limits: LimitSpec; requests: number; tokens: number }[], resetMs: number): RateState {
  const state: RateState = {};
  for (const { limits, requests, tokens } of seen) {
    if (limits.rpm !== undefined) {
      const left = Math.max(0, limits.rpm - requests);
      if (state.remainingRequests === undefined || left < state.remainingRequests) {
        Object.assign(state, { limitRequests: limits.rpm, remainingRequests: left, resetRequestsMs: resetMs });
      }
    }
    if (limits.tpm !== undefined) {
      const left = Math.max(0, limits.tpm - tokens);
      if (state.remainingTokens === undefined || left < state.remainingTokens) {
        Object.assign(state, { limitTokens: limits.tpm, remainingTokens: left, resetTokensMs: resetMs });
      }
    }
  }
  return state;
}
