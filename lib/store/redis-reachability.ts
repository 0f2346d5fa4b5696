// Whether Redis can be used, and why not: refused credentials told from a connection that is
// down, a PING that says which at once, and where a connection points (never its credentials).

import { ErrorReply } from '@redis/client';
import { commandWithin, RedisStoreUnavailableError, type RedisClientLike, type RedisConnectionChoice } from './redis-connection';

/**
 * The prefixes of Redis's error replies for refused credentials: a wrong password or user
 * (`WRONGPASS`), or none given to a server that needs one (`NOAUTH`). Redis defines them as
 * the first word of the reply, as it does `NOSCRIPT`.
 */
const AUTH_REPLY_PREFIXES = ['WRONGPASS', 'NOAUTH'] as const;

/** Whether `err` is Redis refusing the credentials. */
export function isAuthFailure(err: unknown): boolean {
  return err instanceof ErrorReply && AUTH_REPLY_PREFIXES.some((prefix) => err.message.startsWith(prefix));
}

/** `err` (a connection error, an error reply, a timeout) as a {@link RedisStoreUnavailableError} saying why. */
export function unavailableFrom(err: unknown): RedisStoreUnavailableError {
  if (isAuthFailure(err)) {
    // Redis's reply names no credential ("WRONGPASS invalid username-password pair ...").
    return new RedisStoreUnavailableError(`Redis refused the credentials: ${(err as Error).message} Check the username and password.`, {
      cause: err,
      reason: 'auth_failed',
    });
  }
  if (err instanceof RedisStoreUnavailableError) return err;
  return new RedisStoreUnavailableError(`Redis is unreachable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/**
 * Where a connection choice points, for start-up lines and logs: `redis host:port/db`,
 * `rediss …` with TLS, `redis cluster (N root nodes)`, or `redis (a client given by the host)`.
 * Never a username or a password.
 */
export function describeRedis(choice: RedisConnectionChoice): string {
  if (choice.client) return 'redis (a client given by the host)';
  if (choice.cluster) return `redis cluster (${choice.cluster.rootNodes.length} root nodes)`;
  const c = choice.connection ?? {};
  const url = choice.url ?? c.url;
  if (url) {
    try {
      const parsed = new URL(url);
      const db = Number(parsed.pathname.replace(/^\//, '') || 0);
      return `${parsed.protocol.replace(/:$/, '')} ${parsed.hostname}:${parsed.port || 6379}/${db}`;
    } catch {
      return 'redis (an unparsable URL)';
    }
  }
  return `${c.tls ? 'rediss' : 'redis'} ${c.host ?? 'localhost'}:${c.port ?? 6379}/${c.db ?? 0}`;
}

/** What a Redis-backed component tells about its reachability. */
export interface Reachable {
  /** Where it connects, without credentials: `redis host:port/db`, `redis cluster (N root nodes)`, … */
  readonly location: string;
  /**
   * PINGs Redis within the command deadline. Rejects with a {@link RedisStoreUnavailableError}
   * whose `reason` says why: `auth_failed` when Redis refused the credentials, else
   * `unreachable`; while the connection is down after a failed attempt, it rejects at once.
   */
  ping(): Promise<void>;
}

/**
 * Watches a client's connection and PINGs it. While the connection is down after a failed
 * attempt, `ping()` rejects at once with the reason of that failure: a health check answers
 * within its own timeout, often shorter than the command deadline.
 */
export class ReachabilityProbe implements Reachable {
  /** Where the client connects ({@link describeRedis}). */
  readonly location: string;
  readonly #client: RedisClientLike;
  readonly #timeoutMs: number;
  /** The last error of the connection while it is down. */
  #lastError: Error | undefined;
  readonly #onError = (err: Error) => {
    if (!this.#client.isReady) this.#lastError = err;
  };
  readonly #onReady = () => {
    this.#lastError = undefined;
  };

  constructor(client: RedisClientLike, timeoutMs: number, location: string) {
    this.location = location;
    this.#client = client;
    this.#timeoutMs = timeoutMs;
    client.on('error', this.#onError);
    client.on('ready', this.#onReady);
  }

  /** PING within the deadline; rejects with a {@link RedisStoreUnavailableError} whose `reason` says why. */
  async ping(): Promise<void> {
    if (!this.#client.isReady && this.#lastError) throw unavailableFrom(this.#lastError);
    try {
      await commandWithin(this.#client, ['PING'], this.#timeoutMs);
    } catch (err) {
      throw unavailableFrom(this.#lastError && !this.#client.isReady ? this.#lastError : err);
    }
  }

  stop(): void {
    this.#client.off('error', this.#onError);
    this.#client.off('ready', this.#onReady);
  }
}
