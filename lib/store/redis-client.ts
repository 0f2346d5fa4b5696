// The client shapes the Redis store and limiter accept, and the self-replacing connection our
// own clients use: one whose command overran its deadline, or whose PING went unanswered, is
// swapped for a fresh one, because node-redis waits for ever for a reply once a command is written.

import type { Logger } from '../types';

/**
 * The part of a node-redis v5 client the store uses. A client from `createClient()` of the
 * `redis` package fits it.
 */
export interface RedisClientLike {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  sendCommand(args: ReadonlyArray<string>, options?: { timeout?: number }): Promise<unknown>;
  subscribe(channel: string, listener: (message: string, channel: string) => unknown): Promise<void>;
  duplicate(): RedisClientLike;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
  once(event: 'ready', listener: () => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'ready', listener: () => void): unknown;
  close(): Promise<void>;
  destroy(): void;
}

/**
 * The part of a node-redis v5 cluster client the store uses. A client from `createCluster()`
 * of the `redis` package fits it.
 */
export interface RedisClusterLike {
  readonly isOpen: boolean;
  /** The master nodes known so far: empty until the topology has been discovered. */
  readonly masters: ReadonlyArray<unknown>;
  connect(): Promise<unknown>;
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: string[], options?: { timeout?: number }): Promise<unknown>;
  subscribe(channel: string, listener: (message: string, channel: string) => unknown): Promise<void>;
  duplicate(overrides?: { minimizeConnections?: boolean }): RedisClusterLike;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'connect', listener: () => void): unknown;
  /** A node client is ready, or is about to retry connecting (node-redis emits both on the cluster). */
  on(event: 'node-ready' | 'node-reconnecting', listener: () => void): unknown;
  once(event: 'connect', listener: () => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'connect', listener: () => void): unknown;
  close(): Promise<void>;
  destroy(): void;
}

/** Either kind of client the store and the limiter accept. */
export type RedisClientOrCluster = RedisClientLike | RedisClusterLike;

/** How a {@link RecyclingClient} decides that its connection is dead. */
export interface RecyclingOptions {
  /** How long a PING may go unanswered before the connection is replaced, in ms. */
  commandTimeoutMs: number;
  /** Time between liveness PINGs while connected, in ms; 0 sends none. */
  pingIntervalMs: number;
  /** Where replacements are logged. */
  logger: Logger;
  /** Names the connection in log lines. */
  label: string;
}

type Listener = { event: 'error' | 'ready'; listener: (err: Error) => void; wrapped: (err: Error) => void };

/**
 * A client of our own that replaces its connection when it stops answering. Listeners added
 * through it follow it onto the new connection, so callers keep one object for ever.
 */
export class RecyclingClient implements RedisClientLike {
  #current: RedisClientLike;
  readonly #fresh: () => RedisClientLike;
  readonly #options: RecyclingOptions;
  readonly #listeners: Listener[] = [];
  readonly #pingTimer: NodeJS.Timeout | undefined;
  #pinging = false;
  #closed = false;
  #lastRecycleAt = 0;
  /** How many times the connection was replaced (for tests and diagnostics). */
  recycles = 0;

  /** `fresh()` makes a new, unconnected client each time it is called. */
  constructor(fresh: () => RedisClientLike, options: RecyclingOptions) {
    this.#fresh = fresh;
    this.#options = options;
    this.#current = fresh();
    if (options.pingIntervalMs > 0) {
      this.#pingTimer = setInterval(() => void this.#ping(), options.pingIntervalMs);
      this.#pingTimer.unref();
    }
  }

  get isOpen(): boolean {
    return !this.#closed && this.#current.isOpen;
  }

  get isReady(): boolean {
    return !this.#closed && this.#current.isReady;
  }

  connect(): Promise<unknown> {
    return this.#current.connect();
  }

  sendCommand(args: ReadonlyArray<string>, options?: { timeout?: number }): Promise<unknown> {
    return this.#current.sendCommand(args, options);
  }

  subscribe(channel: string, listener: (message: string, channel: string) => unknown): Promise<void> {
    return this.#current.subscribe(channel, listener);
  }

  duplicate(): RedisClientLike {
    return this.#current.duplicate();
  }

  on(event: 'error' | 'ready', listener: ((err: Error) => void) | (() => void)): this {
    this.#add(event, listener as (err: Error) => void, false);
    return this;
  }

  once(event: 'ready', listener: () => void): this {
    this.#add(event, listener as (err: Error) => void, true);
    return this;
  }

  off(event: 'error' | 'ready', listener: ((err: Error) => void) | (() => void)): this {
    const i = this.#listeners.findIndex((l) => l.event === event && l.listener === listener);
    if (i >= 0) {
      this.#detach(this.#current, this.#listeners[i]);
      this.#listeners.splice(i, 1);
    }
    return this;
  }

  async close(): Promise<void> {
    this.#stop();
    await this.#current.close();
  }

  destroy(): void {
    this.#stop();
    this.#current.destroy();
  }

  /**
   * Replaces the connection: a fresh client connects in the background and the old one is
   * destroyed, which rejects its pending commands. At most once per `commandTimeoutMs`, so that
   * many commands overrunning together replace it once.
   */
  recycle(reason: string): void {
    if (this.#closed || Date.now() - this.#lastRecycleAt < this.#options.commandTimeoutMs) return;
    this.#lastRecycleAt = Date.now();
    this.recycles++;
    const old = this.#current;
    const next = this.#fresh();
    for (const l of this.#listeners) {
      this.#detach(old, l);
      this.#attach(next, l);
    }
    // A late socket error of the old connection must never crash the process.
    old.on('error', () => undefined);
    this.#current = next;
    this.#options.logger.warn(`${this.#options.label}: connection replaced`, { reason });
    // With a reconnect strategy that never gives up, this settles only once connected or
    // destroyed; errors along the way reach the 'error' listeners.
    next.connect().catch(() => undefined);
    if (old.isOpen) old.destroy();
  }

  #add(event: 'error' | 'ready', listener: (err: Error) => void, once: boolean): void {
    const entry: Listener = { event, listener, wrapped: listener };
    if (once) {
      entry.wrapped = (err: Error) => {
        const i = this.#listeners.indexOf(entry);
        if (i >= 0) this.#listeners.splice(i, 1);
        this.#detach(this.#current, entry);
        listener(err);
      };
    }
    this.#listeners.push(entry);
    this.#attach(this.#current, entry);
  }

  #attach(client: RedisClientLike, l: Listener): void {
    if (l.event === 'error') client.on('error', l.wrapped);
    else client.on('ready', l.wrapped as () => void);
  }

  #detach(client: RedisClientLike, l: Listener): void {
    if (l.event === 'error') client.off('error', l.wrapped);
    else client.off('ready', l.wrapped as () => void);
  }

  /** One PING at a time; one that outlives `commandTimeoutMs` replaces the connection. */
  async #ping(): Promise<void> {
    if (this.#pinging || !this.isReady) return;
    this.#pinging = true;
    const pinged = this.#current;
    let timer: NodeJS.Timeout | undefined;
    const overran = new Promise<'overran'>((resolve) => (timer = setTimeout(() => resolve('overran'), this.#options.commandTimeoutMs)));
    try {
      const answer = await Promise.race([pinged.sendCommand(['PING']).catch(() => 'failed'), overran]);
      if (answer === 'overran' && pinged === this.#current) this.recycle(`PING unanswered for ${this.#options.commandTimeoutMs} ms`);
    } finally {
      clearTimeout(timer);
      this.#pinging = false;
    }
  }

  #stop(): void {
    this.#closed = true;
    clearInterval(this.#pingTimer);
  }
}
