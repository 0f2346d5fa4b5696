// The Redis limiter: limits global across every instance sharing the Redis. One script per
// transition, so an admission across all its subjects is one atomic round trip.

import { silentLogger } from '../logger';
import {
  chooseClient,
  closeClient,
  commandWithin,
  evalScript,
  outageLogging,
  type RedisClientLike,
  type RedisConnectionChoice,
} from '../store/redis-connection';
import type { LuaScript } from '../store/scripts';
import type { Logger } from '../types';
import { limiterKeys, type LimiterKeys } from './keys';
import { checkAcquire, checkAdmission, checkId, checkPositiveInteger, checkSubjectKey, checkUsage, DEFAULT_MARKER_TTL_MS, DEFAULT_WINDOW_MS, holdOf, PARALLEL_RETRY_HINT_MS } from './limits';
import { LIMITER_CODES, LIMITER_SCRIPTS } from './scripts';
import type { AcquireOutcome, AdmissionInput, AdmissionResult, LimiterStore, RateState, SlotSpec, SubjectUsage } from './types';

/**
 * What `createRedisLimiter` accepts: how to reach Redis (all limiter keys share the `{limits}`
 * hash tag, so on a cluster they live in one slot), plus the limiter's own settings.
 */
export interface RedisLimiterOptions extends RedisConnectionChoice {
  /** Lifetime of a response's admission marker after its last write, in ms. Default one day. */
  markerTtlMs?: number;
  /** Length of a rate window, in ms. Default 60000; rpm and tpm mean per minute only then. */
  windowMs?: number;
}

/** The Redis implementation of {@link LimiterStore}. */
export interface RedisLimiter extends LimiterStore {
  /** The resolved key prefix. */
  readonly keyPrefix: string;
}

interface RedisLimiterConfig {
  client: RedisClientLike;
  ownsClient: boolean;
  keyPrefix: string;
  logger: Logger;
  commandTimeoutMs: number;
  markerTtlMs: number;
  windowMs: number;
}

/**
 * Creates the Redis limiter. Synchronous: the connection is made in the background and every
 * call waits for it (at most `commandTimeoutMs`), then rejects.
 */
export function createRedisLimiter(options: RedisLimiterOptions = {}): RedisLimiter {
  const commandTimeoutMs = options.commandTimeoutMs ?? 2000;
  const markerTtlMs = options.markerTtlMs ?? DEFAULT_MARKER_TTL_MS;
  const windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
  checkPositiveInteger('commandTimeoutMs', commandTimeoutMs);
  checkPositiveInteger('markerTtlMs', markerTtlMs);
  checkPositiveInteger('windowMs', windowMs);
  return new RedisLimiterStore({
    ...chooseClient(options, commandTimeoutMs),
    keyPrefix: options.keyPrefix ?? 'rp:',
    logger: options.logger ?? silentLogger,
    commandTimeoutMs,
    markerTtlMs,
    windowMs,
  });
}

class RedisLimiterStore implements RedisLimiter {
  readonly keyPrefix: string;
  readonly #config: RedisLimiterConfig;
  readonly #keys: LimiterKeys;
  #closing: Promise<void> | undefined;
  readonly #onError: (err: Error) => void;
  readonly #onReady: () => void;

  constructor(config: RedisLimiterConfig) {
    this.#config = config;
    ({ onError: this.#onError, onReady: this.#onReady } = outageLogging(config.logger, 'redis limiter'));
    this.keyPrefix = config.keyPrefix;
    this.#keys = limiterKeys(config.keyPrefix);
    config.client.on('error', this.#onError);
    config.client.on('ready', this.#onReady);
    // With the store's reconnect strategy this settles only once connected or closed; errors
    // along the way reach the 'error' listener.
    if (!config.client.isOpen) config.client.connect().catch((err: Error) => this.#onError(err));
  }

  async admit(input: AdmissionInput): Promise<AdmissionResult> {
    checkAdmission(input);
    const keys = [this.#keys.admission(input.id)];
    const args = [input.id, String(holdOf(input)), String(this.#config.windowMs), String(this.#config.markerTtlMs), String(PARALLEL_RETRY_HINT_MS)];
    for (const { key, limits, queueWhenFull } of input.subjects) {
      const k = this.#keys.subject(key);
      keys.push(k.window, k.running, k.spend);
      args.push(limitArg(limits.rpm), limitArg(limits.tpm), limitArg(limits.maxParallel), limitArg(limits.maxBudget), limitArg(limits.budgetPeriodMs), queueWhenFull ? '1' : '');
    }
    const raw = await this.#run(LIMITER_SCRIPTS.admit, keys, args);
    if (!Array.isArray(raw) || raw.length !== 9 || !Array.isArray(raw[8])) throw new Error('redis limiter: unexpected admit reply');
    const awaiting = (raw[8] as unknown[]).map((i) => input.subjects[Number(i) - 1]!.key);
    const [code, refusedAt, retryAfter, resetMs, limitRequests, remainingRequests, limitTokens, remainingTokens] = asIntegers(raw.slice(0, 8), 8);
    const outcome = LIMITER_CODES.admit[code as keyof typeof LIMITER_CODES.admit];
    if (outcome === undefined) throw new Error(`redis limiter: unexpected admit reply ${code}`);
    const state: RateState = {};
    if (limitRequests >= 0) Object.assign(state, { limitRequests, remainingRequests, resetRequestsMs: resetMs });
    if (limitTokens >= 0) Object.assign(state, { limitTokens, remainingTokens, resetTokensMs: resetMs });
    if (outcome === 'admitted') return awaiting.length ? { admitted: true, state, awaiting } : { admitted: true, state };
    return { admitted: false, reason: outcome, subject: input.subjects[refusedAt - 1]!.key, retryAfterMs: retryAfter >= 0 ? retryAfter : null, state };
  }

  async rollback(input: AdmissionInput): Promise<void> {
    checkId(input.id);
    const keys = [this.#keys.admission(input.id)];
    for (const { key } of input.subjects) {
      checkSubjectKey(key);
      const k = this.#keys.subject(key);
      keys.push(k.window, k.running);
    }
    const code = await this.#run(LIMITER_SCRIPTS.rollback, keys, [input.id, String(this.#config.windowMs)]);
    if (LIMITER_CODES.rollback[code as 0 | 1] === 'nothing') this.#config.logger.debug('redis limiter: nothing to roll back', { id: input.id });
  }

  async release(id: string, subjects: string[]): Promise<boolean> {
    checkId(id);
    const keys = [this.#keys.admission(id), ...subjects.map((s) => this.#subjectKeys(s).running)];
    const code = await this.#run(LIMITER_SCRIPTS.release, keys, [id, String(this.#config.markerTtlMs)]);
    return LIMITER_CODES.release[code as 0 | 1] === 'released';
  }

  async acquire(id: string, slots: SlotSpec[], leaseMs: number): Promise<AcquireOutcome> {
    checkAcquire(id, slots, leaseMs);
    const keys = [this.#keys.admission(id), ...slots.map((s) => this.#keys.subject(s.key).running)];
    const args = [id, String(leaseMs), String(this.#config.markerTtlMs), ...slots.map((s) => String(s.maxParallel))];
    const code = await this.#run(LIMITER_SCRIPTS.acquire, keys, args);
    const outcome = LIMITER_CODES.acquire[Number(code) as keyof typeof LIMITER_CODES.acquire];
    if (outcome === undefined) throw new Error(`redis limiter: unexpected acquire reply ${String(code)}`);
    return outcome;
  }

  async renew(id: string, subjects: string[], leaseMs: number): Promise<void> {
    checkId(id);
    checkPositiveInteger('leaseMs', leaseMs);
    const keys = [this.#keys.admission(id), ...subjects.map((s) => this.#subjectKeys(s).running)];
    await this.#run(LIMITER_SCRIPTS.renew, keys, [id, String(leaseMs), String(this.#config.markerTtlMs)]);
  }

  async record(id: string, subjects: string[], usage: { tokens: number; spend: number }): Promise<boolean> {
    checkId(id);
    checkUsage(usage);
    const keys = [this.#keys.admission(id)];
    for (const s of subjects) {
      const k = this.#subjectKeys(s);
      keys.push(k.window, k.spend);
    }
    const args = [String(usage.tokens), String(usage.spend), String(this.#config.windowMs), String(this.#config.markerTtlMs)];
    const code = await this.#run(LIMITER_SCRIPTS.record, keys, args);
    return LIMITER_CODES.record[code as 0 | 1] === 'recorded';
  }

  async usage(subject: string): Promise<SubjectUsage> {
    const k = this.#subjectKeys(subject);
    const reply = await this.#run(LIMITER_SCRIPTS.usage, [k.window, k.running, k.spend], [String(this.#config.windowMs)]);
    if (!Array.isArray(reply) || reply.length !== 4) throw new Error('redis limiter: unexpected usage reply');
    return { requestsThisWindow: Number(reply[0]), tokensThisWindow: Number(reply[1]), running: Number(reply[2]), spend: Number(reply[3]) };
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  #subjectKeys(subject: string) {
    checkSubjectKey(subject);
    return this.#keys.subject(subject);
  }

  #run(script: LuaScript, keys: string[], args: string[]): Promise<unknown> {
    return evalScript((command) => this.#command(command), script, keys, args);
  }

  async #command(args: string[]): Promise<unknown> {
    if (this.#closing) throw new Error('The Redis limiter is closed.');
    return commandWithin(this.#config.client, args, this.#config.commandTimeoutMs);
  }

  async #shutdown(): Promise<void> {
    const { client, ownsClient, commandTimeoutMs } = this.#config;
    if (ownsClient) {
      // Our own client keeps its 'error' listener: a late socket error must never crash.
      await closeClient(client, commandTimeoutMs);
    } else {
      client.off('error', this.#onError);
      client.off('ready', this.#onReady);
    }
  }
}

/** A limit as a script argument: '' for none. */
function limitArg(value: number | undefined): string {
  return value === undefined ? '' : String(value);
}

function asIntegers(reply: unknown, length: number): number[] {
  if (!Array.isArray(reply) || reply.length !== length) throw new Error('redis limiter: unexpected script reply');
  return reply.map(Number);
}
