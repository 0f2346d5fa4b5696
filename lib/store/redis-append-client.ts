// The connection the Redis store's appends use (the workers' flushes, heartbeats and restores): a
// second one of the store's own, opened at the first append, so that a poll's read never waits
// behind a tick of flushes, neither in the socket's queue nor in Redis's reading of it.

import { silentLogger } from '../logger';
import { RecyclingClient, type RedisClientLike } from './redis-client';
import { asClientLike, chooseClient, closeClient, outageLogging, type RedisConnectionChoice } from './redis-connection';

/** Where the Redis store's appends go. */
export type AppendConnectionMode = 'separate' | 'shared';

/** What `createRedisStore` accepts: how to reach Redis (the store opens its own duplicate for pub/sub), and where appends go. */
export interface RedisStoreOptions extends RedisConnectionChoice {
  /**
   * `'separate'`: the workers' appends (flushes, heartbeats, restores) use a second connection of
   * the store's own, opened at the first append (a `duplicate()` of `client` when you pass one;
   * closed with the store), so polls and other reads never queue behind a window's flushes.
   * `'shared'`: one connection for everything. Default `'separate'`.
   */
  appendConnection?: AppendConnectionMode;
}

/** Default of {@link RedisStoreOptions.appendConnection}. */
export const DEFAULT_APPEND_CONNECTION: AppendConnectionMode = 'separate';

/**
 * How the second connection is made for `choice`: for `url`, `connection` or `cluster`, another
 * client of the store's own like the first (liveness PINGs, replaced when a command overruns); for
 * a `client` of the caller's, its `duplicate()` (node-redis's copy of its options, a cluster's
 * with a connection per master), owned and closed by the store and replaced like its own. With
 * `'shared'`, none: appends use the main connection.
 */
function secondClient(choice: RedisConnectionChoice, mode: AppendConnectionMode, commandTimeoutMs: number): (() => RedisClientLike) | undefined {
  if (mode === 'shared') return undefined;
  const user = choice.client;
  if (!user) return () => chooseClient({ ...choice, client: undefined }, commandTimeoutMs).client;
  // The caller configured the liveness of their client (socket timeout, pingInterval): the
  // duplicate carries it, so no PINGs of ours.
  const liveness = { commandTimeoutMs, pingIntervalMs: 0, logger: choice.logger ?? silentLogger, label: 'redis appends' };
  return () => new RecyclingClient(() => asClientLike(user.duplicate()), liveness);
}

/** The appends' connection of one store: opened on first use, closed with the store. */
export class AppendClient {
  #client: RedisClientLike | undefined;
  #closed = false;
  readonly #open: (() => RedisClientLike) | undefined;
  readonly #outage: { onError(err: Error): void; onReady(): void };

  /** `main` is the store's connection, which appends use with `'shared'`. */
  constructor(
    choice: RedisStoreOptions,
    commandTimeoutMs: number,
    private readonly main: RedisClientLike,
  ) {
    this.#open = secondClient(choice, choice.appendConnection ?? DEFAULT_APPEND_CONNECTION, commandTimeoutMs);
    this.#outage = outageLogging(choice.logger ?? silentLogger, 'redis store appends');
  }

  /** The connection an append uses now; after close(), the main one (whose calls the store refuses). */
  get(): RedisClientLike {
    if (!this.#open || this.#closed) return this.main;
    if (!this.#client) {
      const client = (this.#client = this.#open());
      // Its own outage logging; it keeps its listeners to the end (a late socket error must never crash).
      client.on('error', this.#outage.onError);
      client.on('ready', this.#outage.onReady);
      if (!client.isOpen) client.connect().catch((err: Error) => this.#outage.onError(err));
    }
    return this.#client;
  }

  /** Closes the second connection, when one was opened (pending replies arrive first). */
  async close(timeoutMs: number): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    if (client) await closeClient(client, timeoutMs);
  }
}
