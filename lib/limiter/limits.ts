// Defaults and input checks shared by both limiter stores, so they agree on every edge.

import type { AdmissionInput, LimitSpec, SlotSpec } from './types';

/** Length of a rate window, in ms: rpm and tpm count per clock-aligned minute. */
export const DEFAULT_WINDOW_MS = 60_000;

/**
 * How long the per-response marker (admitted window, released, recorded) outlives its last
 * write, in ms. It must outlast any late or repeated release and record of that response.
 */
export const DEFAULT_MARKER_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * The `retryAfterMs` of a `parallel` refusal, in ms. A slot frees whenever a running response
 * ends, which nothing can predict; one second is a polite interval to try again.
 */
export const PARALLEL_RETRY_HINT_MS = 1000;

/** Start and end (epoch ms) of the clock-aligned window holding `now`. */
export function windowAt(now: number, windowMs: number): { start: number; end: number } {
  const start = now - (now % windowMs);
  return { start, end: start + windowMs };
}

/** Throws a TypeError naming the field when an admission input is malformed. */
export function checkAdmission(input: AdmissionInput): void {
  checkId(input.id);
  checkPositiveInteger('leaseMs', input.leaseMs);
  if (input.holdMs !== undefined) {
    checkPositiveInteger('holdMs', input.holdMs);
    if (input.holdMs < input.leaseMs) throw new TypeError(`limiter: holdMs must be at least leaseMs (got ${input.holdMs} < ${input.leaseMs}).`);
  }
  if (!Array.isArray(input.subjects)) throw new TypeError('limiter: subjects must be an array.');
  for (const subject of input.subjects) {
    checkSubjectKey(subject.key);
    checkLimits(subject.key, subject.limits ?? {});
  }
}

/** The initial lifetime of an admission's slots, in ms (see `AdmissionInput.holdMs`). */
export function holdOf(input: AdmissionInput): number {
  return input.holdMs ?? input.leaseMs;
}

/** Throws when an `acquire` call is malformed. */
export function checkAcquire(id: string, slots: SlotSpec[], leaseMs: number): void {
  checkId(id);
  checkPositiveInteger('leaseMs', leaseMs);
  if (!Array.isArray(slots)) throw new TypeError('limiter: slots must be an array.');
  for (const slot of slots) {
    checkSubjectKey(slot.key);
    if (!Number.isSafeInteger(slot.maxParallel) || slot.maxParallel < 0) {
      throw new TypeError(`limiter: maxParallel of ${slot.key} must be a non-negative integer (got ${String(slot.maxParallel)}).`);
    }
  }
}

/** Throws unless `id` is a non-empty string. */
export function checkId(id: string): void {
  if (typeof id !== 'string' || id === '') throw new TypeError('limiter: id must be a non-empty string.');
}

/** Throws unless `key` is a non-empty string. */
export function checkSubjectKey(key: string): void {
  if (typeof key !== 'string' || key === '') throw new TypeError('limiter: a subject key must be a non-empty string.');
}

/** Throws unless `value` is an integer of at least 1. */
export function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`limiter: ${name} must be a positive integer (got ${String(value)}).`);
}

/** Throws unless tokens is a non-negative integer and spend a non-negative finite number. */
export function checkUsage(usage: { tokens: number; spend: number }): void {
  if (!Number.isSafeInteger(usage.tokens) || usage.tokens < 0) {
    throw new TypeError(`limiter: tokens must be a non-negative integer (got ${String(usage.tokens)}).`);
  }
  if (!Number.isFinite(usage.spend) || usage.spend < 0) {
    throw new TypeError(`limiter: spend must be a non-negative number (got ${String(usage.spend)}).`);
  }
}

function checkLimits(subject: string, limits: LimitSpec): void {
  const period = limits.budgetPeriodMs;
  if (period !== undefined && (!Number.isSafeInteger(period) || period < 1)) {
    throw new TypeError(`limiter: budgetPeriodMs of ${subject} must be a positive integer (got ${String(period)}).`);
  }
  for (const name of ['rpm', 'tpm', 'maxParallel'] as const) {
    const value = limits[name];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
      throw new TypeError(`limiter: ${name} of ${subject} must be a non-negative integer (got ${String(value)}).`);
    }
  }
  const budget = limits.maxBudget;
  if (budget !== undefined && (!Number.isFinite(budget) || budget < 0)) {
    throw new TypeError(`limiter: maxBudget of ${subject} must be a non-negative number (got ${String(budget)}).`);
  }
}
