// Connection plumbing shared by the Redis store and the Redis limiter: choosing the client, one
// command within a deadline that holds whatever Redis does, EVALSHA with EVAL on NOSCRIPT, closing.

import { createClient, createCluster, ErrorReply, type RedisClusterOptions } from '@redis/client';
import type { RedisConnectionOptions } from '../config/options';
import { ERROR_CODES, ResponsesPollingError } from '../errors';
import { silentLogger } from '../logger';
import type { Logger } from '../types';
import { RecyclingClient, type RedisClientLike, type RedisClientOrCluster, type RedisClusterLike } from './redis-client';
import type { LuaScript } from './scripts';

export type { RedisClientLike, RedisClusterLike, RedisClientOrCluster } from './redis-client';

/** Tells a cluster client from a single-node one (only a cluster knows its masters). */
export function isCluster(client: RedisClientOrCluster): client is RedisClusterLike {
  return 'masters' in client;
}

/** The client to use: `client` itself, or a cluster client wrapped by {@link clusterAsClient}. */
export function asClientLike(client: RedisClientOrCluster): RedisClientLike {
  return isCluster(client) ? clusterAsClient(client) : client;
}

/** Backoff between reconnects: capped exponential, with jitter. */
function reconnectDelay(retries: number): number {
  return Math.min(50 * 2 ** retries, 2000) + Math.floor(Math.random() * 100);
}

/** A cluster client of our own, with the same timeouts and reconnects as {@link createOwnClient}. */
export function createOwnCluster(options: RedisClusterOptions, liveness: Liveness): RedisClientLike {
  const fresh = (): RedisClientLike => {
    const cluster = createCluster({
      ...options,
      defaults: {
        disableOfflineQueue: true,
        ...options.defaults,
        socket: { connectTimeout: liveness.commandTimeoutMs, reconnectStrategy: reconnectDelay, ...options.defaults?.socket },
      },
    });
    return clusterAsClient(cluster as unknown as RedisClusterLike);
  };
  return new RecyclingClient(fresh, { ...liveness, label: 'redis cluster' });
}

/** What our own clients need to tell a dead connection (see {@link RecyclingClient}). */
export interface Liveness {
  commandTimeoutMs: number;
  pingIntervalMs: number;
  logger: Logger;
}

/**
 * Commands whose second argument is their only key (routed to that key's node in a cluster). A
 * keyed command missing here goes to any node, and is redirected (MOVED) and the topology
 * rediscovered on two calls in three.
 */
const SINGLE_KEY_COMMANDS = new Set(['GET', 'SET', 'DEL', 'GETDEL', 'PEXPIRE', 'ZADD', 'ZRANGE', 'ZRANGEBYSCORE', 'ZCARD', 'ZREM', 'SADD', 'SREM', 'SMEMBERS']);

/** Least time between two topology rediscoveries that failed commands ask for, in ms. */
const REDISCOVER_INTERVAL_MS = 1000;

/**
 * Asks `cluster` to read its topology again. node-redis does so only on a MOVED or ASK reply, so
 * after a master died (no reply at all) it keeps routing that master's slots to it, also once a
 * replica took them over. Its rediscovery is internal (`_slots.rediscover`, node-redis 4 and 5):
 * used when present; without it (another client) nothing happens and the command errors stand.
 */
function rediscover(cluster: RedisClusterLike): void {
  const slots = (cluster as unknown as { _slots?: { rediscover?: (startWith: unknown) => Promise<void> } })._slots;
  if (typeof slots?.rediscover !== 'function') return;
  // It starts from a node's client (any: one that does not answer makes it try the root nodes).
  const nodes = cluster.masters as ReadonlyArray<{ client?: { isReady?: boolean } }>;
  const startWith = nodes.find((n) => n.client?.isReady)?.client ?? nodes.find((n) => n.client)?.client;
  if (startWith) slots.rediscover.call(slots, startWith).catch(() => undefined);
}

/**
 * A cluster client seen as a {@link RedisClientLike}: every command goes to the node owning its
 * first key (EVAL / EVALSHA name their keys; commands without a key go to any node), and
 * SUBSCRIBE to one node (PUBLISH reaches every node of a cluster). The cluster is ready once its
 * topology is discovered; `connect()` retries with backoff until then, or until closed. A command
 * that fails without a reply from Redis (its node is down) has the topology read again, at most
 * once per {@link REDISCOVER_INTERVAL_MS}, so a replica promoted in place of a dead master is used.
 */
export function clusterAsClient(cluster: RedisClusterLike): RedisClientLike {
  let discovered = cluster.isOpen && cluster.masters.length > 0;
  let lastRediscoverAt = 0;
  let connecting: Promise<unknown> | undefined;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;
  cluster.on('connect', () => {
    discovered = true;
  });
  // A command redirected (MOVED, ASK) while the cluster closes rediscovers the topology after the
  // close, and node-redis then connects a client to every node of a cluster it calls closed: a
  // connection that reconnects for ever and keeps the process alive. Any node connecting once we
  // closed is one of those. Dropped once ready or between retries, where node-redis lets a
  // client go cleanly (not in the middle of its handshake).
  const dropLate = (): void => {
    if (!closed) return;
    try {
      cluster.destroy();
    } catch {
      // a node client already closed: nothing left to drop
    }
  };
  cluster.on('node-ready', dropLate);
  cluster.on('node-reconnecting', dropLate);
  const connectUntilUp = async (): Promise<unknown> => {
    for (let retries = 0; ; retries++) {
      try {
        const connected = await cluster.connect();
        // Closed while discovering: the discovery went on connecting nodes; drop them.
        if (closed) cluster.destroy();
        return connected;
      } catch (err) {
        // The cluster reported each unreachable root node on 'error' already.
        if (closed) throw err;
        await new Promise<void>((resolve) => (retryTimer = setTimeout(resolve, reconnectDelay(retries))));
        if (closed) throw err;
      }
    }
  };
  const stop = (): void => {
    closed = true;
    clearTimeout(retryTimer);
  };
  const adapter: RedisClientLike = {
    get isOpen() {
      return !closed && (cluster.isOpen || connecting !== undefined);
    },
    get isReady() {
      return !closed && cluster.isOpen && discovered;
    },
    connect() {
      connecting ??= connectUntilUp().finally(() => (connecting = undefined));
      return connecting;
    },
    sendCommand(args, options) {
      const command = args[0]?.toUpperCase();
      const script = command === 'EVALSHA' || command === 'EVAL';
      // Routed by the first key: a script's first KEYS entry, or the key of a single-key command.
      const firstKey = script ? (Number(args[2]) > 0 ? args[3] : undefined) : SINGLE_KEY_COMMANDS.has(command ?? '') ? args[1] : undefined;
      return cluster.sendCommand(firstKey, false, [...args], options).catch((err: unknown) => {
        if (!(err instanceof ErrorReply) && !closed && Date.now() - lastRediscoverAt >= REDISCOVER_INTERVAL_MS) {
          lastRediscoverAt = Date.now();
          rediscover(cluster);
        }
        throw err;
      });
    },
    subscribe: (channel, listener) => cluster.subscribe(channel, listener),
    // The duplicate only subscribes: it needs the topology, not a connection to every node.
    duplicate: () => clusterAsClient(cluster.duplicate({ minimizeConnections: true })),
    on(event: 'error' | 'ready', listener: ((err: Error) => void) | (() => void)) {
      if (event === 'error') cluster.on('error', listener as (err: Error) => void);
      else cluster.on('connect', listener as () => void);
      return adapter;
    },
    once(_event: 'ready', listener: () => void) {
      cluster.once('connect', listener);
      return adapter;
    },
    off(event: 'error' | 'ready', listener: ((err: Error) => void) | (() => void)) {
      if (event === 'error') cluster.off('error', listener as (err: Error) => void);
      else cluster.off('connect', listener as () => void);
      return adapter;
    },
    async close() {
      stop();
      if (cluster.isOpen) await cluster.close();
    },
    destroy() {
      stop();
      if (cluster.isOpen) cluster.destroy();
    },
  };
  return adapter;
}

/** Why Redis could not be used: no answer or no connection, or credentials it refused. */
export type RedisUnavailableReason = 'unreachable' | 'auth_failed';

/** Rejection of a store call because Redis could not be reached in time, or refused the credentials. */
export class RedisStoreUnavailableError extends ResponsesPollingError {
  /** `auth_failed`: Redis refused the username or password (or needs one); else `unreachable`. */
  readonly reason: RedisUnavailableReason;
  constructor(message: string, options?: { cause?: unknown; reason?: RedisUnavailableReason }) {
    super(ERROR_CODES.storeUnavailable, message, options);
    this.name = 'RedisStoreUnavailableError';
    this.reason = options?.reason ?? 'unreachable';
  }
}

/** A client of our own, from `url` or the connection fields (default `redis://localhost:6379`). */
export function createOwnClient(options: { url?: string; connection?: RedisConnectionOptions }, liveness: Liveness): RedisClientLike {
  const c = options.connection ?? {};
  const url = options.url ?? c.url;
  const fresh = (): RedisClientLike =>
    createClient({
      ...(url ? { url } : { username: c.username, password: c.password, database: c.db }),
      socket: {
        ...(url ? {} : { host: c.host, port: c.port, ...(c.tls ? { tls: true as const } : {}) }),
        connectTimeout: liveness.commandTimeoutMs,
        // Reconnect forever with capped backoff; calls fail fast meanwhile (offline queue off).
        reconnectStrategy: reconnectDelay,
      },
      disableOfflineQueue: true,
    }) as unknown as RedisClientLike;
  return new RecyclingClient(fresh, { ...liveness, label: 'redis' });
}

/**
 * One command within `timeoutMs`, the wait for a connection and for the reply included: the
 * caller is answered at the deadline even when Redis never replies. A connection of our own whose
 * command overran is then replaced. Error replies of Redis pass through; anything else (no
 * connection, timeout) becomes {@link RedisStoreUnavailableError}.
 */
export async function commandWithin(client: RedisClientLike, args: string[], timeoutMs: number): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  if (!client.isReady) await whenReady(client, deadline, timeoutMs);
  let overran = false;
  try {
    // One timer per command, ours: node-redis's own `timeout` option (an AbortSignal.timeout per
    // command) stops timing a command once it is written, so it never covered a silent Redis,
    // and it showed in poll profiles (createAbortSignal, DOMException).
    const sent = client.sendCommand(args);
    return await withDeadline(sent, deadline, () => {
      overran = true;
      return new RedisStoreUnavailableError(`Redis did not answer within ${timeoutMs} ms.`);
    });
  } catch (err) {
    if (err instanceof ErrorReply) throw err;
    // A command Redis took but did not answer in time may still be applied later: every
    // write script is idempotent or fenced, so a retry is safe.
    if (overran && client instanceof RecyclingClient) client.recycle(`${args[0] ?? 'a command'} unanswered for ${timeoutMs} ms`);
    if (err instanceof RedisStoreUnavailableError) throw err;
    throw new RedisStoreUnavailableError(`Redis did not answer: ${(err as Error).message}`, { cause: err });
  }
}

/** Runs `script` through `send`: EVALSHA, and EVAL only when Redis answers NOSCRIPT. */
export async function evalScript(
  send: (args: string[]) => Promise<unknown>,
  script: LuaScript,
  keys: string[],
  args: string[],
): Promise<unknown> {
  const tail = [String(keys.length), ...keys, ...args];
  try {
    return await send(['EVALSHA', script.sha, ...tail]);
  } catch (err) {
    // NOSCRIPT is the error prefix Redis defines for an unknown SHA (fresh server, SCRIPT
    // FLUSH, failover). EVAL runs the script and caches it for the next EVALSHA.
    if (!(err instanceof ErrorReply) || !err.message.startsWith('NOSCRIPT')) throw err;
    return send(['EVAL', script.source, ...tail]);
  }
}

/** One pending 'ready' wait per client, shared by every call waiting during an outage. */
const nextReady = new WeakMap<RedisClientLike, Promise<void>>();

/** Waits until `client` is connected, or rejects at `deadline`. */
export async function whenReady(client: RedisClientLike, deadline: number, timeoutMs: number): Promise<void> {
  if (client.isReady) return;
  if (!client.isOpen) throw new RedisStoreUnavailableError('The Redis client is closed.');
  let ready = nextReady.get(client);
  if (!ready) {
    ready = new Promise<void>((resolve) => {
      client.once('ready', () => {
        nextReady.delete(client);
        resolve();
      });
    });
    nextReady.set(client, ready);
  }
  await withDeadline(ready, deadline, () => new RedisStoreUnavailableError(`Redis is unreachable (no connection within ${timeoutMs} ms).`));
}

/** Settles like `promise`, or rejects with `onTimeout()` at `deadline`. */
export function withDeadline<T>(promise: Promise<T>, deadline: number, onTimeout: () => Error): Promise<T> {
  // One promise and one timer, no race of two: this runs once per Redis command.
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), Math.max(0, deadline - Date.now()));
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** Closes gracefully when connected (pending replies arrive), otherwise at once. */
export async function closeClient(client: RedisClientLike, timeoutMs: number): Promise<void> {
  if (!client.isOpen) return;
  if (client.isReady) {
    try {
      await withDeadline(client.close(), Date.now() + timeoutMs, () => new Error('close timed out'));
      return;
    } catch {
      // fall through: the socket died while closing
    }
  }
  if (client.isOpen) client.destroy();
}

/** How a Redis-backed component (store, limiter) reaches Redis; the first given wins: client, cluster, url, connection. */
export interface RedisConnectionChoice {
  /**
   * A client the caller created with `createClient()` or `createCluster()` (connected or not; it
   * is connected if needed). It is never closed for the caller, so one client may serve several
   * components.
   */
  client?: RedisClientOrCluster;
  /** Redis Cluster: options of `createCluster()` (at least `rootNodes: [{ url }, ...]`); the component creates and closes its own cluster client. */
  cluster?: RedisClusterOptions;
  /** `redis[s]://[[user][:password]@]host[:port][/db]`. */
  url?: string;
  /** Connection fields, used when `url` is absent. Default: `redis://localhost:6379`. */
  connection?: RedisConnectionOptions;
  /** Prefix of every key. Default `"rp:"`. */
  keyPrefix?: string;
  /** Where connection problems are logged. Default: nothing is logged. */
  logger?: Logger;
  /**
   * Longest time a call waits for Redis (connection and reply included), in ms, before it
   * rejects with {@link RedisStoreUnavailableError}. A connection of the component's own whose
   * command overran is replaced. Default 2000.
   */
  commandTimeoutMs?: number;
  /**
   * Time between liveness PINGs on a connection of the component's own, in ms: one unanswered
   * within `commandTimeoutMs` replaces the connection. 0 sends none. Not used with `client`
   * (configure `socket.socketTimeout` and `pingInterval` on your client instead). Default 5000.
   */
  pingIntervalMs?: number;
}

/** Default of {@link RedisConnectionChoice.pingIntervalMs}. */
export const DEFAULT_PING_INTERVAL_MS = 5000;

/** The client a component uses for `choice`, and whether it created it (and so must close it). */
export function chooseClient(choice: RedisConnectionChoice, commandTimeoutMs: number): { client: RedisClientLike; ownsClient: boolean } {
  if (choice.client) return { client: asClientLike(choice.client), ownsClient: false };
  const liveness: Liveness = { commandTimeoutMs, pingIntervalMs: choice.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS, logger: choice.logger ?? silentLogger };
  if (choice.cluster) return { client: createOwnCluster(choice.cluster, liveness), ownsClient: true };
  return { client: createOwnClient(choice, liveness), ownsClient: true };
}

/**
 * Listeners for a client's `error` and `ready` events that log the first error of an outage as
 * an error, the retries at debug level, and the recovery once.
 */
export function outageLogging(logger: Logger, label: string): { onError(err: Error): void; onReady(): void } {
  let outage = false;
  return {
    onError(err: Error) {
      if (outage) {
        logger.debug(`${label}: still unreachable`, { error: err.message });
        return;
      }
      outage = true;
      logger.error(`${label}: connection error`, { error: err.message });
    },
    onReady() {
      if (outage) logger.info(`${label}: connection restored`);
      outage = false;
    },
  };
}
