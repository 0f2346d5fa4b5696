// The Redis store: one Lua script per state transition, keys from keys.ts, control messages
// over pub/sub. Safe for Redis Cluster: every script touches the keys of one response only.

import { QueueFullError, StoreConflictError } from '../errors';
import { silentLogger } from '../logger';
import { RedisQueue } from '../queue/redis-queue';
import type {
  AppendInput,
  AppendOutcome,
  CancelOutcome,
  ClaimResult,
  ControlMessage,
  CreatedRecord,
  CreateRecordInput,
  DeleteResult,
  Logger,
  RestoreInput,
  RestoreOutcome,
  ResponseErrorObject,
  ResponseStore,
  StartQueuedOutcome,
  StoredResponse,
} from '../types';
import type { EventsPage, ReadEventsOptions } from '../types';
import { pageArgs, withItemIds } from './log-pages';
import { redisSideKv, SideRecordStore, type SideRecordsDeps } from './side-records';
import { controlChannel, responseKeys, tombstoneKey, turnKey } from './keys';
import { parseControlMessage, WORKER_LOST_JSON } from './records';
import { AppendClient, type RedisStoreOptions } from './redis-append-client';
import { chooseClient, closeClient, commandWithin, evalScript, isCluster, outageLogging, RedisStoreUnavailableError, whenReady, withDeadline, type RedisClientLike } from './redis-connection';
import { describeRedis, ReachabilityProbe, type Reachable } from './redis-reachability';
import { mayEvict, readEvictionPolicy, warnOnEvictionPolicy, type EvictionAware } from './redis-eviction';
import { SCRIPT_CODES, SCRIPTS, type LuaScript } from './scripts';
import { restoreArgs } from './scripts/restore';
import { createCall } from './scripts/create';
import { asArray, asStrings, checkLogWhole, ownerArgs, parseMeta, rebuiltFromLog, storedFromReply } from './redis-replies';
import { enqueueArgs, RedisOutbox, type EnqueueArgs } from './redis-outbox';
import type { OutboxPlan, WebhookOutbox, WebhookOutboxStore } from '../webhooks/types';

export { RedisStoreUnavailableError, type RedisClientLike, type RedisClusterLike } from './redis-connection';
export type { AppendConnectionMode, RedisStoreOptions } from './redis-append-client';

/** The Redis implementation of {@link ResponseStore}. */
export interface RedisStore extends ResponseStore, Reachable, WebhookOutboxStore, EvictionAware {
  /** The resolved key prefix. */
  readonly keyPrefix: string;
}

interface RedisStoreConfig {
  client: RedisClientLike;
  ownsClient: boolean;
  keyPrefix: string;
  logger: Logger;
  commandTimeoutMs: number;
  /** On a Redis Cluster a record and its queue are in different slots: enqueued in a second step. */
  cluster: boolean;
  probe: ReachabilityProbe;
  appends: AppendClient;
}

/**
 * Creates the Redis store. Synchronous: the connection is made in the background and every
 * call waits for it (at most `commandTimeoutMs`).
 */
export function createRedisStore(options: RedisStoreOptions = {}): RedisStore {
  const commandTimeoutMs = options.commandTimeoutMs ?? 2000;
  const chosen = chooseClient(options, commandTimeoutMs);
  return new RedisResponseStore({
    ...chosen,
    probe: new ReachabilityProbe(chosen.client, commandTimeoutMs, describeRedis(options)),
    appends: new AppendClient(options, commandTimeoutMs, chosen.client),
    keyPrefix: options.keyPrefix ?? 'rp:',
    logger: options.logger ?? silentLogger,
    commandTimeoutMs,
    cluster: options.cluster !== undefined || (options.client !== undefined && isCluster(options.client)),
  });
}

class RedisResponseStore extends SideRecordStore implements RedisStore, WebhookOutboxStore {
  readonly keyPrefix: string;
  readonly #config: RedisStoreConfig;
  readonly #channel: string;
  readonly #listeners = new Set<(message: ControlMessage) => void>();
  #subscriber: RedisClientLike | undefined;
  #subscribed: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  readonly #onError: (err: Error) => void;
  readonly #onReady: () => void;
  readonly #unwatchEviction: () => void;
  readonly #queue: RedisQueue;
  readonly location: string;
  /** Set once webhooks are on: terminal transitions then enqueue their deliveries. */
  #outboxPlan: OutboxPlan | undefined;
  protected readonly side: SideRecordsDeps;
  #outbox: RedisOutbox | undefined;

  constructor(config: RedisStoreConfig) {
    super();
    this.#config = config;
    this.side = { kv: redisSideKv((args) => this.#command(args)), prefix: config.keyPrefix, logger: config.logger, assertOpen: () => this.#assertOpen() };
    this.#queue = new RedisQueue(config.keyPrefix, (script, keys, args) => evalScript((c) => this.#command(c), script, keys, args));
    ({ onError: this.#onError, onReady: this.#onReady } = outageLogging(config.logger, 'redis store'));
    this.keyPrefix = config.keyPrefix;
    this.location = config.probe.location;
    this.#channel = controlChannel(config.keyPrefix);
    this.#watch(config.client);
    this.#unwatchEviction = warnOnEvictionPolicy(config.client, () => this.evictionRisk(), config.logger);
    if (!config.client.isOpen) this.#connectInBackground(config.client);
  }

  /** See {@link EvictionAware}. */
  async evictionRisk(): Promise<string | null> {
    const policy = await readEvictionPolicy((args) => this.#command(args));
    return mayEvict(policy) ? policy : null;
  }

  async create(input: CreateRecordInput): Promise<CreatedRecord> {
    const q = input.queue;
    const qk = q ? this.#queue.keys(q.group) : undefined;
    // One node: record and queue entry in one script. A cluster: the entry follows in its own slot;
    // should that step fail, the record's wait deadline ends it (it is never left queued for good).
    const together = qk !== undefined && !this.#config.cluster;
    const queueArgs = q && qk ? [qk.base, ...RedisQueue.enqueueArgs(input.id, q), String(Math.max(0, Math.trunc(q.maxDepth ?? 0)))] : undefined;
    const { keys, args } = createCall(this.keyPrefix, input, queueArgs, together && qk ? [qk.ring, qk.jobs] : []);
    const code = await this.#run(SCRIPTS.create, input.id, args, keys);
    const outcome = SCRIPT_CODES.create[code as 0 | 1 | 2];
    if (outcome === 'exists') throw new StoreConflictError(input.id);
    if (outcome === 'queue_full' && q) throw new QueueFullError(q.group);
    if (outcome !== 'created') throw new Error(`redis store: unexpected create reply ${String(code)}`);
    if (q && !together && !(await this.#queue.enqueue(input.id, q))) {
      // The record was announced to nobody yet: it goes, and the create leaves nothing behind.
      const k = responseKeys(this.keyPrefix, input.id);
      await this.#command(['DEL', k.meta, k.snapshot, k.log, k.ids, turnKey(this.keyPrefix, input.id)]);
      throw new QueueFullError(q.group);
    }
    return input.turn ? { fence: 1, turnSaved: true } : { fence: 1 };
  }

  async read(id: string, owner: string | null): Promise<StoredResponse | null> {
    const webhook = this.#enqueue('failed', id);
    const reply = asArray(await this.#run(SCRIPTS.read, id, [...ownerArgs(owner), WORKER_LOST_JSON, webhook.spec], webhook.keys));
    const outcome = SCRIPT_CODES.read[reply[0] as 0 | 1 | -1];
    if (outcome === 'not_found') return null;
    const stored = storedFromReply(reply);
    if (outcome === 'found_swept') stored.leaseSwept = this.#outbox?.activate(webhook) ?? true;
    checkLogWhole(id, stored.meta, reply[4]);
    // The snapshot key alone is gone: the whole log is there, so the Response is rebuilt by
    // folding it from its first event, as a full replay would.
    if (typeof reply[2] !== 'string') return this.#rebuiltFromLog(id, owner, stored);
    return stored;
  }

  async #rebuiltFromLog(id: string, owner: string | null, stored: StoredResponse): Promise<StoredResponse | null> {
    const whole = await this.readEvents(id, owner, -1);
    if (whole === null) return null;
    this.#config.logger.warn('redis store: rebuilding a response whose snapshot was gone', { id });
    return rebuiltFromLog(id, stored, whole);
  }

  async readEvents(id: string, owner: string | null, afterSeq: number, options: ReadEventsOptions = {}): Promise<EventsPage | null> {
    const webhook = this.#enqueue('failed', id);
    const args = [...ownerArgs(owner), WORKER_LOST_JSON, ...pageArgs(afterSeq, options), webhook.spec];
    const reply = asArray(await this.#run(SCRIPTS.readEvents, id, args, webhook.keys));
    const outcome = SCRIPT_CODES.read[reply[0] as 0 | 1 | -1];
    if (outcome === 'not_found') return null;
    const result: EventsPage = { meta: parseMeta(reply[1]).meta, events: asStrings(reply[2]), ...(options.itemIds && { itemIds: asStrings(reply[3]) }) };
    if (outcome === 'found_swept') result.leaseSwept = this.#outbox?.activate(webhook) ?? true;
    checkLogWhole(id, result.meta, reply[4]);
    return result;
  }

  async append(id: string, input: AppendInput): Promise<AppendOutcome> {
    const webhook = this.#enqueue(input.status, id);
    const code = await this.#run(SCRIPTS.append, id, [
      String(input.fence),
      String(input.firstSeq),
      input.status === undefined ? '0' : '1',
      input.status ?? '',
      input.snapshot === undefined ? '0' : '1',
      input.snapshot?.json ?? '',
      String(input.snapshot?.seq ?? -1),
      String(input.leaseMs),
      String(input.ttlSeconds),
      webhook.spec,
      ...withItemIds(input.events, input.firstSeq),
    ], webhook.keys, this.#config.appends);
    const outcome = SCRIPT_CODES.append[code as keyof typeof SCRIPT_CODES.append];
    if (outcome === undefined) throw new Error(`redis store: unexpected append reply ${String(code)}`);
    if (code === 1) this.#config.logger.debug('redis store: flush already applied', { id, firstSeq: input.firstSeq });
    if (outcome === 'ok') this.#outbox?.activate(webhook);
    return outcome;
  }

  async restore(id: string, input: RestoreInput): Promise<RestoreOutcome> {
    const code = await this.#run(SCRIPTS.restore, id, restoreArgs(input), [tombstoneKey(this.keyPrefix, id)], this.#config.appends);
    const outcome = SCRIPT_CODES.restore[code as keyof typeof SCRIPT_CODES.restore];
    if (outcome === undefined) throw new Error(`redis store: unexpected restore reply ${String(code)}`);
    return outcome;
  }

  async cancel(id: string, owner: string | null, ttlSeconds: number): Promise<CancelOutcome> {
    const message = JSON.stringify({ id, action: 'cancel' } satisfies ControlMessage);
    const webhook = this.#enqueue('cancelled', id);
    const args = [...ownerArgs(owner), String(ttlSeconds), this.#channel, message, webhook.spec];
    const reply = asArray(await this.#run(SCRIPTS.cancel, id, args, webhook.keys));
    const outcome = SCRIPT_CODES.cancel[reply[0] as keyof typeof SCRIPT_CODES.cancel];
    if (outcome === 'not_found') return { outcome };
    if (outcome === 'cancelled') this.#outbox?.activate(webhook);
    return { outcome, response: storedFromReply(reply) };
  }

  async delete(id: string, owner: string | null, options: { tombstoneMs?: number } = {}): Promise<DeleteResult> {
    const message = JSON.stringify({ id, action: 'delete' } satisfies ControlMessage);
    const args = [...ownerArgs(owner), this.#channel, message, String(Math.max(0, Math.trunc(options.tombstoneMs ?? 0)))];
    const reply = asArray(await this.#run(SCRIPTS.delete, id, args, [tombstoneKey(this.keyPrefix, id)]));
    const outcome = SCRIPT_CODES.delete[reply[0] as keyof typeof SCRIPT_CODES.delete];
    if (outcome === undefined) throw new Error(`redis store: unexpected delete reply ${String(reply[0])}`);
    if (outcome === 'not_found') return { deleted: false };
    return outcome === 'ended' ? { deleted: true, ended: storedFromReply(reply) } : { deleted: true };
  }

  claim(group: string, opts: { leaseMs: number; maxAttempts: number }): Promise<ClaimResult> {
    return this.#queue.claim(group, opts);
  }

  renewClaim(group: string, id: string, leaseMs: number): Promise<boolean> {
    return this.#queue.renewClaim(group, id, leaseMs);
  }

  markClaimStarted(group: string, id: string): Promise<void> {
    return this.#queue.settle(group, id, 'started');
  }

  releaseClaim(group: string, id: string): Promise<void> {
    return this.#queue.settle(group, id, 'release');
  }

  handBack(group: string, id: string, opts: { deferMs?: number } = {}): Promise<void> {
    return this.#queue.settle(group, id, 'hand_back', opts.deferMs);
  }

  dropQueued(group: string, id: string): Promise<string | null> {
    return this.#queue.drop(group, id);
  }

  queueDepth(group: string): Promise<number> {
    return this.#queue.depth(group);
  }

  async startQueued(id: string, leaseMs: number): Promise<StartQueuedOutcome> {
    const webhook = this.#enqueue('failed', id);
    const reply = asArray(await this.#run(SCRIPTS.startQueued, id, [String(leaseMs), WORKER_LOST_JSON, webhook.spec], webhook.keys));
    const outcome = SCRIPT_CODES.startQueued[reply[0] as keyof typeof SCRIPT_CODES.startQueued];
    if (outcome === undefined) throw new Error(`redis store: unexpected startQueued reply ${String(reply[0])}`);
    if (outcome === 'expired') this.#outbox?.activate(webhook);
    if (outcome === 'expired') return { outcome, response: storedFromReply(reply) };
    if (outcome !== 'claimed') return { outcome };
    const response = storedFromReply(reply);
    return { outcome, fence: response.meta.fence, response };
  }

  async failQueued(id: string, error: ResponseErrorObject, ttlSeconds: number): Promise<boolean> {
    const webhook = this.#enqueue('failed', id);
    const failed = (await this.#run(SCRIPTS.failQueued, id, [JSON.stringify(error), String(ttlSeconds), webhook.spec], webhook.keys)) === 1;
    if (failed) this.#outbox?.activate(webhook);
    return failed;
  }

  async subscribe(listener: (message: ControlMessage) => void): Promise<() => Promise<void>> {
    this.#assertOpen();
    this.#listeners.add(listener);
    try {
      await (this.#subscribed ??= this.#startSubscriber());
    } catch (err) {
      this.#listeners.delete(listener);
      throw err;
    }
    // The Redis subscription itself stays until close(): one per store, shared by listeners.
    return async () => {
      this.#listeners.delete(listener);
    };
  }

  webhookOutbox(plan: OutboxPlan): WebhookOutbox {
    const send = (args: string[]) => this.#command(args);
    this.#outbox ??= new RedisOutbox(this.keyPrefix, { command: send, script: (script, keys, args) => evalScript(send, script, keys, args) }, this.#config.cluster);
    this.#outboxPlan = plan;
    return this.#outbox;
  }

  async ping(): Promise<void> {
    this.#assertOpen();
    await this.#config.probe.ping();
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Runs a script on the keys of response `id`, then `more` keys (EVALSHA, EVAL on NOSCRIPT), on the main connection or `via`. */
  #run(script: LuaScript, id: string, args: string[], more: string[] = [], via?: AppendClient): Promise<unknown> {
    const keys = responseKeys(this.keyPrefix, id);
    return evalScript((command) => this.#command(command, via), script, [keys.meta, keys.snapshot, keys.log, keys.ids, ...more], args);
  }

  /** The webhook keys and spec a script takes to enqueue the event of `status`, should it make that transition. */
  #enqueue(status: string | undefined, id: string): EnqueueArgs {
    return enqueueArgs(this.keyPrefix, this.#outboxPlan, status, id, this.#config.cluster);
  }

  /** One command, within `commandTimeoutMs` including the wait for a connection; on the main connection or `via`. */
  async #command(args: string[], via?: AppendClient): Promise<unknown> {
    this.#assertOpen();
    return commandWithin(via?.get() ?? this.#config.client, args, this.#config.commandTimeoutMs);
  }

  async #startSubscriber(): Promise<void> {
    const subscriber = this.#config.client.duplicate();
    this.#subscriber = subscriber;
    this.#watch(subscriber);
    try {
      if (!subscriber.isOpen) this.#connectInBackground(subscriber);
      const { commandTimeoutMs } = this.#config;
      const deadline = Date.now() + commandTimeoutMs;
      await whenReady(subscriber, deadline, commandTimeoutMs);
      const subscribed = subscriber.subscribe(this.#channel, this.#onMessage);
      await withDeadline(subscribed, deadline, () => new RedisStoreUnavailableError('Redis did not answer SUBSCRIBE in time.'));
    } catch (err) {
      // The next subscribe() starts over with a fresh connection.
      this.#subscribed = undefined;
      this.#subscriber = undefined;
      if (subscriber.isOpen) subscriber.destroy();
      throw err;
    }
  }

  readonly #onMessage = (raw: string): void => {
    const message = parseControlMessage(raw);
    if (message === null) {
      this.#config.logger.warn('redis store: ignored a malformed control message', { channel: this.#channel });
      return;
    }
    for (const listener of this.#listeners) {
      try {
        listener({ ...message });
      } catch (err) {
        this.#config.logger.error('redis store: control message listener threw', { error: (err as Error).message });
      }
    }
  };

  #watch(client: RedisClientLike): void {
    client.on('error', this.#onError);
    client.on('ready', this.#onReady);
  }

  #connectInBackground(client: RedisClientLike): void {
    // With the reconnect strategy above this settles only once connected or closed; errors
    // along the way reach the 'error' listener.
    client.connect().catch((err: Error) => this.#onError(err));
  }

  #assertOpen(): void {
    if (this.#closing) throw new Error('The Redis store is closed.');
  }

  async #shutdown(): Promise<void> {
    this.#listeners.clear();
    this.#config.probe.stop();
    const { client, ownsClient } = this.#config;
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    if (subscriber) await closeClient(subscriber, this.#config.commandTimeoutMs);
    await this.#config.appends.close(this.#config.commandTimeoutMs);
    if (ownsClient) {
      // Our own clients keep their 'error' listener: a late socket error must never crash.
      await closeClient(client, this.#config.commandTimeoutMs);
    } else {
      client.off('error', this.#onError);
      client.off('ready', this.#onReady);
      this.#unwatchEviction();
    }
  }
}
